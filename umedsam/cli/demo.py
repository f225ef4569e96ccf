"""``umedsam demo``: results in about three minutes (``--full``: the whole pipeline, about 15 minutes)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import fail, make_app
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def demo(
    out: Path = typer.Option(Path("demo_out"), "-o", "--out", help="Folder for data, outputs and report.md."),
    threads: Optional[int] = typer.Option(None, "--threads", help="Backend threads (default: all cores)."),
    full: bool = typer.Option(False, "--full", help="The whole pipeline: PyTorch, export, parity, INT8, compression, native, bench (~15 min)."),
) -> None:
    """Fast by default: real images -> OpenVINO FP32 export -> predict -> eval -> parity -> short bench ->
    NIfTI round trip, a ten-line summary and OUT/report.md. ``--full`` runs every stage."""
    log = lambda m: typer.echo(m, err=True)  # noqa: E731  progress lines on stderr
    try:
        if full:
            from umedsam.demo import run_demo

            report = run_demo(out, threads=threads, log=log)
            typer.echo(report.read_text(encoding="utf-8"))
            return
        from umedsam.demo_fast import run_fast_demo

        report, summary = run_fast_demo(out, threads=threads, log=log)
    except UmedsamError as exc:
        raise fail(str(exc))
    typer.echo("\n".join(summary))


if __name__ == "__main__":
    app()
