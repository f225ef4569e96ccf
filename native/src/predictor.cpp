#include "predictor.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>

#include "error.hpp"
#include "imaging.hpp"
#include "timeline.hpp"

namespace umedsam {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point& t) {
    const auto now = Clock::now();
    const double s = std::chrono::duration<double>(now - t).count();
    t = now;
    return s;
}

// Clip x/y of each box to the image (z is not clipped: the reference derives the middle slice from
// the given z range and bounds its passes itself). Boxes wholly outside keep their label empty.
std::vector<bool> clip_boxes(std::vector<double>& boxes, int64_t n, int width, int64_t h, int64_t w, int64_t d,
                             int32_t arith, std::vector<std::string>& warnings) {
    const int half = width / 2;
    const double size[2] = {static_cast<double>(w), static_cast<double>(h)};
    std::vector<bool> keep(static_cast<size_t>(n), true);
    for (int64_t k = 0; k < n; ++k) {
        double* box = boxes.data() + k * width;
        const double lo[2] = {box[0], box[1]}, hi[2] = {box[half], box[half + 1]};
        bool outside = lo[0] >= size[0] || lo[1] >= size[1] || hi[0] < 0 || hi[1] < 0;
        if (d >= 0) outside = outside || box[2] > static_cast<double>(d - 1) || box[5] < 0;
        const std::string label = "box " + std::to_string(k + 1);
        if (outside) {
            keep[k] = false;
            warnings.push_back(label + " lies outside the image; its label stays empty");
            continue;
        }
        if (lo[0] < 0 || lo[1] < 0 || hi[0] > size[0] || hi[1] > size[1]) {
            for (int a = 0; a < 2; ++a) {
                box[a] = cast_box_value(std::clamp(lo[a], 0.0, size[a]), arith);
                box[half + a] = cast_box_value(std::clamp(hi[a], 0.0, size[a]), arith);
            }
            warnings.push_back(label + " extends outside the image in x/y; clipped to it");
        }
        if (d >= 0 && (box[2] < 0 || box[5] > static_cast<double>(d - 1)))
            warnings.push_back(label + " extends outside the volume in z; slices beyond it are skipped");
    }
    return keep;
}

void check_boxes(const double* boxes, int64_t n, int width) {
    if (n < 0 || (n > 0 && !boxes)) throw Error(UMEDSAM_ERR_ARGUMENT, "boxes: null or negative count");
    for (int64_t i = 0; i < n * width; ++i)
        if (!std::isfinite(boxes[i])) throw Error(UMEDSAM_ERR_ARGUMENT, "boxes: NaN or infinity");
}

void check_resizable(int64_t h, int64_t w, const char* what) {
    const auto hw = new_size(h, w);
    if (hw[0] == 0 || hw[1] == 0)
        throw Error(UMEDSAM_ERR_ARGUMENT, std::string(what) + " too thin (a side resizes to 0 pixels)");
}

// Zero the label map and mark every IoU "not run"; false (with the reference's warning) when there
// are no boxes, so the caller returns the all-zero map.
bool reset_outputs(uint16_t* labels, size_t count, double* ious, int64_t n, std::vector<std::string>& warnings) {
    std::fill(labels, labels + count, 0);
    if (ious) std::fill(ious, ious + n, std::numeric_limits<double>::quiet_NaN());
    if (n == 0) warnings.push_back("no boxes; all-zero segs");
    return n > 0;
}

}  // namespace

EmbeddingCache::EmbeddingCache(double max_mb)
    : max_bytes_(max_mb <= 0 ? 0 : static_cast<size_t>(max_mb * 1024.0 * 1024.0)) {}

const std::vector<float>* EmbeddingCache::get(int64_t z) {
    auto it = items_.find(z);
    if (it == items_.end()) {
        ++misses;
        return nullptr;
    }
    ++hits;
    order_.splice(order_.begin(), order_, it->second.pos);
    return &it->second.value;
}

const std::vector<float>* EmbeddingCache::put(int64_t z, std::vector<float>&& value) {
    auto it = items_.find(z);
    if (it != items_.end()) {
        bytes_ -= it->second.value.size() * sizeof(float);
        order_.erase(it->second.pos);
        items_.erase(it);
    }
    const size_t nbytes = value.size() * sizeof(float);
    if (nbytes > max_bytes_) return nullptr;  // a cache too small for one embedding just recomputes
    order_.push_front(z);
    Item& item = items_[z];
    item = Item{std::move(value), order_.begin()};
    bytes_ += nbytes;
    while (bytes_ > max_bytes_) {  // never evicts z itself: it is the most recent and fits alone
        const int64_t old = order_.back();
        order_.pop_back();
        bytes_ -= items_[old].value.size() * sizeof(float);
        items_.erase(old);
        ++evictions;
    }
    return &item.value;
}

void Predictor::reset() {
    warnings_.clear();
    timings_ = umedsam_timings{};
}

void Predictor::segment_2d(const uint8_t* image, int64_t h, int64_t w, int64_t channels, const double* boxes_in,
                           int64_t n, int32_t arith, uint16_t* labels, double* ious) {
    reset();
    if (!image || !labels || h <= 0 || w <= 0 || (channels != 1 && channels != 3))
        throw Error(UMEDSAM_ERR_ARGUMENT, "segment_2d: image must be a non-empty (H, W, 1|3) uint8 array");
    check_boxes(boxes_in, n, 4);
    check_resizable(h, w, "segment_2d: image");
    const auto start = Clock::now();
    auto t = start;
    if (!reset_outputs(labels, static_cast<size_t>(h) * w, ious, n, warnings_)) return;
    std::vector<double> boxes(boxes_in, boxes_in + n * 4);
    const std::vector<bool> keep = clip_boxes(boxes, n, 4, h, w, -1, arith, warnings_);
    // The Python path repeats a grey image to RGB before resizing; do the same.
    std::vector<uint8_t> rgb;
    if (channels == 1) {
        rgb.resize(static_cast<size_t>(h) * w * 3);
        for (int64_t i = 0; i < h * w; ++i) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = image[i];
        image = rgb.data();
    }
    seconds_since(t);
    double mark = timeline::now();
    const auto [nh, nw] = new_size(h, w);
    const std::vector<uint8_t> resized = resize_longest_side(image, h, w, 3);
    std::vector<float> x(IMAGE_FLOATS);
    normalize_pad(resized.data(), nh, nw, 3, x.data());
    timings_.preprocess_s += seconds_since(t);
    double next = timeline::now();
    timeline::record("preprocess", mark, next);
    mark = next;
    embedding_.resize(EMB_FLOATS);
    engine_.encode(x.data(), 1, embedding_.data());
    ++timings_.encoder_calls;
    timings_.encode_s += seconds_since(t);
    next = timeline::now();
    timeline::record("encode", mark, next);
    mark = next;
    logits_.resize(LOGIT_FLOATS);
    std::vector<uint8_t> mask(static_cast<size_t>(h) * w);
    for (int64_t k = 0; k < n; ++k) {
        if (!keep[k]) continue;
        const auto box256 = box_to_256(boxes.data() + 4 * k, arith, h, w);
        float iou = 0;
        seconds_since(t);
        engine_.decode(embedding_.data(), box256.data(), 1, logits_.data(), &iou);
        ++timings_.decoder_calls;
        timings_.decode_s += seconds_since(t);
        logits_to_mask(logits_.data(), nh, nw, h, w, mask.data());
        const uint16_t label = static_cast<uint16_t>(k + 1);
        for (size_t i = 0; i < mask.size(); ++i)
            if (mask[i]) labels[i] = label;  // file order: later boxes overwrite earlier ones
        if (ious) ious[k] = static_cast<double>(iou);
        timings_.postprocess_s += seconds_since(t);
    }
    timeline::record("decode + postprocess, " + std::to_string(timings_.decoder_calls) + " box(es)", mark, timeline::now());
    timings_.total_s = std::chrono::duration<double>(Clock::now() - start).count();
}

const std::vector<float>& Predictor::slice_embedding(const uint8_t* volume, int64_t z, int64_t h, int64_t w,
                                                     EmbeddingCache& cache) {
    if (const std::vector<float>* hit = cache.get(z)) return *hit;
    auto t = Clock::now();
    const auto [nh, nw] = new_size(h, w);
    const std::vector<uint8_t> resized = resize_longest_side(volume + z * h * w, h, w, 1);
    std::vector<float> x(IMAGE_FLOATS);
    normalize_pad(resized.data(), nh, nw, 1, x.data());
    timings_.preprocess_s += seconds_since(t);
    std::vector<float> emb(EMB_FLOATS);
    engine_.encode(x.data(), 1, emb.data());
    ++timings_.encoder_calls;
    timings_.encode_s += seconds_since(t);
    if (const std::vector<float>* stored = cache.put(z, std::move(emb))) return *stored;
    embedding_ = std::move(emb);  // a cache smaller than one embedding stores nothing (emb was not moved from)
    return embedding_;
}

void Predictor::segment_3d(const uint8_t* volume, int64_t d, int64_t h, int64_t w, const double* boxes_in, int64_t n,
                           int32_t arith, uint16_t* labels, double* ious) {
    reset();
    if (!volume || !labels || d <= 0 || h <= 0 || w <= 0)
        throw Error(UMEDSAM_ERR_ARGUMENT, "segment_3d: volume must be a non-empty (D, H, W) uint8 array");
    check_boxes(boxes_in, n, 6);
    check_resizable(h, w, "segment_3d: slices");
    const auto start = Clock::now();
    const size_t plane = static_cast<size_t>(h) * w;
    if (!reset_outputs(labels, d * plane, ious, n, warnings_)) return;
    std::vector<double> boxes(boxes_in, boxes_in + n * 6);
    const std::vector<bool> keep = clip_boxes(boxes, n, 6, h, w, d, arith, warnings_);
    EmbeddingCache cache(max_cache_mb_);
    const timeline::Span span("segment 3D (encode, decode, postprocess interleaved)");
    const auto [nh, nw] = new_size(h, w);
    std::vector<uint8_t> temp(d * plane);
    logits_.resize(LOGIT_FLOATS);
    auto t = Clock::now();
    for (int64_t k = 0; k < n; ++k) {
        if (!keep[k]) continue;
        const int label = static_cast<int>(k + 1);
        const double* box = boxes.data() + 6 * k;
        std::fill(temp.begin(), temp.end(), 0);
        const int64_t z_mid = middle_slice(box[2], box[5], d);
        const double xyxy[4] = {box[0], box[1], box[3], box[4]};
        const auto mid256 = box_to_256(xyxy, arith, h, w);
        double iou_sum = 0;
        int64_t slices = 0;
        const int64_t z_hi = std::min<int64_t>(static_cast<int64_t>(std::trunc(box[5])) + 1, d);
        const int64_t z_lo = std::max<int64_t>(-1, static_cast<int64_t>(std::trunc(box[2])) - 1);
        for (int step : {1, -1}) {
            const int64_t first = step == 1 ? z_mid : z_mid - 1;
            for (int64_t z = first; step == 1 ? z < z_hi : z > z_lo; z += step) {
                std::array<float, 4> box256 = mid256;
                if (z != z_mid) {
                    t = Clock::now();
                    const auto prop = propagated_box(temp.data() + (z - step) * plane, h, w, label);
                    timings_.postprocess_s += seconds_since(t);
                    if (prop) box256 = *prop;
                }
                const std::vector<float>& emb = slice_embedding(volume, z, h, w, cache);
                t = Clock::now();
                float iou = 0;
                engine_.decode(emb.data(), box256.data(), 1, logits_.data(), &iou);
                ++timings_.decoder_calls;
                timings_.decode_s += seconds_since(t);
                logits_to_mask(logits_.data(), nh, nw, h, w, temp.data() + z * plane);
                timings_.postprocess_s += seconds_since(t);
                iou_sum += static_cast<double>(iou);
                ++slices;
            }
        }
        const uint16_t value = static_cast<uint16_t>(label);
        for (size_t i = 0; i < temp.size(); ++i)
            if (temp[i]) labels[i] = value;
        if (ious && slices) ious[k] = iou_sum / static_cast<double>(slices);
    }
    timings_.cache_hits = cache.hits;
    timings_.cache_misses = cache.misses;
    timings_.cache_evictions = cache.evictions;
    timings_.total_s = std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace umedsam
