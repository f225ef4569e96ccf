"""Shared CLI helpers: one-line errors and warnings, progress, the Typer app factory.

* Messages are printed without rich markup interpretation: install hints such as
  ``pip install 'umedsam[export]'`` must reach the user with their extras, and file names may hold
  brackets. Help texts likewise (``rich_markup_mode=None`` in :func:`make_app`).
* Progress is a rich bar on a terminal and one plain line per step otherwise (CI logs, containers,
  ``nohup``), with the count and the elapsed time, so a redirected run is never silent for minutes.
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Any, Callable, Iterator

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

err_console = Console(stderr=True)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Library warnings (torch, OpenVINO, NNCF, ...) as one ``warning:`` line, not a source excerpt."""
    warn(f"{category.__name__}: {str(message).splitlines()[0] if str(message) else ''}")


def route_warnings() -> None:
    """Print Python warnings the CLI's way for the rest of the process (each command calls this once)."""
    import warnings

    warnings.showwarning = _one_line_warning


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print one error line and return the Exit to raise."""
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    return typer.Exit(code)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally``/``except BaseException`` clean-ups run (no half bundles)."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def warn(message: str) -> None:
    """Print one warning line (no markup interpretation)."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def make_app(**kwargs: Any) -> typer.Typer:
    """A Typer app whose help texts are printed as written (brackets kept: ``umedsam[cluster]``), and whose
    commands print library warnings as one line (:func:`route_warnings`)."""
    route_warnings()
    return typer.Typer(add_completion=False, rich_markup_mode=None, **kwargs)


@contextmanager
def progress(description: str, total: int) -> Iterator[Callable[[str], None]]:
    """Yields ``advance(label)``: a rich bar on a terminal, else one plain stderr line per step."""
    if not sys.stderr.isatty():
        start, done = time.perf_counter(), 0

        def advance_line(label: str = "") -> None:
            nonlocal done
            done += 1
            tail = f" {label}" if label else ""
            print(f"{description}: {done}/{total}{tail} ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)

        yield advance_line
        return
    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[label]}"), TimeElapsedColumn(), console=err_console, transient=False)
    with bar:
        task = bar.add_task(escape(description), total=total, label="")

        def advance(label: str = "") -> None:
            bar.update(task, advance=1, label=escape(label))

        yield advance


@contextmanager
def status(description: str) -> Iterator[Callable[[str], None]]:
    """Yields ``update(text)``: a rich spinner on a terminal, else one plain stderr line per update."""
    if not sys.stderr.isatty():
        start = time.perf_counter()

        def line(text: str) -> None:
            print(f"{description}: {text} ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)

        yield line
        return
    with err_console.status(escape(description)) as spinner:
        yield lambda text: spinner.update(escape(f"{description}: {text}"))
