// The two graphs of a bundle on OpenVINO's C API: the encoder, compiled for one image (the only call
// the predictor makes) and, on the first batched call, for a dynamic batch; and the decoder, compiled
// for one box (the common call) and, on the first multi-box call, for a dynamic box count. Static
// shapes let the CPU plugin build its kernels at import instead of on the first call, and run the
// encoder about 10 % faster (docs/TARGETS.md, "Start-up").
// The decoder's stages are not pinned to cores (ENABLE_CPU_PINNING=NO): the plugin builds a compiled
// model's graph on its stream thread, and with pinning both imports' stream threads sit on the same
// core, so the two imports that open a bundle ran one after the other instead of side by side.
// Compilation settings equal the Python OpenVINO backend's (LATENCY hint, f32 inference precision --
// bf16 for a "bf16" bundle on a CPU that has it --, the same thread count, blobs cached in the same
// folder), so outputs are bit-identical to it.
// Inputs are copied into the requests' own tensors (OpenVINO may write into its inputs, and the
// caller's embedding is cached across slices and boxes).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

struct ov_core;
struct ov_compiled_model;
struct ov_infer_request;

namespace umedsam {

struct EngineOptions {
    int threads = 0;
    std::string device = "CPU";
    std::string cache_dir;  // "" = no cache
    // Runs each compile made after the open (the stages compiled on their first call: the batched
    // encoder, the multi-box decoder). The session passes one that holds the cache lock and records
    // the new blob at once, as the open does, so a blob is never left unrecorded until a later open
    // (where a damaged one would be recorded as good). Empty: the compile runs as is.
    std::function<void(const std::function<void()>&)> guard_late_compile;
};

// The bundle folder as its manifest.json describes it.
struct BundleInfo {
    std::string root, format, precision, encoder, decoder, manifest_json;
    // the optional decoder split (umedsam-export --split-decoder): both set, or both empty
    std::string decoder_image, decoder_box;
};

// Read manifest.json; throws Error(UMEDSAM_ERR_BUNDLE) naming the file and field.
BundleInfo read_bundle(const std::string& folder);

class Engine {
public:
    Engine(const BundleInfo& bundle, const EngineOptions& options);
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    // images (batch, 3, 256, 256) -> embeddings (batch, 256, 64, 64)
    void encode(const float* images, int64_t batch, float* embeddings);
    // embedding (1, 256, 64, 64) + boxes (n, 4) -> logits (n, 1, 256, 256), ious (n)
    void decode(const float* embedding, const float* boxes256, int64_t n, float* logits, float* ious);

    int threads() const { return threads_; }
    bool split_decoder() const { return !bundle_.decoder_box.empty(); }
    std::string inference_precision() const { return precision_; }
    static std::string openvino_version();

private:
    struct Stage {
        ov_compiled_model* compiled = nullptr;
        ov_infer_request* request = nullptr;
    };
    // `batch_one`: fix the first input's leading dimension to 1 (encoder: the image batch; decoder:
    // the box count); `pin`: let OpenVINO pin the stream's threads to cores (its default).
    void compile(Stage& stage, const std::string& graph, bool batch_one, bool pin, const std::string& name, int thread = 0);
    void compile_late(Stage& stage, const std::string& graph, bool pin, const std::string& name);  // via guard_late_compile
    void run(Stage& stage, const std::string& what);
    void release();
    std::string wanted_precision() const;  // "bf16" for a bf16 bundle on a CPU with BF16, else "f32"
    void image_parts(const float* embedding);  // decoder_image for this embedding unless it is the last one

    BundleInfo bundle_;
    EngineOptions options_;
    ov_core* core_ = nullptr;
    Stage encoder_1_, encoder_, decoder_1box_, decoder_, decoder_image_;  // with the split, decoder_* run decoder_box
    std::vector<float> parts_of_;              // the embedding whose decoder_image outputs are in parts_
    std::vector<std::vector<float>> parts_;
    int threads_ = 0;
    std::string precision_;
    std::string hint_ = "f32";  // what compile() asks the CPU plugin for (wanted_precision())
};

}  // namespace umedsam
