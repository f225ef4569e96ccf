"""``umedsam-bench``: every engine on the same inputs in one run; stages, cases, cold start, RSS, accuracy."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import List, Optional

import typer

from umedsam.cli.common import fail, make_app, status, warn
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def bench(
    engine: List[str] = typer.Option(["builtin"], "--engine", help="Engine (repeat); the first is the reference of every speedup."),
    data: Optional[Path] = typer.Option(None, "--data", help="Challenge cases (imgs/ folder or root with imgs/ + gts/); default: 1 2D + 1 3D phantom."),
    backend: Optional[List[str]] = typer.Option(None, "--backend", help="Backend per engine (repeat in --engine order)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Intra-op threads of every backend (default: all cores)."),
    warmup: int = typer.Option(2, "--warmup", help="Discarded stage rounds."),
    iters: int = typer.Option(10, "--iters", help="Measured stage rounds."),
    case_iters: int = typer.Option(1, "--case-iters", help="Rounds over the cases."),
    cold_start: bool = typer.Option(True, "--cold-start/--no-cold-start", help="Cold start + peak RSS per engine in a fresh process."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full result as JSON."),
    png: Optional[Path] = typer.Option(None, "--png", help="Write the chart (latency by stage; accuracy vs speed with GT)."),
    gts: Optional[Path] = typer.Option(None, "--gts", help="Ground truth (default: gts/ beside imgs/)."),
    settle: float = typer.Option(0.3, "--settle", help="Idle seconds before each engine's turn (lets the previous engine's spinning threads sleep)."),
) -> None:
    """Benchmark ENGINEs side by side: markdown on stdout, JSON and PNG on request."""
    from umedsam.bench.report import to_markdown, write_chart
    from umedsam.bench.runner import BenchConfig, run_bench
    from umedsam.common import write_json

    if backend and len(backend) != len(engine):
        raise fail(f"--backend given {len(backend)} times for {len(engine)} engines; give one per engine")
    with tempfile.TemporaryDirectory(prefix="umedsam-bench-") as tmp:
        if data is None:
            from umedsam.data.phantoms import write_phantoms

            data = Path(tmp) / "phantoms"
            write_phantoms(data, n2d=1, n3d=1, seed=0)
        cfg = BenchConfig(engines=list(engine), data=data, backends=list(backend) if backend else None,
                          threads=threads, warmup=warmup, iters=iters, case_iters=case_iters,
                          cold_start=cold_start, gts=gts, settle=settle)
        try:
            with status("benchmarking") as update:
                result = run_bench(cfg, progress=update)
        except (UmedsamError, ValueError) as exc:
            raise fail(str(exc))
    typer.echo(to_markdown(result))
    if json_out is not None:
        write_json(json_out, result)
    if png is not None and write_chart(result, png) is None:
        warn("no PNG: matplotlib is not installed (pip install 'umedsam[bench]')")


if __name__ == "__main__":
    app()
