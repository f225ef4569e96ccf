"""Exported bundles as the runtime sees them: the graph I/O contract, the manifest, engine-path resolution.

A bundle is a folder holding an encoder graph, a decoder graph and ``manifest.json``. The names and
shapes below are the contract between the exporters (``umedsam.export``) and every backend; they
live here, torch-free, so the runtime never has to import the exporter.

Integrity: every backend open calls :meth:`Bundle.verify_graphs` (unless the user passes
``--no-verify`` / ``verify=False``): the sha256 of each graph file it will load (and of the files
that belong to it: an IR's ``.bin``, an ONNX graph's external data) must equal the manifest's, so a
graph truncated or swapped after export is refused with one line naming the file instead of
segmenting with whatever it holds. Digests are remembered by stat in ``umedsam.runtime.integrity``
so a second open costs a ``stat`` per file, not a read of the bundle.

Engine paths resolve as docs/FLAGS.md, "Engine paths" says: a folder is a bundle (its manifest names the graphs);
a single ``.onnx``/``.xml``/``.plan`` file with a ``manifest.json`` beside it is that bundle;
a single file without one must be a graph with both stages merged (inputs ``image`` and ``boxes``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from umedsam.assets import sha256_file
from umedsam.errors import EngineError
from umedsam.runtime.integrity import DigestCache

BUNDLE_VERSION = 1

#: encoder: normalised, padded images -> embeddings (batch dynamic so 3D slices can be batched)
ENCODER_INPUT = "image"
ENCODER_OUTPUT = "image_embeddings"
#: decoder: prompt encoder + mask decoder; one embedding, N boxes in 256-space (N dynamic)
DECODER_INPUTS = ("image_embeddings", "boxes")
DECODER_OUTPUTS = ("low_res_logits", "iou_predictions")

#: the optional decoder split (umedsam-export --split-decoder): the box-independent part once per image,
#: the rest per box (umedsam/export/decoder_split.py); a bundle with both graphs runs them instead of
#: ``decoder`` for 1-box calls, and keeps ``decoder`` for runtimes that do not know the split
DECODER_IMAGE_OUTPUTS = ("image_tokens", "t2i_keys", "t2i_values", "i2t_queries")
DECODER_BOX_INPUTS = DECODER_IMAGE_OUTPUTS + ("boxes",)

#: the I/O table written to every manifest (symbolic dims are strings)
GRAPH_IO: dict[str, dict[str, list[dict[str, Any]]]] = {
    "encoder": {
        "inputs": [{"name": ENCODER_INPUT, "shape": ["batch", 3, 256, 256], "dtype": "float32"}],
        "outputs": [{"name": ENCODER_OUTPUT, "shape": ["batch", 256, 64, 64], "dtype": "float32"}],
    },
    "decoder": {
        "inputs": [{"name": DECODER_INPUTS[0], "shape": [1, 256, 64, 64], "dtype": "float32"},
                   {"name": DECODER_INPUTS[1], "shape": ["boxes", 4], "dtype": "float32"}],
        "outputs": [{"name": DECODER_OUTPUTS[0], "shape": ["boxes", 1, 256, 256], "dtype": "float32"},
                    {"name": DECODER_OUTPUTS[1], "shape": ["boxes", 1], "dtype": "float32"}],
    },
    "decoder_image": {
        "inputs": [{"name": DECODER_INPUTS[0], "shape": [1, 256, 64, 64], "dtype": "float32"}],
        "outputs": [{"name": DECODER_IMAGE_OUTPUTS[0], "shape": [1, 4096, 256], "dtype": "float32"}] +
                   [{"name": n, "shape": [1, 4096, 128], "dtype": "float32"} for n in DECODER_IMAGE_OUTPUTS[1:]],
    },
    "decoder_box": {
        "inputs": [{"name": DECODER_IMAGE_OUTPUTS[0], "shape": [1, 4096, 256], "dtype": "float32"}] +
                  [{"name": n, "shape": [1, 4096, 128], "dtype": "float32"} for n in DECODER_IMAGE_OUTPUTS[1:]] +
                  [{"name": DECODER_INPUTS[1], "shape": ["boxes", 4], "dtype": "float32"}],
        "outputs": [{"name": DECODER_OUTPUTS[0], "shape": ["boxes", 1, 256, 256], "dtype": "float32"},
                    {"name": DECODER_OUTPUTS[1], "shape": ["boxes", 1], "dtype": "float32"}],
    },
    "merged": {
        "inputs": [{"name": ENCODER_INPUT, "shape": [1, 3, 256, 256], "dtype": "float32"},
                   {"name": DECODER_INPUTS[1], "shape": ["boxes", 4], "dtype": "float32"}],
        "outputs": [{"name": DECODER_OUTPUTS[0], "shape": ["boxes", 1, 256, 256], "dtype": "float32"},
                    {"name": DECODER_OUTPUTS[1], "shape": ["boxes", 1], "dtype": "float32"}],
    },
}

#: graph file suffix -> format name (the format table's names)
SUFFIX_FORMAT = {".onnx": "onnx", ".xml": "openvino", ".plan": "tensorrt", ".engine": "tensorrt"}


@dataclass
class Bundle:
    """A resolved engine: where its graphs are and what its manifest says.

    ``graphs`` maps ``encoder``/``decoder`` (or ``merged`` for a single merged graph) to a path.
    """

    root: Path
    format: str
    graphs: dict[str, Path]
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def precision(self) -> str:
        return str(self.manifest.get("precision", "fp32"))

    @property
    def inference_precision(self) -> str:
        """The precision OpenVINO computes in: ``bf16`` for a bf16 bundle, else ``f32``.

        A bf16 bundle stores FP16 weights like an fp16 one; what makes it bf16 is that the CPU computes
        in bfloat16 (AMX or AVX-512 BF16, about 2x faster than f32 at 2 threads; docs/TARGETS.md, "CPUs").
        Everything else is pinned to f32 so parity with PyTorch does not depend on the CPU.
        """
        return "bf16" if self.precision == "bf16" else "f32"

    @property
    def merged(self) -> bool:
        return "merged" in self.graphs

    def verify(self) -> list[str]:
        """Files whose sha256 differs from the manifest (empty when all match or no hashes are recorded)."""
        bad = []
        for name, digest in self.manifest.get("files", {}).items():
            path = self.root / name
            if not path.is_file() or sha256_file(path) != digest:
                bad.append(name)
        return bad


    def graph_files(self) -> list[tuple[Path, str | None]]:
        """(file, manifest sha256 or None) for every file the backends load: graphs and their companions.

        A companion is a manifest entry in the graph's folder named after the graph's stem
        (``encoder.xml`` -> ``encoder.bin``; ``encoder.onnx`` -> ``encoder.onnx.data``).
        """
        recorded: dict[str, str] = self.manifest.get("files") or {}
        out: list[tuple[Path, str | None]] = []
        seen: set[Path] = set()
        for graph in self.graphs.values():
            try:
                rel = graph.resolve().relative_to(self.root.resolve()).as_posix()
            except ValueError:
                rel = graph.name
            parent, _, name = rel.rpartition("/")
            stem = name.split(".")[0]
            for entry, digest in recorded.items():
                e_parent, _, e_name = entry.rpartition("/")
                if e_parent == parent and (e_name == name or e_name.split(".")[0] == stem):
                    path = self.root / entry
                    if path not in seen:
                        seen.add(path)
                        out.append((path, digest))
            if rel not in recorded and graph not in seen:
                seen.add(graph)
                out.append((graph, None))
        return out

    def verify_graphs(self, cache: DigestCache | None = None) -> None:
        """Refuse (EngineError, one line naming the file) a loaded file whose sha256 is not the manifest's.

        A bundle without recorded hashes (a lone graph file, no manifest) has nothing to check; a
        bundle whose manifest records hashes but not the graph it names is refused too, since the
        graph cannot be told apart from a swapped one.
        """
        if not self.manifest.get("files"):
            return
        cache = cache if cache is not None else DigestCache()
        try:
            for path, digest in self.graph_files():
                if digest is None:
                    raise EngineError(f"{path}: not listed in the manifest's 'files'; its integrity cannot be "
                                      f"checked (re-export the bundle, or pass --no-verify)")
                if not path.is_file():
                    raise EngineError(f"{path}: file listed in the manifest is missing")
                actual = cache.sha256(path)
                if actual != digest:
                    raise EngineError(f"{path}: sha256 {actual[:12]}… does not match the manifest ({digest[:12]}…): "
                                      f"the file changed after export; re-export the bundle, or pass --no-verify")
        finally:
            cache.save()


def read_manifest(folder: Path) -> dict[str, Any]:
    """The ``manifest.json`` of a bundle folder."""
    path = Path(folder) / "manifest.json"
    if not path.is_file():
        raise EngineError(f"{folder}: not a bundle folder (no manifest.json)")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EngineError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or "format" not in manifest or "graphs" not in manifest:
        raise EngineError(f"{path}: field 'format'/'graphs': missing; not a umedsam bundle manifest")
    return manifest


def _from_folder(folder: Path) -> Bundle:
    manifest = read_manifest(folder)
    graphs = {}
    for stage, entry in manifest["graphs"].items():
        if not isinstance(entry, dict) or "file" not in entry:
            raise EngineError(f"{folder / 'manifest.json'}: field 'graphs.{stage}.file': missing")
        path = folder / entry["file"]
        if not path.is_file():
            raise EngineError(f"{path}: graph file named by the manifest ('graphs.{stage}') is missing")
        graphs[stage] = path
    if not ({"encoder", "decoder"} <= graphs.keys() or "merged" in graphs):
        raise EngineError(f"{folder / 'manifest.json'}: field 'graphs': needs 'encoder' and 'decoder' (or 'merged')")
    return Bundle(folder, str(manifest["format"]), graphs, manifest)


def open_bundle(path: str | Path) -> Bundle:
    """Resolve a bundle folder or a single graph file (docs/FLAGS.md, "Engine paths") to a :class:`Bundle`.

    A single file without a manifest beside it is taken as a merged graph; the backend that opens it
    checks its inputs and says that a bundle folder is needed when it is only one stage.
    """
    path = Path(path)
    if path.is_dir():
        return _from_folder(path)
    if not path.is_file():
        raise EngineError(f"{path}: engine not found")
    fmt = SUFFIX_FORMAT.get(path.suffix.lower())
    if fmt is None:
        raise EngineError(f"{path}: not a graph file (known: {', '.join(SUFFIX_FORMAT)})")
    if (path.parent / "manifest.json").is_file():
        bundle = _from_folder(path.parent)
        if bundle.manifest.get("merged_graph") == path.name:  # umedsam-export --merged
            return Bundle(bundle.root, fmt, {"merged": path}, bundle.manifest)
        if path.resolve() not in {p.resolve() for p in bundle.graphs.values()}:
            raise EngineError(f"{path}: the manifest.json beside it does not name this file; pass the bundle folder")
        return bundle
    return Bundle(path.parent, fmt, {"merged": path}, {"format": fmt, "precision": "fp32"})


def refuse_failed(engine: str | Path | None) -> None:
    """EngineError when ``engine`` is a bundle whose manifest says ``"status": "failed"``.

    A failed bundle (export-time check or INT8 gate not passed) may segment differently from its
    source; ``umedsam-predict`` refuses it unless ``--allow-failed``. Other engines (a ``.pth``, the
    built-in weights, a lone graph) have no status and pass.
    """
    if engine is None:
        return
    path = Path(engine)
    if not path.is_dir() and path.suffix.lower() not in SUFFIX_FORMAT:
        return  # a checkpoint, the built-in weights' name, or nothing: no manifest applies
    folder = path if path.is_dir() else path.parent
    if not (folder / "manifest.json").is_file():
        return
    if read_manifest(folder).get("status") == "failed":
        raise EngineError(f"{folder / 'manifest.json'}: field 'status': \"failed\": this bundle failed its check "
                          f"(export-time check or INT8 gate); pass --allow-failed to run it anyway")


def single_stage_error(path: Path, inputs: list[str]) -> EngineError:
    """The one line for a lone graph that holds only one stage."""
    return EngineError(f"{path}: graph inputs {inputs} are a single stage (encoder or decoder) and no "
                       f"manifest.json is beside it; pass the bundle folder written by umedsam-export")
