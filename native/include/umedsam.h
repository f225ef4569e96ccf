/*
 * umedsam.h - the native U-MedSAM / LiteMedSAM runtime (C ABI).
 *
 * A session opens an exported bundle folder (umedsam-export --target openvino, or an ONNX bundle,
 * both run by OpenVINO) and segments challenge cases exactly as the Python runtime does: the same
 * INTER_AREA resize, normalisation, padding, box scaling, 3D slice-wise box propagation and bilinear
 * post-processing, so label maps are pixel-identical to `umedsam-predict --engine BUNDLE` with the
 * OpenVINO backend at the same thread count.
 *
 * Conventions:
 *   - every function that can fail returns a umedsam_status; UMEDSAM_OK is 0. On failure,
 *     umedsam_last_error() holds a one-line message for the calling thread;
 *   - arrays are C-contiguous and owned by the caller; the library never keeps a pointer to them;
 *   - a session is not thread-safe: use one session per thread.
 *
 * ABI stability: functions are only ever added; structs passed in carry their size in the first
 * field so that they can grow. UMEDSAM_ABI_VERSION changes only on an incompatible change.
 */
#ifndef UMEDSAM_H
#define UMEDSAM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define UMEDSAM_API __declspec(dllexport)
#else
#define UMEDSAM_API __attribute__((visibility("default")))
#endif

/* 2: umedsam_options grew (verify, allow_failed) and umedsam_options_default fills the whole new struct, so a
 * caller compiled against ABI 1 would be overrun: such callers must rebuild (the Python binding checks). */
#define UMEDSAM_ABI_VERSION 2

typedef enum {
    UMEDSAM_OK = 0,
    UMEDSAM_ERR_ARGUMENT = 1, /* a null pointer, a bad shape or option */
    UMEDSAM_ERR_BUNDLE = 2,   /* bundle folder, manifest or graph file missing or malformed */
    UMEDSAM_ERR_ENGINE = 3,   /* OpenVINO failed to read, compile or run a graph */
    UMEDSAM_ERR_CASE = 4,     /* a challenge .npz case is unreadable or malformed (file and field named) */
    UMEDSAM_ERR_IO = 5,       /* writing an output failed */
    UMEDSAM_ERR_MEMORY = 6,   /* allocation failed */
    UMEDSAM_ERR_INTERNAL = 7  /* a bug: please report the message */
} umedsam_status;

/* How box coordinates were typed in the case file. The reference scales boxes to the 256 grid in
 * the boxes' own dtype (numpy), which changes truncation: float32 boxes are scaled in float32,
 * float16 in float16, integer and float64 boxes in float64. Pass the values as doubles and say
 * which arithmetic applies. */
typedef enum {
    UMEDSAM_BOXES_F64 = 0, /* float64 and every integer dtype */
    UMEDSAM_BOXES_F32 = 1,
    UMEDSAM_BOXES_F16 = 2
} umedsam_box_arith;

typedef struct umedsam_session umedsam_session;

typedef struct {
    uint32_t size;          /* sizeof(umedsam_options); set by umedsam_options_default */
    int32_t threads;        /* OpenVINO INFERENCE_NUM_THREADS; 0: all cores (OpenVINO's default) */
    const char* device;     /* OpenVINO device; NULL: "CPU" (or $UMEDSAM_OV_DEVICE) */
    const char* cache_dir;  /* compiled-blob cache; NULL: $UMEDSAM_OV_CACHE or ~/.cache/umedsam/openvino;
                               "" disables it */
    double max_cache_mb;    /* bound of the 3D slice-embedding cache (MiB); default 1024 */
    /* Added after the first release (callers passing a smaller size get the defaults): */
    int32_t verify;         /* 1 (default): refuse graph files whose sha256 differs from the manifest's
                               (digests remembered by stat in the shared verified.json); 0: skip */
    int32_t allow_failed;   /* 0 (default): refuse a bundle whose manifest status is "failed"; 1: open it */
} umedsam_options;

/* Seconds per stage and counters of the last segment call of a session. */
typedef struct {
    double preprocess_s, encode_s, decode_s, postprocess_s, total_s;
    int64_t encoder_calls, decoder_calls;
    int64_t cache_hits, cache_misses, cache_evictions;
} umedsam_timings;

/* What umedsam_check_case found in a case file. */
typedef struct {
    int32_t kind;        /* 2 or 3 */
    int32_t box_arith;   /* umedsam_box_arith of the boxes' dtype */
    int64_t dims[3];     /* 2D: H, W, 3; 3D: D, H, W */
    int64_t n_boxes;
    int32_t has_spacing;
    int32_t n_warnings;
} umedsam_case_info;

/* Library. */
UMEDSAM_API int umedsam_abi_version(void);
UMEDSAM_API const char* umedsam_version(void); /* "umedsam-native X.Y.Z (OpenVINO V)" */
UMEDSAM_API const char* umedsam_last_error(void); /* "" when the last call of this thread succeeded */
UMEDSAM_API void umedsam_options_default(umedsam_options* options);

/* Sessions. */
UMEDSAM_API umedsam_status umedsam_open(const char* bundle_dir, const umedsam_options* options,
                                        umedsam_session** session);
UMEDSAM_API void umedsam_close(umedsam_session* session);
/* JSON describing the session: bundle, graphs, precision, threads, device, OpenVINO version. */
UMEDSAM_API const char* umedsam_session_info(const umedsam_session* session);
/* Newline-separated warnings of the last segment call ("" when none). */
UMEDSAM_API const char* umedsam_warnings(const umedsam_session* session);
UMEDSAM_API umedsam_status umedsam_get_timings(const umedsam_session* session, umedsam_timings* timings);

/* Segment a 2D image (H, W, channels) uint8, channels 1 or 3, with n boxes (n, 4)
 * [x_min, y_min, x_max, y_max] in pixels. labels: (H, W) uint16 written by the call (label k = box k,
 * later boxes overwrite earlier ones). ious: n doubles (the IoU head's prediction; NaN for a box
 * outside the image), or NULL. */
UMEDSAM_API umedsam_status umedsam_segment_2d(umedsam_session* session, const uint8_t* image, int64_t height,
                                              int64_t width, int64_t channels, const double* boxes,
                                              int64_t n_boxes, int32_t box_arith, uint16_t* labels,
                                              double* ious);

/* Segment a 3D volume (D, H, W) uint8 with n boxes (n, 6) [x_min, y_min, z_min, x_max, y_max, z_max],
 * slice by slice from each box's middle slice with box propagation. labels: (D, H, W) uint16.
 * ious: n doubles (mean over the box's slices; NaN when none ran), or NULL. */
UMEDSAM_API umedsam_status umedsam_segment_3d(umedsam_session* session, const uint8_t* volume, int64_t depth,
                                              int64_t height, int64_t width, const double* boxes,
                                              int64_t n_boxes, int32_t box_arith, uint16_t* labels,
                                              double* ious);

/* Read, validate and segment one challenge case file; write `segs` (uint16) to out_path atomically
 * (temporary file, fsync, rename). Nothing is written when the case is malformed. */
UMEDSAM_API umedsam_status umedsam_segment_file(umedsam_session* session, const char* in_path,
                                                const char* out_path);

/* Read and validate a case file without a session (kind by the file-name prefix, as the challenge). */
UMEDSAM_API umedsam_status umedsam_check_case(const char* path, umedsam_case_info* info);

/* Whether out_path already holds a complete, valid prediction for the case in_path (a readable npz
 * whose `segs`, CRC checked, is an integer array of the case's image shape): UMEDSAM_OK, else
 * UMEDSAM_ERR_CASE with the reason. umedsam-native --resume skips the cases where this is OK. */
UMEDSAM_API umedsam_status umedsam_check_output(const char* in_path, const char* out_path);

/* The model stages on their own (for benchmarks and parity of tensors).
 * encode: images (batch, 3, 256, 256) float32 normalised and padded -> embeddings (batch, 256, 64, 64).
 * decode: embedding (1, 256, 64, 64) + boxes (n, 4) in 256-space -> logits (n, 1, 256, 256), ious (n). */
UMEDSAM_API umedsam_status umedsam_encode(umedsam_session* session, const float* images, int64_t batch,
                                          float* embeddings);
UMEDSAM_API umedsam_status umedsam_decode(umedsam_session* session, const float* embedding,
                                          const float* boxes256, int64_t n_boxes, float* logits, float* ious);

/* The pre-processing alone: image (H, W, channels) uint8 -> encoder input (3, 256, 256) float32;
 * new_hw receives the resized (height, width) before padding. */
UMEDSAM_API umedsam_status umedsam_preprocess(const uint8_t* image, int64_t height, int64_t width,
                                              int64_t channels, float* out, int64_t* new_hw);

/* The process-wide timeline (umedsam-native --profile): every step from process start to exit that
 * the library (bundle open, compiled-model import per stage, case read, pre-processing, encoder,
 * decoder, segs write) or a caller records, in seconds since the process started.
 * umedsam_timeline_json: [{"stage": "...", "start": s, "end": s, "thread": n}, ...] by start time;
 * the string stays valid until the calling thread's next call. */
UMEDSAM_API double umedsam_timeline_now(void);
UMEDSAM_API void umedsam_timeline_record(const char* stage, double start, double end);
UMEDSAM_API const char* umedsam_timeline_json(void);
UMEDSAM_API void umedsam_timeline_clear(void);

#ifdef __cplusplus
}
#endif

#endif /* UMEDSAM_H */
