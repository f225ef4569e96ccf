"""``umedsam demo``: the whole pipeline on the built-in weights, phantoms and real images."""

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
) -> None:
    """Phantoms + real images -> predict -> eval -> markdown report (printed and written to OUT/report.md)."""
    from umedsam.demo import run_demo

    try:
        report = run_demo(out, threads=threads, log=lambda m: typer.echo(m, err=True))
    except UmedsamError as exc:
        raise fail(str(exc))
    typer.echo(report.read_text())


if __name__ == "__main__":
    app()
