"""Output helpers every layer shares: atomic file writes, JSON, and Markdown tables.

This module sits at the bottom of the layer order (docs/ARCHITECTURE.md): it imports only
:mod:`umedsam.errors`, so the CLI, the libraries and the tests all write files and tables the same way.

* **Atomic writes.** A file is written to a temporary name in its own folder, flushed and fsynced,
  then renamed over the target (``os.replace`` is atomic on POSIX). A killed run or a full disk leaves
  either the old file or the complete new one, never a half-written one (docs/PIPELINE.md, "Outputs and timing").
* **Atomic folders.** A bundle is built in a hidden staging folder beside its destination and renamed
  into place when complete (:func:`staging_dir`, :func:`commit_dir`): a reader never sees half a bundle.
* **Permissions.** ``tempfile.mkstemp`` creates files as 0600; results are meant to be read by other
  users (an evaluator, a container's host), so the file gets the mode ``open()`` would give it: 0666
  minus the process umask (0644 under the usual 022), as the native runtime's outputs do.
* **Tables.** One writer escapes ``|`` and newlines in cells, so every table renders with the same
  number of cells in its header, separator and rows.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

from umedsam.errors import UmedsamError


def process_umask() -> int:
    """The process umask, read without changing it where Linux allows (``/proc/self/status``)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic set-and-restore
    os.umask(mask)
    return mask


def write_bytes_atomic(path: str | Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` atomically (temporary file, fsync, rename) with umask-derived mode.

    On failure (a full disk, a signal) the temporary file is removed and the previous ``path`` stays.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~process_umask())
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def staging_dir(out: str | Path, force: bool) -> Path:
    """A fresh hidden staging folder beside ``out`` (refused when ``out`` exists and is not empty, unless ``force``)."""
    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        if not force:
            raise UmedsamError(f"{out}: already exists; pass --force to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))


def commit_dir(tmp: str | Path, out: str | Path) -> None:
    """Give the staged folder a normal mode (mkdtemp makes it 0700), then rename it over ``out``."""
    tmp, out = Path(tmp), Path(out)
    os.chmod(tmp, 0o777 & ~process_umask())
    if out.exists():
        shutil.rmtree(out) if out.is_dir() else out.unlink()
    tmp.rename(out)


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a UTF-8 text file atomically (CSV, Markdown, reports)."""
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json(path: str | Path, obj: Any, indent: int = 1, strict: bool = False) -> None:
    """Write ``obj`` as JSON atomically; numpy scalars, paths and other objects become strings or floats.

    ``strict``: NaN and infinities become ``null``. Python writes them as bare ``NaN``, which is not JSON:
    files that other programs read (bundle manifests: the native runtime's JSON parser refuses them)
    are written strict; Python-only caches keep their NaN floats.
    """
    if strict:
        obj = finite_json(json.loads(json.dumps(obj, default=_json_default)))
    write_text_atomic(path, json.dumps(obj, indent=indent, default=_json_default, allow_nan=not strict) + "\n")


def finite_json(obj: Any) -> Any:
    """``obj`` with every non-finite float replaced by None (JSON null)."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: finite_json(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [finite_json(v) for v in obj]
    return obj


def _json_default(value: Any) -> Any:
    # numpy scalars (float32, int64, bool_) carry .item(); everything else is written as text
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return item()
        except (TypeError, ValueError):
            pass
    return str(value)


def md_cell(value: object) -> str:
    """One Markdown table cell: ``|`` escaped, line breaks folded to spaces."""
    return str(value).replace("\\|", "|").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def markdown_table(headers: Sequence[object], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub-flavoured Markdown table; cells are escaped, and every row must match the header."""
    for i, row in enumerate(rows):
        if len(row) != len(headers):
            raise ValueError(f"table row {i} has {len(row)} cells, the header {len(headers)}")
    lines = ["| " + " | ".join(md_cell(h) for h in headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(md_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def speed_ratio(ratio: float | None) -> str:
    """A speed ratio in words: ``1.24× faster``, ``1.04× slower`` (the inverse), ``same speed``, or ``n/a``.

    ``ratio`` is reference time / new time, so above 1 is faster. A slowdown is never printed as
    "0.96× faster".
    """
    if ratio is None or ratio != ratio or ratio <= 0 or ratio == float("inf"):
        return "n/a"
    if round(ratio, 2) == 1.0:
        return "same speed"
    return f"{ratio:.2f}× faster" if ratio > 1 else f"{1 / ratio:.2f}× slower"
