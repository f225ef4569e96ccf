"""``umedsam-eval``: DSC and NSD exactly as the challenge computes them, with a per-modality summary."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import fail, make_app
from umedsam.common import markdown_table, write_json, write_text_atomic
from umedsam.errors import UmedsamError

app = make_app(help=__doc__)


@app.command()
def evaluate(
    segs: Path = typer.Option(..., "--segs", help="Folder of predictions (segs npz)."),
    gts: Path = typer.Option(..., "--gts", help="Folder of ground truth (gts, + spacing for 3D)."),
    csv: Optional[Path] = typer.Option(None, "--csv", help="Write case,dsc,nsd (4 decimals) here."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Machine-readable results."),
) -> None:
    """Score SEGS against GTS; prints a markdown table per modality; exit 1 if a case could not be scored."""
    from umedsam.metrics.evaluate import evaluate_folder, fmt4, summarize, to_csv

    try:
        scores = evaluate_folder(segs, gts)
    except UmedsamError as exc:
        raise fail(str(exc))
    errors = [s for s in scores if s.error]
    for s in errors:
        fail(s.error)
    if csv:
        write_text_atomic(csv, to_csv(scores))
    summary = summarize(scores)
    if json_out:
        write_json(json_out, {"cases": [s.__dict__ for s in scores],
                              "summary": [dict(zip(("modality", "n", "dsc", "nsd"), row)) for row in summary]})
    typer.echo(markdown_table(["modality", "cases", "DSC", "NSD"],
                              [(m, n, fmt4(d), fmt4(s)) for m, n, d, s in summary]))
    if errors:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
