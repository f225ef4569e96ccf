"""predict and eval end to end on phantoms with the built-in weights (in-process typer runner)."""

from __future__ import annotations

import json

import numpy as np
from typer.testing import CliRunner

from umedsam.cli.main import app
from umedsam.data.npz import load_case, save_npz_atomic

runner = CliRunner()


def test_phantoms_predict_eval_end_to_end(tmp_path):
    data = tmp_path / "data"
    result = runner.invoke(app, ["phantoms", "-o", str(data), "--n2d", "2", "--n3d", "1", "--seed", "3"])
    assert result.exit_code == 0, result.output
    # keep the 3D case short: one box over 3 slices
    ct = data / "imgs" / "3DBox_CT_0001.npz"
    case = load_case(ct)
    box = case.boxes[0].copy()
    zmid = (box[2] + box[5]) // 2
    box[2], box[5] = zmid - 1, zmid + 1
    save_npz_atomic(ct, imgs=case.imgs, boxes=box[None], spacing=case.spacing)
    gts = np.load(data / "gts" / ct.name)["gts"]
    gt = np.where((gts == 1) & (np.arange(len(gts))[:, None, None] >= box[2]) &
                  (np.arange(len(gts))[:, None, None] <= box[5]), 1, 0).astype(np.uint8)
    save_npz_atomic(data / "gts" / ct.name, gts=gt, spacing=case.spacing)
    # a malformed case must not stop the others
    np.savez(data / "imgs" / "2DBox_Broken_0009.npz", imgs=np.zeros((10, 10), np.uint8), boxes=np.zeros((1, 4)))

    out = tmp_path / "out"
    result = runner.invoke(app, ["predict", "-i", str(data), "-o", str(out), "--threads", "2",
                                 "--overlays", str(tmp_path / "png")])
    assert result.exit_code == 1
    assert "2DBox_Broken_0009.npz: field 'imgs'" in result.output
    written = sorted(p.name for p in out.glob("*.npz"))
    assert written == ["2DBox_Dermoscopy_0001.npz", "2DBox_US_0002.npz", "3DBox_CT_0001.npz"]
    eff = (out / "efficiency.csv").read_text(encoding="utf-8").splitlines()
    assert eff[0] == "case,time" and len(eff) == 4
    sidecar = json.loads((out / "3DBox_CT_0001.json").read_text(encoding="utf-8"))
    assert sidecar["boxes"][0]["slices"] == 3 and 0 <= sidecar["boxes"][0]["iou"] <= 1.2
    assert len(list((tmp_path / "png").glob("*.png"))) == 3
    segs = np.load(out / "3DBox_CT_0001.npz")["segs"]
    assert segs.dtype == np.uint16 and segs.shape == case.imgs.shape
    assert not segs[: box[2]].any() and not segs[box[5] + 1:].any()

    csv = tmp_path / "metrics.csv"
    result = runner.invoke(app, ["eval", "--segs", str(out), "--gts", str(data / "gts"), "--csv", str(csv),
                                 "--json", str(tmp_path / "m.json")])
    assert result.exit_code == 0, result.output
    rows = csv.read_text(encoding="utf-8").splitlines()
    assert rows[0] == "case,dsc,nsd" and len(rows) == 4
    for row in rows[1:]:
        _, dsc, nsd = row.split(",")
        assert len(dsc.split(".")[1]) == 4 and 0.5 < float(dsc) <= 1 and 0.5 < float(nsd) <= 1
    assert "| overall | 3 |" in result.output
    summary = json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))["summary"]
    assert {s["modality"] for s in summary} == {"CT", "Dermoscopy", "US", "overall"}


def test_eval_reports_missing_prediction(tmp_path):
    gts = tmp_path / "gts"
    save_npz_atomic(gts / "2DBox_X_0001.npz", gts=np.ones((5, 5), np.uint8))
    (tmp_path / "segs").mkdir()
    result = runner.invoke(app, ["eval", "--segs", str(tmp_path / "segs"), "--gts", str(gts)])
    assert result.exit_code == 1 and "prediction missing" in result.output


def test_predict_missing_engine_is_one_line(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "2DBox_A_0001.npz").write_bytes(b"")  # a case, so the engine is what fails
    result = runner.invoke(app, ["predict", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "o"),
                                 "--engine", str(tmp_path / "nope.pth")])
    assert result.exit_code == 1 and "engine not found" in result.output


def test_predict_folder_without_cases_says_what_is_accepted(tmp_path):
    (tmp_path / "in").mkdir()
    result = runner.invoke(app, ["predict", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "no input case: expected challenge cases 2D*.npz / 3D*.npz" in result.output and "empty" in result.output
    assert not (tmp_path / "o").exists()
    (tmp_path / "in" / "notes.txt").write_text("not a case")   # not empty, but nothing it can read: one line, exit 1
    result = runner.invoke(app, ["predict", "-i", str(tmp_path / "in"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1 and "notes.txt: field '<format>': unknown format" in result.output


def test_messages_and_help_keep_brackets(capsys):
    from umedsam.cli.common import fail, warn

    result = runner.invoke(app, ["predict", "--help"], terminal_width=200)
    assert "umedsam[cluster]" in result.output
    fail("needs the export tools: pip install 'umedsam[export]'")
    warn("[bold]not markup[/bold]")
    err = capsys.readouterr().err
    assert "pip install 'umedsam[export]'" in err and "[bold]not markup[/bold]" in err


def test_predict_console_entry_profile_and_fast_exit(tmp_path, small_2d):
    """``python -m umedsam.cli.predict`` ends with os._exit: the exit code and outputs must survive it."""
    import subprocess
    import sys

    data = tmp_path / "in"
    (data / "imgs").mkdir(parents=True)
    for p in (small_2d / "imgs").glob("*.npz"):
        (data / "imgs" / p.name).write_bytes(p.read_bytes())
    np.savez(data / "imgs" / "2DBox_Broken_0009.npz", imgs=np.zeros((10, 10), np.uint8), boxes=np.zeros((1, 4)))
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "umedsam.cli.predict", "-i", str(data), "-o", str(out),
                        "--threads", "2", "--profile", "--no-sidecars"], capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 1, r.stderr
    assert "2DBox_Broken_0009.npz: field 'imgs'" in r.stderr
    assert "cases written to" in r.stdout  # stdout flushed before the fast exit
    for stage in ("process start -> command", "import the runtime", "open the engine", "read case",
                  "segment 2D", "write segs", "write efficiency.csv", "overhead"):
        assert stage in r.stderr, stage
    assert (out / "efficiency.csv").read_text(encoding="utf-8").count("\n") == 2
    assert [p.name for p in out.glob("*.npz")] == [p.name for p in (small_2d / "imgs").glob("*.npz")]


def test_predict_entry_skips_the_openvino_converter(tmp_path, small_2d, ov_bundle):
    """The ``umedsam-predict`` process never imports OpenVINO's model converter (0.11 s of start-up)
    and still runs an OpenVINO bundle: the runtime does not need it."""
    import subprocess
    import sys

    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "umedsam.cli.predict", "-i", str(small_2d),
                        "-o", str(out), "--engine", str(ov_bundle[0]), "--threads", "2"],
                       capture_output=True, text=True, encoding="utf-8", errors="replace")
    assert r.returncode == 0, r.stderr[-2000:]
    imported = [line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")]
    assert "openvino._ov_api" in imported
    # (-X importtime lists the halted import of openvino.tools.ovc itself, at ~0 us; nothing under it runs)
    assert not [n for n in imported if n.startswith(("openvino.tools.ovc.", "openvino_telemetry"))]
    assert [p.name for p in out.glob("*.npz")] == [p.name for p in (small_2d / "imgs").glob("*.npz")]


def test_library_warnings_are_one_line(capsys):
    import warnings

    from umedsam.cli.common import route_warnings

    route_warnings()
    warnings.warn("a library complains\nwith a second line", UserWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err.strip() == "warning: UserWarning: a library complains"
