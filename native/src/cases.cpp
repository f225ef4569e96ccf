#include "cases.hpp"

#include <cmath>
#include <functional>
#include <cstdlib>
#include <stdexcept>

#include "error.hpp"
#include "imaging.hpp"
#include "npz.hpp"
#include "umedsam.h"

namespace umedsam {

namespace {

constexpr uint64_t SMALL_ARRAY_BYTES = UINT64_C(16) << 20;  // boxes, spacing (umedsam/data/npz.py)
constexpr int64_t MAX_BOXES = 65535;                          // labels are uint16
constexpr double MAX_SPACING = 1e4;

std::string base_name(const std::string& path) {
    const size_t slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::string shape_text(const std::vector<int64_t>& shape) {
    std::string s = "(";
    for (size_t k = 0; k < shape.size(); ++k) s += (k ? ", " : "") + std::to_string(shape[k]);
    return s + (shape.size() == 1 ? ",)" : ")");
}

NpyArray get(const NpzReader& npz, const std::string& path, const std::string& key) {
    if (!npz.has(key)) {
        std::string present;
        for (const auto& k : npz.keys()) present += (present.empty() ? "" : ", ") + k;
        throw case_error(path, key, "missing (keys present: " + (present.empty() ? "none" : present) + ")");
    }
    return npz.array(key, key == "boxes" || key == "spacing" ? SMALL_ARRAY_BYTES : max_array_bytes());
}

}  // namespace

uint64_t max_array_bytes() {
    if (const char* env = std::getenv("UMEDSAM_MAX_ARRAY_MB")) {
        const double mb = std::atof(env);
        if (mb > 0) return static_cast<uint64_t>(mb * 1024 * 1024);
    }
    return UINT64_C(2048) << 20;
}

Case load_case(const std::string& path) {
    Case c;
    c.path = path;
    const std::string name = base_name(path);
    if (name.rfind("2D", 0) == 0) c.kind = 2;
    else if (name.rfind("3D", 0) == 0) c.kind = 3;
    else throw case_error(path, "<name>", "file name must start with '2D' or '3D' (the challenge's case kind)");

    NpzReader npz(path);
    std::function<void()> spacing_check;
    NpyArray imgs = get(npz, path, "imgs");
    NpyArray boxes = get(npz, path, "boxes");
    if (npz.has("spacing")) {
        // not used by inference, but a nonsensical spacing is refused as umedsam/data/npz.py does
        const NpyArray spacing = get(npz, path, "spacing");
        c.has_spacing = true;
        spacing_check = [spacing, path] {
            if (spacing.kind == 'b') throw case_error(path, "spacing", "dtype bool is not numeric");
            if (spacing.shape.size() != 1 || spacing.shape[0] < 2 || spacing.shape[0] > 3)
                throw case_error(path, "spacing", "shape " + shape_text(spacing.shape) + " is not (3,) (or (2,) for a 2D image)");
            for (int64_t i = 0; i < spacing.count(); ++i)
                if (!std::isfinite(spacing.at(i))) throw case_error(path, "spacing", "contains NaN or infinity");
            for (int64_t i = 0; i < spacing.count(); ++i)
                if (!(spacing.at(i) > 0 && spacing.at(i) <= MAX_SPACING))
                    throw case_error(path, "spacing", "values must lie in (0, 10000]");
        };
    }

    // imgs
    const bool ok = imgs.shape.size() == 3 && (c.kind == 2 ? imgs.shape[2] == 3 : true);
    if (!ok)
        throw case_error(path, "imgs", "shape " + shape_text(imgs.shape) + " does not fit a " +
                                           (c.kind == 2 ? "2D case (H, W, 3)" : "3D case (D, H, W)"));
    if (imgs.kind != 'u' || imgs.itemsize != 1)
        throw case_error(path, "imgs", "dtype " + imgs.dtype_name() + " is not uint8 (values must lie in 0..255)");
    if (imgs.count() == 0) throw case_error(path, "imgs", "empty image of shape " + shape_text(imgs.shape));
    const auto hw = c.kind == 2 ? new_size(imgs.shape[0], imgs.shape[1]) : new_size(imgs.shape[1], imgs.shape[2]);
    if (hw[0] == 0 || hw[1] == 0)
        throw case_error(path, "imgs", "shape " + shape_text(imgs.shape) +
                                           " is too thin: resizing its longest side to 256 leaves a side of 0 pixels");
    c.dims = imgs.shape;
    c.imgs = std::move(imgs.data);

    // boxes
    const int width = c.kind == 2 ? 4 : 6;
    if (boxes.kind == 'b') throw case_error(path, "boxes", "dtype bool is not numeric");
    c.box_arith = boxes.kind == 'f' && boxes.itemsize == 4   ? UMEDSAM_BOXES_F32
                  : boxes.kind == 'f' && boxes.itemsize == 2 ? UMEDSAM_BOXES_F16
                                                             : UMEDSAM_BOXES_F64;
    const int64_t count = boxes.count();
    std::vector<int64_t> bshape = boxes.shape;
    if (count == 0) {
        c.n_boxes = 0;
    } else {
        if (bshape.size() == 1 && bshape[0] == width) bshape = {1, width};
        if (bshape.size() != 2 || bshape[1] != width)
            throw case_error(path, "boxes", "shape " + shape_text(boxes.shape) + " is not (N, " + std::to_string(width) + ")");
        c.n_boxes = bshape[0];
        if (c.n_boxes > MAX_BOXES)
            throw case_error(path, "boxes", std::to_string(c.n_boxes) + " boxes; at most 65535 fit the uint16 labels");
        c.boxes.resize(static_cast<size_t>(count));
        for (int64_t i = 0; i < count; ++i) {
            c.boxes[i] = boxes.at(i);
            if (!std::isfinite(c.boxes[i])) throw case_error(path, "boxes", "contains NaN or infinity");
        }
        const int half = width / 2;
        for (int axis = 0; axis < half; ++axis)
            for (int64_t k = 0; k < c.n_boxes; ++k)
                if (c.boxes[k * width + axis] > c.boxes[k * width + axis + half])
                    throw case_error(path, "boxes", "box " + std::to_string(k + 1) + " has " + "xyz"[axis] + "_min > " +
                                                        "xyz"[axis] + "_max");
    }
    if (spacing_check) spacing_check();  // after imgs and boxes, in umedsam/data/npz.py's order
    if (c.kind == 3 && !c.has_spacing)
        c.warnings.push_back(path + ": field 'spacing': missing; inference runs, evaluation will need it");
    if (c.n_boxes == 0) c.warnings.push_back(path + ": field 'boxes': no boxes; writing an all-zero segs");
    return c;
}

void check_output(const std::string& in_path, const std::string& out_path) {
    std::vector<int64_t> want = NpzReader(in_path).declared_shape("imgs");
    if (base_name(in_path).rfind("2D", 0) == 0 && want.size() == 3) want.pop_back();
    const NpyArray segs = NpzReader(out_path).array("segs", max_array_bytes());
    if (segs.kind != 'u' && segs.kind != 'i') throw case_error(out_path, "segs", "dtype " + segs.dtype_name() + " is not an integer label map");
    if (segs.shape != want)
        throw case_error(out_path, "segs", "shape " + shape_text(segs.shape) + " is not the case's " + shape_text(want));
}

void save_segs(const std::string& out_path, const std::vector<int64_t>& shape, const std::vector<uint16_t>& segs) {
    write_npz_atomic(out_path, "segs", format_npy("<u2", shape, segs.data(), segs.size() * sizeof(uint16_t)));
}

}  // namespace umedsam
