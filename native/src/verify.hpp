// Bundle integrity at open: the sha256 of every graph file the engine loads (and of its companions,
// an IR's .bin or an ONNX graph's external data) must equal the manifest's, and a manifest marked
// "status": "failed" is refused unless the caller allows it. Digests are remembered per file by
// stat (size, inode, device, mtime, ctime in ns) in the JSON file the Python runtime uses
// (umedsam/runtime/integrity.py: $UMEDSAM_VERIFY_CACHE, else verified.json in the parent folder of
// $UMEDSAM_OV_CACHE, else ~/.cache/umedsam/verified.json), so a second open costs a stat per file.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "engine.hpp"

namespace umedsam {

// sha256 of files remembered by stat in the shared cache file (umedsam/runtime/integrity.py's DigestCache).
class DigestCache {
public:
    DigestCache();
    // false when the file is missing; throws Error(UMEDSAM_ERR_BUNDLE) when it cannot be read
    bool sha256(const std::string& path, std::string& digest);
    void save();  // best effort, atomic

private:
    std::string path_;
    nlohmann::json entries_ = nlohmann::json::object(), added_ = nlohmann::json::object();
};

// OpenVINO compile-cache blobs (umedsam/runtime/integrity.py, the same umedsam-blobs.json): delete the
// blobs whose sha256 differs from the one recorded for them (OpenVINO imports a blob damaged in place
// and computes NaNs), so they are compiled again; record the blobs not recorded yet after compiling.
void check_blob_cache(const std::string& cache_dir);
void record_blobs(const std::string& cache_dir);

// An exclusive flock on <cache_dir>/.umedsam.lock for as long as it lives (the Python runtime takes
// the same lock: umedsam/runtime/integrity.py's cache_lock). Held while checking, compiling and
// recording blobs, so a second process waits for the first compile and imports its blob instead of
// writing the same file at once. A folder where the lock file cannot be created is used unlocked.
class CacheLock {
public:
    explicit CacheLock(const std::string& cache_dir);
    ~CacheLock();
    CacheLock(const CacheLock&) = delete;
    CacheLock& operator=(const CacheLock&) = delete;

private:
    int fd_ = -1;
};

// The shared digest-cache file ("" when no home and no environment variable names one).
std::string verify_cache_path();

// Hex sha256 of a file (OpenSSL's EVP, read in 1 MiB blocks); throws Error(UMEDSAM_ERR_BUNDLE).
std::string sha256_file(const std::string& path);

// Throws Error(UMEDSAM_ERR_BUNDLE) naming the first file whose digest differs from the manifest's.
void verify_bundle(const BundleInfo& bundle);

// Throws Error(UMEDSAM_ERR_BUNDLE) when the manifest's status is "failed".
void check_bundle_status(const BundleInfo& bundle);

}  // namespace umedsam
