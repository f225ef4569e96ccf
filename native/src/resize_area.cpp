#include "resize_area.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <vector>

namespace umedsam {

namespace {

// cvRound / cvFloor / cvCeil / saturate_cast as OpenCV defines them (round half to even).
inline int round_even(double v) { return static_cast<int>(std::nearbyint(v)); }
inline int round_even(float v) { return static_cast<int>(std::nearbyintf(v)); }
inline int floor_int(double v) { return static_cast<int>(std::floor(v)); }
inline int ceil_int(double v) { return static_cast<int>(std::ceil(v)); }
inline uint8_t saturate_u8(float v) {
    if (std::isnan(v)) return 0;
    const int i = round_even(v);
    return static_cast<uint8_t>(std::clamp(i, 0, 255));
}
inline int16_t saturate_s16(float v) { return static_cast<int16_t>(std::clamp(round_even(v), -32768, 32767)); }

// --- 1. integer shrink factors ---------------------------------------------------------------
void area_fast(const uint8_t* src, int sh, int sw, int cn, uint8_t* dst, int dh, int dw, int fx, int fy) {
    const int area = fx * fy;
    const float scale = 1.f / static_cast<float>(area);
    const int dwidth1 = (sw / fx) * cn;  // destination elements whose cell lies inside the source
    const int dwidth = dw * cn, swidth = sw * cn;
    const bool two_by_two = fx == 2 && fy == 2 && (cn == 1 || cn == 3 || cn == 4);
    std::vector<int> ofs(area);
    for (int y = 0, k = 0; y < fy; ++y)
        for (int x = 0; x < fx; ++x) ofs[k++] = y * swidth + x * cn;
    for (int dy = 0; dy < dh; ++dy) {
        uint8_t* D = dst + static_cast<size_t>(dy) * dwidth;
        const int sy0 = dy * fy;
        if (sy0 >= sh) {
            std::fill(D, D + dwidth, 0);
            continue;
        }
        const int w = sy0 + fy <= sh ? dwidth1 : 0;
        const uint8_t* S = src + static_cast<size_t>(sy0) * swidth;
        int dx = 0;
        if (two_by_two) {  // OpenCV's vectorised 2x2 path rounds half up with integer shifts
            const uint8_t* S1 = S + swidth;
            for (; dx < w; ++dx) {
                const int p = dx / cn, c = dx % cn, i = 2 * p * cn + c;
                D[dx] = static_cast<uint8_t>((S[i] + S[i + cn] + S1[i] + S1[i + cn] + 2) >> 2);
            }
        }
        for (; dx < w; ++dx) {
            const int p = dx / cn, c = dx % cn;
            const uint8_t* s = S + fx * p * cn + c;
            int sum = 0;
            for (int k = 0; k < area; ++k) sum += s[ofs[k]];
            D[dx] = saturate_u8(static_cast<float>(sum) * scale);
        }
        for (; dx < dwidth; ++dx) {  // cells cut by the right or bottom border
            const int p = dx / cn, c = dx % cn, sx0 = fx * p * cn + c;
            int sum = 0, count = 0;
            for (int y = 0; y < fy && sy0 + y < sh; ++y) {
                const uint8_t* s = src + static_cast<size_t>(sy0 + y) * swidth + sx0;
                for (int x = 0; x < fx * cn && sx0 + x < swidth; x += cn) {
                    sum += s[x];
                    ++count;
                }
            }
            D[dx] = count ? saturate_u8(static_cast<float>(sum) / static_cast<float>(count)) : 0;
        }
    }
}

// --- 2. fractional shrink factors ------------------------------------------------------------
struct Alpha {
    int di, si;
    float alpha;
};

std::vector<Alpha> area_tab(int ssize, int dsize, int cn, double scale) {
    std::vector<Alpha> tab;
    for (int dx = 0; dx < dsize; ++dx) {
        const double fsx1 = dx * scale, fsx2 = fsx1 + scale;
        const double cell = std::min(scale, ssize - fsx1);
        int sx1 = ceil_int(fsx1), sx2 = floor_int(fsx2);
        sx2 = std::min(sx2, ssize - 1);
        sx1 = std::min(sx1, sx2);
        if (sx1 - fsx1 > 1e-3) tab.push_back({dx * cn, (sx1 - 1) * cn, static_cast<float>((sx1 - fsx1) / cell)});
        for (int sx = sx1; sx < sx2; ++sx) tab.push_back({dx * cn, sx * cn, static_cast<float>(1.0 / cell)});
        if (fsx2 - sx2 > 1e-3)
            tab.push_back({dx * cn, sx2 * cn, static_cast<float>(std::min(std::min(fsx2 - sx2, 1.), cell) / cell)});
    }
    return tab;
}

void area_general(const uint8_t* src, int sh, int sw, int cn, uint8_t* dst, int dh, int dw, double scale_x,
                  double scale_y) {
    const std::vector<Alpha> xtab = area_tab(sw, dw, cn, scale_x), ytab = area_tab(sh, dh, 1, scale_y);
    const int dwidth = dw * cn, swidth = sw * cn;
    std::vector<float> buf(dwidth), sum(dwidth, 0.f);
    int prev_dy = ytab.empty() ? 0 : ytab[0].di;
    for (const Alpha& y : ytab) {
        const float beta = y.alpha;
        const uint8_t* S = src + static_cast<size_t>(y.si) * swidth;
        std::fill(buf.begin(), buf.end(), 0.f);
        for (const Alpha& x : xtab)
            for (int c = 0; c < cn; ++c) {
                const float product = static_cast<float>(S[x.si + c]) * x.alpha;
                buf[x.di + c] = buf[x.di + c] + product;
            }
        if (y.di != prev_dy) {
            uint8_t* D = dst + static_cast<size_t>(prev_dy) * dwidth;
            for (int dx = 0; dx < dwidth; ++dx) {
                D[dx] = saturate_u8(sum[dx]);
                sum[dx] = beta * buf[dx];
            }
            prev_dy = y.di;
        } else {
            for (int dx = 0; dx < dwidth; ++dx) {
                const float product = beta * buf[dx];
                sum[dx] = sum[dx] + product;
            }
        }
    }
    uint8_t* D = dst + static_cast<size_t>(prev_dy) * dwidth;
    for (int dx = 0; dx < dwidth; ++dx) D[dx] = saturate_u8(sum[dx]);
}

// --- 3. enlarging: fixed-point bilinear with area coefficients -------------------------------
constexpr int COEF_BITS = 11, COEF_SCALE = 1 << COEF_BITS;

void area_linear(const uint8_t* src, int sh, int sw, int cn, uint8_t* dst, int dh, int dw, double inv_scale_x,
                 double inv_scale_y) {
    const double scale_x = 1. / inv_scale_x, scale_y = 1. / inv_scale_y;
    const int width = dw * cn;
    int xmax = dw;
    std::vector<int> xofs(width), yofs(dh);
    std::vector<int16_t> alpha(width * 2), beta(dh * 2);
    for (int dx = 0; dx < dw; ++dx) {
        int sx = floor_int(dx * scale_x);
        float fx = static_cast<float>((dx + 1) - (sx + 1) * inv_scale_x);
        fx = fx <= 0 ? 0.f : fx - static_cast<float>(std::floor(fx));
        if (sx < 0) fx = 0, sx = 0;
        if (sx + 1 >= sw) {
            xmax = std::min(xmax, dx);
            if (sx >= sw - 1) fx = 0, sx = sw - 1;
        }
        const int16_t a0 = saturate_s16((1.f - fx) * COEF_SCALE), a1 = saturate_s16(fx * COEF_SCALE);
        for (int c = 0; c < cn; ++c) {
            xofs[dx * cn + c] = sx * cn + c;
            alpha[(dx * cn + c) * 2] = a0;
            alpha[(dx * cn + c) * 2 + 1] = a1;
        }
    }
    for (int dy = 0; dy < dh; ++dy) {
        const int sy = floor_int(dy * scale_y);
        float fy = static_cast<float>((dy + 1) - (sy + 1) * inv_scale_y);
        fy = fy <= 0 ? 0.f : fy - static_cast<float>(std::floor(fy));
        yofs[dy] = sy;
        beta[dy * 2] = saturate_s16((1.f - fy) * COEF_SCALE);
        beta[dy * 2 + 1] = saturate_s16(fy * COEF_SCALE);
    }
    xmax *= cn;
    auto hresize = [&](int sy, std::vector<int>& row) {
        const uint8_t* S = src + static_cast<size_t>(sy) * sw * cn;
        int dx = 0;
        for (; dx < xmax; ++dx) row[dx] = S[xofs[dx]] * alpha[dx * 2] + S[xofs[dx] + cn] * alpha[dx * 2 + 1];
        for (; dx < width; ++dx) row[dx] = S[xofs[dx]] * COEF_SCALE;
    };
    std::vector<int> row0(width), row1(width);
    int have0 = -1, have1 = -1;  // source rows currently in row0/row1
    for (int dy = 0; dy < dh; ++dy) {
        const int y0 = std::clamp(yofs[dy], 0, sh - 1), y1 = std::clamp(yofs[dy] + 1, 0, sh - 1);
        if (have0 != y0) {
            if (have1 == y0) row0 = row1;
            else hresize(y0, row0);
            have0 = y0;
        }
        if (have1 != y1) {
            hresize(y1, row1);
            have1 = y1;
        }
        const int b0 = beta[dy * 2], b1 = beta[dy * 2 + 1];
        uint8_t* D = dst + static_cast<size_t>(dy) * width;
        for (int x = 0; x < width; ++x)
            D[x] = static_cast<uint8_t>((((b0 * (row0[x] >> 4)) >> 16) + ((b1 * (row1[x] >> 4)) >> 16) + 2) >> 2);
    }
}

}  // namespace

void resize_area_u8(const uint8_t* src, int sh, int sw, int cn, uint8_t* dst, int dh, int dw) {
    if (sh == dh && sw == dw) {
        std::memcpy(dst, src, static_cast<size_t>(sh) * sw * cn);
        return;
    }
    const double inv_scale_x = static_cast<double>(dw) / sw, inv_scale_y = static_cast<double>(dh) / sh;
    const double scale_x = 1. / inv_scale_x, scale_y = 1. / inv_scale_y;
    const int ix = round_even(scale_x), iy = round_even(scale_y);
    const bool integer = std::abs(scale_x - ix) < DBL_EPSILON && std::abs(scale_y - iy) < DBL_EPSILON;
    if (scale_x >= 1 && scale_y >= 1) {
        if (integer) area_fast(src, sh, sw, cn, dst, dh, dw, ix, iy);
        else area_general(src, sh, sw, cn, dst, dh, dw, scale_x, scale_y);
    } else {
        area_linear(src, sh, sw, cn, dst, dh, dw, inv_scale_x, inv_scale_y);
    }
}

}  // namespace umedsam
