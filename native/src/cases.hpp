// Challenge cases: read and validate an input .npz exactly as umedsam/data/npz.py's load_case does
// (same checks, same one-line "<file>: field '<field>': <problem>" errors), write `segs`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace umedsam {

struct Case {
    std::string path;
    int kind = 0;                 // 2 or 3, from the file-name prefix
    std::vector<int64_t> dims;    // imgs shape
    std::vector<uint8_t> imgs;
    std::vector<double> boxes;    // (n, 4) or (n, 6)
    int64_t n_boxes = 0;
    int32_t box_arith = 0;        // umedsam_box_arith
    bool has_spacing = false;
    std::vector<std::string> warnings;
};

// Largest image array a case may hold (bytes); $UMEDSAM_MAX_ARRAY_MB overrides. Default 2 GiB, as
// umedsam/data/npz.py (a quarter of the challenge container's 8 GB: labels and masks need 3x more).
uint64_t max_array_bytes();

Case load_case(const std::string& path);

// Whether out_path holds a complete, valid prediction for the case in_path: a readable npz whose
// `segs` (CRC checked) is an integer array of the case's image shape without the colour axis.
// Throws Error(UMEDSAM_ERR_CASE) saying what is wrong (umedsam-native --resume redoes such cases).
void check_output(const std::string& in_path, const std::string& out_path);

// Write segs (uint16, the case's image shape without the colour axis) to `out_path` atomically.
void save_segs(const std::string& out_path, const std::vector<int64_t>& shape, const std::vector<uint16_t>& segs);

}  // namespace umedsam
