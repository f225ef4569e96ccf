"""``umedsam phantoms``: write synthetic challenge cases with ground truth (SYNTHETIC, not patient data)."""

from __future__ import annotations

from pathlib import Path

import typer

from umedsam.cli.common import make_app

app = make_app(help=__doc__)


@app.command()
def phantoms(
    out: Path = typer.Option(..., "-o", "--out", help="Root folder: writes OUT/imgs/*.npz and OUT/gts/*.npz."),
    n2d: int = typer.Option(4, "--n2d", help="Number of 2D cases (Dermoscopy-like and ultrasound-like)."),
    n3d: int = typer.Option(2, "--n3d", help="Number of 3D cases (CT-like and MR-like)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (deterministic output)."),
) -> None:
    """Write deterministic synthetic 2D/3D cases, boxes derived from GT with jitter."""
    from umedsam.data.phantoms import write_phantoms

    paths = write_phantoms(out, n2d=n2d, n3d=n3d, seed=seed)
    typer.echo(f"wrote {len(paths)} synthetic cases to {out}/imgs (GT in {out}/gts)")


if __name__ == "__main__":
    app()
