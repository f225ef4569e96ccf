// Challenge .npz files through libzip: read members by key, write one compressed member atomically.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "npy.hpp"

struct zip;

namespace umedsam {

// An open .npz archive. Keys are member names without ".npy", as numpy's NpzFile shows them.
class NpzReader {
public:
    // Throws Error(UMEDSAM_ERR_CASE) naming the file when it is missing or not a zip archive.
    explicit NpzReader(const std::string& path);
    ~NpzReader();
    NpzReader(const NpzReader&) = delete;
    NpzReader& operator=(const NpzReader&) = delete;

    const std::vector<std::string>& keys() const { return keys_; }
    bool has(const std::string& key) const;
    // The parsed array; throws Error(UMEDSAM_ERR_CASE) naming the file and the key.
    NpyArray array(const std::string& key, uint64_t max_bytes) const;
    // The shape the member's .npy header declares, reading only the header (for --resume).
    std::vector<int64_t> declared_shape(const std::string& key) const;

private:
    std::string path_;
    struct zip* zip_ = nullptr;
    std::vector<std::string> keys_;
    std::vector<std::string> members_;
};

// Write {name: array} as a deflate-compressed .npz (numpy's savez_compressed layout) to a temporary
// file beside `path`, fsync it and rename it over `path`: readers see the old file or the new one.
void write_npz_atomic(const std::string& path, const std::string& name, const std::vector<uint8_t>& npy_bytes);

// Write a small text file atomically (efficiency.csv).
void write_text_atomic(const std::string& path, const std::string& text);

}  // namespace umedsam
