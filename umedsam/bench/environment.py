"""What a benchmark ran on: CPU model and SIMD flags, cores, threads, library versions, GPU."""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from typing import Any

from umedsam.versions import installed_versions

#: flags that decide INT8/FP16 speed on CPUs (VNNI, AVX-512, AMX)
_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16")
_LIBS = ("umedsam", "numpy", "opencv-python-headless", "onnxruntime", "openvino", "torch", "tensorrt")


def cpu_info() -> dict[str, Any]:
    model, flags = platform.processor() or platform.machine(), set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model in ("", platform.machine(), platform.processor()):
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    break
    except OSError:
        pass
    return {"model": model, "logical_cores": os.cpu_count(),
            "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
            "flags": [f for f in _FLAGS if f in flags]}


def gpu_info() -> list[dict[str, str]]:
    smi = shutil.which("nvidia-smi")
    if not smi:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=name,compute_cap,driver_version,memory.total",
                              "--format=csv,noheader"], capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=20).stdout
    except (subprocess.SubprocessError, OSError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 4:
            gpus.append(dict(zip(("name", "compute_capability", "driver", "memory"), parts)))
    return gpus


def environment(threads: int | None) -> dict[str, Any]:
    return {"cpu": cpu_info(), "gpus": gpu_info(), "threads": threads, "os": platform.platform(),
            "versions": installed_versions(_LIBS)}
