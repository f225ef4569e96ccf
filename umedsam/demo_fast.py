"""The default ``umedsam demo``: real images to results in about three minutes on 2 cores.

Stages (each logs progress lines): real and synthetic cases -> export the built-in weights to an
OpenVINO FP32 bundle (the fastest FP32 engine on CPUs here, benchmarks/) -> predict every case with it
-> challenge DSC/NSD -> the parity gate against PyTorch (its per-case times give the PyTorch vs
OpenVINO speed-up) -> a short ``umedsam-bench`` of the bundle's stages (one case) -> a NIfTI round
trip (the MNI152 template slab as a clinical file: predict, label map in the input's geometry, equal
to the ``umedsam convert`` npz path). ``umedsam demo --full``
(:func:`umedsam.demo.run_demo`) keeps the whole pipeline: INT8, compression, native runtime.
"""

from __future__ import annotations

import platform
import shutil
import time
from pathlib import Path
from typing import Callable

from umedsam.common import markdown_table, write_json, write_text_atomic
from umedsam.data.phantoms import write_phantoms


def _data(root: Path, log: Callable[[str], None]) -> Path:
    data = root / "data"
    write_phantoms(data, n2d=2, n3d=0, seed=0)
    log("data: 2 synthetic 2D phantoms")
    try:
        from umedsam.data.real import write_dsb2018

        write_dsb2018(data, quadrants=(3, 4))
        log("data: real 2D DSB2018 nuclei (stardist), quadrants q3, q4")
    except Exception as exc:  # the demo still runs on phantoms alone
        log(f"data: DSB2018 skipped ({exc})")
    return data


def _subset(data: Path, dest: Path, names: list[str]) -> Path:
    for folder in ("imgs", "gts"):
        (dest / folder).mkdir(parents=True, exist_ok=True)
        for n in names:
            if (data / folder / n).is_file():
                shutil.copyfile(data / folder / n, dest / folder / n)
    return dest


def nifti_round_trip(root: Path, bundle: Path, threads: int | None, log: Callable[[str], None]) -> tuple[str, str]:
    """MNI152 slab NIfTI -> predict with boxes from its white-matter map -> label map; vs the convert path."""
    import numpy as np

    from umedsam.data import clinical
    from umedsam.data.npz import save_segs
    from umedsam.runtime.clinical_batch import predict_clinical
    from umedsam.runtime.predictor import Predictor

    try:
        import nibabel as nib

        from umedsam.data.real_clinical import write_mni152_nifti

        t1, wm = write_mni152_nifti(root / "clinical" / "in", z_range=(82, 85))
    except Exception as exc:
        log(f"nifti: skipped ({exc})")
        return f"Skipped: {exc}", "NIfTI round trip: skipped"
    out = root / "clinical" / "out"
    options = clinical.ClinicalOptions()
    with Predictor(bundle, threads=threads) as p:
        (res,) = predict_clinical(p, [t1], out, options, boxes_from=wm)
        if not res.ok:
            return f"Failed: {res.error}", "NIfTI round trip: FAILED"
        case = clinical.load_clinical(t1, options, boxes_from=wm)  # the convert path: npz, then predict it
        npz = clinical.save_case_npz(case, root / "clinical" / "npz" / clinical.npz_name(case))
        seg = p.segment_case(case.kind, case.imgs, case.boxes)
        save_segs(root / "clinical" / "npz_out" / npz.name, seg.labels)
    src, lab = nib.load(t1), nib.load(out / res.name)
    back = clinical.output_labels(case, seg.labels)
    same_geometry = lab.shape == src.shape and np.array_equal(lab.affine, src.affine)
    import SimpleITK as sitk

    on_grid = sitk.GetArrayFromImage(sitk.DICOMOrient(sitk.ReadImage(str(out / res.name)), "LPS"))
    same_masks = bool(np.array_equal(on_grid, back))
    log(f"nifti: {res.name} in {res.seconds:.1f}s, affine+shape equal {same_geometry}, convert path equal {same_masks}")
    rows = [["input", f"`{t1.name}` {src.shape}, stored RAS, fed as LPS; MR percentile rule"],
            ["prompts", f"`{wm.name}`: one box per label (1 = left, 2 = right white matter)"],
            ["output", f"`{(out / res.name).relative_to(root)}` {lab.shape} {lab.get_data_dtype()}"],
            ["affine and shape equal the input's", "yes" if same_geometry else "**no**"],
            ["labels equal the `umedsam convert` npz path", "yes" if same_masks else "**no**"],
            ["seconds", f"{res.seconds:.1f}"]]
    ok = same_geometry and same_masks
    return markdown_table(["", ""], rows), f"NIfTI round trip: {'OK' if ok else 'MISMATCH'} ({res.seconds:.1f} s)"


def run_fast_demo(out: str | Path, threads: int | None = None, log: Callable[[str], None] = print) -> tuple[Path, list[str]]:
    """Run the fast demo; returns (report path, the ten-line summary)."""
    from umedsam.bench.report import to_markdown as bench_markdown
    from umedsam.bench.runner import BenchConfig, run_bench
    from umedsam.data.npz import find_cases
    from umedsam.export import ExportOptions, export_bundle
    from umedsam.export.manifest import export_summary
    from umedsam.metrics.evaluate import evaluate_folder, fmt4, summarize, to_csv
    from umedsam.metrics.parity import run_parity
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.predictor import Predictor

    root = Path(out)
    t0 = time.perf_counter()
    c0 = time.process_time()
    step = lambda name: log(f"[{time.perf_counter() - t0:5.1f}s wall, {time.process_time() - c0:5.1f}s CPU] {name}")  # noqa: E731
    step("1/6 data")
    data = _data(root, log)
    names = [p.name for p in find_cases(data / "imgs")]
    step("2/6 export: built-in weights -> OpenVINO FP32 bundle")
    bundle = root / "bundles" / "openvino-fp32"
    # no export-time check: the parity gate below compares the same engines on more cases
    manifest = export_bundle(None, bundle, ExportOptions(target="openvino", threads=threads, force=True, check=False),
                             log=lambda s: log(f"export: {s}"))
    step("3/6 predict + evaluate with the OpenVINO bundle")
    with Predictor(bundle, threads=threads) as predictor:
        results = predict_folder(predictor, data / "imgs", root / "segs", root / "overlays",
                                 on_case=lambda r: log(f"predict {r.name}: {r.seconds:.2f}s" + ("" if r.ok else f" FAILED {r.error}")))
    scores = evaluate_folder(root / "segs", data / "gts")
    write_text_atomic(root / "metrics.csv", to_csv(scores))
    step("4/6 parity gate: OpenVINO bundle vs PyTorch")
    # DSB2018 q3 (40 nuclei, 40 PyTorch decoder calls) is left out of the gate for time
    gate = [p for p in find_cases(data / "imgs") if "DSB2018q3" not in p.name]
    with Predictor(None, threads=threads) as ref, Predictor(bundle, threads=threads) as cand:
        parity = run_parity(ref, cand, gate, data / "gts",
                            on_case=lambda c: log(f"parity {c.case}: min agreement {c.min_agreement:.5f}"))
    write_json(root / "parity.json", parity.to_json())
    step("5/6 bench: OpenVINO FP32 stage latencies (PyTorch vs OpenVINO per case: from the parity run)")
    pick = [n for n in names if "_US_" in n][:1] or names[:1]
    cfg = BenchConfig(engines=[str(bundle)], data=_subset(data, root / "bench_data", pick), threads=threads,
                      warmup=1, iters=3, cold_start=False)
    bench = run_bench(cfg, progress=lambda s: log(f"bench: {s}"))
    write_json(root / "bench.json", bench)
    step("6/6 NIfTI round trip (MNI152 template slab)")
    nifti_md, nifti_line = nifti_round_trip(root, bundle, threads, log)
    total = time.perf_counter() - t0

    times = {r.name: r.seconds for r in results}
    case_rows = [(s.case, s.modality, fmt4(s.dsc), fmt4(s.nsd), f"{times.get(s.case, float('nan')):.2f}") for s in scores]
    overall = [row for row in summarize(scores) if row[0] == "overall"] or summarize(scores)[-1:]
    torch_s = sum(c.seconds.get("reference", 0.0) for c in parity.cases)
    ov_s = sum(c.seconds.get("candidate", 0.0) for c in parity.cases)
    enc = bench["engines"][0]["stages"]["encoder"]["p50"] * 1000
    report = root / "report.md"
    summary = [
        f"umedsam demo (fast) in {total:.0f} s on {platform.processor() or platform.machine()}, "
        f"{threads or 'all'} threads",
        f"engine: built-in LiteMedSAM weights exported to OpenVINO FP32 ({bundle.name})",
        f"predicted {sum(r.ok for r in results)}/{len(results)} cases (real DSB2018 nuclei + phantoms)",
        f"DSC {fmt4(overall[0][2])}, NSD {fmt4(overall[0][3])} (mean over {overall[0][1]} cases)" if overall else "no scores",
        f"parity vs PyTorch: {'PASSED' if parity.passed else 'FAILED'} on {len(parity.cases)} cases "
        f"(DSB2018 q3 left out for time)",
        f"speed: PyTorch {torch_s:.1f} s vs OpenVINO {ov_s:.1f} s on the parity cases ({torch_s / max(ov_s, 1e-9):.2f}x); "
        f"OpenVINO encoder p50 {enc:.0f} ms",
        nifti_line,
        f"outputs: segs/, overlays/, metrics.csv, parity.json, bench.json, clinical/out/, {bundle.relative_to(root)}/",
        "the whole pipeline (INT8, compression, native runtime): umedsam demo --full (~15 min)",
        f"report: {report}",
    ]
    text = "\n\n".join([
        "# umedsam demo report (fast)",
        "\n".join(f"- {line}" for line in summary),
        "Cases named `*_US_*` and `*_Dermoscopy_*` are SYNTHETIC phantoms; `DSB2018` (stardist nuclei) are real "
        "images with real labels.",
        "## Predict + evaluate (OpenVINO FP32 bundle)",
        markdown_table(["case", "modality", "DSC", "NSD", "seconds"], case_rows),
        "## Export: OpenVINO FP32 bundle (no export-time check: the parity gate below is that check, on more cases)",
        export_summary(manifest),
        "## Parity gate: OpenVINO bundle vs PyTorch (all cases but DSB2018 q3, whose 40 boxes cost PyTorch "
        "40 decoder calls)",
        parity.to_markdown(),
        "## Speed",
        "PyTorch vs OpenVINO FP32, wall seconds per case in the parity run (same process, one run each):\n\n"
        + markdown_table(["case", "PyTorch s", "OpenVINO s", "speedup"],
                         [(c.case, f"{c.seconds.get('reference', 0):.2f}", f"{c.seconds.get('candidate', 0):.2f}",
                           f"{c.seconds.get('reference', 0) / max(c.seconds.get('candidate', 0), 1e-9):.2f}x")
                          for c in parity.cases])
        + "\n\nOpenVINO FP32 stages (`umedsam-bench`: 1 warm-up + 3 rounds, no cold start; PyTorch vs every "
        "engine side by side: `umedsam demo --full` or `umedsam-bench`):\n\n" + bench_markdown(bench),
        "## Clinical round trip: NIfTI in, NIfTI label map out",
        nifti_md,
    ]) + "\n"
    write_text_atomic(report, text)
    return report, summary
