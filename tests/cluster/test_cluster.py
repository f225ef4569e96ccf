"""Predict and parity on a real local Ray cluster (2 workers x 1 thread on this 2-core machine).

Distributed outputs must equal the single-process run at the same threads per process; a worker
killed mid-run must lose no case; a malformed case must be reported without stopping the others.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("ray", reason="the cluster extra is not installed (pip install 'umedsam[cluster]')")

from umedsam.cluster.runner import ClusterOptions  # noqa: E402
from umedsam.data.npz import find_cases, load_segs  # noqa: E402

pytestmark = pytest.mark.slow  # a minute or more each; `pytest -m "not slow"` skips them


@pytest.fixture(scope="module")
def cases(small_cases, tmp_path_factory):
    """The 2D phantom and two renamed copies (more tasks than workers), the 3D phantom cut to 4 slices
    (1 thread per worker makes full volumes slow here) and a broken case."""
    from umedsam.data.npz import load_case, load_gt

    root = tmp_path_factory.mktemp("cluster_cases")
    for sub in ("imgs", "gts"):
        (root / sub).mkdir()
        for p in (small_cases / sub).glob("2D*.npz"):
            for suffix in ("", "_copy2", "_copy3"):
                shutil.copy(p, root / sub / p.name.replace(".npz", f"{suffix}.npz"))
    for p in (small_cases / "imgs").glob("3D*.npz"):
        case = load_case(p)
        gts, spacing = load_gt(small_cases / "gts" / p.name)
        z0 = int(case.boxes[:, 2].max())  # 4 slices that every box covers part of
        boxes = case.boxes.copy()
        boxes[:, 2] = np.clip(boxes[:, 2] - z0, 0, 3)
        boxes[:, 5] = np.clip(boxes[:, 5] - z0, 0, 3)
        np.savez_compressed(root / "imgs" / p.name, imgs=case.imgs[z0:z0 + 4], boxes=boxes, spacing=case.spacing)
        np.savez_compressed(root / "gts" / p.name, gts=gts[z0:z0 + 4], spacing=spacing)
    (root / "imgs" / "2DBox_Broken_0001.npz").write_bytes(b"not an npz")
    return root


@pytest.fixture(scope="module")
def local_run(ov_bundle, cases, tmp_path_factory):
    """The single-process reference: the same engine at 1 thread."""
    from umedsam.runtime.batch import predict_folder
    from umedsam.runtime.predictor import Predictor

    out = tmp_path_factory.mktemp("local_out")
    with Predictor(ov_bundle[0], threads=1) as p:
        results = predict_folder(p, cases, out)
    return out, results


def _same_outputs(a: Path, b: Path, names: list[str]) -> None:
    for name in names:
        np.testing.assert_array_equal(load_segs(a / name), load_segs(b / name), err_msg=name)
        sa, sb = (json.loads((d / name.replace(".npz", ".json")).read_text(encoding="utf-8")) for d in (a, b))
        assert sa["boxes"] == sb["boxes"] and sa["kind"] == sb["kind"]


def test_distributed_predict_equals_local(ov_bundle, cases, local_run, tmp_path):
    from umedsam.cluster.predict import predict_distributed

    local_out, local_results = local_run
    out = tmp_path / "out"
    results, report = predict_distributed(str(ov_bundle[0]), cases, out, ClusterOptions("local", 2, 1))
    ok = [r.name for r in results if r.ok]
    assert ok == [r.name for r in local_results if r.ok] and len(ok) == len(find_cases(cases)) - 1
    _same_outputs(local_out, out, ok)
    # the broken case: one line naming the file and field, no output, the others done
    (bad,) = [r for r in results if not r.ok]
    assert "2DBox_Broken_0001.npz: field '<file>'" in bad.error and str(cases) in bad.error
    assert not (out / "2DBox_Broken_0001.npz").exists()
    csv = (out / "efficiency.csv").read_text(encoding="utf-8").splitlines()
    assert csv[0] == "case,time" and [line.split(",")[0] for line in csv[1:]] == ok
    saved = json.loads((out / "cluster.json").read_text(encoding="utf-8"))
    assert saved["workers"] == 2 and saved["threads_per_worker"] == 1
    assert all(w["threads"] == 1 for w in saved["workers_detail"]) and len({w["pid"] for w in saved["workers_detail"]}) == 2
    assert {c["worker"] for c in saved["per_case"]} == {0, 1}  # both workers took cases
    assert not list(out.glob(".*"))  # no temporary files left


def test_worker_killed_mid_run_loses_no_case(ov_bundle, cases, local_run, tmp_path):
    from umedsam.cluster.predict import predict_distributed

    local_out, local_results = local_run
    out = tmp_path / "out"
    state: dict = {}

    def on_start(cluster):
        state["pids"] = [w["pid"] for w in cluster.info["worker_info"]]

    def on_case(result):
        if state.get("killed") or not result.ok:
            return
        finished_on = json.loads((out / result.name.replace(".npz", ".json")).read_text(encoding="utf-8"))["cluster"]["pid"]
        victim = next(p for p in state["pids"] if p != finished_on)  # the worker still busy with a case
        os.kill(victim, signal.SIGKILL)
        state["killed"] = victim

    results, report = predict_distributed(str(ov_bundle[0]), cases, out, ClusterOptions("local", 2, 1),
                                          on_case=on_case, on_start=on_start)
    assert state.get("killed")
    ok = [r.name for r in results if r.ok]
    assert ok == [r.name for r in local_results if r.ok], [(c["case"], c["attempts"], c["error"]) for c in report["per_case"]]
    _same_outputs(local_out, out, ok)
    retried = [c for c in report["per_case"] if c["attempts"] > 1]
    assert retried and all(c["ok"] for c in retried), report["per_case"]
    assert not list(out.glob(".*"))


def test_distributed_parity_equals_local(ov_bundle, onnx_bundle, cases, tmp_path):
    from umedsam.cluster.parity import parity_distributed
    from umedsam.metrics.parity import run_parity
    from umedsam.runtime.predictor import Predictor

    paths = [p for p in find_cases(cases) if "copy" not in p.name]  # 2D, 3D, broken (CI time)
    gts = cases / "gts"
    with Predictor(ov_bundle[0], threads=1) as ref, Predictor(onnx_bundle[0], threads=1) as cand:
        local = run_parity(ref, cand, paths, gts)
    dist, info = parity_distributed(str(ov_bundle[0]), str(onnx_bundle[0]), paths, gts, ClusterOptions("local", 2, 1))
    assert info["workers"] == 2 and info["threads_per_worker"] == 1
    assert [c.case for c in dist.cases] == [c.case for c in local.cases]
    for a, b in zip(local.cases, dist.cases):
        assert (a.error is None) == (b.error is None), (a.case, a.error, b.error)
        assert a.agreement == b.agreement and a.pixels_differ == b.pixels_differ
        assert a.ref_dsc == b.ref_dsc or (np.isnan(a.ref_dsc) and np.isnan(b.ref_dsc))
    assert dist.overall["pixels_differ"] == local.overall["pixels_differ"] and dist.passed == local.passed


def test_heaviest_cases_first(cases):
    from umedsam.cluster.weights import case_weight, heaviest_first

    order = [p.name for p, _ in heaviest_first(find_cases(cases))]
    assert order[0].startswith("3D") and case_weight(cases / "imgs" / order[0]) >= 4  # slices its boxes cover
    assert case_weight(cases / "imgs" / "2DBox_Broken_0001.npz") == 1.0


def test_oversubscription_refused():
    from umedsam.cluster.runner import connect
    from umedsam.errors import UmedsamError

    with pytest.raises(UmedsamError, match="oversubscription"):
        connect(ClusterOptions("local", workers=os.cpu_count() or 1, threads=2))


def test_cli_predict_cluster(ov_bundle, cases, local_run, tmp_path):
    from typer.testing import CliRunner

    from umedsam.cli.predict import app

    sub = tmp_path / "in"
    sub.mkdir()
    for p in find_cases(cases):
        if "copy" not in p.name:
            shutil.copy(p, sub / p.name)
    out = tmp_path / "out"
    r = CliRunner().invoke(app, ["-i", str(sub), "-o", str(out), "--engine", str(ov_bundle[0]), "--cluster", "local",
                                 "--workers", "2", "--threads", "1", "--no-sidecars"])
    assert r.exit_code == 1  # the broken case
    assert "on 2 workers x 1 threads" in r.output and "2DBox_Broken_0001.npz: field '<file>'" in r.output
    for p in find_cases(sub):
        if "Broken" not in p.name:
            np.testing.assert_array_equal(load_segs(out / p.name), load_segs(local_run[0] / p.name))
