"""The model's input geometry: the square side it sees and the longest-side resize rule.

Kept at the data layer because both the case readers (which refuse images too thin to resize, see
:func:`umedsam.data.npz.load_case`) and the runtime's pre-processing need the same rule, and the data
layer sits below the runtime (docs/ARCHITECTURE.md). The rule itself is in docs/PIPELINE.md,
"Pre-processing".
"""

from __future__ import annotations

#: the encoder's input side: images are resized so their longest side is this, then zero-padded
IMG_SIZE = 256


def new_size(h: int, w: int, target: int = IMG_SIZE) -> tuple[int, int]:
    """(newh, neww) after resizing the longest side to ``target``, rounded as the reference does."""
    scale = target * 1.0 / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)
