// OpenCV's INTER_AREA resize for 8-bit images, ported so the native runtime needs no OpenCV.
//
// Why a port: the Python runtime resizes with cv2.resize(..., INTER_AREA), so the native one must
// reproduce it bit for bit. Linking Debian's OpenCV did (libopencv-imgproc-dev, tested), but
// libopencv-core406 drags Mesa/LLVM/ICU into a container (+242 MB measured on debian:bookworm
// minbase for core + imgproc), more than OpenVINO itself. The algorithm is small: three code paths
// of OpenCV 4.x's modules/imgproc/src/resize.cpp, reimplemented here from their arithmetic:
//   1. integer shrink factors ("area fast"): box sums, rounded through float (2x2: (sum + 2) >> 2);
//   2. other shrinks: fractional cell coverage weights in float, row by row;
//   3. enlarging (any axis < 1): bilinear in 11-bit fixed point with area-style coefficients.
// tests/native/test_pre_post.py compares it with cv2 over hundreds of sizes, factors and contents.
#pragma once

#include <cstdint>

namespace umedsam {

// cv::resize(src (sh, sw, cn), dst (dh, dw, cn), INTER_AREA) for uint8 with 1 to 4 channels.
void resize_area_u8(const uint8_t* src, int sh, int sw, int cn, uint8_t* dst, int dh, int dw);

}  // namespace umedsam
