#include "imaging.hpp"

#include <algorithm>
#include <cmath>

#include "resize_area.hpp"

namespace umedsam {

std::array<int, 2> new_size(int64_t h, int64_t w) {
    const double scale = IMG_SIZE * 1.0 / static_cast<double>(std::max(h, w));
    return {static_cast<int>(static_cast<double>(h) * scale + 0.5), static_cast<int>(static_cast<double>(w) * scale + 0.5)};
}

std::vector<uint8_t> resize_longest_side(const uint8_t* image, int64_t h, int64_t w, int channels) {
    const auto [nh, nw] = new_size(h, w);
    std::vector<uint8_t> out(static_cast<size_t>(nh) * nw * channels);
    resize_area_u8(image, static_cast<int>(h), static_cast<int>(w), channels, out.data(), nh, nw);
    return out;
}

void normalize_pad(const uint8_t* resized, int rh, int rw, int channels, float* out) {
    const size_t n = static_cast<size_t>(rh) * rw * channels;
    int lo = 255, hi = 0;
    for (size_t i = 0; i < n; ++i) {
        lo = std::min<int>(lo, resized[i]);
        hi = std::max<int>(hi, resized[i]);
    }
    float lut[256];
    const double range = std::max(static_cast<double>(hi - lo), 1e-8);
    for (int v = 0; v < 256; ++v) lut[v] = static_cast<float>((static_cast<double>(v) - lo) / range);
    std::fill(out, out + IMAGE_FLOATS, 0.0f);
    for (int c = 0; c < 3; ++c) {
        const int src_c = channels == 3 ? c : 0;
        float* plane = out + static_cast<size_t>(c) * IMG_SIZE * IMG_SIZE;
        for (int y = 0; y < rh; ++y)
            for (int x = 0; x < rw; ++x)
                plane[y * IMG_SIZE + x] = lut[resized[(static_cast<size_t>(y) * rw + x) * channels + src_c]];
    }
}

double cast_box_value(double v, int32_t arith) {
    if (arith == UMEDSAM_BOXES_F32) return static_cast<double>(static_cast<float>(v));
    if (arith == UMEDSAM_BOXES_F16) return static_cast<double>(static_cast<_Float16>(v));
    return v;
}

std::array<float, 4> box_to_256(const double* xyxy, int32_t arith, int64_t h, int64_t w) {
    const double ratio = IMG_SIZE / static_cast<double>(std::max(h, w));
    std::array<float, 4> out{};
    for (int k = 0; k < 4; ++k) {
        if (arith == UMEDSAM_BOXES_F32) {
            const float p = static_cast<float>(xyxy[k]) * static_cast<float>(ratio);
            out[k] = std::trunc(p);
        } else if (arith == UMEDSAM_BOXES_F16) {
            // numpy multiplies float16 through float32 and rounds once to float16
            const _Float16 r = static_cast<_Float16>(ratio);
            const _Float16 p = static_cast<_Float16>(static_cast<float>(static_cast<_Float16>(xyxy[k])) * static_cast<float>(r));
            out[k] = std::trunc(static_cast<float>(p));
        } else {
            out[k] = static_cast<float>(std::trunc(xyxy[k] * ratio));
        }
    }
    return out;
}

int64_t middle_slice(double z_min, double z_max, int64_t depth) {
    const int64_t z = static_cast<int64_t>(std::trunc((z_max - z_min) / 2 + z_min));
    return std::min<int64_t>(std::max<int64_t>(z, 0), depth - 1);
}

std::optional<std::array<float, 4>> propagated_box(const uint8_t* prev_mask, int64_t h, int64_t w, int label) {
    const uint8_t value = static_cast<uint8_t>(std::min(label, 255));
    std::vector<uint8_t> temp(static_cast<size_t>(h) * w);
    for (size_t i = 0; i < temp.size(); ++i) temp[i] = prev_mask[i] ? value : 0;
    const auto [nh, nw] = new_size(h, w);
    const std::vector<uint8_t> small = resize_longest_side(temp.data(), h, w, 1);
    int x0 = nw, y0 = nh, x1 = -1, y1 = -1;
    for (int y = 0; y < nh; ++y)
        for (int x = 0; x < nw; ++x)
            if (small[static_cast<size_t>(y) * nw + x]) {
                x0 = std::min(x0, x); x1 = std::max(x1, x);
                y0 = std::min(y0, y); y1 = std::max(y1, y);
            }
    if (x1 < 0) return std::nullopt;
    constexpr int shift = 3;  // the reference's get_bbox256: +-3 px, clipped to [0, 256]
    return std::array<float, 4>{static_cast<float>(std::max(0, x0 - shift)), static_cast<float>(std::max(0, y0 - shift)),
                                static_cast<float>(std::min(IMG_SIZE, x1 + shift)), static_cast<float>(std::min(IMG_SIZE, y1 + shift))};
}

namespace {

struct Axis {
    std::vector<int64_t> i0, i1;
    std::vector<float> w0, w1;
};

// PyTorch's half-pixel source index and weights for one axis, all in float32 as in the Python port.
Axis linear_axis(int64_t in, int64_t out) {
    Axis a;
    a.i0.resize(out); a.i1.resize(out); a.w0.resize(out); a.w1.resize(out);
    const float scale = static_cast<float>(in) / static_cast<float>(out);
    for (int64_t d = 0; d < out; ++d) {
        float src = scale * (static_cast<float>(d) + 0.5f) - 0.5f;
        src = std::max(src, 0.0f);
        const int64_t i0 = static_cast<int64_t>(src);
        a.i0[d] = i0;
        a.i1[d] = std::min<int64_t>(i0 + 1, in - 1);
        a.w1[d] = src - static_cast<float>(i0);
        a.w0[d] = 1.0f - a.w1[d];
    }
    return a;
}

}  // namespace

void logits_to_mask(const float* logits, int newh, int neww, int64_t h, int64_t w, uint8_t* mask) {
    const Axis r = linear_axis(newh, h), c = linear_axis(neww, w);
    std::vector<float> row(static_cast<size_t>(neww));
    for (int64_t y = 0; y < h; ++y) {
        const float* a = logits + r.i0[y] * IMG_SIZE;
        const float* b = logits + r.i1[y] * IMG_SIZE;
        const float wa = r.w0[y], wb = r.w1[y];
        for (int x = 0; x < neww; ++x) {
            const float pa = a[x] * wa;  // two products, then the sum: numpy's order (no FMA)
            const float pb = b[x] * wb;
            row[x] = pa + pb;
        }
        uint8_t* m = mask + y * w;
        for (int64_t x = 0; x < w; ++x) {
            const float pa = row[c.i0[x]] * c.w0[x];
            const float pb = row[c.i1[x]] * c.w1[x];
            m[x] = (pa + pb) > 0.0f;
        }
    }
}

}  // namespace umedsam
