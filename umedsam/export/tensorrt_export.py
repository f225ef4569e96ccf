"""TensorRT engines from the exported ONNX graphs: profiles, precision rules, timing and engine caches.

The decisions (what a GPU/TensorRT pair can build, which layers stay FP32, cache keys) live in
:mod:`umedsam.export.tensorrt_rules` and are unit-tested without a GPU; this module applies them
through TensorRT's builder. Engines are tied to the GPU and TensorRT version, so the bundle records
both and the engine cache (``UMEDSAM_TRT_CACHE`` or ``~/.cache/umedsam/tensorrt``) is keyed by them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from umedsam.assets import sha256_file
from umedsam.errors import UmedsamError
from umedsam.export.tensorrt_rules import (INSTALL_HINT, BuildPlan, engine_cache_key, keep_fp32, plan_build,
                                           timing_cache_name)


def import_tensorrt():
    """``tensorrt`` or one clear line saying what is missing and how to install it."""
    try:
        import tensorrt as trt
    except ImportError:
        raise UmedsamError(f"--target trt needs TensorRT, which is not installed: {INSTALL_HINT}") from None
    return trt


def detect_gpu() -> tuple[str, tuple[int, int]]:
    """(name, compute capability) of GPU 0, via cuda-python or ``nvidia-smi``; UmedsamError without a GPU."""
    try:
        from umedsam.runtime.backends.tensorrt_backend import cudart_module, cuda_check

        cudart = cudart_module()
        props = cuda_check(cudart.cudaGetDeviceProperties(0))
        name = props.name.decode() if isinstance(props.name, bytes) else str(props.name)
        return name.strip("\x00 "), (int(props.major), int(props.minor))
    except Exception:
        pass
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=name,compute_cap", "--format=csv,noheader"], capture_output=True,
                                 text=True, encoding="utf-8", errors="replace", timeout=20, check=True).stdout.strip().splitlines()
            name, cap = (s.strip() for s in out[0].rsplit(",", 1))
            major, minor = cap.split(".")
            return name, (int(major), int(minor))
        except (subprocess.SubprocessError, ValueError, IndexError, OSError):
            pass
    raise UmedsamError("--target trt needs an NVIDIA GPU and driver; none was found (nvidia-smi / CUDA runtime)")


def onnx_has_qdq(path: Path) -> bool:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return any(n.op_type in ("QuantizeLinear", "DequantizeLinear") for n in model.graph.node)


def cache_dir() -> Path:
    env = os.environ.get("UMEDSAM_TRT_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "umedsam" / "tensorrt"


def _write_atomic(path: Path, data: bytes) -> None:
    """Caches are trusted when present, so they must never be seen half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _constrain_precision(trt, network) -> int:
    """Pin the float layers that overflow or saturate in reduced precision to FP32; returns how many."""
    casts = {"UNARY": trt.IUnaryLayer, "ELEMENTWISE": trt.IElementWiseLayer}
    floats = (trt.float32, trt.float16)
    pinned = 0
    for i in range(network.num_layers):
        layer = network.get_layer(i)
        ltype = layer.type.name
        op = None
        if ltype in casts:
            layer.__class__ = casts[ltype]  # TensorRT's Python API needs the downcast to read .op
            op = layer.op.name
        if any(layer.get_output(j).dtype not in floats for j in range(layer.num_outputs)):
            continue  # shape/index arithmetic: not a precision question
        if keep_fp32(ltype, op):
            layer.precision = trt.float32
            for j in range(layer.num_outputs):
                layer.set_output_type(j, trt.float32)
            pinned += 1
    return pinned


def _calibrator(trt, images: Iterator[np.ndarray], cache_path: Path):
    """An entropy calibrator (implicit INT8, TensorRT 8.6) over preprocessed encoder inputs."""
    from umedsam.runtime.backends.tensorrt_backend import DeviceBuffer, cudart_module, cuda_check

    cudart = cudart_module()

    class EntropyCalibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self) -> None:
            super().__init__()
            self.images, self.buffer = images, DeviceBuffer(cudart)

        def get_batch_size(self) -> int:
            return 1

        def get_batch(self, names):  # noqa: ANN001 - TensorRT's signature
            image = next(self.images, None)
            if image is None:
                return None
            arr = np.ascontiguousarray(image[None], dtype=np.float32)
            ptr = self.buffer.ensure(arr.nbytes)
            cuda_check(cudart.cudaMemcpy(ptr, arr.ctypes.data, arr.nbytes,
                                         cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
            return [ptr]

        def read_calibration_cache(self):
            return cache_path.read_bytes() if cache_path.is_file() else None

        def write_calibration_cache(self, cache) -> None:  # noqa: ANN001
            _write_atomic(cache_path, bytes(cache))
            self.buffer.free()  # calibration is over once TensorRT writes its cache

    return EntropyCalibrator()


def build_engine(onnx_path: Path, plan_path: Path, stage: str, plan: BuildPlan,
                 profile: dict[str, tuple[tuple[int, ...], ...]], gpu: tuple[str, tuple[int, int]],
                 calib_images: Iterator[np.ndarray] | None = None, workspace_gb: float = 2.0,
                 calibration_sha256: str | None = None) -> dict[str, Any]:
    """Build (or fetch from the engine cache) one stage's engine into ``plan_path``."""
    trt = import_tensorrt()
    cc = gpu[1]
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    key = engine_cache_key(sha256_file(onnx_path), trt.__version__, cc, plan, profile, calibration_sha256)
    cached = cache / f"{stage}-{key}.plan"
    start = time.perf_counter()
    if cached.is_file():
        shutil.copyfile(cached, plan_path)
        return {"seconds": round(time.perf_counter() - start, 2), "cache_key": key, "from_cache": True,
                "bytes": plan_path.stat().st_size}
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    major = int(trt.__version__.split(".")[0])
    flags = 0 if major >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise UmedsamError(f"{onnx_path}: TensorRT's ONNX parser failed: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gb * (1 << 30)))
    opt_profile = builder.create_optimization_profile()
    for name, (lo, opt, hi) in profile.items():
        opt_profile.set_shape(name, lo, opt, hi)
    config.add_optimization_profile(opt_profile)
    if plan.precision == "fp32":
        config.clear_flag(trt.BuilderFlag.TF32)  # TF32 would cost parity with the FP32 reference
    pinned = 0
    if plan.fp16:
        config.set_flag(trt.BuilderFlag.FP16)
    if plan.int8 and (stage == "encoder" or plan.int8_mode == "explicit"):
        config.set_flag(trt.BuilderFlag.INT8)
        if plan.int8_mode == "implicit":
            if calib_images is None:
                raise UmedsamError("implicit INT8 needs calibration images (--calib DIR)")
            config.int8_calibrator = _calibrator(trt, calib_images, cache / f"calib-{key}.cache")
            config.set_calibration_profile(opt_profile)
    if plan.fp16 or plan.int8:
        config.set_flag(trt.BuilderFlag.OBEY_PRECISION_CONSTRAINTS)
        pinned = _constrain_precision(trt, network)
    timing_path = cache / timing_cache_name(trt.__version__, cc)
    timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise UmedsamError(f"{onnx_path}: TensorRT could not build a {plan.precision} engine for {gpu[0]}")
    plan_path.write_bytes(bytes(serialized))
    _write_atomic(timing_path, bytes(config.get_timing_cache().serialize()))
    _write_atomic(cached, bytes(serialized))
    return {"seconds": round(time.perf_counter() - start, 2), "cache_key": key, "from_cache": False,
            "fp32_pinned_layers": pinned, "bytes": plan_path.stat().st_size}


def check_target(precision: str, has_qdq: bool, has_calibration: bool) -> tuple[Any, tuple[str, tuple[int, int]], BuildPlan]:
    """TensorRT present, a GPU present and the precision buildable on it, or one clear line (before any export)."""
    trt = import_tensorrt()
    gpu = detect_gpu()
    return trt, gpu, plan_build(trt.__version__, gpu[1], precision, has_qdq=has_qdq, has_calibration=has_calibration)
