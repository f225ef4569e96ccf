"""``umedsam-optimize``: search the candidates for the fastest engine that passes the gate on this CPU.

The strategy is exhaustive over the space of :mod:`umedsam.optimize.space`, cheapest candidates first,
within a wall-clock budget: a candidate whose expected cost no longer fits is reported as skipped,
not silently dropped. Each candidate is built (:mod:`umedsam.optimize.passes`), gated and timed
(:mod:`umedsam.optimize.evaluate`); results are cached in ``OUT/candidates/<name>.json`` under the
hash of their inputs, so a re-run skips what is done.

The winner is the passing candidate with the least warm per-case time. INT8 candidates on a CPU
without VNNI or AMX are evaluated and reported but never chosen (OpenVINO INT8 is slower than FP32
there; docs/TARGETS.md, "CPUs"), and so are bf16 candidates on a CPU without AMX or AVX-512 BF16
(they run in f32 there, so they are the fp16 candidate under another name). The Pareto frontier
over (per-case time, DSC delta) is reported whether or not anything passes.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from umedsam.bench.environment import cpu_info
from umedsam.common import commit_dir, staging_dir, write_json
from umedsam.data.npz import find_gts, require_cases
from umedsam.errors import UmedsamError
from umedsam.metrics.parity import ReferenceMemo
from umedsam.optimize.evaluate import Evaluation, evaluate_candidate
from umedsam.optimize.passes import PassContext, build_candidate
from umedsam.optimize.space import Candidate, candidate_space
from umedsam.runtime.calibration import calibration_hash
from umedsam.runtime.predictor import Predictor


def int8_pays() -> bool:
    """True on CPUs with VNNI or AMX INT8 instructions."""
    return _cpu_has("avx512_vnni", "avx_vnni", "amx_int8")


def bf16_pays() -> bool:
    """True on CPUs that compute in bfloat16 (AMX or AVX-512 BF16)."""
    return _cpu_has("amx_bf16", "avx512_bf16")


def _cpu_has(*flags: str) -> bool:
    """Any of ``flags`` among the CPU's (``cpu_info``: /proc/cpuinfo on Linux, none elsewhere)."""
    return any(f in cpu_info()["flags"] for f in flags)


@dataclass
class OptimizeJob:
    """Everything ``umedsam-optimize`` sets."""

    ckpt: Path | None
    calib: Path                       # tuning cases: calibration, recovery, the quantizer's own search
    data: Path                        # held-out cases with GT: the gate and the timing
    out: Path
    backend: str = "openvino"
    minutes: float = 60.0             # wall-clock budget of the whole search
    recovery_minutes: float = 10.0    # per low-rank variant
    ratios: tuple[float, ...] = (0.9, 0.8, 0.7)
    static_int8: bool = True
    native: bool = False              # also time FP32 on the native runtime (when it is built)
    threads: int | None = None
    rounds: int = 2
    cold_start: bool = True
    only: tuple[str, ...] = ()        # restrict to these candidate names (tests, re-runs)
    qat_minutes: float = 0.0          # > 0: INT8 QAT candidates (OpenVINO) with this training budget each
    cluster: str | None = None        # "local" or a Ray address: build the candidates in parallel there
    corpus_size: int = 256            # distillation corpus of the QAT candidates


@dataclass
class CandidateResult:
    """One row of the report."""

    name: str
    family: str
    backend: str
    passes: list[str]
    engine: str | None = None
    status: str = "pending"           # evaluated | skipped | error
    reason: str = ""
    evaluation: Evaluation = field(default_factory=Evaluation)
    int8: bool = False
    eligible: bool = True             # may be chosen on this CPU
    speedup: float = math.nan         # vs FP32 on the same backend, warm per case
    pareto: bool = False
    records: list[dict[str, Any]] = field(default_factory=list)
    reused: bool = False

    def to_json(self) -> dict[str, Any]:
        d = {k: v for k, v in self.__dict__.items() if k != "evaluation"}
        d["evaluation"] = self.evaluation.to_json()
        return d


@dataclass
class OptimizeResult:
    """Every candidate, the winner (if any) and the settings, for the report and ``optimize.json``."""

    candidates: list[CandidateResult]
    best: str | None
    settings: dict[str, Any]
    seconds: float


def pareto_front(rows: list[CandidateResult]) -> list[CandidateResult]:
    """The evaluated rows no other row beats on both per-case time (lower) and DSC delta (higher)."""
    done = [r for r in rows if r.status == "evaluated" and not math.isnan(r.evaluation.case_s)]
    front = []
    for r in done:
        t, d = r.evaluation.case_s, _delta(r)
        if not any((o.evaluation.case_s <= t and _delta(o) >= d) and (o.evaluation.case_s < t or _delta(o) > d)
                   for o in done):
            front.append(r)
    return sorted(front, key=lambda r: r.evaluation.case_s)


def _delta(r: CandidateResult) -> float:
    d = r.evaluation.dsc_delta
    return -math.inf if math.isnan(d) else d


def _input_key(job: OptimizeJob, ctx: PassContext, candidate: Candidate, data_hash: str) -> str:
    return json.dumps({"root": ctx.root_hash, "chain": candidate.chain_key(), "backend": candidate.backend,
                       "data": data_hash, "rounds": job.rounds, "threads": job.threads,
                       "cold_start": job.cold_start}, sort_keys=True)


def run_optimize(job: OptimizeJob, log: Callable[[str], None] = print,
                 on_candidate: Callable[[CandidateResult, int, int], None] | None = None) -> OptimizeResult:
    """Build, gate and time every candidate within the budget; copy the fastest passing one to ``OUT/best``.

    ``on_candidate(row, i, n)`` is called when the i-th of n candidates is done (evaluated, reused, skipped).
    """
    start = time.perf_counter()
    cases = require_cases(job.data)
    gts = find_gts(job.data)
    if gts is None:
        raise UmedsamError(f"{job.data}: --data needs ground truth (gts/ beside imgs/) for the DSC/NSD gate")
    require_cases(job.calib)
    if Path(job.calib).resolve() == Path(job.data).resolve():
        raise UmedsamError("--calib and --data are the same folder: tuning and held-out cases must be kept apart")
    job.out.mkdir(parents=True, exist_ok=True)
    ctx = PassContext(job.ckpt, Path(job.calib), job.out, job.threads, log, held_out=Path(job.data),
                      corpus_size=job.corpus_size)
    space = candidate_space(job.backend, job.ratios, job.recovery_minutes, job.static_int8, job.native,
                            job.qat_minutes, job.corpus_size)
    if job.only:
        unknown = sorted(set(job.only) - {c.name for c in space})
        if unknown:
            raise UmedsamError(f"--only {', '.join(unknown)}: not a candidate (known: {', '.join(c.name for c in space)})")
        space = [c for c in space if c.name in job.only]
    fast_int8, fast_bf16 = int8_pays(), bf16_pays()
    data_hash = calibration_hash(job.data)  # the held-out cases' bytes, hashed once for every candidate's key
    rows: list[CandidateResult] = []
    prebuilt = build_on_cluster(job, ctx, space, data_hash, log) if job.cluster else {}
    with Predictor(job.ckpt, threads=job.threads) as reference:
        memo = ReferenceMemo(reference)  # the FP32 model segments each held-out case once, not once per candidate
        for cand in space:
            row = CandidateResult(cand.name, cand.family, cand.backend, [p.describe() for p in cand.passes],
                                  int8=cand.int8, eligible=(not cand.int8 or fast_int8) and (not cand.bf16 or fast_bf16))
            if cand.int8 and not fast_int8:
                row.reason = "INT8 on a CPU without VNNI/AMX: reported, not chosen"
            if cand.bf16 and not fast_bf16:
                row.reason = "bf16 on a CPU without AMX/AVX-512 BF16 (computes in f32): reported, not chosen"
            rows.append(row)
            cache = job.out / "candidates" / f"{cand.name}.json"
            key = _input_key(job, ctx, cand, data_hash)
            if cache.is_file():
                cached = json.loads(cache.read_text(encoding="utf-8"))
                if cached.get("key") == key and cached["row"]["status"] == "evaluated":
                    _restore(row, cached["row"])
                    row.reused = True
                    log(f"{cand.name}: cached result reused")
                    _report(row, on_candidate, len(rows), len(space))
                    continue
            spent = (time.perf_counter() - start) / 60
            built = prebuilt.get(cand.name)
            if built is None and spent + cand.expected_minutes > job.minutes:
                row.status = "skipped"
                row.reason = (f"budget: {spent:.1f} of {job.minutes:g} min spent, this candidate needs about "
                              f"{cand.expected_minutes:g} more")
                _report(row, on_candidate, len(rows), len(space))
                continue
            try:
                if isinstance(built, BaseException):
                    raise built
                engine, row.records = built if built is not None else build_candidate(cand, ctx)
                row.engine = str(engine)
                log(f"{cand.name}: gate and timing on {len(cases)} held-out cases")
                row.evaluation = evaluate_candidate(engine, cand.backend, reference, cases, gts, job.threads,
                                                    job.rounds, job.cold_start, memo)
                row.status = "evaluated" if row.evaluation.error is None else "error"
                if row.evaluation.error:
                    row.reason = row.evaluation.error
            except UmedsamError as exc:
                row.status, row.reason = "error", str(exc)
            write_json(cache, {"key": key, "row": row.to_json()})
            _report(row, on_candidate, len(rows), len(space))
    _speedups(rows)
    for r in pareto_front(rows):
        r.pareto = True
    winners = [r for r in rows if r.status == "evaluated" and r.evaluation.passed and r.eligible]
    best = min(winners, key=lambda r: (r.evaluation.case_s, r.evaluation.size_mb), default=None)
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in job.__dict__.items()}
    settings["int8_pays_here"] = fast_int8
    settings["bf16_pays_here"] = fast_bf16
    result = OptimizeResult(rows, best.name if best else None, settings, time.perf_counter() - start)
    if best is not None:
        copy_best(best, rows, job.out / "best")
    return result


def _build_remote(candidate: Candidate, ctx: PassContext) -> tuple[Path, list[dict[str, Any]]]:
    return build_candidate(candidate, ctx)


def build_on_cluster(job: OptimizeJob, ctx: PassContext, space: list[Candidate], data_hash: str,
                     log: Callable[[str], None]) -> dict[str, Any]:
    """Build every candidate without a cached result as a Ray task (``--threads`` CPUs each), in parallel.

    Only the building runs there (exports, quantizer searches, recoveries, QAT: the minutes); the gate and
    the timing stay in this process, one candidate after another, so every candidate is timed on the
    same machine under the same load. The nodes must see ``OUT`` (a local cluster does; a remote one
    needs it on a shared file system). Shared passes are built once: a lock per artefact folder.
    Returns name -> (engine, records), or the exception its build raised.
    """
    from dataclasses import replace

    from umedsam.cluster.runner import ClusterOptions, connect

    info = connect(ClusterOptions(address=job.cluster, threads=job.threads or 1))
    import ray   # present: connect() has checked
    log(f"cluster {info['address']}: {info['workers']} builders x {info['threads_per_worker']} threads")
    remote = ray.remote(num_cpus=info["threads_per_worker"], max_retries=0)(_build_remote)
    todo = []
    for cand in space:
        cache = job.out / "candidates" / f"{cand.name}.json"
        if cache.is_file():
            cached = json.loads(cache.read_text(encoding="utf-8"))
            if cached.get("key") == _input_key(job, ctx, cand, data_hash) and cached["row"]["status"] == "evaluated":
                continue
        todo.append(cand)
    remote_ctx = replace(ctx, log=print)   # the driver's logger may not travel; workers print to their logs
    refs = {c.name: remote.remote(c, remote_ctx) for c in todo}
    out: dict[str, Any] = {}
    try:
        for name, ref in refs.items():
            try:
                out[name] = ray.get(ref)
                log(f"{name}: built on the cluster")
            except Exception as exc:   # the build's own error, re-raised when the candidate is evaluated
                cause = getattr(exc, "cause", None)
                out[name] = cause if isinstance(cause, UmedsamError) else UmedsamError(f"cluster build: {exc}")
    finally:
        if info.get("started_here"):
            ray.shutdown()
    return out


def _report(row: CandidateResult, on_candidate: Callable[[CandidateResult, int, int], None] | None,
            i: int, n: int) -> None:
    if on_candidate is not None:
        on_candidate(row, i, n)


def _restore(row: CandidateResult, data: dict[str, Any]) -> None:
    """A cached result into ``row``. Eligibility and its reason stay this run's: they depend on the CPU
    running the search, not on the one that evaluated the candidate (an OUT folder may be shared)."""
    ev = Evaluation(**data.pop("evaluation"))
    for k, v in data.items():
        if k not in ("eligible", "reason"):  # a reused row is "evaluated": its only reason is eligibility
            setattr(row, k, v)
    row.evaluation = ev


def _speedups(rows: list[CandidateResult]) -> None:
    """Warm per-case speedup of each row against FP32 on the same backend (native: against OpenVINO FP32)."""
    fp32 = {r.backend: r.evaluation.case_s for r in rows if r.family == "fp32" and r.status == "evaluated"}
    for r in rows:
        base = fp32.get(r.backend) or fp32.get("openvino")
        if r.status == "evaluated" and base and not math.isnan(r.evaluation.case_s):
            r.speedup = base / r.evaluation.case_s


def copy_best(best: CandidateResult, rows: list[CandidateResult], out: Path) -> None:
    """Copy the winner to ``out`` atomically, with a manifest entry saying why it won."""
    from umedsam.export.manifest import write_manifest
    from umedsam.runtime.bundle import read_manifest

    engine = Path(best.engine)
    tmp = staging_dir(out, force=True)
    try:
        if engine.is_dir():
            shutil.copytree(engine, tmp, dirs_exist_ok=True)
        else:
            shutil.copy2(engine, tmp / engine.name)
            side = engine.with_suffix(".factorized.json")
            if side.is_file():
                shutil.copy2(side, tmp / side.name)
        others = [r.name for r in rows if r.status == "evaluated" and r.evaluation.passed and r is not best]
        why = {"candidate": best.name, "backend": best.backend, "passes": best.passes,
               "warm_case_s": best.evaluation.case_s, "speedup_vs_fp32_same_backend": best.speedup,
               "gate": {"class": best.evaluation.gate_class, "dsc_delta": best.evaluation.dsc_delta,
                        "nsd_delta": best.evaluation.nsd_delta, "min_agreement": best.evaluation.min_agreement,
                        "min_case_boundary": best.evaluation.min_case_boundary},
               "reason": "the least warm per-case time among candidates that pass the gate"
                         + (f" (also passing: {', '.join(others)})" if others else "")}
        if (tmp / "manifest.json").is_file():
            manifest = read_manifest(tmp)
            if manifest.get("status") != "passed":
                # a pass's own check (e.g. the quantizer's gate on the tuning cases) is kept on record, but
                # the verdict that chose this engine is the held-out gate above: predict may run it
                why["own_status"] = {"status": manifest.get("status"),
                                     "failures": ((manifest.get("parity") or {}).get("failures") or [])[:20]}
                manifest["status"] = "passed"
                manifest["status_reason"] = "passed umedsam-optimize's gate on the held-out cases (see 'optimize')"
            manifest["optimize"] = why
            write_manifest(tmp, manifest)
        else:
            write_json(tmp / "optimize.json", why, indent=2)
        commit_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

