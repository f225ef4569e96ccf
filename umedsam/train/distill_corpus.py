"""The distillation corpus: corpus images with the FP32 teacher's outputs, cached on disk.

For every image of :func:`umedsam.data.corpus.draw_images` the teacher (the FP32 checkpoint) gives
the encoder input exactly as inference prepares it, the image embedding, and for each box seed a
box drawn around the teacher's *own* mask inside the seed (so the prompts are boxes the teacher
answers well, 0-4 px of jitter outward) with the teacher's low-resolution mask logits for it.
Students (QAT, low-rank) are trained to reproduce embeddings and logits, so no label is needed.

The encoder runs through OpenVINO FP32 (the same embeddings as PyTorch to ~1e-5, three times faster on
CPU); the decoder through PyTorch. Results go to ``CACHE/<key>/shard-NNN.npz`` (written atomically, 32
items each) under a key that hashes the checkpoint, the corpus settings and the held-out exclusion;
``corpus.json`` is written last. A killed build keeps its finished shards and resumes from them.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from umedsam.common import write_bytes_atomic, write_json
from umedsam.data.corpus import Exclusion, draw_images, held_out_report
from umedsam.runtime.preprocess import IMG_SIZE, preprocess_image, resize_box_to_256

SHARD = 32
FORMAT_VERSION = 1


@dataclass
class TeacherCorpus:
    """Arrays over N items with up to K boxes each (``valid`` marks the real ones)."""

    images: np.ndarray        # (N, 3, 256, 256) float16 encoder inputs
    embeddings: np.ndarray    # (N, 256, 64, 64) float16 teacher embeddings
    boxes: np.ndarray         # (N, K, 4) float32, 256-space xyxy
    valid: np.ndarray         # (N, K) bool
    logits: np.ndarray        # (N, K, 256, 256) float16 teacher low-res mask logits
    hw: np.ndarray            # (N, 2) the resized image inside the padding
    sources: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.images)

    def split(self, n_val: int) -> tuple["TeacherCorpus", "TeacherCorpus"]:
        """(train, validation): the last ``n_val`` items validate (never trained on)."""
        cut = len(self) - n_val
        return self._take(slice(0, cut)), self._take(slice(cut, len(self)))

    def _take(self, s: slice) -> "TeacherCorpus":
        return TeacherCorpus(self.images[s], self.embeddings[s], self.boxes[s], self.valid[s], self.logits[s],
                             self.hw[s], self.sources[s], self.meta)


def corpus_key(ckpt_sha: str, size: int, seed: int, boxes: int, exclusion: Exclusion) -> str:
    parts = {"ckpt": ckpt_sha, "size": size, "seed": seed, "boxes": boxes, "version": FORMAT_VERSION,
             "exclusion": exclusion.to_json(), "hashes": sorted(exclusion.hashes)}
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


class Teacher:
    """The FP32 model: OpenVINO encoder (compiled from the torch module in process) + torch decoder."""

    def __init__(self, model: torch.nn.Module, threads: int | None = None) -> None:
        import openvino as ov

        self.model = model.eval()
        core = ov.Core()
        ov_model = ov.convert_model(model.image_encoder, example_input=torch.zeros(1, 3, IMG_SIZE, IMG_SIZE))
        config = {"INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"}
        if threads:
            config["INFERENCE_NUM_THREADS"] = int(threads)
        self.encoder = core.compile_model(ov_model, "CPU", config)

    def encode(self, image: np.ndarray) -> np.ndarray:
        return np.asarray(self.encoder([image[None].astype(np.float32)])[0])

    @torch.inference_mode()
    def decode(self, embedding: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        logits, _ = self.model.decode(torch.from_numpy(embedding), torch.from_numpy(boxes.astype(np.float32)))
        return logits[:, 0].numpy()


def _own_box(logits: np.ndarray, hw: tuple[int, int], rng: np.random.Generator) -> np.ndarray | None:
    """A box around the teacher's mask (largest extent of logits > 0), 0-4 px of jitter outward."""
    mask = logits[:hw[0], :hw[1]] > 0
    ys, xs = np.nonzero(mask)
    if len(xs) < 4:
        return None
    j = rng.integers(0, 5, 4)
    return np.array([max(0, xs.min() - j[0]), max(0, ys.min() - j[1]),
                     min(hw[1] - 1, xs.max() + j[2]), min(hw[0] - 1, ys.max() + j[3])], np.float32)


def _shard(teacher: Teacher, items: list, boxes: int, seed: int) -> dict[str, np.ndarray]:
    n = len(items)
    out = {"images": np.zeros((n, 3, IMG_SIZE, IMG_SIZE), np.float16),
           "embeddings": np.zeros((n, 256, 64, 64), np.float16),
           "boxes": np.zeros((n, boxes, 4), np.float32), "valid": np.zeros((n, boxes), bool),
           "logits": np.full((n, boxes, IMG_SIZE, IMG_SIZE), -20, np.float16), "hw": np.zeros((n, 2), np.int32)}
    for i, item in enumerate(items):
        rng = np.random.default_rng([seed, 5, i])
        image, hw = preprocess_image(item.image)
        emb = teacher.encode(image)
        seeds = np.stack([resize_box_to_256(b.astype(np.float64), item.image.shape[:2]) for b in item.seeds[:boxes]])
        seed_logits = teacher.decode(emb, seeds)
        final = [b if b is not None else s.astype(np.float32)
                 for b, s in ((_own_box(lg, hw, rng), s) for lg, s in zip(seed_logits, seeds))]
        final_boxes = np.stack(final).astype(np.float32)
        k = len(final_boxes)
        out["images"][i], out["embeddings"][i], out["hw"][i] = image, emb[0], hw
        out["boxes"][i, :k], out["valid"][i, :k] = final_boxes, True
        out["logits"][i, :k] = np.clip(teacher.decode(emb, final_boxes), -60000, 60000)
    return out


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    write_bytes_atomic(path, buf.getvalue())


def build_teacher_corpus(model: torch.nn.Module, ckpt_sha: str, cache: Path, size: int, exclusion: Exclusion,
                         seed: int = 0, boxes: int = 4, threads: int | None = None,
                         log: Callable[[str], None] = print) -> TeacherCorpus:
    """Draw the images, run the teacher on them (or read what an earlier run cached) and return the corpus."""
    key = corpus_key(ckpt_sha, size, seed, boxes, exclusion)
    folder = Path(cache) / key
    meta_path = folder / "corpus.json"
    if not meta_path.is_file():
        start = time.perf_counter()
        log(f"distillation corpus: {size} images, {held_out_report(exclusion)}")
        items = draw_images(size, exclusion, seed=seed, boxes=boxes)
        teacher = Teacher(model, threads)
        folder.mkdir(parents=True, exist_ok=True)
        for s in range(0, size, SHARD):
            path = folder / f"shard-{s // SHARD:03d}.npz"
            if path.is_file():
                continue
            _save_npz(path, _shard(teacher, items[s:s + SHARD], boxes, seed + s))
            log(f"distillation corpus: teacher outputs {min(s + SHARD, size)}/{size} "
                f"({time.perf_counter() - start:.0f} s)")
        write_json(meta_path, {"key": key, "size": size, "seed": seed, "boxes": boxes, "checkpoint_sha256": ckpt_sha,
                               "held_out": exclusion.to_json(), "sources": [it.source for it in items],
                               "seconds": round(time.perf_counter() - start, 1)})
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    shards = [np.load(folder / f"shard-{s // SHARD:03d}.npz") for s in range(0, meta["size"], SHARD)]
    cat = {k: np.concatenate([sh[k] for sh in shards]) for k in ("images", "embeddings", "boxes", "valid", "logits", "hw")}
    meta["folder"] = str(folder)
    return TeacherCorpus(**cat, sources=meta["sources"], meta=meta)


def write_cases(corpus: TeacherCorpus, folder: Path) -> Path:
    """The corpus as challenge 2D cases (``imgs/`` + ``gts/``) whose ground truth is the teacher's masks, for
    code that trains from case folders (the low-rank recovery). Each image is written at its 256-space size,
    so the inference preprocessing reproduces the cached encoder input; label k is box k's teacher mask.
    Written once per corpus key (``done.json`` last)."""
    from umedsam.data.npz import save_npz_atomic

    folder = Path(folder)
    if (folder / "done.json").is_file():
        return folder
    for i in range(len(corpus)):
        h, w = (int(v) for v in corpus.hw[i])
        image = np.round(corpus.images[i, :, :h, :w].astype(np.float32).transpose(1, 2, 0) * 255).astype(np.uint8)
        k = int(corpus.valid[i].sum())
        gts = np.zeros((h, w), np.uint8)
        for j in range(k):
            gts[corpus.logits[i, j, :h, :w].astype(np.float32) > 0] = j + 1
        boxes = np.round(corpus.boxes[i, :k]).astype(np.int64)
        name = f"2DBox_Corpus_{i:04d}.npz"
        save_npz_atomic(folder / "imgs" / name, imgs=image, boxes=boxes)
        save_npz_atomic(folder / "gts" / name, gts=gts)
    write_json(folder / "done.json", {"items": len(corpus), "key": corpus.meta.get("key")})
    return folder
