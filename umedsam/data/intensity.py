"""Intensity preparation: scanner values -> the uint8 images the model was trained on.

The challenge's images were prepared by the organisers with fixed rules, and the model only works on
images prepared the same way; docs/CLINICAL_IO.md, "Intensity", states every rule. In short:

* **CT** (Hounsfield units): clip to a window ``[L - W/2, L + W/2]`` (default L40/W400, the
  soft-tissue window; presets below or ``--window L,W``), then min-max of the *clipped array* to 0..255.
* **MR, PET and everything else**: clip to the 0.5 and 99.5 percentiles of the non-zero voxels, min-max
  of the clipped array to 0..255, then every voxel that was exactly 0 is set back to 0 (background).
* Both end with a *truncating* cast to uint8 (``np.uint8`` of the float values, not rounding).
* **2D images** that are already 8-bit are used as they are (the challenge's 2D images were 8-bit
  pictures); other bit depths take the percentile rule. Grey images become three equal channels.

A constant image (max == min after clipping) becomes all zeros instead of the organisers' division by
zero.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: (level, width) in HU; radiology's commonly quoted windows. "soft-tissue" is the organisers' default.
WINDOWS: dict[str, tuple[float, float]] = {
    "soft-tissue": (40.0, 400.0),
    "abdomen": (40.0, 400.0),
    "brain": (40.0, 80.0),
    "lung": (-600.0, 1500.0),
    "bone": (400.0, 1800.0),
    "mediastinum": (50.0, 350.0),
    "liver": (30.0, 150.0),
}
DEFAULT_WINDOW = "soft-tissue"
#: modalities with Hounsfield units, prepared by window
CT_MODALITIES = {"CT"}
#: percentiles of the non-zero voxels that bound MR/PET/other images
PERCENTILES = (0.5, 99.5)
#: auto-detection: a volume with values at or below this is taken as CT (air is -1000 HU; MR/PET are >= 0)
CT_AIR_THRESHOLD = -500.0


@dataclass(frozen=True)
class Rule:
    """How an image was prepared (recorded in sidecars and npz conversions)."""

    kind: str  # "window", "percentile" or "as-is"
    low: float | None = None
    high: float | None = None

    def describe(self) -> str:
        if self.kind == "as-is":
            return "8-bit image used as stored"
        if self.kind == "window":
            return f"CT window L{(self.low + self.high) / 2:g}/W{self.high - self.low:g} -> 0..255 (uint8, truncated)"
        return (f"percentiles {PERCENTILES[0]}-{PERCENTILES[1]} of non-zero voxels [{self.low:g}, {self.high:g}] "
                f"-> 0..255, background 0 (uint8, truncated)")


def parse_window(text: str) -> tuple[float, float]:
    """``"L,W"`` or a preset name (``lung``, ``bone``, ...) -> (level, width); ValueError if neither."""
    key = text.strip().lower()
    if key in WINDOWS:
        return WINDOWS[key]
    parts = key.split(",")
    if len(parts) != 2:
        raise ValueError(f"window '{text}' is neither 'L,W' nor one of {', '.join(sorted(WINDOWS))}")
    level, width = float(parts[0]), float(parts[1])
    if not width > 0:
        raise ValueError(f"window width must be > 0, got {width:g}")
    return level, width


def _minmax_uint8(clipped: np.ndarray) -> np.ndarray:
    lo, hi = float(clipped.min()), float(clipped.max())
    if hi <= lo:
        return np.zeros(clipped.shape, np.uint8)
    return ((clipped - lo) / (hi - lo) * 255.0).astype(np.uint8)  # truncation, as np.uint8(...) does


def window_ct(values: np.ndarray, level: float = 40.0, width: float = 400.0) -> tuple[np.ndarray, Rule]:
    """CT in HU -> uint8 by the window [L - W/2, L + W/2] and min-max of the clipped array."""
    low, high = level - width / 2.0, level + width / 2.0
    clipped = np.clip(np.asarray(values, np.float64), low, high)
    return _minmax_uint8(clipped), Rule("window", low, high)


def percentile_rescale(values: np.ndarray) -> tuple[np.ndarray, Rule]:
    """MR/PET/other -> uint8: clip to the 0.5/99.5 percentiles of non-zero voxels, min-max, zeros stay 0."""
    values = np.asarray(values, np.float64)
    nonzero = values[values > 0]
    if nonzero.size == 0:
        return np.zeros(values.shape, np.uint8), Rule("percentile", 0.0, 0.0)
    low, high = np.percentile(nonzero, PERCENTILES)
    out = _minmax_uint8(np.clip(values, low, high))
    out[values == 0] = 0
    return out, Rule("percentile", float(low), float(high))


def detect_modality(values: np.ndarray, header_modality: str | None = None) -> str:
    """The modality to prepare by: the header's (DICOM Modality) if any, else CT when air-like values
    (<= -500) occur, else "MR" (the percentile rule, which also serves PET and others)."""
    if header_modality:
        return header_modality.strip().upper()
    return "CT" if values.size and float(np.min(values)) <= CT_AIR_THRESHOLD else "MR"


def prepare_volume(values: np.ndarray, modality: str,
                   window: tuple[float, float] | None = None) -> tuple[np.ndarray, Rule]:
    """A volume of scanner values -> uint8 by its modality's rule (``window`` only applies to CT)."""
    if modality.upper() in CT_MODALITIES:
        level, width = window if window is not None else WINDOWS[DEFAULT_WINDOW]
        return window_ct(values, level, width)
    return percentile_rescale(values)


def prepare_2d(values: np.ndarray, modality: str | None = None,
               window: tuple[float, float] | None = None) -> tuple[np.ndarray, Rule]:
    """A 2D image (H, W) or (H, W, C) -> (H, W, 3) uint8.

    8-bit images are kept as stored unless a modality is forced; others are prepared by
    :func:`prepare_volume`'s rules (percentile unless CT). Alpha channels are dropped, grey becomes RGB.
    """
    if values.ndim == 3 and values.shape[2] in (2, 4):  # grey+alpha, RGBA: drop alpha
        values = values[:, :, :-1] if values.shape[2] == 4 else values[:, :, :1]
    if values.ndim == 3 and values.shape[2] == 1:
        values = values[:, :, 0]
    if values.dtype == np.uint8 and modality is None:
        out, rule = values, Rule("as-is")
    elif values.dtype == bool and modality is None:
        out, rule = values.astype(np.uint8) * 255, Rule("as-is")
    else:
        out, rule = prepare_volume(values, modality or "other", window)
    if out.ndim == 2:
        out = np.repeat(out[:, :, None], 3, axis=2)
    return np.ascontiguousarray(out), rule
