// The C ABI of umedsam.h: every entry point catches everything, stores a one-line message for the
// calling thread and returns a status; nothing escapes as a C++ exception.
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <clocale>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <new>
#include <nlohmann/json.hpp>
#include <string>

#include "cases.hpp"
#include "engine.hpp"
#include "error.hpp"
#include "imaging.hpp"
#include "predictor.hpp"
#include "timeline.hpp"
#include "umedsam.h"
#include "verify.hpp"

#ifndef UMEDSAM_VERSION
#define UMEDSAM_VERSION "0.0.0"
#endif

struct umedsam_session {
    umedsam::BundleInfo bundle;
    umedsam::EngineOptions options;
    std::unique_ptr<umedsam::Engine> engine;
    std::unique_ptr<umedsam::Predictor> predictor;
    std::string info, warnings;
};

namespace {

thread_local std::string last_error;

// OpenVINO can switch the process's C locale to "C" while it opens and compiles graphs (seen when the host
// process, Python, had loaded OpenVINO first: its text I/O then fell back to ASCII). A library must not
// change its host's locale, so every entry point puts it back as it found it.
class LocaleGuard {
  public:
    LocaleGuard() {
        if (const char* now = std::setlocale(LC_ALL, nullptr)) saved_ = now;
    }
    ~LocaleGuard() {
        const char* now = std::setlocale(LC_ALL, nullptr);
        if (!saved_.empty() && (!now || saved_ != now)) std::setlocale(LC_ALL, saved_.c_str());
    }
    LocaleGuard(const LocaleGuard&) = delete;
    LocaleGuard& operator=(const LocaleGuard&) = delete;

  private:
    std::string saved_;
};

template <typename F>
umedsam_status guarded(F&& body) {
    LocaleGuard keep_locale;
    try {
        last_error.clear();
        body();
        return UMEDSAM_OK;
    } catch (const umedsam::Error& e) {
        last_error = e.what();
        return e.status();
    } catch (const std::bad_alloc&) {
        last_error = "out of memory";
        return UMEDSAM_ERR_MEMORY;
    } catch (const std::exception& e) {
        last_error = e.what();
        return UMEDSAM_ERR_INTERNAL;
    } catch (...) {
        last_error = "unknown error";
        return UMEDSAM_ERR_INTERNAL;
    }
}

void require(bool ok, const char* what) {
    if (!ok) throw umedsam::Error(UMEDSAM_ERR_ARGUMENT, what);
}

std::string default_cache_dir() {
    if (const char* env = std::getenv("UMEDSAM_OV_CACHE")) return env;
    const char* home = std::getenv("HOME");
    return home && *home ? std::string(home) + "/.cache/umedsam/openvino" : "";
}

// mkdir -p; a cache that cannot be created is simply not used (read-only file systems).
bool make_dirs(const std::string& path) {
    std::string cur;
    for (size_t i = 0; i <= path.size(); ++i) {
        if (i == path.size() || path[i] == '/') {
            if (!cur.empty()) {
                struct stat st;
                if (::stat(cur.c_str(), &st) != 0 && ::mkdir(cur.c_str(), 0755) != 0 && errno != EEXIST) return false;
            }
        }
        if (i < path.size()) cur += path[i];
    }
    return true;
}

void publish_warnings(umedsam_session* s) {
    s->warnings.clear();
    for (const auto& w : s->predictor->warnings()) s->warnings += (s->warnings.empty() ? "" : "\n") + w;
}

}  // namespace

extern "C" {

int umedsam_abi_version(void) { return UMEDSAM_ABI_VERSION; }

const char* umedsam_version(void) {
    static const std::string v = std::string("umedsam-native ") + UMEDSAM_VERSION + " (OpenVINO " +
                                  umedsam::Engine::openvino_version() + ")";
    return v.c_str();
}

const char* umedsam_last_error(void) { return last_error.c_str(); }

void umedsam_options_default(umedsam_options* options) {
    if (!options) return;
    std::memset(options, 0, sizeof(*options));
    options->size = sizeof(umedsam_options);
    options->max_cache_mb = 1024;
    options->verify = 1;
}

umedsam_status umedsam_open(const char* bundle_dir, const umedsam_options* options, umedsam_session** session) {
    return guarded([&] {
        require(bundle_dir && session, "umedsam_open: bundle_dir and session must not be null");
        *session = nullptr;
        umedsam_options opts;
        umedsam_options_default(&opts);
        if (options) {
            require(options->size >= sizeof(uint32_t),
                    "umedsam_open: options.size is not set (call umedsam_options_default)");
            // a caller built against a newer header passes a larger struct: read the fields we know
            std::memcpy(&opts, options, std::min<size_t>(options->size, sizeof(umedsam_options)));
        }
        require(opts.threads >= 0, "umedsam_open: threads must be >= 0");
        auto s = std::make_unique<umedsam_session>();
        s->bundle = umedsam::read_bundle(bundle_dir);
        if (!opts.allow_failed) umedsam::check_bundle_status(s->bundle);
        if (opts.verify) umedsam::verify_bundle(s->bundle);  // before OpenVINO reads any graph
        const char* env_device = std::getenv("UMEDSAM_OV_DEVICE");
        s->options.device = opts.device ? opts.device : (env_device && *env_device ? env_device : "CPU");
        s->options.threads = opts.threads;
        s->options.cache_dir = opts.cache_dir ? opts.cache_dir : default_cache_dir();
        if (!s->options.cache_dir.empty() && !make_dirs(s->options.cache_dir)) s->options.cache_dir.clear();
        s->options.guard_late_compile = [dir = s->options.cache_dir](const std::function<void()>& compile) {
            umedsam::CacheLock lock(dir);  // as at the open: one compile per cache, its blob recorded at once
            compile();
            umedsam::record_blobs(dir);
        };
        {
            umedsam::CacheLock lock(s->options.cache_dir);    // one compile per cache at a time
            umedsam::check_blob_cache(s->options.cache_dir);  // blobs damaged in place are deleted and rebuilt
            s->engine = std::make_unique<umedsam::Engine>(s->bundle, s->options);
            umedsam::record_blobs(s->options.cache_dir);
        }
        s->predictor = std::make_unique<umedsam::Predictor>(*s->engine, opts.max_cache_mb);
        nlohmann::json info = {
            {"bundle", s->bundle.root}, {"format", s->bundle.format}, {"precision", s->bundle.precision},
            {"encoder", s->bundle.encoder}, {"decoder", s->bundle.decoder}, {"device", s->options.device},
            {"split_decoder", s->engine->split_decoder()},
            {"threads", s->engine->threads()}, {"inference_precision", s->engine->inference_precision()},
            {"cache_dir", s->options.cache_dir}, {"openvino", umedsam::Engine::openvino_version()},
            {"version", umedsam_version()}, {"abi", UMEDSAM_ABI_VERSION}, {"max_cache_mb", opts.max_cache_mb},
            {"verified", opts.verify != 0}};
        try {
            info["manifest"] = nlohmann::json::parse(s->bundle.manifest_json);
        } catch (...) {
        }
        s->info = info.dump();
        *session = s.release();
    });
}

void umedsam_close(umedsam_session* session) { delete session; }

const char* umedsam_session_info(const umedsam_session* session) { return session ? session->info.c_str() : ""; }

const char* umedsam_warnings(const umedsam_session* session) { return session ? session->warnings.c_str() : ""; }

umedsam_status umedsam_get_timings(const umedsam_session* session, umedsam_timings* timings) {
    return guarded([&] {
        require(session && timings, "umedsam_get_timings: null argument");
        *timings = session->predictor->timings();
    });
}

umedsam_status umedsam_segment_2d(umedsam_session* session, const uint8_t* image, int64_t height, int64_t width,
                                  int64_t channels, const double* boxes, int64_t n_boxes, int32_t box_arith,
                                  uint16_t* labels, double* ious) {
    return guarded([&] {
        require(session, "umedsam_segment_2d: null session");
        require(box_arith >= 0 && box_arith <= 2, "umedsam_segment_2d: unknown box_arith");
        session->warnings.clear();
        session->predictor->segment_2d(image, height, width, channels, boxes, n_boxes, box_arith, labels, ious);
        publish_warnings(session);
    });
}

umedsam_status umedsam_segment_3d(umedsam_session* session, const uint8_t* volume, int64_t depth, int64_t height,
                                  int64_t width, const double* boxes, int64_t n_boxes, int32_t box_arith,
                                  uint16_t* labels, double* ious) {
    return guarded([&] {
        require(session, "umedsam_segment_3d: null session");
        require(box_arith >= 0 && box_arith <= 2, "umedsam_segment_3d: unknown box_arith");
        session->warnings.clear();
        session->predictor->segment_3d(volume, depth, height, width, boxes, n_boxes, box_arith, labels, ious);
        publish_warnings(session);
    });
}

umedsam_status umedsam_segment_file(umedsam_session* session, const char* in_path, const char* out_path) {
    return guarded([&] {
        require(session && in_path && out_path, "umedsam_segment_file: null argument");
        session->warnings.clear();
        double t = umedsam::timeline::now();
        umedsam::Case c = umedsam::load_case(in_path);
        umedsam::timeline::record("read case", t, umedsam::timeline::now());
        std::vector<int64_t> shape = c.dims;
        if (c.kind == 2) shape.pop_back();
        size_t n = 1;
        for (int64_t d : shape) n *= static_cast<size_t>(d);
        std::vector<uint16_t> labels(n);
        if (c.kind == 2)
            session->predictor->segment_2d(c.imgs.data(), c.dims[0], c.dims[1], 3, c.boxes.data(), c.n_boxes,
                                           c.box_arith, labels.data(), nullptr);
        else
            session->predictor->segment_3d(c.imgs.data(), c.dims[0], c.dims[1], c.dims[2], c.boxes.data(), c.n_boxes,
                                           c.box_arith, labels.data(), nullptr);
        t = umedsam::timeline::now();
        umedsam::save_segs(out_path, shape, labels);
        umedsam::timeline::record("write segs", t, umedsam::timeline::now());
        std::string all;  // the case's own warnings, then the predictor's, prefixed with the file
        for (const auto& w : c.warnings) all += (all.empty() ? "" : "\n") + w;
        for (const auto& w : session->predictor->warnings()) all += (all.empty() ? "" : "\n") + std::string(in_path) + ": " + w;
        session->warnings = all;
    });
}

umedsam_status umedsam_check_output(const char* in_path, const char* out_path) {
    return guarded([&] {
        require(in_path && out_path, "umedsam_check_output: null argument");
        umedsam::check_output(in_path, out_path);
    });
}

double umedsam_timeline_now(void) { return umedsam::timeline::now(); }

void umedsam_timeline_record(const char* stage, double start, double end) {
    if (stage) umedsam::timeline::record(stage, start, end);
}

const char* umedsam_timeline_json(void) {
    static thread_local std::string text;
    text = umedsam::timeline::json();
    return text.c_str();
}

void umedsam_timeline_clear(void) { umedsam::timeline::clear(); }

umedsam_status umedsam_check_case(const char* path, umedsam_case_info* info) {
    return guarded([&] {
        require(path, "umedsam_check_case: null path");
        umedsam::Case c = umedsam::load_case(path);
        if (info) {
            std::memset(info, 0, sizeof(*info));
            info->kind = c.kind;
            info->box_arith = c.box_arith;
            for (size_t k = 0; k < 3 && k < c.dims.size(); ++k) info->dims[k] = c.dims[k];
            info->n_boxes = c.n_boxes;
            info->has_spacing = c.has_spacing;
            info->n_warnings = static_cast<int32_t>(c.warnings.size());
        }
    });
}

umedsam_status umedsam_encode(umedsam_session* session, const float* images, int64_t batch, float* embeddings) {
    return guarded([&] {
        require(session && images && embeddings && batch > 0, "umedsam_encode: null argument or batch < 1");
        session->engine->encode(images, batch, embeddings);
    });
}

umedsam_status umedsam_decode(umedsam_session* session, const float* embedding, const float* boxes256,
                              int64_t n_boxes, float* logits, float* ious) {
    return guarded([&] {
        require(session && embedding && boxes256 && logits && ious && n_boxes > 0,
                "umedsam_decode: null argument or n_boxes < 1");
        session->engine->decode(embedding, boxes256, n_boxes, logits, ious);
    });
}

umedsam_status umedsam_preprocess(const uint8_t* image, int64_t height, int64_t width, int64_t channels, float* out,
                                  int64_t* new_hw) {
    return guarded([&] {
        require(image && out && height > 0 && width > 0 && (channels == 1 || channels == 3),
                "umedsam_preprocess: image must be a non-empty (H, W, 1|3) uint8 array");
        const auto hw = umedsam::new_size(height, width);
        require(hw[0] > 0 && hw[1] > 0, "umedsam_preprocess: image too thin (a side resizes to 0 pixels)");
        const auto resized = umedsam::resize_longest_side(image, height, width, static_cast<int>(channels));
        umedsam::normalize_pad(resized.data(), hw[0], hw[1], static_cast<int>(channels), out);
        if (new_hw) {
            new_hw[0] = hw[0];
            new_hw[1] = hw[1];
        }
    });
}

}  // extern "C"
