"""What ``umedsam-quantize`` can set, what it returns, and the option checks.

Methods come from the format table (:mod:`umedsam.runtime.formats`): each format row lists the INT8
methods that work on its graphs, so ``--method`` may be left out and the engine's format decides.
"""

from __future__ import annotations

from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ContextManager

from umedsam.errors import UmedsamError
from umedsam.quantize.presets import DEFAULT_PRESET, PRESETS, Preset
from umedsam.quantize.search import SearchResult
from umedsam.runtime.formats import quantize_methods

#: every --method, from the format table
METHODS = quantize_methods()
STAGES = ("encoder", "decoder")


@dataclass
class QuantizeOptions:
    """Everything ``umedsam-quantize`` can set. Drops are fractions here (the CLI takes points)."""

    method: str | None = None          # None: the default method of the engine's format (formats table)
    preset: str = DEFAULT_PRESET
    max_dsc_drop: float = 0.005
    max_nsd_drop: float = 0.007
    min_agreement: float = 0.5         # per label vs FP32's masks: no object lost (the gate's INT8 default)
    min_boundary: float = 0.95         # per case: boundary within 1 model pixel of FP32's (the gate's INT8 default)
    search: bool = True
    per_channel: bool = True
    reduce_range: bool = False
    calibration: str = "minmax"
    samples: int = 300
    val: Path | None = None            # validation cases for the search (default: the calibration folder)
    val_cases: int | None = None
    sensitivity_inputs: int = 4        # validation images / decoder calls per sensitivity measurement
    max_evals: int = 6                 # validation runs the fallback search may spend
    data: Path | None = None           # gate cases (default: the export check's cases)
    gts: Path | None = None
    threads: int | None = None
    force: bool = False
    inc_python: Path | None = None
    smooth_quant_alpha: float | None = 0.5
    nncf_accuracy_control: bool = False  # nncf: NNCF's quantize_with_accuracy_control instead of our search
    latency_iters: int = 5


#: ``progress(description, total)`` -> a context manager yielding ``advance(label)`` (the CLI's rich bars)
ProgressFactory = Callable[[str, int], ContextManager[Callable[[str], None]]]


def no_progress(description: str, total: int) -> ContextManager[Callable[[str], None]]:
    """The silent :data:`ProgressFactory` (library callers without a progress display)."""
    return nullcontext(lambda label="": None)


@dataclass
class QuantizeResult:
    """The INT8 bundle's manifest, its parity report against FP32, the search's record and notes."""

    manifest: dict[str, Any]
    parity: Any                        # ParityReport
    search: SearchResult | None = None
    notes: list[str] = field(default_factory=list)


def validate_options(opts: QuantizeOptions) -> Preset:
    """The options' preset; a bad method, preset or drop is one error line naming the option."""
    if opts.method not in METHODS:
        raise UmedsamError(f"--method {opts.method}: choose one of {', '.join(METHODS)}")
    if opts.preset not in PRESETS:
        raise UmedsamError(f"--preset {opts.preset}: choose one of {', '.join(PRESETS)}")
    if opts.max_dsc_drop < 0 or opts.max_nsd_drop < 0:
        raise UmedsamError("--max-dsc-drop/--max-nsd-drop: must be >= 0 (points)")
    return PRESETS[opts.preset]
