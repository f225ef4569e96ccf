"""Tensor-decomposition compression: truncated SVD (Linear, 1x1 conv) and Tucker-2 (k x k conv).

``factorize`` (single layers), ``layers`` (candidates, FLOPs, activation statistics), ``ranks`` (energy,
FLOPs budget, sensitivity), ``compress`` (the factorized model + per-layer report), ``recover`` (stage-
local distillation), ``pipeline`` (``umedsam-compress``), ``sidecar`` (the structure file beside a
checkpoint), ``report`` (markdown). Importing this package imports torch only through its submodules.
"""
