"""``umedsam-qat`` end to end: corpus -> QAT -> INT8 OpenVINO bundle -> gate on held-out cases -> report.

Work files (the teacher corpus, the QAT checkpoint, the FP32 bundle) live in ``WORK`` (default
``OUT.work``) so a killed run resumes with ``--resume`` and a second run reuses the corpus. The bundle
is assembled in a hidden folder and renamed into place. The held-out cases (``--data``) are kept out
of the corpus (:mod:`umedsam.data.corpus`) and gate the result with the INT8 tolerances, which are
never loosened: a bundle that fails is written with ``status: failed`` and the command exits 1.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from umedsam.assets import resolve_checkpoint, sha256_file
from umedsam.common import commit_dir, markdown_table, staging_dir, write_json, write_text_atomic
from umedsam.data.corpus import find_exclusion, read_held_out
from umedsam.errors import UmedsamError
from umedsam.quantize.qat import QatOptions, QatState


@dataclass
class QatJob:
    ckpt: Path | None
    data: Path                         # held-out cases with GT: kept out of the corpus, gate the bundle
    out: Path
    work: Path | None = None
    options: QatOptions = field(default_factory=QatOptions)
    force: bool = False
    corpus_cache: Path | None = None   # default WORK/corpus; umedsam-optimize shares one across candidates
    gate: bool = True                  # False: umedsam-optimize gates with its own evaluator


@dataclass
class QatReport:
    manifest: dict[str, Any]
    state: QatState
    corpus: dict[str, Any]
    export: dict[str, Any]
    passed: bool

    def to_json(self) -> dict[str, Any]:
        q = self.manifest.get("quantization", {})
        return {"status": self.manifest.get("status"), "parity": self.manifest.get("parity"),
                "latency_ms": q.get("latency_ms"), "curve": self.state.curve, "steps": self.state.step,
                "minutes": round(self.state.elapsed / 60, 2), "corpus": self.corpus, "export": self.export}


def run_qat(job: QatJob, log: Callable[[str], None] = print) -> QatReport:
    """Build the INT8 QAT bundle ``job.out``; raises nothing on a failed gate (the report says so)."""
    import torch

    from umedsam.export import ExportOptions, export_bundle
    from umedsam.export.manifest import write_manifest
    from umedsam.model import load_checkpoint
    from umedsam.quantize.gate import gate, latency_ms, parity_summary
    from umedsam.quantize.options import QuantizeOptions
    from umedsam.quantize.qat import export_encoder_ir, train_qat
    from umedsam.quantize.source import copy_stage, write_candidate
    from umedsam.runtime.bundle import open_bundle
    from umedsam.train.distill_corpus import build_teacher_corpus

    opts = job.options
    if opts.threads:
        torch.set_num_threads(int(opts.threads))
    work = Path(job.work or Path(str(job.out) + ".work"))
    work.mkdir(parents=True, exist_ok=True)
    ckpt = resolve_checkpoint(job.ckpt)
    sha = sha256_file(ckpt)
    held_out = read_held_out(job.data)
    if not held_out:
        raise UmedsamError(f"{job.data}: --data needs held-out cases (imgs/*.npz with gts/)")
    exclusion = find_exclusion(held_out)
    model = load_checkpoint(ckpt)
    if getattr(model, "compression", None):
        log("the checkpoint is factorized: QAT quantizes the low-rank encoder (low rank + INT8)")
    corpus = build_teacher_corpus(model, sha, Path(job.corpus_cache or work / "corpus"), opts.corpus_size, exclusion, seed=opts.seed,
                                  threads=opts.threads, log=log)
    qmodel, state = train_qat(model, corpus, work, opts, log)
    fp32 = work / "fp32"
    if not (fp32 / "manifest.json").is_file():
        log("exporting the FP32 OpenVINO bundle (reference and decoder)")
        export_bundle(job.ckpt, fp32, ExportOptions(target="openvino", precision="fp32", check=False,
                                                    threads=opts.threads, force=True))
    src = open_bundle(fp32)
    tmp = staging_dir(job.out, job.force)
    try:
        export = export_encoder_ir(qmodel, tmp / "encoder.xml")
        log(f"encoder IR: {export['int8_ops']} INT8 ops, IR vs torch relative MSE {export['ir_vs_torch_rel_mse']:.2e}")
        stages = {"encoder": {"quantized": True, "bytes": export["bytes"]},
                  "decoder": copy_stage(src.graphs["decoder"], tmp)}
        quantization = {"method": "nncf-qat", "preset": "encoder", "decoder_quantized": False,
                        "qat": {**asdict(opts), "steps": state.step, "minutes": round(state.elapsed / 60, 2),
                                "curve": state.curve},
                        "corpus": {k: corpus.meta[k] for k in ("key", "size", "seed", "boxes", "held_out")},
                        "float_blocks": ["LayerNorm, GELU, Softmax and the attention products (NNCF transformer "
                                         "model type)"]}
        write_candidate(tmp, "openvino", src.manifest, stages, quantization)
        qopts = QuantizeOptions(method="nncf", preset="encoder", data=job.data, threads=opts.threads,
                                latency_iters=opts.latency_iters)
        manifest = json.loads((tmp / "manifest.json").read_text(encoding="utf-8"))
        passed = False
        if job.gate:
            report = gate(fp32, tmp, qopts, work, log)
            passed = report.passed
            manifest["parity"] = parity_summary(report)
            manifest["status"] = "passed" if report.passed else "failed"
        if opts.latency_iters > 0:
            quantization["latency_ms"] = latency_ms(fp32, tmp, qopts)
        manifest["quantization"] = quantization
        write_manifest(tmp, manifest)
        commit_dir(tmp, job.out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    result = QatReport(manifest, state, {k: corpus.meta[k] for k in ("key", "size", "held_out")}, export, passed)
    write_json(Path(job.out) / "qat_report.json", result.to_json())
    write_text_atomic(Path(job.out) / "qat_report.md", to_markdown(result))
    return result


def to_markdown(r: QatReport) -> str:
    """The curve of agreement against minutes trained, the gate per case and the stage latencies."""
    lines = [f"# QAT INT8 encoder: {r.manifest.get('status')}", "",
             f"{r.state.step} steps in {r.state.elapsed / 60:.1f} min on a corpus of {r.corpus['size']} images "
             f"(held-out cases removed: {', '.join(r.corpus['held_out']['cases'])}).", "",
             "## Label agreement with FP32 on held-back corpus items, against minutes trained", "",
             markdown_table(["minutes", "step", "mean Dice", "5th pct", "min"],
                            [[c["minutes"], c["step"], f"{c['mean']:.4f}", f"{c['p05']:.4f}", f"{c['min']:.4f}"]
                             for c in r.state.curve]), "", "## Gate on held-out cases (INT8 tolerances)", ""]
    parity = r.manifest.get("parity") or {}
    rows = [[case, f"{v['min_agreement']:.4f}", f"{v['ref_dsc']:.4f}", f"{v['cand_dsc']:.4f}", f"{v['ref_nsd']:.4f}",
             f"{v['cand_nsd']:.4f}"] for case, v in (parity.get("cases") or {}).items()]
    lines += [markdown_table(["case", "min label agreement", "FP32 DSC", "INT8 DSC", "FP32 NSD", "INT8 NSD"], rows), ""]
    for f in parity.get("failures", []):
        lines.append(f"- failed: {f}")
    lat = (r.manifest.get("quantization") or {}).get("latency_ms") or {}
    if lat:
        lines += ["", markdown_table(["stage", "FP32 ms", "INT8 ms"],
                                     [[s, lat["fp32"][s], lat["int8"][s]] for s in ("encoder", "decoder")])]
    return "\n".join(lines) + "\n"
