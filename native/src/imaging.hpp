// Pre- and post-processing, bit-for-bit the Python runtime's (umedsam/runtime/preprocess.py and
// postprocess.py): OpenCV's INTER_AREA resize (ported: resize_area.hpp) to a longest side of 256, min-max normalisation in
// float64 cast to float32, zero padding; box scaling in the boxes' own dtype; the reference's +-3 px
// propagated boxes; PyTorch-convention bilinear upsampling of the logits in float32.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "umedsam.h"

namespace umedsam {

constexpr int IMG_SIZE = 256;
constexpr int EMB_CH = 256, EMB_HW = 64;
constexpr size_t IMAGE_FLOATS = 3 * IMG_SIZE * IMG_SIZE;
constexpr size_t EMB_FLOATS = static_cast<size_t>(EMB_CH) * EMB_HW * EMB_HW;
constexpr size_t LOGIT_FLOATS = IMG_SIZE * IMG_SIZE;

// (newh, neww) after resizing the longest side to 256: int(x * scale + 0.5).
std::array<int, 2> new_size(int64_t h, int64_t w);

// INTER_AREA resize of an (h, w, channels) uint8 image to new_size(h, w); returns the pixels.
std::vector<uint8_t> resize_longest_side(const uint8_t* image, int64_t h, int64_t w, int channels);

// Normalise a resized (rh, rw, channels) image and zero-pad into out (3, 256, 256); a single channel
// is repeated to three.
void normalize_pad(const uint8_t* resized, int rh, int rw, int channels, float* out);

// A value cast to the boxes' dtype (what numpy's .astype(boxes.dtype) does after clipping).
double cast_box_value(double v, int32_t arith);

// Box [x0, y0, x1, y1] scaled to the 256 grid with truncation in the boxes' dtype, then float32.
std::array<float, 4> box_to_256(const double* xyxy, int32_t arith, int64_t h, int64_t w);

// The reference's start slice int((z_max - z_min) / 2 + z_min), kept inside the volume.
int64_t middle_slice(double z_min, double z_max, int64_t depth);

// The next slice's box from the previous slice's mask (h, w) holding the label `value`, resized
// with INTER_AREA like the reference; nullopt when the resized mask is empty.
std::optional<std::array<float, 4>> propagated_box(const uint8_t* prev_mask, int64_t h, int64_t w, int label);

// Upsample the top-left (newh, neww) of 256x256 logits to (h, w) bilinearly (align_corners=False)
// and threshold at 0; `mask` receives h*w bytes of 0/1.
void logits_to_mask(const float* logits, int newh, int neww, int64_t h, int64_t w, uint8_t* mask);

}  // namespace umedsam
