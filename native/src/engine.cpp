#include "engine.hpp"

#include <openvino/c/openvino.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <thread>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "error.hpp"
#include "imaging.hpp"
#include "timeline.hpp"

namespace umedsam {

namespace {

constexpr const char* ENCODER_INPUT = "image";
constexpr const char* ENCODER_OUTPUT = "image_embeddings";
constexpr const char* DECODER_EMBEDDING = "image_embeddings";
constexpr const char* DECODER_BOXES = "boxes";
constexpr const char* DECODER_LOGITS = "low_res_logits";
constexpr const char* DECODER_IOU = "iou_predictions";
// decoder_image's outputs = decoder_box's inputs besides the boxes (umedsam/runtime/bundle.py)
constexpr const char* IMAGE_PARTS[4] = {"image_tokens", "t2i_keys", "t2i_values", "i2t_queries"};
constexpr int64_t IMAGE_TOKENS = 4096;
constexpr int64_t PART_CHANNELS[4] = {256, 128, 128, 128};

bool is_file(const std::string& p) {
    struct stat st;
    return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string first_line(const std::string& s) {
    std::string t = s.substr(0, s.find('\n'));
    while (!t.empty() && (t.back() == ' ' || t.back() == '\r')) t.pop_back();
    return t;
}

// The last OpenVINO error, first line only (its messages span several lines).
std::string ov_error(ov_status_e status) {
    const char* msg = ov_get_last_err_msg();
    std::string text = msg && *msg ? first_line(msg) : "";
    if (text.empty()) text = "status " + std::to_string(static_cast<int>(status));
    return text;
}

// RAII for OpenVINO C handles.
struct Tensor {
    ov_tensor_t* t = nullptr;
    ~Tensor() { if (t) ov_tensor_free(t); }
};

// Copy an input into the request's own tensor (resized to `dims` when they differ), as the Python
// backend's infer(share_inputs=False) does: OpenVINO never sees (or writes into) the caller's memory,
// and both runtimes feed the plugin the same way.
void fill_input(ov_infer_request_t* request, const char* name, const std::vector<int64_t>& dims, const float* data) {
    Tensor t;
    ov_status_e st = ov_infer_request_get_tensor(request, name, &t.t);
    if (st != OK) throw Error(UMEDSAM_ERR_ENGINE, std::string("OpenVINO: no input '") + name + "' (" + ov_error(st) + ")");
    ov_shape_t have;
    bool same = false;
    if (ov_tensor_get_shape(t.t, &have) == OK) {
        same = have.rank == static_cast<int64_t>(dims.size()) && std::equal(dims.begin(), dims.end(), have.dims);
        ov_shape_free(&have);
    }
    if (!same) {
        ov_shape_t shape;
        if (ov_shape_create(static_cast<int64_t>(dims.size()), dims.data(), &shape) != OK)
            throw Error(UMEDSAM_ERR_ENGINE, "OpenVINO: cannot create a shape");
        st = ov_tensor_set_shape(t.t, shape);
        ov_shape_free(&shape);
        if (st != OK) throw Error(UMEDSAM_ERR_ENGINE, std::string("OpenVINO: input '") + name + "' (" + ov_error(st) + ")");
    }
    size_t count = 1;
    for (int64_t d : dims) count *= static_cast<size_t>(d);
    size_t size = 0;
    void* dst = nullptr;
    if (ov_tensor_get_size(t.t, &size) != OK || size != count || ov_tensor_data(t.t, &dst) != OK)
        throw Error(UMEDSAM_ERR_ENGINE, std::string("OpenVINO: input '") + name + "' has the wrong size");
    std::memcpy(dst, data, count * sizeof(float));
}

void copy_output(ov_infer_request_t* request, const char* name, float* out, size_t expected) {
    Tensor t;
    ov_status_e st = ov_infer_request_get_tensor(request, name, &t.t);
    if (st != OK) throw Error(UMEDSAM_ERR_ENGINE, std::string("OpenVINO: no output '") + name + "' (" + ov_error(st) + ")");
    size_t size = 0;
    void* data = nullptr;
    if (ov_tensor_get_size(t.t, &size) != OK || ov_tensor_data(t.t, &data) != OK || size != expected)
        throw Error(UMEDSAM_ERR_ENGINE, std::string("OpenVINO: output '") + name + "' has " + std::to_string(size) +
                                             " elements, expected " + std::to_string(expected));
    std::memcpy(out, data, expected * sizeof(float));
}

}  // namespace

BundleInfo read_bundle(const std::string& folder) {
    BundleInfo b;
    b.root = folder;
    while (b.root.size() > 1 && b.root.back() == '/') b.root.pop_back();
    const std::string path = b.root + "/manifest.json";
    std::ifstream in(path);
    if (!in) throw Error(UMEDSAM_ERR_BUNDLE, b.root + ": not a bundle folder (no manifest.json)");
    std::stringstream ss;
    ss << in.rdbuf();
    b.manifest_json = ss.str();
    nlohmann::json m;
    try {
        m = nlohmann::json::parse(b.manifest_json);
    } catch (const std::exception& e) {
        throw Error(UMEDSAM_ERR_BUNDLE, path + ": unreadable manifest (" + first_line(e.what()) + ")");
    }
    auto field_error = [&](const std::string& field, const std::string& problem) {
        return Error(UMEDSAM_ERR_BUNDLE, path + ": field '" + field + "': " + problem);
    };
    if (!m.is_object() || !m.contains("format") || !m["format"].is_string() || !m.contains("graphs") ||
        !m["graphs"].is_object())
        throw field_error("format/graphs", "missing; not a umedsam bundle manifest");
    b.format = m["format"].get<std::string>();
    b.precision = m.contains("precision") && m["precision"].is_string() ? m["precision"].get<std::string>() : "fp32";
    const auto& graphs = m["graphs"];
    for (const char* stage : {"encoder", "decoder"}) {
        if (!graphs.contains(stage)) {
            throw field_error("graphs", graphs.contains("merged")
                                            ? "a merged graph only; the native runtime needs the encoder and decoder graphs"
                                            : std::string("needs '") + stage + "'");
        }
        const auto& entry = graphs[stage];
        if (!entry.is_object() || !entry.contains("file") || !entry["file"].is_string())
            throw field_error(std::string("graphs.") + stage + ".file", "missing");
        const std::string file = b.root + "/" + entry["file"].get<std::string>();
        const std::string ext = file.size() > 4 ? file.substr(file.size() - 4) : "";
        if (ext != ".xml" && (file.size() < 5 || file.substr(file.size() - 5) != ".onnx"))
            throw field_error(std::string("graphs.") + stage + ".file",
                              "'" + entry["file"].get<std::string>() + "' is not an OpenVINO IR (.xml) or ONNX graph");
        if (!is_file(file))
            throw Error(UMEDSAM_ERR_BUNDLE, file + ": graph file named by the manifest ('graphs." + stage + "') is missing");
        (std::string(stage) == "encoder" ? b.encoder : b.decoder) = file;
    }
    if (graphs.contains("decoder_image") && graphs.contains("decoder_box")) {
        for (const char* stage : {"decoder_image", "decoder_box"}) {
            const auto& entry = graphs[stage];
            if (!entry.is_object() || !entry.contains("file") || !entry["file"].is_string())
                throw field_error(std::string("graphs.") + stage + ".file", "missing");
            const std::string file = b.root + "/" + entry["file"].get<std::string>();
            if (!is_file(file))
                throw Error(UMEDSAM_ERR_BUNDLE, file + ": graph file named by the manifest ('graphs." + stage + "') is missing");
            (std::string(stage) == "decoder_image" ? b.decoder_image : b.decoder_box) = file;
        }
    }
    return b;
}

Engine::Engine(const BundleInfo& bundle, const EngineOptions& options) : bundle_(bundle), options_(options) {
    const double t_core = timeline::now();
    ov_status_e st = ov_core_create(&core_);
    timeline::record("openvino core", t_core, timeline::now());
    if (st != OK) throw Error(UMEDSAM_ERR_ENGINE, "OpenVINO: cannot create a core (" + ov_error(st) + ")");
    hint_ = wanted_precision();
    try {
        // The two imports overlap: most of an import is the CPU plugin building its graph (kernels,
        // packed weights) on one thread, so the 1-box decoder comes in on a second thread while the
        // encoder does on this one (ov::Core is thread-safe). Errors of either surface here.
        std::exception_ptr decoder_error;
        std::thread decoder([&] {
            try {
                if (split_decoder()) {  // the split replaces the whole decoder (kept in the bundle for others)
                    compile(decoder_image_, bundle_.decoder_image, false, false, "decoder_image", 1);
                    compile(decoder_1box_, bundle_.decoder_box, true, false, "decoder_box (1 box)", 1);
                } else {
                    compile(decoder_1box_, bundle_.decoder, true, false, "decoder (1 box)", 1);
                }
            } catch (...) {
                decoder_error = std::current_exception();
            }
        });
        try {
            compile(encoder_1_, bundle_.encoder, true, true, "encoder (1 image)");
        } catch (...) {
            decoder.join();
            throw;
        }
        decoder.join();
        if (decoder_error) std::rethrow_exception(decoder_error);
    } catch (...) {
        release();
        throw;
    }
    char* value = nullptr;
    if (ov_compiled_model_get_property(encoder_1_.compiled, ov_property_key_inference_num_threads, &value) == OK && value) {
        threads_ = std::atoi(value);
        ov_free(value);
    }
    value = nullptr;
    if (ov_compiled_model_get_property(encoder_1_.compiled, ov_property_key_hint_inference_precision, &value) == OK && value) {
        precision_ = value;
        ov_free(value);
    }
}

Engine::~Engine() { release(); }

std::string Engine::wanted_precision() const {
    // as Bundle.inference_precision + OpenVINOBackend._cpu_precision do in Python
    if (bundle_.precision != "bf16" || options_.device.rfind("CPU", 0) != 0) return "f32";
    char* caps = nullptr;
    if (ov_core_get_property(core_, options_.device.c_str(), "OPTIMIZATION_CAPABILITIES", &caps) != OK || !caps)
        return "f32";
    const bool has = std::string(caps).find("BF16") != std::string::npos;
    ov_free(caps);
    return has ? "bf16" : "f32";
}

void Engine::release() {
    for (Stage* s : {&encoder_1_, &encoder_, &decoder_1box_, &decoder_, &decoder_image_}) {
        if (s->request) ov_infer_request_free(s->request);
        if (s->compiled) ov_compiled_model_free(s->compiled);
        s->request = nullptr;
        s->compiled = nullptr;
    }
    if (core_) ov_core_free(core_);
    core_ = nullptr;
}

void Engine::compile(Stage& stage, const std::string& graph, bool batch_one, bool pin, const std::string& name, int thread) {
    ov_model_t* model = nullptr;
    double t = timeline::now();
    ov_status_e st = ov_core_read_model(core_, graph.c_str(), nullptr, &model);
    timeline::record(name + ": read graph", t, timeline::now(), thread);
    if (st != OK) throw Error(UMEDSAM_ERR_ENGINE, graph + ": OpenVINO cannot read it (" + ov_error(st) + ")");
    if (batch_one) {
        const bool encoder = &stage == &encoder_1_;
        const int64_t image_dims[4] = {1, 3, IMG_SIZE, IMG_SIZE}, box_dims[2] = {1, 4};
        ov_partial_shape_t shape;
        st = encoder ? ov_partial_shape_create_static(4, image_dims, &shape) : ov_partial_shape_create_static(2, box_dims, &shape);
        if (st == OK) {
            st = ov_model_reshape_input_by_name(model, encoder ? ENCODER_INPUT : DECODER_BOXES, shape);
            ov_partial_shape_free(&shape);
        }
        if (st != OK) {
            ov_model_free(model);
            throw Error(UMEDSAM_ERR_ENGINE, graph + ": cannot fix the " + (encoder ? "image batch" : "box count") +
                                                " to 1 (" + ov_error(st) + ")");
        }
    }
    const std::string threads = std::to_string(options_.threads);
    std::vector<const char*> kv = {ov_property_key_hint_performance_mode, "LATENCY"};
    if (options_.device.rfind("CPU", 0) == 0) {
        kv.insert(kv.end(), {ov_property_key_hint_inference_precision, hint_.c_str()});
        if (options_.threads > 0) kv.insert(kv.end(), {ov_property_key_inference_num_threads, threads.c_str()});
        if (!pin) kv.insert(kv.end(), {ov_property_key_hint_enable_cpu_pinning, "NO"});
    }
    if (!options_.cache_dir.empty()) kv.insert(kv.end(), {ov_property_key_cache_dir, options_.cache_dir.c_str()});
    while (kv.size() < 10) kv.push_back(nullptr);  // the variadic call below always passes 10 slots
    t = timeline::now();
    st = ov_core_compile_model(core_, model, options_.device.c_str(), kv.size() - std::count(kv.begin(), kv.end(), nullptr),
                               &stage.compiled, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8], kv[9]);
    ov_model_free(model);
    timeline::record(name + ": compile or import", t, timeline::now(), thread);
    if (st != OK)
        throw Error(UMEDSAM_ERR_ENGINE, graph + ": OpenVINO cannot compile it on " + options_.device + " (" + ov_error(st) + ")");
    t = timeline::now();
    st = ov_compiled_model_create_infer_request(stage.compiled, &stage.request);
    timeline::record(name + ": infer request", t, timeline::now(), thread);
    if (st != OK) throw Error(UMEDSAM_ERR_ENGINE, graph + ": cannot create an infer request (" + ov_error(st) + ")");
}

void Engine::compile_late(Stage& stage, const std::string& graph, bool pin, const std::string& name) {
    const auto work = [&] { compile(stage, graph, false, pin, name); };
    if (options_.guard_late_compile)
        options_.guard_late_compile(work);
    else
        work();
}

void Engine::run(Stage& stage, const std::string& what) {
    const ov_status_e st = ov_infer_request_infer(stage.request);
    if (st != OK) throw Error(UMEDSAM_ERR_ENGINE, bundle_.root + ": OpenVINO " + what + " failed: " + ov_error(st));
}

void Engine::encode(const float* images, int64_t batch, float* embeddings) {
    Stage* stage = &encoder_1_;
    if (batch != 1) {
        if (!encoder_.compiled) compile_late(encoder_, bundle_.encoder, true, "encoder (n images)");
        stage = &encoder_;
    }
    fill_input(stage->request, ENCODER_INPUT, {batch, 3, IMG_SIZE, IMG_SIZE}, images);
    run(*stage, "encoder");
    copy_output(stage->request, ENCODER_OUTPUT, embeddings, static_cast<size_t>(batch) * EMB_FLOATS);
}

void Engine::image_parts(const float* embedding) {
    if (!parts_of_.empty() && std::memcmp(parts_of_.data(), embedding, EMB_FLOATS * sizeof(float)) == 0) return;
    parts_of_.clear();  // stays empty if the run below fails: nothing stale is ever reused
    fill_input(decoder_image_.request, DECODER_EMBEDDING, {1, EMB_CH, EMB_HW, EMB_HW}, embedding);
    run(decoder_image_, "decoder_image");
    parts_.resize(4);
    for (int i = 0; i < 4; ++i) {
        parts_[i].resize(static_cast<size_t>(IMAGE_TOKENS * PART_CHANNELS[i]));
        copy_output(decoder_image_.request, IMAGE_PARTS[i], parts_[i].data(), parts_[i].size());
    }
    parts_of_.assign(embedding, embedding + EMB_FLOATS);
}

void Engine::decode(const float* embedding, const float* boxes256, int64_t n, float* logits, float* ious) {
    Stage* stage = &decoder_1box_;
    if (n != 1) {
        if (!decoder_.compiled)
            compile_late(decoder_, split_decoder() ? bundle_.decoder_box : bundle_.decoder, false,
                         split_decoder() ? "decoder_box (n boxes)" : "decoder (n boxes)");
        stage = &decoder_;
    }
    if (split_decoder()) {
        image_parts(embedding);
        for (int i = 0; i < 4; ++i) fill_input(stage->request, IMAGE_PARTS[i], {1, IMAGE_TOKENS, PART_CHANNELS[i]}, parts_[i].data());
    } else {
        fill_input(stage->request, DECODER_EMBEDDING, {1, EMB_CH, EMB_HW, EMB_HW}, embedding);
    }
    fill_input(stage->request, DECODER_BOXES, {n, 4}, boxes256);
    run(*stage, "decoder");
    copy_output(stage->request, DECODER_LOGITS, logits, static_cast<size_t>(n) * LOGIT_FLOATS);
    copy_output(stage->request, DECODER_IOU, ious, static_cast<size_t>(n));
}

std::string Engine::openvino_version() {
    ov_version_t v;
    if (ov_get_openvino_version(&v) != OK) return "?";
    std::string s = v.buildNumber ? v.buildNumber : "?";
    ov_version_free(&v);
    return s;
}

}  // namespace umedsam
