"""``umedsam native build|info``: the native (C ABI over OpenVINO) runtime."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from umedsam.cli.common import fail, make_app
from umedsam.errors import UmedsamError

app = make_app(no_args_is_help=True, help=__doc__)


@app.command("build")
def build(
    prefix: Optional[Path] = typer.Option(None, "--prefix", help="Install prefix (default: this Python environment)."),
    build_dir: Optional[Path] = typer.Option(None, "--build-dir", help="CMake build folder (default: native/build)."),
    portable: bool = typer.Option(False, "--portable", help="Copy OpenVINO's runtime libraries beside libumedsam.so (containers)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", "-j", help="Parallel compile jobs (default: all cores)."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show CMake's output."),
) -> None:
    """Build libumedsam.so and umedsam-native with CMake against the openvino wheel and install them.

    Afterwards `umedsam-native` is on this environment's PATH and `--backend native` works.
    """
    from umedsam.native_build import build as do_build

    try:
        result = do_build(build_dir=build_dir, prefix=prefix, portable=portable, jobs=jobs, verbose=verbose)
    except UmedsamError as exc:
        raise fail(str(exc))
    typer.echo(f"{result.version}\n  executable: {result.executable}\n  library:    {result.library}")


@app.command("info")
def info() -> None:
    """Where the native library is and what it was built with."""
    from umedsam.runtime import native_lib

    try:
        lib = native_lib.load_library()
    except UmedsamError as exc:
        raise fail(str(exc))
    typer.echo(f"{lib.umedsam_version().decode()}\n  library: {native_lib.library_path()}\n  ABI: {lib.umedsam_abi_version()}")


if __name__ == "__main__":
    app()
