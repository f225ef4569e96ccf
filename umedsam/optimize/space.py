"""The search space of ``umedsam-optimize``: candidates as chains of passes, in the manner of Olive.

A **pass** turns an engine into another one (export to a format and precision, INT8 quantization,
low-rank factorization with recovery, quantization-aware training with distillation). A **candidate** is a named chain of passes from the FP32
checkpoint plus the backend it is timed on. Passes are plain data with a stable key, so a pass that
two candidates share (the FP32 OpenVINO export under both INT8 variants) runs once, and a re-run
with the same inputs reuses it (:mod:`umedsam.optimize.passes`).

Which candidates exist follows the format table: FP32 on every CPU backend is the baseline, and the
compressed variants are built for the chosen ``--backend``'s format (OpenVINO IR for ``openvino`` and
``native``, ONNX for ``onnxruntime``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

#: backends the search times candidates on (CPU ones; TensorRT is a GPU target, docs/TARGETS.md)
BACKENDS = ("openvino", "onnxruntime", "native")
DEFAULT_RATIOS = (0.9, 0.8, 0.7)


@dataclass(frozen=True)
class Pass:
    """One transformation: ``kind`` is export | quantize | lowrank, ``params`` its settings."""

    kind: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.params)

    def describe(self) -> str:
        """``export(target=openvino, precision=fp16)``."""
        return f"{self.kind}(" + ", ".join(f"{k}={v}" for k, v in self.params) + ")"


def make_pass(kind: str, **params: Any) -> Pass:
    """A pass with its settings in a fixed order (so equal passes have equal keys)."""
    return Pass(kind, tuple(sorted(params.items())))


@dataclass
class Candidate:
    """A named chain of passes from the checkpoint, timed on ``backend``; ``family`` groups the report."""

    name: str
    passes: tuple[Pass, ...]
    backend: str
    family: str                      # fp32 | fp16 | bf16 | int8 | lowrank | lowrank+int8
    int8: bool = False               # pays only on CPUs with VNNI/AMX (docs/TARGETS.md, "CPUs")
    bf16: bool = False               # computes in bf16 only on CPUs with AMX/AVX-512 BF16 (else f32)
    expected_minutes: float = 1.0    # rough cost, so the budget skips what cannot finish
    notes: list[str] = field(default_factory=list)

    def chain_key(self, upto: int | None = None) -> str:
        """A stable key of the first ``upto`` passes (all by default)."""
        chain = [asdict(p) for p in self.passes[:upto]]
        return hashlib.sha256(json.dumps(chain, sort_keys=True, default=str).encode()).hexdigest()[:16]


def candidate_space(backend: str = "openvino", ratios: tuple[float, ...] = DEFAULT_RATIOS,
                    recovery_minutes: float = 10.0, static_int8: bool = True, native: bool = False,
                    qat_minutes: float = 0.0, corpus_size: int = 256) -> list[Candidate]:
    """Every candidate for ``backend``, cheapest first (the order the search spends its budget in)."""
    if backend not in BACKENDS:
        raise ValueError(f"--backend {backend}: choose one of {', '.join(BACKENDS)}")
    ov, onnx = make_pass("export", target="openvino", precision="fp32"), make_pass("export", target="onnx", precision="fp32")
    derived_backend = "native" if backend == "native" else ("onnxruntime" if backend == "onnxruntime" else "openvino")
    base = onnx if backend == "onnxruntime" else ov
    method = "ort" if backend == "onnxruntime" else "nncf"
    fmt = "onnx" if backend == "onnxruntime" else "openvino"
    out = [Candidate("fp32-onnxruntime", (onnx,), "onnxruntime", "fp32"),
           Candidate("fp32-openvino", (ov,), "openvino", "fp32")]
    if native or backend == "native":
        out.append(Candidate("fp32-native", (ov,), "native", "fp32"))
    if fmt == "openvino":
        out.append(Candidate("fp16-openvino", (make_pass("export", target="openvino", precision="fp16"),),
                             derived_backend, "fp16"))
        out.append(Candidate(f"bf16-{derived_backend}", (make_pass("export", target="openvino", precision="bf16"),),
                             derived_backend, "bf16", bf16=True))
    out.append(Candidate(f"int8w-{derived_backend}", (base, make_pass("quantize", method=method, preset="weights")),
                         derived_backend, "int8", int8=True, expected_minutes=1.5))
    for r in ratios:
        lowrank = make_pass("lowrank", flops_ratio=float(r), minutes=float(recovery_minutes))
        export = make_pass("export", target=fmt, precision="fp32")
        out.append(Candidate(f"lowrank{r:g}-{derived_backend}", (lowrank, export), derived_backend, "lowrank",
                             expected_minutes=recovery_minutes + 3))
    if static_int8:
        out.append(Candidate(f"int8-{derived_backend}", (base, make_pass("quantize", method=method, preset="encoder")),
                             derived_backend, "int8", int8=True, expected_minutes=8))
        if ratios:
            r = max(ratios)
            out.append(Candidate(
                f"lowrank{r:g}+int8-{derived_backend}",
                (make_pass("lowrank", flops_ratio=float(r), minutes=float(recovery_minutes)),
                 make_pass("export", target=fmt, precision="fp32"), make_pass("quantize", method=method, preset="encoder")),
                derived_backend, "lowrank+int8", int8=True, expected_minutes=recovery_minutes + 10))
    if qat_minutes > 0 and fmt == "openvino":   # QAT exports OpenVINO IR (NNCF's PyTorch QAT -> convert_model)
        qat = make_pass("qat", minutes=float(qat_minutes), corpus=int(corpus_size))
        out.append(Candidate(f"int8qat-{derived_backend}", (qat,), derived_backend, "int8", int8=True,
                             expected_minutes=qat_minutes + 8))
        if ratios:
            r = max(ratios)
            out.append(Candidate(f"lowrank{r:g}+int8qat-{derived_backend}",
                                 (make_pass("lowrank", flops_ratio=float(r), minutes=float(recovery_minutes)), qat),
                                 derived_backend, "lowrank+int8", int8=True,
                                 expected_minutes=recovery_minutes + qat_minutes + 11))
    return sorted(out, key=lambda c: c.expected_minutes)
