"""Every file the commands write gets the process umask's mode (0644 under umask 022), on both runtimes.

tempfile.mkstemp/mkdtemp create 0600/0700; results are read by other users (an evaluator, a
container's host), so writers must restore the mode ``open()`` would give (umedsam/common.py).
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path



def _run(args: list[str], umask: int = 0o022, exe: str | None = None) -> subprocess.CompletedProcess:
    cmd = [exe] + args if exe else [sys.executable, "-m", "umedsam.cli.main"] + args
    run = subprocess.run(cmd, capture_output=True, text=True, encoding="utf-8", errors="replace", preexec_fn=lambda: os.umask(umask), timeout=600)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-2000:]
    return run


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode) for p in [root, *root.rglob("*")]}


def _assert_modes(root: Path, file_mode: int, dir_mode: int) -> None:
    modes = _modes(root)
    assert len(modes) > 1, f"{root} is empty"
    wrong = {name: oct(m) for name, m in modes.items()
             if m != (dir_mode if (root / name).is_dir() else file_mode)}
    assert not wrong, wrong


def test_predict_eval_export_bench_write_umask_modes(ov_bundle, onnx_bundle, small_2d, tmp_path):
    out = tmp_path / "out"
    run = _run(["predict", "-i", str(small_2d), "-o", str(out / "segs"), "--engine", str(ov_bundle[0]), "--threads", "2",
                "--overlays", str(out / "png")])
    assert "predict: 1/1 2DBox" in run.stderr   # stderr is a pipe here: plain progress lines, not a silent bar
    _run(["eval", "--segs", str(out / "segs"), "--gts", str(small_2d / "gts"), "--csv", str(out / "eval" / "m.csv"),
          "--json", str(out / "eval" / "m.json")])
    _run(["export", "--target", "openvino", "--from-onnx", str(onnx_bundle[0]), "--no-check", "-o", str(out / "bundle")])
    run = _run(["bench", "--engine", str(ov_bundle[0]), "--data", str(small_2d), "--warmup", "0", "--iters", "1",
                "--no-cold-start", "--threads", "2", "--json", str(out / "bench" / "b.json"), "--png", str(out / "bench" / "b.png")])
    assert "benchmarking: " in run.stderr
    _assert_modes(out, 0o644, 0o755)
    assert (out / "png").is_dir() and (out / "bundle" / "manifest.json").is_file() and (out / "bench" / "b.json").is_file()


def test_modes_follow_the_umask_not_a_constant(small_2d, ov_bundle, tmp_path):
    out = tmp_path / "private"
    _run(["predict", "-i", str(small_2d), "-o", str(out), "--engine", str(ov_bundle[0]), "--threads", "2"], umask=0o077)
    _assert_modes(out, 0o600, 0o700)


def test_native_predict_writes_umask_modes(native_build, ov_bundle, small_2d, tmp_path):
    exe = str(native_build.executable)
    out = tmp_path / "native"
    _run(["-i", str(small_2d), "-o", str(out), "--bundle", str(ov_bundle[0]), "--threads", "2"], exe=exe)
    _assert_modes(out, 0o644, 0o755)
