"""Shared CLI helpers: one-line errors and warnings, progress, the Typer app factory.

* Messages are printed without rich markup interpretation: install hints such as
  ``pip install 'umedsam[export]'`` must reach the user with their extras, and file names may hold
  brackets. Help texts likewise (``rich_markup_mode=None`` in :func:`make_app`).
* Progress is a rich bar on a terminal and one plain line per step otherwise (CI logs, containers,
  ``nohup``), with the count and the elapsed time, so a redirected run is never silent for minutes.
* rich is imported on first use on a terminal only: the challenge starts a fresh ``umedsam-predict``
  per case with stderr redirected, and that process never needs it (tens of ms of imports saved).
"""

from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from functools import lru_cache
from typing import Any, Callable, Iterator

import typer


@lru_cache(maxsize=None)
def _err_console() -> Any:
    from rich.console import Console

    return Console(stderr=True)


def __getattr__(name: str) -> Any:
    """``err_console`` (a rich Console on stderr), created on first access."""
    if name == "err_console":
        return _err_console()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)


def _line(tag: str, style: str, message: str) -> None:
    """``tag: message`` on stderr: coloured on a terminal, plain text otherwise (no markup either way)."""
    if sys.stderr.isatty():
        _err_console().print(f"[{style}]{tag}:[/] {_escape(message)}", highlight=False, soft_wrap=True)
    else:
        print(f"{tag}: {message}", file=sys.stderr, flush=True)


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:  # noqa: ANN001
    """Library warnings (torch, OpenVINO, NNCF, ...) as one ``warning:`` line, not a source excerpt."""
    warn(f"{category.__name__}: {str(message).splitlines()[0] if str(message) else ''}")


def route_warnings() -> None:
    """Print Python warnings the CLI's way for the rest of the process (each command calls this once)."""
    import warnings

    warnings.showwarning = _one_line_warning


def fail(message: str, code: int = 1) -> "typer.Exit":
    """Print one error line and return the Exit to raise."""
    _line("error", "bold red", message)
    return typer.Exit(code)


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit so ``finally``/``except BaseException`` clean-ups run (no half bundles)."""
    import signal

    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def warn(message: str) -> None:
    """Print one warning line (no markup interpretation)."""
    _line("warning", "yellow", message)


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
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TextColumn("{task.fields[label]}"), TimeElapsedColumn(), console=_err_console(), transient=False)
    with bar:
        task = bar.add_task(_escape(description), total=total, label="")

        def advance(label: str = "") -> None:
            bar.update(task, advance=1, label=_escape(label))

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
    with _err_console().status(_escape(description)) as spinner:
        yield lambda text: spinner.update(_escape(f"{description}: {text}"))
