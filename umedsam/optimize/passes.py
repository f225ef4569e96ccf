"""Running a candidate's passes, each once: artefacts cached by the hash of everything they depend on.

Every pass writes into ``WORK/artifacts/<key>/`` where ``key`` hashes the inputs (checkpoint and its
sidecar, the calibration cases, the umedsam version) and the chain of passes up to it. A ``done.json``
marker, written atomically after the pass finished, says the folder is complete; a folder without it
(a killed run) is rebuilt. So two candidates that share a prefix share its work, and a re-run of
``umedsam-optimize`` with the same inputs skips every pass already done.

The passes call the libraries the commands call: :func:`umedsam.export.export_bundle`,
:func:`umedsam.quantize.quantize_bundle`, :func:`umedsam.compress.pipeline.run_compress` and
:func:`umedsam.quantize.qat_pipeline.run_qat` (its distillation corpus cached once in ``WORK/corpus``,
shared by every QAT candidate; a killed QAT pass resumes from its checkpoint).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable

from umedsam.assets import resolve_checkpoint, sha256_file
from umedsam.common import write_json
from umedsam.errors import UmedsamError
from umedsam.model.factorized import sidecar_path
from umedsam.optimize.space import Candidate, Pass
from umedsam.runtime.calibration import calibration_hash
from umedsam.runtime.integrity import cache_lock
from umedsam.versions import installed_versions


#: distillation images a low-rank candidate's recovery trains on
RECOVERY_IMAGES = 48


@dataclass
class PassContext:
    """What every pass reads: the checkpoint, the calibration/tuning cases, where to work, threads, a log."""

    ckpt: Path | None
    calib: Path
    work: Path
    threads: int | None = None
    log: Callable[[str], None] = print
    held_out: Path | None = None       # --data: kept out of the distillation corpus
    corpus_size: int = 256             # images of the distillation corpus (QAT and low-rank recovery)

    @cached_property
    def root_hash(self) -> str:
        """Hash of the inputs every artefact depends on (read once per run)."""
        ckpt = resolve_checkpoint(self.ckpt)
        side = sidecar_path(ckpt)
        parts = {"ckpt": sha256_file(ckpt), "sidecar": sha256_file(side) if side.is_file() else None,
                 "calib": calibration_hash(self.calib), "umedsam": installed_versions(["umedsam"]).get("umedsam")}
        return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]

    @cached_property
    def held_out_hash(self) -> str:
        """Hash of the held-out cases (a QAT corpus depends on what it had to leave out)."""
        return calibration_hash(self.held_out) if self.held_out is not None else ""


def artifact_dir(ctx: PassContext, candidate: Candidate, upto: int) -> Path:
    """The folder of the artefact after the first ``upto`` passes of ``candidate``."""
    held_out = ctx.held_out_hash if any(p.kind in ("qat", "lowrank") for p in candidate.passes[:upto]) else ""
    key = hashlib.sha256((ctx.root_hash + candidate.chain_key(upto) + held_out).encode()).hexdigest()[:16]
    return ctx.work / "artifacts" / key


def build_candidate(candidate: Candidate, ctx: PassContext) -> tuple[Path, list[dict[str, Any]]]:
    """Run (or reuse) every pass of ``candidate``; returns the engine path and one record per pass."""
    engine: Path | None = None
    records = []
    for i, p in enumerate(candidate.passes):
        folder = artifact_dir(ctx, candidate, i + 1)
        marker = folder / "done.json"
        locks = folder.parent / ".locks" / folder.name
        locks.mkdir(parents=True, exist_ok=True)
        # two candidates sharing a pass, built at once (--cluster), wait for each other instead of both
        # writing the same folder; the second then finds the marker
        with cache_lock(locks):
            if marker.is_file():
                record = json.loads(marker.read_text(encoding="utf-8"))
                record["reused"] = True
                engine = Path(record["engine"])
                records.append(record)
                continue
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)
            ctx.log(f"{candidate.name}: {p.describe()}")
            start = time.perf_counter()
            engine, info = run_pass(p, engine, folder, ctx)
            record = {"pass": p.describe(), "engine": str(engine), "seconds": round(time.perf_counter() - start, 1),
                      "info": info}
            write_json(marker, record)
            records.append({**record, "reused": False})
    if engine is None:
        raise UmedsamError(f"{candidate.name}: a candidate needs at least one pass")
    return engine, records


def distillation_cases(ctx: PassContext) -> Path:
    """The recovery cases of low-rank candidates: the distillation corpus (teacher masks as targets, held-out
    cases kept out) when the held-out cases are known, else the tuning cases."""
    if ctx.held_out is None:
        return ctx.calib
    from umedsam.data.corpus import find_exclusion, read_held_out
    from umedsam.model import load_checkpoint
    from umedsam.train.distill_corpus import build_teacher_corpus, corpus_key, write_cases

    ckpt = resolve_checkpoint(ctx.ckpt)
    sha, exclusion = sha256_file(ckpt), find_exclusion(read_held_out(ctx.held_out))
    # every low-rank candidate of a search asks for the same cases: once written, they are returned
    # without reading the corpus shards (hundreds of MB) again
    n = min(RECOVERY_IMAGES, ctx.corpus_size)
    seed, boxes = 0, 4   # the corpus the QAT pass builds (QatOptions' seed, the default boxes)
    written = ctx.work / "corpus-cases" / f"{corpus_key(sha, ctx.corpus_size, seed, boxes, exclusion)}-{n}"
    if (written / "done.json").is_file():
        return written
    corpus = build_teacher_corpus(load_checkpoint(ckpt), sha, ctx.work / "corpus", ctx.corpus_size, exclusion,
                                  seed=seed, boxes=boxes, threads=ctx.threads, log=lambda m: ctx.log(f"  {m}"))
    # the recovery caches the teacher's stage outputs of every image in eager PyTorch (~2 s each on 2 cores),
    # so it gets the first RECOVERY_IMAGES of the corpus, not all of it
    return write_cases(corpus.split(len(corpus) - n)[0], written)


def run_pass(p: Pass, engine: Path | None, folder: Path, ctx: PassContext) -> tuple[Path, dict[str, Any]]:
    """One pass on ``engine`` (None = the checkpoint) into ``folder``; the new engine and what it reports."""
    s = p.settings
    if p.kind == "export":
        from umedsam.export import ExportOptions, export_bundle

        source = ctx.ckpt if engine is None else engine
        if source is not None and Path(source).is_dir():
            raise UmedsamError(f"{p.describe()}: exports a checkpoint, got the bundle {source}")
        out = folder / "bundle"
        manifest = export_bundle(source, out, ExportOptions(target=s["target"], precision=s["precision"], check=False,
                                                            threads=ctx.threads, force=True),
                                 log=lambda m: ctx.log(f"  {m}"))
        return out, {"format": manifest["format"], "precision": manifest["precision"]}
    if p.kind == "quantize":
        from umedsam.quantize import QuantizeOptions, quantize_bundle

        if engine is None or not engine.is_dir():
            raise UmedsamError(f"{p.describe()}: quantizes an exported FP32 bundle, got {engine}")
        out = folder / "bundle"
        # the quantizer's own search and gate use the tuning cases; the held-out gate is the evaluator's
        result = quantize_bundle(engine, ctx.calib, out, QuantizeOptions(
            method=s["method"], preset=s["preset"], data=ctx.calib, threads=ctx.threads, force=True),
            log=lambda m: ctx.log(f"  {m}"))
        q = result.manifest["quantization"]
        return out, {"method": q["method"], "preset": q["preset"], "float_blocks": q.get("float_blocks", []),
                     "tuning_gate": result.manifest["status"]}
    if p.kind == "lowrank":
        from umedsam.compress.compress import CompressOptions
        from umedsam.compress.pipeline import CompressJob, run_compress
        from umedsam.train.trainer import TrainOptions

        if engine is not None:
            raise UmedsamError(f"{p.describe()}: factorizes the checkpoint, not {engine}")
        out = folder / "lowrank.pth"
        minutes = float(s["minutes"])
        recovery_data = distillation_cases(ctx) if minutes > 0 else None
        job = CompressJob(ctx.ckpt, out, CompressOptions(flops_ratio=float(s["flops_ratio"])), calib=ctx.calib,
                          finetune_data=recovery_data, threads=ctx.threads,
                          recovery=TrainOptions(steps=100000, minutes=minutes, batch=1, boxes_per_image=4, lr=1e-5,
                                                rho=0.05, trainable="factorized", warmup=5))
        report = run_compress(job, log=lambda m: ctx.log(f"  {m}"))
        summary = report.result.summary
        return out, {"encoder_flops_ratio": summary["encoder_flops_ratio"], "recovery_minutes": minutes,
                     "recovery_data": str(recovery_data) if recovery_data else None,
                     "recovery_steps": report.recovery.steps if report.recovery else 0}
    if p.kind == "qat":
        from umedsam.quantize.qat import QatOptions
        from umedsam.quantize.qat_pipeline import QatJob, run_qat

        if engine is not None and engine.is_dir():
            raise UmedsamError(f"{p.describe()}: trains from a checkpoint, not the bundle {engine}")
        if ctx.held_out is None:
            raise UmedsamError(f"{p.describe()}: needs the held-out cases to keep them out of its corpus")
        out = folder / "bundle"
        opts = QatOptions(minutes=float(s["minutes"]), corpus_size=int(s["corpus"]), threads=ctx.threads, resume=True,
                          latency_iters=0)  # the evaluator times every candidate
        report = run_qat(QatJob(engine if engine is not None else ctx.ckpt, ctx.held_out, out, folder / "work", opts,
                                force=True, corpus_cache=ctx.work / "corpus", gate=False),
                         log=lambda m: ctx.log(f"  {m}"))
        last = report.state.curve[-1] if report.state.curve else {}
        return out, {"method": "nncf-qat", "steps": report.state.step, "minutes": round(report.state.elapsed / 60, 2),
                     "val_agreement_mean": last.get("mean"), "val_agreement_min": last.get("min"),
                     "curve": report.state.curve}
    raise UmedsamError(f"unknown pass kind {p.kind!r}")
