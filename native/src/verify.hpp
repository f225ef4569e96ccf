// Bundle integrity at open: the sha256 of every graph file the engine loads (and of its companions,
// an IR's .bin or an ONNX graph's external data) must equal the manifest's, and a manifest marked
// "status": "failed" is refused unless the caller allows it. Digests are remembered per file by
// stat (size, inode, device, mtime, ctime in ns) in the JSON file the Python runtime uses
// (umedsam/runtime/integrity.py: $UMEDSAM_VERIFY_CACHE, else verified.json in the parent folder of
// $UMEDSAM_OV_CACHE, else ~/.cache/umedsam/verified.json), so a second open costs a stat per file.
#pragma once

#include <string>

#include "engine.hpp"

namespace umedsam {

// The shared digest-cache file ("" when no home and no environment variable names one).
std::string verify_cache_path();

// Hex sha256 of a file (OpenSSL's EVP, read in 1 MiB blocks); throws Error(UMEDSAM_ERR_BUNDLE).
std::string sha256_file(const std::string& path);

// Throws Error(UMEDSAM_ERR_BUNDLE) naming the first file whose digest differs from the manifest's.
void verify_bundle(const BundleInfo& bundle);

// Throws Error(UMEDSAM_ERR_BUNDLE) when the manifest's status is "failed".
void check_bundle_status(const BundleInfo& bundle);

}  // namespace umedsam
