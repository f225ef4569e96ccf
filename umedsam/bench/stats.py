"""Latency statistics: percentiles, mean ± std, throughput."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np


def summarize(samples: Sequence[float], items_per_sample: float = 1.0) -> dict[str, Any]:
    """Statistics of seconds-per-call samples; ``throughput`` is items per second at the mean."""
    x = np.asarray(list(samples), dtype=np.float64)
    if x.size == 0:
        return {"n": 0}
    mean = float(x.mean())
    return {"n": int(x.size), "mean": mean, "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "min": float(x.min()), "p50": float(np.percentile(x, 50)), "p90": float(np.percentile(x, 90)),
            "p99": float(np.percentile(x, 99)), "max": float(x.max()),
            "throughput": items_per_sample / mean if mean > 0 else float("inf")}


def speedup(reference: dict[str, Any], other: dict[str, Any], key: str = "p50") -> float:
    """How many times faster ``other`` is than ``reference`` at ``key`` (NaN if either is missing)."""
    r, o = reference.get(key), other.get(key)
    return float(r / o) if r and o else float("nan")
