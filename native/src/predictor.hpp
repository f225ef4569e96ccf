// 2D cases and 3D slice-wise box propagation, mirroring umedsam/runtime/predictor.py step by step
// (same box clipping and warnings, same middle slice and passes, same fallback to the middle box,
// later boxes overwriting earlier ones), with the same bounded LRU cache of slice embeddings.
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine.hpp"
#include "umedsam.h"

namespace umedsam {

// Slice index -> embedding, least recently used first out, bounded in bytes.
class EmbeddingCache {
public:
    explicit EmbeddingCache(double max_mb);
    const std::vector<float>* get(int64_t z);
    // Stores the embedding and returns it, or nullptr (value left untouched) when it exceeds the bound.
    const std::vector<float>* put(int64_t z, std::vector<float>&& value);
    int64_t hits = 0, misses = 0, evictions = 0;

private:
    size_t max_bytes_, bytes_ = 0;
    std::list<int64_t> order_;  // front = most recent
    struct Item {
        std::vector<float> value;
        std::list<int64_t>::iterator pos;
    };
    std::unordered_map<int64_t, Item> items_;
};

class Predictor {
public:
    Predictor(Engine& engine, double max_cache_mb) : engine_(engine), max_cache_mb_(max_cache_mb) {}

    void segment_2d(const uint8_t* image, int64_t h, int64_t w, int64_t channels, const double* boxes, int64_t n,
                    int32_t arith, uint16_t* labels, double* ious);
    void segment_3d(const uint8_t* volume, int64_t d, int64_t h, int64_t w, const double* boxes, int64_t n,
                    int32_t arith, uint16_t* labels, double* ious);

    const std::vector<std::string>& warnings() const { return warnings_; }
    const umedsam_timings& timings() const { return timings_; }

private:
    void reset();
    const std::vector<float>& slice_embedding(const uint8_t* volume, int64_t z, int64_t h, int64_t w,
                                              EmbeddingCache& cache);

    Engine& engine_;
    double max_cache_mb_;
    std::vector<std::string> warnings_;
    umedsam_timings timings_{};
    std::vector<float> embedding_, logits_;  // 2D embedding; 3D: a slice the cache could not hold
};

}  // namespace umedsam
