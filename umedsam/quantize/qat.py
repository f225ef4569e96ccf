"""Quantization-aware training with distillation: the FP32 model teaches its INT8 encoder.

Why: static INT8 of the encoder (post-training, :mod:`umedsam.quantize.nncf_ov`) is fast on VNNI/AMX
CPUs but moves small masks (a DSB2018 nucleus fell to label agreement 0.44). Fine-tuning *through* the
quantizers lets the weights and the quantization ranges absorb the error where the masks notice it.

How (NNCF's PyTorch QAT, docs/COMPRESSION.md):

1. **Initialise** with NNCF post-training quantization of the torch encoder (``nncf.quantize``,
   transformer model type: SmoothQuant, LayerNorm/GELU/Softmax kept float) on corpus images.
2. **Train** the fake-quantized encoder (weights and quantizer ranges) on the distillation corpus
   (:mod:`umedsam.train.distill_corpus`): loss = normalised MSE to the teacher's embedding + BCE and
   soft Dice of the FP32 decoder's logits on the student embedding against the teacher's logits, for
   boxes around the teacher's own masks. AdamW with warm-up and cosine decay. Plain AdamW, not the
   SAM optimizer of the U-MedSAM recipe: on 2 cores a QAT step costs ~8 s, and SAM's second pass would
   halve the number of updates the budget buys.
3. **Record** label agreement (Dice of student vs teacher masks) on held-back corpus items against
   minutes trained, from minute 0 (= the post-training model), so a reader sees whether more compute
   would close what is left.
4. **Checkpoint** every few minutes (state dict + NNCF config + optimiser + curve, written atomically);
   ``resume`` continues the same budget after a kill.
5. **Export** with ``openvino.convert_model`` (FakeQuantize ops; weights folded to INT8 when saved)
   into an OpenVINO bundle beside the FP32 decoder, and gate it against FP32 on held-out cases.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from umedsam.train.distill_corpus import TeacherCorpus


@dataclass
class QatOptions:
    """What ``umedsam-qat`` sets."""

    minutes: float = 25.0              # training budget (resumed runs continue it)
    corpus_size: int = 256
    val_items: int = 12                # corpus items held back for the agreement curve
    ptq_samples: int = 32              # corpus images for the post-training initialisation
    lr: float = 1e-5
    warmup: int = 10
    mask_weight: float = 1.0
    checkpoint_minutes: float = 3.0
    eval_minutes: float = 4.0
    seed: int = 0
    threads: int | None = None
    device: str = "auto"               # auto: CUDA when present, else CPU
    resume: bool = False
    latency_iters: int = 5             # FP32/INT8 latency rounds for the report; 0: not measured
                                       # (umedsam-optimize times every candidate with its own evaluator)


@dataclass
class QatState:
    """What a checkpoint restores."""

    step: int = 0
    elapsed: float = 0.0               # seconds of training so far (across resumes)
    curve: list[dict[str, float]] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)


def pick_device(choice: str) -> torch.device:
    """``auto`` takes CUDA when torch sees a device; ``cpu``/``cuda`` force it."""
    if choice == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if choice == "cuda" and not torch.cuda.is_available():
        from umedsam.errors import UmedsamError

        raise UmedsamError("--device cuda: torch sees no CUDA device")
    return torch.device(choice)


def _t(a: np.ndarray, device: torch.device) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).to(device)


#: the arithmetic of the neck's channel LayerNorm (``LayerNorm2d``, a module of its own, so NNCF's transformer
#: patterns do not recognise it): a quantizer on the variance rounds small variances to 0 and the
#: division then gives inf in the OpenVINO IR. These ops stay float (they carry no weights, no speed).
NORM_OPS = ("sqrt", "pow", "div", "mean", "sub")


def ptq_encoder(encoder: torch.nn.Module, images: np.ndarray) -> torch.nn.Module:
    """NNCF post-training INT8 of the torch encoder (normalisation arithmetic float): the starting point of QAT."""
    import logging

    import nncf

    logging.getLogger("nncf").setLevel(logging.ERROR)
    data = [torch.from_numpy(np.asarray(x, np.float32))[None] for x in images]
    import copy

    # on a copy: NNCF's PyTorch backend inserts its hooks into the module it is given
    return nncf.quantize(copy.deepcopy(encoder).eval(), nncf.Dataset(data), model_type=nncf.ModelType.TRANSFORMER,
                         subset_size=len(data), ignored_scope=nncf.IgnoredScope(types=list(NORM_OPS), validate=False))


def mask_loss(student: torch.Tensor, teacher: torch.Tensor, hw: tuple[int, int]) -> torch.Tensor:
    """BCE against the teacher's probabilities + soft Dice against its mask, inside the image (not the padding)."""
    s, t = student[:, :hw[0], :hw[1]], teacher[:, :hw[0], :hw[1]]
    bce = F.binary_cross_entropy_with_logits(s, torch.sigmoid(t))
    p, m = torch.sigmoid(s), (t > 0).float()
    dice = 1 - (2 * (p * m).sum((1, 2)) + 1) / (p.sum((1, 2)) + m.sum((1, 2)) + 1)
    return bce + dice.mean()


@torch.no_grad()
def agreement(encoder: torch.nn.Module, decoder: Callable, corpus: TeacherCorpus, device: torch.device) -> dict[str, float]:
    """Dice of the student's masks with the teacher's on ``corpus`` (every valid box): mean, min, 5th percentile."""
    dices = []
    for i in range(len(corpus)):
        emb = encoder(_t(corpus.images[i:i + 1], device))
        k = int(corpus.valid[i].sum())
        logits = decoder(emb, _t(corpus.boxes[i, :k], device))[0][:, 0].float().cpu().numpy()
        h, w = corpus.hw[i]
        for j in range(k):
            a, b = logits[j, :h, :w] > 0, corpus.logits[i, j, :h, :w].astype(np.float32) > 0
            denom = a.sum() + b.sum()
            dices.append(1.0 if denom == 0 else 2.0 * (a & b).sum() / denom)
    d = np.array(dices)
    return {"mean": float(d.mean()), "min": float(d.min()), "p05": float(np.percentile(d, 5)), "boxes": int(len(d))}


def save_state(path: Path, qmodel: torch.nn.Module, opt: torch.optim.Optimizer, state: QatState) -> None:
    """Atomically: a killed run never leaves half a checkpoint."""
    import nncf

    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    torch.save({"model": qmodel.state_dict(), "nncf_config": nncf.torch.get_config(qmodel),
                "optimizer": opt.state_dict(), "state": asdict(state)}, tmp)
    os.replace(tmp, path)


def load_state(path: Path, encoder: torch.nn.Module, device: torch.device) -> tuple[torch.nn.Module, dict, QatState]:
    import copy

    import nncf

    ck = torch.load(path, map_location=device, weights_only=False)
    qmodel = nncf.torch.load_from_config(copy.deepcopy(encoder), ck["nncf_config"])
    qmodel.load_state_dict(ck["model"])
    return qmodel, ck["optimizer"], QatState(**ck["state"])


def train_qat(model: torch.nn.Module, corpus: TeacherCorpus, work: Path, opts: QatOptions,
              log: Callable[[str], None] = print) -> tuple[torch.nn.Module, QatState]:
    """QAT of ``model.image_encoder`` against the teacher outputs in ``corpus``; returns the fake-quantized
    encoder and the training record. ``work/qat_state.pt`` is the checkpoint."""
    device = pick_device(opts.device)
    if opts.threads and device.type == "cpu":
        torch.set_num_threads(int(opts.threads))
    torch.manual_seed(opts.seed)
    train, val = corpus.split(opts.val_items)
    model = model.to(device).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ckpt = work / "qat_state.pt"
    opt_state = None
    if opts.resume and ckpt.is_file():
        qmodel, opt_state, state = load_state(ckpt, model.image_encoder, device)
        log(f"qat: resumed at step {state.step} ({state.elapsed / 60:.1f} of {opts.minutes:g} min)")
    else:
        start = time.perf_counter()
        qmodel = ptq_encoder(model.image_encoder, train.images[:opts.ptq_samples])
        log(f"qat: post-training INT8 initialisation on {min(opts.ptq_samples, len(train))} corpus images "
            f"({time.perf_counter() - start:.0f} s)")
        state = QatState()
    qmodel = qmodel.to(device).eval()     # BatchNorm keeps its running statistics (batch 1)
    params = [p for p in qmodel.parameters() if p.is_floating_point()]
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.AdamW(params, lr=opts.lr, weight_decay=0.0)
    if opt_state is not None:
        opt.load_state_dict(opt_state)
    decode = model.decode
    if not state.curve:
        state.curve.append({"minutes": 0.0, "step": 0, **agreement(qmodel, decode, val, device)})
        log(f"qat: minute 0 (post-training INT8): val agreement mean {state.curve[-1]['mean']:.4f} "
            f"min {state.curve[-1]['min']:.4f}")
    rng = np.random.default_rng([opts.seed, state.step])
    budget = opts.minutes * 60
    t_start, elapsed0 = time.perf_counter(), state.elapsed
    last_ckpt = last_eval = time.perf_counter()
    est_total = None
    while state.elapsed < budget:
        i = int(rng.integers(len(train)))
        k = int(train.valid[i].sum())
        if est_total is None and state.step >= 5 and state.elapsed > elapsed0:
            per_step = (state.elapsed - elapsed0) / max(1, state.step - (state.curve[0]["step"] if state.curve else 0))
            est_total = state.step + int((budget - state.elapsed) / max(per_step, 1e-3))
        total = est_total or max(state.step + 100, 100)
        scale = min(1.0, (state.step + 1) / opts.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, state.step / total))))
        for g in opt.param_groups:
            g["lr"] = opts.lr * scale
        x = _t(train.images[i:i + 1], device)
        t_emb = _t(train.embeddings[i:i + 1], device)
        emb = qmodel(x)
        loss_emb = ((emb - t_emb) ** 2).mean() / (t_emb ** 2).mean()
        logits = decode(emb, _t(train.boxes[i, :k], device))[0][:, 0]
        h, w = (int(v) for v in train.hw[i])
        loss = loss_emb + opts.mask_weight * mask_loss(logits, _t(train.logits[i, :k], device), (h, w))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        state.step += 1
        state.losses.append(round(float(loss.detach()), 5))
        now = time.perf_counter()
        state.elapsed = elapsed0 + (now - t_start)
        if state.step % 10 == 0:
            log(f"qat step {state.step} ({state.elapsed / 60:.1f}/{opts.minutes:g} min): loss "
                f"{np.mean(state.losses[-10:]):.4f}, lr {opts.lr * scale:.2e}")
        if now - last_eval >= opts.eval_minutes * 60:
            e0 = time.perf_counter()
            state.curve.append({"minutes": round(state.elapsed / 60, 2), "step": state.step,
                                **agreement(qmodel, decode, val, device)})
            log(f"qat: minute {state.elapsed / 60:.1f}: val agreement mean {state.curve[-1]['mean']:.4f} "
                f"min {state.curve[-1]['min']:.4f}")
            t_start += time.perf_counter() - e0      # evaluation is not training time
            last_eval = time.perf_counter()
        if now - last_ckpt >= opts.checkpoint_minutes * 60:
            save_state(ckpt, qmodel, opt, state)
            last_ckpt = time.perf_counter()
    if not state.curve or state.curve[-1]["step"] != state.step:
        state.curve.append({"minutes": round(state.elapsed / 60, 2), "step": state.step,
                            **agreement(qmodel, decode, val, device)})
        log(f"qat: minute {state.elapsed / 60:.1f} (end): val agreement mean {state.curve[-1]['mean']:.4f} "
            f"min {state.curve[-1]['min']:.4f}")
    save_state(ckpt, qmodel, opt, state)
    for p in params:
        p.requires_grad_(False)
    return qmodel.cpu().eval(), state


def export_encoder_ir(qmodel: torch.nn.Module, path: Path) -> dict[str, Any]:
    """The fake-quantized encoder as an OpenVINO IR with the bundle's I/O names and a dynamic slice batch;
    checks the IR against the torch model on a corpus-like input."""
    import openvino as ov

    from umedsam.quantize.nncf_ov import int8_ops, save_ir

    from umedsam.runtime.bundle import ENCODER_INPUT, ENCODER_OUTPUT

    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        ref = qmodel(x).numpy()
        ov_model = ov.convert_model(qmodel, example_input=x, input=[ov.PartialShape([-1, 3, 256, 256])])
    ov_model.inputs[0].get_tensor().set_names({ENCODER_INPUT})
    ov_model.outputs[0].get_tensor().set_names({ENCODER_OUTPUT})
    got = ov.Core().compile_model(ov_model, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})([x.numpy()])[0]
    rel = float(((got - ref) ** 2).mean() / (ref ** 2).mean())
    info = save_ir(ov_model, path)
    return {**info, "int8_ops": int8_ops(ov_model), "ir_vs_torch_rel_mse": rel}
