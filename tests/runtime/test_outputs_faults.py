"""Outputs under faults, for ``umedsam-predict`` and ``umedsam-native``: two runs writing one folder, a run
killed with SIGKILL mid-run, a full disk (a small tmpfs, or RLIMIT_FSIZE where mounting is not
allowed) leave only complete files; ``--resume`` finishes the job, skipping complete outputs."""

from __future__ import annotations

import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from umedsam.data.npz import find_cases, output_problem


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    """Five small 2D cases (a run takes a few seconds, so it can be killed part-way)."""
    from umedsam.data.phantoms import write_phantoms

    root = tmp_path_factory.mktemp("fault_cases")
    write_phantoms(root, n2d=5, n3d=0, seed=11)
    return root / "imgs"


def _predict(cases: Path, out: Path, bundle: Path, *extra: str, **kw) -> list[str]:
    return [sys.executable, "-m", "umedsam.cli.predict", "-i", str(cases), "-o", str(out), "--engine", str(bundle),
            "--threads", "1", "--no-sidecars", *extra]


def _native(exe: Path, cases: Path, out: Path, bundle: Path, *extra: str) -> list[str]:
    return [str(exe), "-i", str(cases), "-o", str(out), "--bundle", str(bundle), "--threads", "1", *extra]


def _runners(request, cases: Path, out: Path, *extra: str) -> list[str]:
    bundle, _ = request.getfixturevalue("ov_bundle")
    if request.param == "python":
        return _predict(cases, out, bundle, *extra)
    native = request.getfixturevalue("native_build")
    return _native(native.executable, cases, out, bundle, *extra)


@pytest.fixture(params=["python", "native"])
def command(request):
    return lambda cases, out, *extra: _runners(request, cases, out, *extra)


def _assert_complete(cases: Path, out: Path, expect_all: bool) -> list[str]:
    """Every visible output is a complete, valid prediction; no temporary file is left."""
    names = sorted(p.name for p in out.glob("*.npz"))
    for name in names:
        assert output_problem(cases / name, out / name) is None, name
    if expect_all:
        assert names == [p.name for p in find_cases(cases)]
    csv = (out / "efficiency.csv").read_text(encoding="utf-8").splitlines() if (out / "efficiency.csv").exists() else []
    if csv:
        assert csv[0] == "case,time" and all(len(line.split(",")) == 2 for line in csv[1:])
    return names


def _hidden(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir() if p.name.startswith("."))


def test_two_runs_writing_one_folder(command, cases, tmp_path):
    out = tmp_path / "out"
    procs = [subprocess.Popen(command(cases, out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, encoding="utf-8", errors="replace")
             for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    _assert_complete(cases, out, expect_all=True)
    assert _hidden(out) == []  # unique temporary names: neither run renamed the other's half file
    assert len((out / "efficiency.csv").read_text(encoding="utf-8").splitlines()) == 1 + len(find_cases(cases))


def test_sigkill_mid_run_then_resume(command, cases, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(command(cases, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    # kill once the first case is fully reported (its segs written and its row in efficiency.csv): killing
    # between the two would lose that case's time, which --resume cannot know
    csv = out / "efficiency.csv"
    while time.monotonic() < deadline and proc.poll() is None:
        if list(out.glob("*.npz")) and csv.is_file() and len(csv.read_text(encoding="utf-8").splitlines()) >= 2:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = _assert_complete(cases, out, expect_all=False)
    assert 1 <= len(done) < len(find_cases(cases)), done  # killed part-way, after the first case
    r = subprocess.run(command(cases, out, "--resume"), capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"{len(done)} already complete" in r.stdout, r.stdout
    assert sum("skipped (output complete)" in line for line in r.stderr.splitlines()) in (0, len(done))
    _assert_complete(cases, out, expect_all=True)
    rows = [line.split(",")[0] for line in (out / "efficiency.csv").read_text(encoding="utf-8").splitlines()[1:]]
    assert sorted(rows) == [p.name for p in find_cases(cases)]  # the killed run's times were kept
    # a SIGKILLed writer can leave only its hidden temporary file (never a visible partial output)
    assert all(name.endswith(".tmp") or ".npz." in name for name in _hidden(out)), _hidden(out)


def test_resume_redoes_a_corrupt_output(command, cases, tmp_path):
    out = tmp_path / "out"
    assert subprocess.run(command(cases, out), capture_output=True, timeout=600).returncode == 0
    first = find_cases(cases)[0].name
    (out / first).write_bytes((out / first).read_bytes()[:-40])  # truncated by something else
    r = subprocess.run(command(cases, out, "--resume"), capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600)
    assert r.returncode == 0 and f"{len(find_cases(cases)) - 1} already complete" in r.stdout, r.stdout + r.stderr
    _assert_complete(cases, out, expect_all=True)


@pytest.fixture()
def full_disk(tmp_path):
    """A 256 KiB tmpfs filled up but for a few bytes; skips where mounting is not permitted."""
    mnt = tmp_path / "mnt"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k", "tmpfs", str(mnt)], capture_output=True, text=True, encoding="utf-8", errors="replace")
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); test_file_size_limit covers the full disk")
    try:
        (mnt / "out").mkdir()
        with open(mnt / "filler", "wb", buffering=0) as f:
            try:
                while True:
                    f.write(bytes(512))
            except OSError:  # ENOSPC: the disk is full
                pass
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_full_disk_leaves_no_partial_file(command, cases, full_disk):
    out = full_disk / "out"
    r = subprocess.run(command(cases, out), capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600)
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) >= len(find_cases(cases)), r.stderr
    for p in find_cases(cases):
        assert any(f"{out / p.name}: cannot write" in e and "No space left on device" in e for e in errors), (p, errors)
    assert os.listdir(out) == []  # no output, no temporary file
    (full_disk / "filler").unlink()
    r = subprocess.run(command(cases, out, "--resume"), capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600)
    assert r.returncode == 0, r.stderr
    _assert_complete(cases, out, expect_all=True)


def _fsize_limit(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # write() then fails with EFBIG instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
    return apply


def test_file_size_limit_leaves_no_partial_file(command, cases, tmp_path):
    """RLIMIT_FSIZE (works without root): outputs over 300 bytes cannot be written."""
    out = tmp_path / "out"
    out.mkdir()
    r = subprocess.run(command(cases, out), capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600, preexec_fn=_fsize_limit(300))
    assert r.returncode == 1, r.stderr
    errors = [line for line in r.stderr.splitlines() if line.startswith("error:")]
    for p in find_cases(cases):
        assert any(f"{out / p.name}: cannot write" in e and "too large" in e for e in errors), (p, r.stderr)
    assert sorted(os.listdir(out)) in ([], ["efficiency.csv"])  # only the (small, complete) CSV
    r = subprocess.run(command(cases, out, "--resume"), capture_output=True, text=True, encoding="utf-8", errors="replace", timeout=600)
    assert r.returncode == 0, r.stderr
    _assert_complete(cases, out, expect_all=True)
    shutil.rmtree(out)
