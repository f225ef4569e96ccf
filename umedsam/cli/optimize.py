"""``umedsam-optimize``: find the fastest engine that passes the parity gate on this CPU.

Candidates (FP32 on each backend, FP16 weights, INT8 weight-only, INT8 static accuracy-aware, INT8 QAT with
distillation, low rank at each --ratio with a distillation recovery, low rank + INT8 static and QAT) are built, gated against the FP32 model on
the held-out --data cases with the gate's fixed tolerances, and timed per case here (warm, and cold
start in a fresh process). Writes OUT/optimize.md, .json and .png, keeps every candidate under
OUT/artifacts, and copies the fastest passing one to OUT/best. Re-runs reuse finished work.
"""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from umedsam.cli.common import exit_on_sigterm, fail, make_app
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def optimize(
    calib: Path = typer.Option(..., "--calib", help="Tuning cases with GT (calibration, recovery), kept apart from --data."),
    data: Path = typer.Option(..., "--data", help="Held-out cases with GT: the gate and the timing."),
    out: Path = typer.Option(..., "-o", "--out", help="Output folder (reports, artifacts, best/)."),
    ckpt: Optional[Path] = typer.Option(None, "--ckpt", help="Checkpoint .pth, or 'builtin' (the default): the built-in weights."),
    backend: str = typer.Option("openvino", "--backend", help="openvino | onnxruntime | native: the runtime the derived candidates target."),
    minutes: float = typer.Option(60.0, "--minutes", help="Wall-clock budget of the search; candidates that no longer fit are reported as skipped."),
    recovery_minutes: float = typer.Option(10.0, "--recovery-minutes", help="Distillation recovery per low-rank ratio (0: none)."),
    ratio: Optional[List[float]] = typer.Option(None, "--ratio", help="Encoder FLOPs ratio of a low-rank candidate (repeat; default 0.9, 0.8, 0.7)."),
    static_int8: bool = typer.Option(True, "--static-int8/--no-static-int8", help="Include INT8 static (accuracy-aware) candidates."),
    native: bool = typer.Option(False, "--native", help="Also time FP32 on the native runtime (umedsam native build)."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="Evaluate only these candidates (repeat)."),
    rounds: int = typer.Option(2, "--rounds", help="Warm timing rounds over the held-out cases."),
    cold_start: bool = typer.Option(True, "--cold-start/--no-cold-start", help="Time a fresh process per candidate."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads of every engine (default: all cores)."),
    qat_minutes: float = typer.Option(25.0, "--qat-minutes", help="Training budget of each INT8 QAT candidate (0: no QAT candidates)."),
    corpus_size: int = typer.Option(256, "--corpus-size", help="Distillation corpus of the QAT and low-rank candidates (held-out cases kept out)."),
    cluster: Optional[str] = typer.Option(None, "--cluster", help="'local' or a Ray address: build candidates in parallel there (gate and timing stay here)."),
) -> None:
    """Search, gate, time; print the table and the winner."""
    from umedsam.assets import is_builtin
    from umedsam.bench.environment import environment
    from umedsam.optimize.report import to_markdown, write_reports
    from umedsam.optimize.search import OptimizeJob, run_optimize
    from umedsam.optimize.space import DEFAULT_RATIOS

    job = OptimizeJob(None if is_builtin(ckpt) else ckpt, calib, data, out, backend, minutes, recovery_minutes,
                      tuple(ratio) if ratio else DEFAULT_RATIOS, static_int8, native, threads, rounds, cold_start,
                      tuple(only or ()), qat_minutes=qat_minutes, corpus_size=corpus_size, cluster=cluster)
    exit_on_sigterm()
    try:
        result = run_optimize(job, log=lambda m: typer.echo(f"· {m}", err=True), on_candidate=_announce)
        env = environment(threads)
        paths = write_reports(result, out, env)
    except (UmedsamError, ValueError) as exc:
        raise fail(str(exc))
    typer.echo(to_markdown(result, env))
    typer.echo("reports: " + ", ".join(str(p) for p in paths.values()))
    if result.best is None:
        raise typer.Exit(1)


def _announce(row, i: int, n: int) -> None:
    """One line per finished candidate (a plain line: optimize runs for an hour, usually in a log)."""
    e = row.evaluation
    what = row.status if row.status != "evaluated" else (
        f"{'passed' if e.passed else 'failed'} the {e.gate_class} gate, ΔDSC {e.dsc_delta * 100:+.2f} pts, "
        f"{e.case_s:.2f} s per case")
    typer.echo(f"[{i}/{n}] {row.name}: {what}{' (cached)' if row.reused else ''}{f'; {row.reason}' if row.reason else ''}",
               err=True)


if __name__ == "__main__":
    app()
