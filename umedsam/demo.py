"""The full demo pipeline (``umedsam demo --full``; the default fast demo is :mod:`umedsam.demo_fast`): built-in LiteMedSAM weights on phantoms and real images -> predict -> eval ->
export (OpenVINO) -> parity gate -> INT8 (NNCF, accuracy-aware, gated) -> compression (SVD/Tucker-2
with a short U-MedSAM recovery) -> bench -> report.

Later stages join here as they land. The whole demo should finish within 15 minutes on 2 cores.
"""

from __future__ import annotations

import platform
import time
from pathlib import Path
from typing import Callable

from umedsam.common import markdown_table, write_json, write_text_atomic
from umedsam.data.phantoms import write_phantoms


def prepare_data(root: Path, log: Callable[[str], None]) -> Path:
    """Phantoms plus whatever real cases the installed packages ship; returns the data root."""
    data = root / "data"
    write_phantoms(data, n2d=4, n3d=2, seed=0)
    log("phantoms: 4 2D + 2 3D synthetic cases")
    try:
        from umedsam.data.real import write_dsb2018, write_mni152

        write_dsb2018(data)
        log("real 2D: stardist DSB2018 nuclei, 4 quadrant cases")
        write_mni152(data, slabs=((70, 82),))
        log("real 3D: MNI152 T1 axial slab, left/right white matter")
    except Exception as exc:  # the demo still runs on phantoms alone
        log(f"real cases skipped: {exc}")
    return data


def run_demo(out: str | Path, threads: int | None = None, log: Callable[[str], None] = print) -> Path:
    """Run every stage; returns the path of the markdown report."""
    from umedsam.metrics.evaluate import evaluate_folder, fmt4, summarize, to_csv
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.predictor import Predictor

    root = Path(out)
    t0 = time.perf_counter()
    data = prepare_data(root, log)
    segs = root / "segs"
    with Predictor(None, threads=threads) as predictor:
        info = predictor.backend.info()
        results = predict_folder(predictor, data / "imgs", segs, root / "overlays",
                                 on_case=lambda r: log(f"predict {r.name}: {r.seconds:.2f}s"
                                                       + ("" if r.ok else f" FAILED {r.error}")))
    export_md, parity_md, parity_ok = export_and_parity(root, data, threads, log)
    int8_md, int8_bundle = quantize_int8(root, data, threads, log)
    lowrank_md, lowrank_bundle = compress_lowrank(root, threads, log)
    native_md, native_ok = native_parity(root, data, threads, log)
    bench_md = bench_engines(root, data, threads, log, int8_bundle, lowrank_bundle, native_ok)
    optimize_md = optimize_short(root, threads, log)
    scores = evaluate_folder(segs, data / "gts")
    write_text_atomic(root / "metrics.csv", to_csv(scores))
    times = {r.name: r.seconds for r in results}
    case_rows = [(s.case, s.modality, fmt4(s.dsc), fmt4(s.nsd), f"{times.get(s.case, float('nan')):.2f}")
                 for s in scores]
    summary_rows = [(m, n, fmt4(d), fmt4(s)) for m, n, d, s in summarize(scores)]
    report = "\n\n".join([
        "# umedsam demo report",
        f"Engine: built-in LiteMedSAM weights, backend `{info['backend']}` ({info.get('threads')} threads), "
        f"{platform.processor() or platform.machine()}. Total {time.perf_counter() - t0:.1f} s.",
        "Cases named `*_US_*`, `*_Dermoscopy_*`, `*_CT_*` and `*_MR_000*` are SYNTHETIC phantoms; "
        "`DSB2018` (stardist nuclei) and `MNI152` (template MRI) are real images with real labels.",
        "## Predict + evaluate (PyTorch reference path)",
        markdown_table(["case", "modality", "DSC", "NSD", "seconds"], case_rows),
        "## Summary per modality",
        markdown_table(["modality", "cases", "DSC", "NSD"], summary_rows),
        "## Export: OpenVINO FP32 bundle",
        export_md,
        "## Parity gate: OpenVINO bundle vs PyTorch (all cases above)",
        parity_md,
        "## INT8: OpenVINO NNCF, accuracy-aware, gated against the FP32 bundle (`umedsam-quantize`)",
        int8_md,
        "## Compression: data-aware SVD / Tucker-2 to 70 % of the encoder FLOPs, U-MedSAM recovery (`umedsam-compress`)",
        lowrank_md,
        "## Native runtime (C ABI over OpenVINO's C API) vs the Python OpenVINO path, same bundle",
        native_md,
        "## Benchmark: PyTorch vs OpenVINO FP32 (Python and native), INT8 and low-rank, side by side (`umedsam-bench`)",
        bench_md,
        "## Automatic search: a short `umedsam-optimize` run (four cheap candidates)",
        optimize_md,
        "Outputs: `segs/` (challenge format), `metrics.csv`, `overlays/` (PNG), `bundles/openvino-fp32/`, "
        "`bundles/openvino-int8/`, `int8.json`, `lowrank.pth` (+ `lowrank.factorized.json`), "
        "`bundles/openvino-lowrank/`, `compress.json`, "
        "`parity.json`, `native_parity.json`, `bench.json`, `bench.png`, `optimize/` (optimize.md/.json/.png, best/).",
    ]) + "\n"
    path = root / "report.md"
    write_text_atomic(path, report)
    if not parity_ok:
        log("parity gate FAILED: see the report")
    return path


def export_and_parity(root: Path, data: Path, threads: int | None,
                      log: Callable[[str], None]) -> tuple[str, str, bool]:
    """Export the built-in weights to OpenVINO and gate the bundle against PyTorch on the demo data."""

    from umedsam.data.npz import find_cases
    from umedsam.export import ExportOptions, export_bundle
    from umedsam.export.manifest import export_summary
    from umedsam.metrics.parity import run_parity
    from umedsam.runtime.predictor import Predictor

    bundle = root / "bundles" / "openvino-fp32"
    t = time.perf_counter()
    manifest = export_bundle(None, bundle, ExportOptions(target="openvino", threads=threads, force=True),
                             log=lambda s: log(f"export: {s}"))
    log(f"export: {bundle} in {time.perf_counter() - t:.1f}s, check {manifest['status']}")
    export_md = export_summary(manifest) + f"\n\nBundle status: **{manifest['status']}**."
    with Predictor(None, threads=threads) as ref, Predictor(bundle, threads=threads) as cand:
        report = run_parity(ref, cand, find_cases(data / "imgs"), data / "gts",
                            on_case=lambda c: log(f"parity {c.case}: min agreement {c.min_agreement:.5f}"))
    write_json(root / "parity.json", report.to_json())
    return export_md, report.to_markdown(), report.passed


def quantize_int8(root: Path, data: Path, threads: int | None, log: Callable[[str], None]) -> tuple[str, Path | None]:
    """INT8 of the OpenVINO bundle with NNCF: calibrated on cases kept apart from the gate's.

    Calibration and validation: DSB2018 q1/q2 plus phantoms of another seed. Gate: the other real
    cases (DSB2018 q3/q4, MNI152) and the 2D phantoms. Preset ``encoder`` (decoder FP32) and a short
    search budget keep the demo within its 10 minutes; ``umedsam-quantize`` defaults search wider.
    """
    import shutil

    from umedsam.data.npz import find_cases
    from umedsam.quantize import QuantizeOptions, quantize_bundle
    from umedsam.quantize.report import summary_row, summary_table

    calib, gate = root / "int8_calib", root / "int8_gate"
    write_phantoms(calib, n2d=2, n3d=0, seed=101)
    for folder in ("imgs", "gts"):
        (gate / folder).mkdir(parents=True, exist_ok=True)
    for case in find_cases(data / "imgs"):
        held_out = "DSB2018q1" in case.name or "DSB2018q2" in case.name
        if not held_out and case.name.startswith("3D") and "MNI152" not in case.name:
            continue  # 3D phantoms: left out of the demo's gate for time
        for folder in ("imgs", "gts"):
            if (data / folder / case.name).is_file():
                dest = (calib if held_out else gate) / folder / case.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(data / folder / case.name, dest)
    out = root / "bundles" / "openvino-int8"
    opts = QuantizeOptions(method="nncf", preset="encoder", data=gate, threads=threads, force=True, samples=64,
                           max_evals=3, sensitivity_inputs=2)
    t = time.perf_counter()
    try:
        result = quantize_bundle(root / "bundles" / "openvino-fp32", calib, out, opts,
                                 log=lambda s: log(f"int8: {s}"))
    except Exception as exc:  # the rest of the demo still reports
        log(f"int8: skipped ({type(exc).__name__}: {exc})")
        return f"INT8 step failed: {exc}", None
    log(f"int8: {out} in {time.perf_counter() - t:.1f}s, gate {result.manifest['status']}")
    write_json(root / "int8.json", {"row": summary_row(result, out), "parity": result.parity.to_json()})
    text = (f"Calibrated and validated on `{calib.name}` (DSB2018 q1/q2 + 2 phantoms of another seed); gated on "
            f"`{gate.name}` (the other demo cases). Drops are in points, negative = worse than FP32.\n\n"
            + summary_table([summary_row(result, out)])
            + f"\n\nBundle status: **{result.manifest['status']}**.")
    return text, out


def compress_lowrank(root: Path, threads: int | None, log: Callable[[str], None]) -> tuple[str, Path | None]:
    """Factorize the built-in weights to 70 % of the encoder FLOPs, recover briefly, export to OpenVINO.

    Statistics, sensitivities and recovery use the INT8 step's calibration folder (DSB2018 q1/q2 +
    phantoms of another seed); the numbers come from the 2D cases of its gate folder (3D left out for
    time). The recovery budget is 3 minutes here; ``umedsam-compress`` defaults to 20.
    """
    import shutil

    from umedsam.compress.compress import CompressOptions
    from umedsam.compress.pipeline import CompressJob, run_compress
    from umedsam.compress.report import to_markdown
    from umedsam.export import ExportOptions, export_bundle
    from umedsam.train.trainer import TrainOptions

    calib, gate = root / "int8_calib", root / "compress_eval"
    for folder in ("imgs", "gts"):
        (gate / folder).mkdir(parents=True, exist_ok=True)
        for case in sorted((root / "int8_gate" / folder).glob("2D*.npz")):
            shutil.copyfile(case, gate / folder / case.name)
    out = root / "lowrank.pth"
    job = CompressJob(None, out, CompressOptions(flops_ratio=0.70, probe_images=1), calib=calib,
                      finetune_data=calib, data=gate, threads=threads,
                      recovery=TrainOptions(steps=100000, minutes=3.0, batch=1, boxes_per_image=4, lr=1e-5,
                                            rho=0.05, trainable="factorized", warmup=5))
    t = time.perf_counter()
    try:
        report = run_compress(job, log=lambda s: log(f"compress: {s}"))
        bundle = root / "bundles" / "openvino-lowrank"
        manifest = export_bundle(out, bundle, ExportOptions(target="openvino", threads=threads, force=True),
                                 log=lambda s: log(f"compress: export {s}"))
    except Exception as exc:  # the rest of the demo still reports
        log(f"compress: skipped ({type(exc).__name__}: {exc})")
        return f"Compression step failed: {exc}", None
    log(f"compress: {out} and {bundle} in {time.perf_counter() - t:.1f}s (export check {manifest['status']})")
    write_json(root / "compress.json", report.to_json())
    text = (f"Statistics, sensitivities and recovery on `{calib.name}`; evaluated on the 2D cases of "
            f"`{gate.name}` (kept apart). Recovery budget: 3 minutes (the command's default is 20).\n\n"
            + _demote(to_markdown(report)) + f"\n\nOpenVINO export of the compressed checkpoint: **{manifest['status']}** "
            f"(strict FP32 parity with `lowrank.pth`).")
    return text, bundle


SHORT_SEARCH = ("fp32-openvino", "fp16-openvino", "bf16-openvino", "int8w-openvino")


def optimize_short(root: Path, threads: int | None, log: Callable[[str], None]) -> str:
    """``umedsam-optimize`` on four cheap candidates (FP32, FP16 weights, bf16 and INT8 weights on OpenVINO),
    tuned on the INT8 step's calibration folder and gated on the compression step's held-out 2D cases:
    the search, the gate and the choice of ``best/`` in about three minutes. The long candidates (INT8
    static and QAT, low rank) are what ``umedsam-optimize`` itself adds (docs/COMPRESSION.md)."""
    from umedsam.bench.environment import environment
    from umedsam.optimize.report import to_markdown, write_reports
    from umedsam.optimize.search import OptimizeJob, run_optimize

    out = root / "optimize"
    t = time.perf_counter()
    try:
        job = OptimizeJob(None, root / "int8_calib", root / "compress_eval", out, minutes=10, recovery_minutes=0,
                          ratios=(), static_int8=False, threads=threads, rounds=1, only=SHORT_SEARCH)
        result = run_optimize(job, log=lambda s: log(f"optimize: {s}"))
        env = environment(threads)
        write_reports(result, out, env)
    except Exception as exc:  # the rest of the demo still reports
        log(f"optimize: skipped ({type(exc).__name__}: {exc})")
        return f"Search step failed: {exc}"
    log(f"optimize: best {result.best} in {time.perf_counter() - t:.1f}s")
    return _demote(to_markdown(result, env))


def _demote(markdown: str) -> str:
    """Headings one level down, so a command's report sits under the demo's own section heading
    (the compression report starts with its own "## Compression" heading)."""
    return "\n".join("#" + line if line.startswith("#") else line for line in markdown.splitlines())


def native_parity(root: Path, data: Path, threads: int | None, log: Callable[[str], None]) -> tuple[str, bool]:
    """The parity gate of the native runtime against the Python OpenVINO backend on the 2D cases and
    the smallest 3D case; (markdown, whether the native runtime ran)."""

    from umedsam.data.npz import find_cases
    from umedsam.errors import UmedsamError
    from umedsam.metrics.parity import run_parity
    from umedsam.runtime.native_lib import BUILD_HINT, library_path
    from umedsam.runtime.predictor import Predictor

    if library_path() is None:
        log("native: not built, skipped")
        return f"Skipped: the native runtime is not built here ({BUILD_HINT}).", False
    bundle = root / "bundles" / "openvino-fp32"
    cases = find_cases(data / "imgs")
    three_d = sorted((p for p in cases if p.name.startswith("3D")), key=lambda p: p.stat().st_size)[:1]
    cases = [p for p in cases if p.name.startswith("2D")] + three_d
    try:
        with Predictor(bundle, backend="openvino", threads=threads) as ref, \
                Predictor(bundle, backend="native", threads=threads) as cand:
            report = run_parity(ref, cand, cases, data / "gts",
                                on_case=lambda c: log(f"native parity {c.case}: {c.pixels_differ} pixels differ"))
    except UmedsamError as exc:
        log(f"native: {exc}")
        return f"Failed to run: {exc}", False
    write_json(root / "native_parity.json", report.to_json())
    skipped = len(find_cases(data / "imgs")) - len(cases)
    return (f"`umedsam-native` / `--backend native` ({cand.backend.info().get('native')}); "
            "the same masks are the target, pixel for pixel. This section covers fewer cases than the others: "
            f"the 2D cases and the smallest 3D case ({len(cases)} of {len(cases) + skipped}), because both engines "
            "run every slice of a 3D case in full and the larger 3D cases would add minutes to the demo while "
            "exercising no code path the smallest one does not.\n\n" + report.to_markdown()), True


def bench_engines(root: Path, data: Path, threads: int | None, log: Callable[[str], None],
                  int8_bundle: Path | None = None, lowrank_bundle: Path | None = None, native: bool = False) -> str:
    """A short side-by-side benchmark (PyTorch vs the OpenVINO bundles) on two 2D cases."""
    import shutil

    from umedsam.bench.report import to_markdown, write_chart
    from umedsam.bench.runner import BenchConfig, run_bench

    sub = root / "bench_data"
    names = [p.name for p in sorted((data / "imgs").glob("2D*.npz"))]
    pick = [n for n in names if "DSB2018q3" in n][:1] + [n for n in names if "_US_" in n][:1] or names[:2]
    for folder in ("imgs", "gts"):
        (sub / folder).mkdir(parents=True, exist_ok=True)
        for n in pick:
            shutil.copyfile(data / folder / n, sub / folder / n)
    fp32 = str(root / "bundles" / "openvino-fp32")
    engines = ["builtin", fp32] + ([fp32] if native else []) + ([str(int8_bundle)] if int8_bundle else []) \
        + ([str(lowrank_bundle)] if lowrank_bundle else [])
    backends = [None, None] + (["native"] if native else []) + [None] * (len(engines) - 2 - native)
    cfg = BenchConfig(engines=engines, data=sub, threads=threads, backends=backends,
                      warmup=1, iters=3)
    result = run_bench(cfg, progress=lambda s: log(f"bench: {s}"))
    write_json(root / "bench.json", result)
    write_chart(result, root / "bench.png")
    return to_markdown(result)
