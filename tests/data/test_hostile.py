"""Hostile and absurd cases: refused in one line naming the file and field, before any large allocation;
the Python reader fuzzed with Hypothesis (bounded: a few seconds)."""

from __future__ import annotations

import io
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.data import hostile
from umedsam.data.npz import load_case, max_array_bytes, output_problem, save_segs
from umedsam.errors import CaseError


@pytest.fixture()
def cases(tmp_path, monkeypatch):
    monkeypatch.setenv("UMEDSAM_MAX_ARRAY_MB", "1")
    return tmp_path, hostile.hostile_cases(tmp_path / "hostile")


def test_every_hostile_case_refused_in_one_line(cases):
    root, expect = cases
    for name, (field, text) in expect.items():
        path = root / "hostile" / name
        if not field:
            assert load_case(path).imgs.shape == (3, 8, 9)
            continue
        with pytest.raises(CaseError) as err:
            load_case(path)
        msg = str(err.value)
        assert msg.startswith(f"{path}: field '{field}': "), msg
        assert text in msg and "\n" not in msg, msg


def test_zip_bomb_refused_before_allocating(cases):
    root, _ = cases
    bomb = root / "hostile" / "2Dzip_bomb.npz"
    assert bomb.stat().st_size < 64 * 1024  # 8 MiB of zeros
    tracemalloc.start()  # numpy reports its array allocations to tracemalloc
    try:
        with pytest.raises(CaseError, match="member inflates to 8386688 bytes"):
            load_case(bomb)
        with pytest.raises(CaseError, match="declares 1000000000000000 bytes"):
            load_case(root / "hostile" / "3Dheader_huge.npz")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, peak


def test_limit_from_the_environment(monkeypatch):
    monkeypatch.delenv("UMEDSAM_MAX_ARRAY_MB", raising=False)
    assert max_array_bytes() == 2048 << 20
    monkeypatch.setenv("UMEDSAM_MAX_ARRAY_MB", "0.5")
    assert max_array_bytes() == 512 << 10


def test_output_problem_says_what_is_wrong(tmp_path):
    case = hostile.case(tmp_path / "2Dcase.npz", imgs=np.zeros((12, 10, 3), np.uint8), boxes=hostile.BOX2D)
    out = tmp_path / "out.npz"
    assert "missing" in output_problem(case, out)
    save_segs(out, np.zeros((12, 10), np.uint16))
    assert output_problem(case, out) is None
    save_segs(out, np.zeros((10, 12), np.uint16))
    assert "shape (10, 12) is not the case's (12, 10)" in output_problem(case, out)
    save_segs(out, np.zeros((12, 10), np.uint16))
    out.write_bytes(out.read_bytes()[:-30])  # truncated: the zip directory is gone
    assert "field '<file>'" in output_problem(case, out)


# ---------------------------------------------------------------- fuzzing (Hypothesis, bounded)
def _seed_bytes(kind: str) -> bytes:
    buf = io.BytesIO()
    if kind == "2D":
        np.savez_compressed(buf, imgs=np.arange(12 * 10 * 3, dtype=np.uint8).reshape(12, 10, 3), boxes=hostile.BOX2D)
    else:
        np.savez(buf, imgs=hostile.vol(), boxes=hostile.BOX3D, spacing=np.ones(3))
    return buf.getvalue()


SEEDS = {k: _seed_bytes(k) for k in ("2D", "3D")}
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@FUZZ
@given(kind=st.sampled_from(["2D", "3D"]),
       edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), min_size=1, max_size=8),
       cut=st.one_of(st.none(), st.integers(0, 4000)))
def test_fuzz_mutated_archives_never_crash(tmp_path_factory, kind, edits, cut):
    data = bytearray(SEEDS[kind])
    for pos, value in edits:
        data[pos % len(data)] = value
    if cut is not None:
        data = data[:cut]
    path = tmp_path_factory.mktemp("fz") / f"{kind}fuzz.npz"
    path.write_bytes(bytes(data))
    try:
        case = load_case(path)
    except CaseError as exc:
        assert str(exc).startswith(f"{path}: field '") and "\n" not in str(exc)
        return
    assert case.imgs.dtype == np.uint8 and case.boxes.shape[1] == (4 if kind == "2D" else 6)


_dtypes = st.sampled_from(["|u1", "<u2", "<i4", "<f4", "<f8", "|b1", ">f4", "<f2", "<c8", "<U3", "|O"])


@FUZZ
@given(kind=st.sampled_from(["2D", "3D"]),
       shape=st.lists(st.integers(0, 1 << 40), min_size=0, max_size=4).map(tuple),
       descr=_dtypes, payload=st.integers(0, 512), key=st.sampled_from(["imgs", "boxes", "spacing"]))
def test_fuzz_declared_headers_never_allocate_or_crash(tmp_path_factory, kind, shape, descr, payload, key):
    """Arbitrary declared shapes and dtypes in one member's header: refused or read, never a large allocation."""
    members = {"imgs.npy": hostile.npy_bytes(hostile.vol() if kind == "3D" else np.zeros((4, 4, 3), np.uint8)),
               "boxes.npy": hostile.npy_bytes(hostile.BOX3D if kind == "3D" else hostile.BOX2D)}
    members[f"{key}.npy"] = hostile.npy_header(descr, shape) + bytes(payload)
    path = hostile.write_members(tmp_path_factory.mktemp("fh") / f"{kind}hdr.npz", members)
    tracemalloc.start()
    try:
        load_case(path)
    except CaseError as exc:
        assert str(exc).startswith(f"{path}: field '") and "\n" not in str(exc)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 4 << 20, (shape, descr, peak)
