"""ONNX export: torch.export (dynamo) + onnxscript at a deliberate opset, optional onnxslim, onnx.checker.

Opset 18 by default: >= 17 makes LayerNorm a single ``LayerNormalization`` node (TensorRT then keeps it
in its normalisation layer, which matters under FP16), and 18 is the opset the dynamo exporter
targets natively, so no version conversion pass runs. Graph simplification (constant folding,
dead-node removal) is done by onnxslim when installed; the simplified graph is only kept if
``onnx.checker`` accepts it.

Node names carry the PyTorch module they came from (``image_encoder.layers.2.blocks.1.attn/MatMul_306``):
the exporter records the scope in node metadata, which simplification drops, so it is copied into the
name first. The quantizer groups nodes into blocks by this prefix (sensitivity ranking, float fallback),
and OpenVINO keeps the names as friendly names, so NNCF's ignored scopes can match them too.
"""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings
from pathlib import Path
from typing import Any

import onnx
import torch

from umedsam.errors import UmedsamError
from umedsam.export.graphs import dynamic_shapes, example_inputs, stage_module
from umedsam.model.medsam_lite import MedSAMLite
from umedsam.runtime.bundle import (DECODER_BOX_INPUTS, DECODER_IMAGE_OUTPUTS, DECODER_INPUTS, DECODER_OUTPUTS,
                                    ENCODER_INPUT, ENCODER_OUTPUT)

DEFAULT_OPSET = 18
MIN_OPSET = 17

_IO = {"encoder": ([ENCODER_INPUT], [ENCODER_OUTPUT]), "decoder": (list(DECODER_INPUTS), list(DECODER_OUTPUTS)),
       "decoder_image": ([DECODER_INPUTS[0]], list(DECODER_IMAGE_OUTPUTS)),
       "decoder_box": (list(DECODER_BOX_INPUTS), list(DECODER_OUTPUTS))}


@contextlib.contextmanager
def _quiet():
    """The dynamo exporter prints progress lines and warnings; keep the CLI output to our own lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        try:
            yield
        finally:
            logger.setLevel(level)


def simplify_available() -> bool:
    try:
        import onnxslim  # noqa: F401
    except ImportError:
        return False
    return True


def _scope_names(path: Path) -> None:
    """Rename nodes to ``<module path>/<op>_<i>`` from the exporter's ``pkg.torch.onnx.name_scopes``."""
    import ast

    graph = onnx.load(str(path))
    for i, node in enumerate(graph.graph.node):
        meta = {p.key: p.value for p in node.metadata_props}
        try:
            scopes = ast.literal_eval(meta.get("pkg.torch.onnx.name_scopes", "[]"))[:-1]  # last: the fx node
        except (ValueError, SyntaxError):
            scopes = []
        scope = next((s for s in reversed(scopes) if s), "")
        scope = scope[len("model."):] if scope.startswith("model.") else scope
        node.name = f"{scope or 'graph'}/{node.op_type}_{i}"
    onnx.save(graph, str(path))


def _simplify(path: Path) -> bool:
    """Simplify in place with onnxslim; keep the original if the result fails the checker."""
    import onnxslim

    with _quiet():
        slim = onnxslim.slim(str(path))
    try:
        onnx.checker.check_model(slim, full_check=True)
    except onnx.checker.ValidationError:
        return False
    onnx.save(slim, str(path))
    return True


def export_stage(model: MedSAMLite, stage: str, path: Path, opset: int = DEFAULT_OPSET,
                 simplify: bool = True) -> dict[str, Any]:
    """Export one stage to ``path``; returns what the manifest records about it."""
    if opset < MIN_OPSET:
        raise UmedsamError(f"--opset {opset}: must be >= {MIN_OPSET} (LayerNorm as one node)")
    module = stage_module(model, stage)
    inputs, outputs = _IO[stage]
    start = time.perf_counter()
    try:
        with _quiet(), torch.inference_mode(False), torch.no_grad():
            program = torch.onnx.export(module, example_inputs()[stage], dynamo=True, opset_version=opset,
                                        input_names=inputs, output_names=outputs,
                                        dynamic_shapes=dynamic_shapes()[stage], optimize=True, verbose=False)
            program.save(str(path), external_data=False)
        _scope_names(path)
    except Exception as exc:  # the exporter raises many types; one line for the user
        raise UmedsamError(f"ONNX export of the {stage} failed: {type(exc).__name__}: "
                           f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from exc
    exported = time.perf_counter() - start
    try:
        simplified = simplify and simplify_available() and _simplify(path)
    except Exception as exc:  # onnxslim is an optional optimisation: keep the unsimplified graph
        simplified = False
        logging.getLogger(__name__).warning("onnxslim failed on the %s (%s); graph kept unsimplified", stage, exc)
    try:
        onnx.checker.check_model(str(path), full_check=True)
    except onnx.checker.ValidationError as exc:
        raise UmedsamError(f"{path}: onnx.checker rejects the exported {stage}: {str(exc).splitlines()[0]}") from None
    graph = onnx.load(str(path), load_external_data=False)
    return {"seconds": round(time.perf_counter() - start, 2), "export_seconds": round(exported, 2),
            "simplified": bool(simplified), "opset": opset, "nodes": len(graph.graph.node),
            "bytes": path.stat().st_size}


def merge_stages(encoder: Path, decoder: Path, out: Path) -> Path:
    """One graph with both stages (inputs ``image`` + ``boxes``), for tools that take a single file.

    The bundle's two graphs stay the fast path; a merged graph re-encodes the image on every call.
    """
    enc = onnx.load(str(encoder))
    dec = onnx.load(str(decoder))
    merged = onnx.compose.merge_models(enc, dec, io_map=[(ENCODER_OUTPUT, DECODER_INPUTS[0])],
                                       prefix1="enc_", prefix2="dec_")
    # merge_models prefixes the graph I/O too; restore the contract names
    rename = {f"enc_{ENCODER_INPUT}": ENCODER_INPUT, f"dec_{DECODER_INPUTS[1]}": DECODER_INPUTS[1],
              **{f"dec_{n}": n for n in DECODER_OUTPUTS}}
    for node in merged.graph.node:
        node.input[:] = [rename.get(n, n) for n in node.input]
        node.output[:] = [rename.get(n, n) for n in node.output]
    for value in list(merged.graph.input) + list(merged.graph.output):
        value.name = rename.get(value.name, value.name)
    onnx.checker.check_model(merged, full_check=True)
    onnx.save(merged, str(out))
    return out
