"""The export-time check: the new bundle against the PyTorch model it came from.

Two parts. **Tensors on fixed inputs**: a batch of two real preprocessed images through the encoder
(also exercising the dynamic batch) and the PyTorch embedding with four boxes through the decoder
(dynamic box count), so the decoder is judged on its own error, not the encoder's. **Masks on a few
real cases**: the parity gate (:mod:`umedsam.metrics.parity`) on 2D cases, the stardist DSB2018
nuclei when installed plus a phantom. The full proof, 3D included, is ``umedsam-parity``.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from umedsam.data.npz import load_case, require_cases
from umedsam.metrics.parity import Tolerances, run_parity, tensor_stats
from umedsam.runtime.preprocess import preprocess_image

#: (encoder atol/rtol, decoder atol/rtol) per bundle precision; INT8 and bf16 tensors are reported,
#: not gated (their masks are what the check judges; bf16's embedding is 0.998 cosine to FP32's)
TENSOR_TOLERANCES = {"fp32": ((1e-3, 1e-3), (1e-4, 1e-4)), "fp16": ((3e-2, 3e-2), (2e-2, 2e-2)),
                     "int8": ((None, None), (None, None)), "bf16": ((None, None), (None, None))}
CHECK_BOXES = np.array([[10, 20, 120, 200], [30, 40, 60, 90], [100, 100, 250, 180], [0, 0, 255, 255]], np.float32)


def write_check_cases(folder: Path) -> tuple[Path, list[str]]:
    """Two real DSB2018 quadrants (when stardist/tifffile are installed) and one 2D phantom."""
    from umedsam.data.phantoms import write_phantoms

    notes = []
    write_phantoms(folder, n2d=1, n3d=0, seed=7)
    try:
        from umedsam.data.real import write_dsb2018

        write_dsb2018(folder, quadrants=(3, 4))  # q1/q2 are the calibration quadrants
    except Exception as exc:  # optional data packages; the phantom still checks masks
        notes.append(f"real DSB2018 cases unavailable ({type(exc).__name__}: {exc}); phantom only")
    return folder, notes


def export_check(model, backend, precision: str, cases: Path | None = None,
                 threads: int | None = None) -> dict[str, Any]:
    """Run both checks; returns the manifest's ``parity`` entry (``passed`` plus every number)."""
    from umedsam.model.torch_backend import TorchBackend
    from umedsam.runtime.predictor import Predictor

    import torch

    enc_tol, dec_tol = TENSOR_TOLERANCES.get(precision, TENSOR_TOLERANCES["fp16"])
    with tempfile.TemporaryDirectory(prefix="umedsam-check-") as tmp:
        notes: list[str] = []
        if cases is None:
            cases, notes = write_check_cases(Path(tmp))
        paths = require_cases(cases)
        images = [preprocess_image(load_case(p).imgs)[0] for p in paths if p.name.startswith("2D")][:2]
        while len(images) < 2:
            images.append(np.random.default_rng(len(images)).standard_normal((3, 256, 256)).astype(np.float32))
        batch = np.stack(images)
        with torch.inference_mode():
            ref_emb = model.image_encoder(torch.from_numpy(batch)).numpy()
            ref_logits, ref_iou = (t.numpy() for t in model.decode(torch.from_numpy(ref_emb[:1]),
                                                                    torch.from_numpy(CHECK_BOXES)))
        out: dict[str, Any] = {"tensors": {}, "notes": notes}
        if not backend.info().get("merged"):
            out["tensors"]["encoder"] = tensor_stats(ref_emb, backend.encode(batch), *enc_tol)
            logits, iou = backend.decode(ref_emb[:1].copy(), CHECK_BOXES)
            out["tensors"]["decoder_logits"] = tensor_stats(ref_logits, logits, *dec_tol)
            out["tensors"]["decoder_iou"] = tensor_stats(ref_iou, iou, *dec_tol)
        reference = Predictor(TorchBackend.from_model(model, threads, "<exported checkpoint>"))
        candidate = Predictor(backend)
        tol = Tolerances.for_precision(precision)
        report = run_parity(reference, candidate, paths, None, Tolerances(
            min_agreement=tol.min_agreement, max_dsc_drop=1.0, max_nsd_drop=1.0, atol=None, rtol=None))
        out["masks"] = [{"case": c.case, "boxes": c.labels, "min_agreement": round(c.min_agreement, 6),
                         "error": c.error} for c in report.cases]
        out["min_agreement"] = report.overall["min_agreement"]
        out["thresholds"] = {"encoder_atol_rtol": enc_tol, "decoder_atol_rtol": dec_tol,
                             "min_agreement": tol.min_agreement}
        out["passed"] = bool(report.passed and all(t["passed"] is not False for t in out["tensors"].values()))
        return out
