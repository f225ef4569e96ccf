"""A per-process timeline of named stages, for ``umedsam-predict --profile``.

The challenge starts a fresh process per case, so everything between process start and exit is paid
per case: the interpreter, imports, opening the engine, reading the case, the encoder and decoder,
writing the result, tearing down. This module records when each of those began and ended, in
seconds since the process started (the kernel's start time in ``/proc/self/stat``, 10 ms
resolution, mapped onto the monotonic clock once), so the first span shows what the interpreter and
imports cost before any of our code ran. ``umedsam-native --profile`` prints the same kind of
timeline from C++ (``native/src/timeline.hpp``); ``benchmarks/challenge_harness.py --profile``
collects both. Standard library only: importing it costs nothing measurable.
"""

from __future__ import annotations

import os
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator


def _process_start_monotonic() -> float:
    """``time.monotonic()`` at which this process started (now, if /proc is unavailable)."""
    mono, boot = time.monotonic(), time.clock_gettime(time.CLOCK_BOOTTIME)
    try:
        with open("/proc/self/stat", "rb") as f:
            text = f.read().decode()
        ticks = float(text[text.rindex(")") + 2:].split()[19])  # field 22; fields 3.. follow the name
        started = ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return mono
    return mono - (boot - started) if started <= boot else mono


_ORIGIN = _process_start_monotonic()
_LOCK = threading.Lock()
_ENTRIES: list[dict[str, Any]] = []


def now() -> float:
    """Seconds since this process started."""
    return time.monotonic() - _ORIGIN


def since_start(monotonic: float) -> float:
    """A ``time.monotonic()`` reading taken before this module was imported, in seconds since start.

    Lets a caller stamp a moment (its own entry) before importing anything heavy, this module's
    package included, and record it afterwards.
    """
    return monotonic - _ORIGIN


def record(stage: str, start: float, end: float, thread: int = 0) -> None:
    """Append one finished stage (``thread`` > 0 marks work that overlapped the main thread)."""
    with _LOCK:
        _ENTRIES.append({"stage": stage, "start": start, "end": end, "thread": thread})


@contextmanager
def span(stage: str, thread: int = 0) -> Iterator[None]:
    """Record the ``with`` block under ``stage``."""
    start = now()
    try:
        yield
    finally:
        record(stage, start, now(), thread)


def entries() -> list[dict[str, Any]]:
    """Every recorded stage, ordered by start time."""
    with _LOCK:
        return sorted(_ENTRIES, key=lambda e: e["start"])


def clear() -> None:
    """Forget what was recorded."""
    with _LOCK:
        _ENTRIES.clear()


def format_table(items: list[dict[str, Any]] | None = None) -> str:
    """The timeline as aligned text lines (start, end, seconds, stage)."""
    lines = ["profile (seconds since process start):", f"  {'start':>8} {'end':>8} {'seconds':>8}  stage"]
    for e in entries() if items is None else items:
        mark = "  [overlapped] " if e.get("thread") else ""
        lines.append(f"  {e['start']:8.3f} {e['end']:8.3f} {e['end'] - e['start']:8.3f}  {mark}{e['stage']}")
    return "\n".join(lines)


def profile_report(results: list[Any]) -> str:
    """The timeline, each case's stage split, and the overhead: wall so far minus encoder and decoder.

    ``results`` are :class:`umedsam.runtime.batch.CaseResult` (their segmentation's ``timings``).
    The interpreter's own teardown after this point is not in it; the challenge harness's wall time
    (``benchmarks/challenge_harness.py``) is.
    """
    wall = now()
    lines = [format_table()]
    enc = dec = 0.0
    for r in results:
        t = r.segmentation.timings if r.ok and r.segmentation is not None else {}
        enc += t.get("encode", 0.0)
        dec += t.get("decode", 0.0)
        split = ", ".join(f"{k} {v:.3f}" for k, v in t.items() if isinstance(v, float))
        lines.append(f"  case {r.name}: {r.seconds:.3f} s ({split or r.error})")
    lines.append(f"  wall {wall:.3f} s until now, encoder {enc:.3f} s, decoder {dec:.3f} s, "
                 f"overhead {wall - enc - dec:.3f} s")
    return "\n".join(lines)
