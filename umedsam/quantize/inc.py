"""Intel neural-compressor (``onnx-neural-compressor``): SmoothQuant + static QDQ, in its own environment.

neural-compressor 3.x moved ONNX support out of its main package into ``onnx-neural-compressor``,
which needs numpy < 2 (umedsam runs numpy 2). It therefore lives in a separate virtual environment
(``bash scripts/install_inc.sh`` -> ``.venv-inc``; or point ``UMEDSAM_INC_PYTHON`` / ``--inc-python``
at any Python that has it) and is driven through :mod:`umedsam.quantize.inc_worker` in a subprocess.
What it adds over ONNX Runtime's own quantizer: SmoothQuant (activation outliers migrated into the
weights with a per-channel scale, alpha 0.5 by default) before the same QDQ format.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from umedsam.errors import UmedsamError
from umedsam.quantize.ort_qdq import select_nodes
from umedsam.quantize.presets import Preset

WORKER = Path(__file__).with_name("inc_worker.py")
#: op types onnx-neural-compressor 1.0 can quantize on the CPU provider (it rejects others, e.g. ConvTranspose)
INC_OP_TYPES = ("Conv", "MatMul", "Gemm")
INSTALL_HINT = "bash scripts/install_inc.sh (creates .venv-inc), or set UMEDSAM_INC_PYTHON"


def find_python(explicit: str | Path | None = None) -> Path:
    """The Python that has onnx-neural-compressor: --inc-python, UMEDSAM_INC_PYTHON, or a .venv-inc nearby."""
    candidates = [explicit, os.environ.get("UMEDSAM_INC_PYTHON")]
    candidates += [Path.cwd() / ".venv-inc" / "bin" / "python", Path(__file__).resolve().parents[2] / ".venv-inc" / "bin" / "python"]
    for c in candidates:
        if c and Path(c).is_file():
            probe = subprocess.run([str(c), "-c", "import onnx_neural_compressor"], capture_output=True, text=True, encoding="utf-8", errors="replace")
            if probe.returncode == 0:
                return Path(c)
            if c in (explicit, os.environ.get("UMEDSAM_INC_PYTHON")):
                raise UmedsamError(f"{c}: this Python cannot import onnx_neural_compressor; {INSTALL_HINT}")
    raise UmedsamError(f"--method inc needs onnx-neural-compressor in its own environment: {INSTALL_HINT}")


def quantize_stage(python: Path, src: Path, dst: Path, feeds: list[dict[str, np.ndarray]], preset: Preset,
                   float_blocks: list[str] = (), per_channel: bool = True, reduce_range: bool = False,
                   smooth_quant_alpha: float | None = 0.5, timeout: float = 1800) -> dict[str, Any]:
    """Quantize one stage graph with neural-compressor in its own Python; returns the worker's report."""
    if preset.weights_only:
        raise UmedsamError("--method inc quantizes statically; for weight-only INT8 use --method nncf --preset weights")
    model = onnx.load(str(src), load_external_data=False)
    include, exclude = select_nodes(model, preset, float_blocks)
    op_types = [t for t in (preset.op_types or INC_OP_TYPES) if t in INC_OP_TYPES]
    if include is not None:  # express the preset as exclusions of the op types it quantizes
        keep = set(include)
        exclude = [n.name for n in model.graph.node if n.op_type in op_types and n.name not in keep]
    with tempfile.TemporaryDirectory(prefix="umedsam-inc-") as tmp:
        names = list(feeds[0])
        arrays = {f"{k}__{i}": v for i, f in enumerate(feeds) for k, v in f.items()}
        np.savez(Path(tmp) / "feeds.npz", count=np.array(len(feeds)), **arrays)
        request = {"model": str(src), "output": str(dst), "feeds": str(Path(tmp) / "feeds.npz"), "input_names": names,
                   "op_types": op_types, "nodes_to_exclude": exclude,
                   "per_channel": per_channel, "reduce_range": reduce_range, "smooth_quant_alpha": smooth_quant_alpha,
                   "report": str(Path(tmp) / "report.json")}
        (Path(tmp) / "request.json").write_text(json.dumps(request))
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        try:
            proc = subprocess.run([str(python), str(WORKER), str(Path(tmp) / "request.json")], capture_output=True,
                                  text=True, encoding="utf-8", errors="replace", timeout=timeout, env=env)
        except subprocess.TimeoutExpired:
            raise UmedsamError(f"neural-compressor did not finish within {timeout:.0f} s") from None
        if proc.returncode != 0 or not dst.is_file() or not (Path(tmp) / "report.json").is_file():
            tail = (proc.stderr or proc.stdout).strip().splitlines()
            raise UmedsamError(f"neural-compressor failed on {src.name}: {tail[-1] if tail else proc.returncode}")
        report = json.loads((Path(tmp) / "report.json").read_text(encoding="utf-8"))
    report.update(python=str(python), float_nodes=len(exclude), bytes=dst.stat().st_size, smooth_quant_alpha=smooth_quant_alpha)
    return report
