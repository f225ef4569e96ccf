"""The one table of INT8 exclusion presets, and how graph nodes group into blocks.

A preset says which op types are quantized and which nodes stay in float, for every method (ONNX
Runtime node lists, NNCF ignored scopes, neural-compressor node lists are all derived from it). Node
names carry their PyTorch module path (see :mod:`umedsam.export.onnx_export`), so "the mask/IoU
heads" or "block 3 of stage 2" are name patterns; OpenVINO keeps them as friendly names.

Why these spots: in a TinyViT + SAM decoder, LayerNorm, GELU (``Erf``), Softmax and residual ``Add``
carry wide or heavy-tailed activations, and the attention products (``q @ k``, ``attn @ v``, both
inputs activations) lose most under per-tensor INT8. The heads turn a few tokens into the mask and
IoU and feed every pixel of the output; the prompt encoder turns the box coordinates themselves into
features.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: weight-bearing ops: INT8 here is where the speed is (VNNI/AMX/Tensor Cores run INT8 GEMM/conv)
COMPUTE_OPS = ("Conv", "MatMul", "Gemm", "ConvTranspose")
#: ops whose activations are sensitive (kept float by the transformer preset)
SENSITIVE_OPS = ("LayerNormalization", "Erf", "Softmax", "Add", "Mul", "Div", "Sqrt", "Pow", "ReduceMean")
#: the decoder's output heads and the box encoder (module paths). The prompt encoder is tiny, and
#: its input is the box itself: an 8-bit activation grid over the normalised coordinates moves a box
#: by up to a pixel in 256-space, which is a large error on a 20-pixel nucleus.
HEAD_SCOPES = ("mask_decoder.output_upscaling", "mask_decoder.output_hypernetworks_mlps",
               "mask_decoder.iou_prediction_head", "prompt_encoder")


@dataclass(frozen=True)
class Preset:
    """What gets quantized. ``op_types`` None = every op the method can quantize."""

    name: str
    description: str
    op_types: tuple[str, ...] | None
    attention_matmuls: bool = True        # MatMul with two activation inputs (q @ k^T, attn @ v)
    exclude_scopes: tuple[str, ...] = ()  # module-path prefixes kept in float
    decoder: bool = True                  # quantize the decoder at all
    weights_only: bool = False            # INT8 weights, float activations (no calibration needed)


PRESETS: dict[str, Preset] = {p.name: p for p in (
    Preset("full", "every op the method quantizes, encoder and decoder (naive; shows what INT8 costs)", None),
    Preset("transformer", "Conv/MatMul/Gemm weights and inputs only; LayerNorm, GELU, Softmax, residual adds, "
           "attention products and the mask/IoU heads stay float (default)", COMPUTE_OPS,
           attention_matmuls=False, exclude_scopes=HEAD_SCOPES),
    Preset("encoder", "the transformer preset on the encoder; the decoder stays FP32", COMPUTE_OPS,
           attention_matmuls=False, exclude_scopes=HEAD_SCOPES, decoder=False),
    Preset("weights", "weight-only INT8, no calibration: activations stay float in the graph, but OpenVINO on "
           "VNNI/AMX CPUs quantizes the inputs of INT8-weight MatMuls on the fly (dynamic quantization, groups of "
           "32), which is where its speed there comes from", COMPUTE_OPS, weights_only=True),
)}
DEFAULT_PRESET = "transformer"

_BLOCK = re.compile(r"^(image_encoder\.layers\.\d+\.(?:blocks\.\d+|downsample)|image_encoder\.[A-Za-z_]+"
                    r"|mask_decoder\.transformer\.(?:layers\.\d+|[A-Za-z_]+)|mask_decoder\.[A-Za-z_]+"
                    r"|prompt_encoder)")


def scope_of(node_name: str) -> str:
    """The module path a node came from (``""`` for nodes without one)."""
    scope = node_name.rsplit("/", 1)[0] if "/" in node_name else ""
    return "" if scope == "graph" else scope


def block_of(node_name: str) -> str:
    """The block a node belongs to (a TinyViT block, a decoder layer, a head), or ``"other"``."""
    m = _BLOCK.match(scope_of(node_name))
    return m.group(1) if m else "other"


def in_scopes(node_name: str, scopes: tuple[str, ...] | list[str]) -> bool:
    scope = scope_of(node_name)
    return any(scope == s or scope.startswith(s + ".") for s in scopes)
