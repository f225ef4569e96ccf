"""Installed versions of distributions, read from package metadata (nothing is imported)."""

from __future__ import annotations

import platform
from importlib import metadata
from typing import Iterable


def installed_versions(dists: Iterable[str]) -> dict[str, str]:
    """Python's version plus each installed distribution's; absent ones are left out."""
    out = {"python": platform.python_version()}
    for dist in dists:
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out
