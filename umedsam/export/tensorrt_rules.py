"""What a TensorRT build may do on a given GPU: pure rules, testable without a GPU or TensorRT.

Facts (docs/TARGETS.md, "NVIDIA GPUs and TensorRT"): TensorRT >= 10 supports compute capability >= 7.5 only, so a Pascal
Titan Xp (SM 6.1) needs TensorRT 8.6; SM 6.1 has no fast FP16 (1/64 rate), so FP16 there is refused
rather than silently slow; INT8 needs DP4A (SM >= 6.1). INT8 on TensorRT 8.6 may use a calibrator
(implicit quantization); TensorRT >= 10 deprecates that path, so there INT8 comes from the QDQ ONNX
that ``umedsam-quantize`` writes (explicit quantization). Engines and timing caches are only valid for
the TensorRT version and GPU they were built on, hence the keys below.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from umedsam.errors import UmedsamError

PRECISIONS = ("fp32", "fp16", "int8")
#: compute capabilities with full-rate FP16 arithmetic (SM 6.1 has 1/64-rate FP16)
_SLOW_FP16 = {(6, 1)}
_MIN_TRT = (8, 6)
_TRT10_MIN_CC = (7, 5)
_INT8_MIN_CC = (6, 1)
INSTALL_HINT = ("pip install tensorrt cuda-python (TensorRT >= 10 for SM >= 7.5; "
                "for Pascal/SM 6.x: pip install 'tensorrt==8.6.1.post1' 'cuda-python<13')")

#: TensorRT layer types kept in FP32 under FP16/INT8: normalisation statistics overflow in FP16
#: (LayerNorm's variance), and Softmax/exp saturate; the reductions and powers of a decomposed
#: LayerNorm are caught by type as well.
FP32_LAYER_TYPES = frozenset({"NORMALIZATION", "SOFTMAX", "REDUCE"})
FP32_UNARY_OPS = frozenset({"EXP", "SQRT", "RECIP", "LOG"})
FP32_ELEMENTWISE_OPS = frozenset({"POW"})


def parse_version(version: str) -> tuple[int, int]:
    parts = (version.split(".") + ["0"])[:2]
    try:
        return int(parts[0]), int(parts[1])
    except ValueError:
        raise UmedsamError(f"unrecognised TensorRT version '{version}'") from None


def gpu_label(cc: tuple[int, int]) -> str:
    arch = {5: "Maxwell", 6: "Pascal", 7: "Volta/Turing", 8: "Ampere/Ada", 9: "Hopper", 10: "Blackwell",
            12: "Blackwell"}.get(cc[0], "unknown")
    if cc == (7, 5):
        arch = "Turing"
    elif cc == (8, 9):
        arch = "Ada"
    return f"SM {cc[0]}.{cc[1]} ({arch})"


@dataclass(frozen=True)
class BuildPlan:
    """The decided build: builder flags, quantization mode, and notes for the manifest."""

    precision: str
    fp16: bool
    int8: bool
    int8_mode: str | None          # "explicit" (QDQ ONNX) / "implicit" (calibrator) / None
    notes: tuple[str, ...] = field(default_factory=tuple)


def plan_build(trt_version: str, cc: tuple[int, int], precision: str, has_qdq: bool = False,
               has_calibration: bool = False) -> BuildPlan:
    """Decide how to build ``precision`` on a GPU of compute capability ``cc``; UmedsamError if it cannot.

    ``has_qdq``: the ONNX carries QuantizeLinear/DequantizeLinear nodes. ``has_calibration``: a
    calibration set was given (needed for implicit INT8).
    """
    if precision not in PRECISIONS:
        raise UmedsamError(f"--precision {precision}: TensorRT builds one of {', '.join(PRECISIONS)}")
    ver = parse_version(trt_version)
    gpu = gpu_label(cc)
    if ver < _MIN_TRT:
        raise UmedsamError(f"TensorRT {trt_version} is too old: umedsam needs >= 8.6 (opset 17 LayerNormalization, "
                           f"named-tensor API); {INSTALL_HINT}")
    if ver[0] >= 10 and cc < _TRT10_MIN_CC:
        raise UmedsamError(f"TensorRT {trt_version} does not support {gpu}: TensorRT >= 10 needs SM >= 7.5; "
                           f"this GPU (e.g. a Pascal Titan Xp) needs TensorRT 8.6: "
                           f"pip install 'tensorrt==8.6.1.post1' 'cuda-python<13'")
    notes: list[str] = []
    if precision == "fp16":
        if cc in _SLOW_FP16 or cc < (5, 3):
            raise UmedsamError(f"FP16 is not a fast precision on {gpu} (1/64-rate FP16 arithmetic): the engine "
                               f"would be slower than FP32; build --precision fp32 (or int8 with --calib)")
        notes.append("LayerNorm/Softmax/reductions kept in FP32 (OBEY_PRECISION_CONSTRAINTS)")
        return BuildPlan("fp16", True, False, None, tuple(notes))
    if precision == "int8":
        if cc < _INT8_MIN_CC:
            raise UmedsamError(f"INT8 needs DP4A (SM >= 6.1); {gpu} has none: build --precision fp32")
        if has_qdq:
            mode = "explicit"
            notes.append("explicit quantization from the QDQ ONNX")
        elif ver[0] >= 10:
            raise UmedsamError(f"TensorRT {trt_version} quantizes from a QDQ ONNX (implicit calibration is "
                               f"deprecated): run umedsam-quantize --method ort first and export that bundle")
        elif not has_calibration:
            raise UmedsamError(f"INT8 on TensorRT {trt_version} without a QDQ graph needs a calibration set: "
                               f"pass --calib DIR (challenge npz cases kept apart from evaluation data)")
        else:
            mode = "implicit"
            notes.append("implicit quantization with an entropy calibrator (encoder only; decoder stays float)")
        fast_fp16 = cc not in _SLOW_FP16 and cc >= (5, 3)
        if fast_fp16:
            notes.append("FP16 allowed for layers INT8 does not cover; LayerNorm/Softmax kept in FP32")
        else:
            notes.append(f"no fast FP16 on {gpu}: non-INT8 layers run in FP32")
        return BuildPlan("int8", fast_fp16, True, mode, tuple(notes))
    return BuildPlan("fp32", False, False, None, ("TF32 disabled for parity",))


def keep_fp32(layer_type: str, op: str | None = None) -> bool:
    """Whether a layer must stay FP32 under reduced precision (type/op names as TensorRT spells them)."""
    if layer_type in FP32_LAYER_TYPES:
        return True
    if layer_type == "UNARY" and op in FP32_UNARY_OPS:
        return True
    return layer_type == "ELEMENTWISE" and op in FP32_ELEMENTWISE_OPS


def profiles(max_boxes: int = 256, max_slice_batch: int = 16, opt_boxes: int = 1,
             opt_slice_batch: int = 1) -> dict[str, dict[str, tuple[tuple[int, ...], ...]]]:
    """Optimization profiles (min, opt, max) per stage and input.

    The encoder's batch is the 3D slice batch; the decoder takes one embedding and 1..max_boxes boxes.
    ``opt`` defaults to 1: the challenge decodes one box per 3D slice and most 2D cases have few boxes.
    """
    if not 1 <= opt_boxes <= max_boxes:
        raise UmedsamError(f"box profile: need 1 <= opt ({opt_boxes}) <= max ({max_boxes})")
    if not 1 <= opt_slice_batch <= max_slice_batch:
        raise UmedsamError(f"slice-batch profile: need 1 <= opt ({opt_slice_batch}) <= max ({max_slice_batch})")
    emb = (1, 256, 64, 64)
    return {
        "encoder": {"image": ((1, 3, 256, 256), (opt_slice_batch, 3, 256, 256), (max_slice_batch, 3, 256, 256))},
        "decoder": {"image_embeddings": (emb, emb, emb), "boxes": ((1, 4), (opt_boxes, 4), (max_boxes, 4))},
    }


def engine_cache_key(onnx_sha256: str, trt_version: str, cc: tuple[int, int], plan: BuildPlan,
                     profile: dict[str, tuple[tuple[int, ...], ...]], calibration_sha256: str | None = None) -> str:
    """Key of a built engine: everything that makes an engine invalid when it changes."""
    payload = json.dumps({"onnx": onnx_sha256, "trt": trt_version, "sm": list(cc), "precision": plan.precision,
                          "fp16": plan.fp16, "int8": plan.int8, "int8_mode": plan.int8_mode,
                          "profile": {k: [list(s) for s in v] for k, v in profile.items()},
                          "calibration": calibration_sha256}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def timing_cache_name(trt_version: str, cc: tuple[int, int]) -> str:
    """Timing caches are shared across models but tied to the TensorRT version and the GPU."""
    return f"timing-trt{trt_version}-sm{cc[0]}{cc[1]}.cache"
