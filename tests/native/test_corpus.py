"""The native reader's corpus (tests/native/corpus/: hostile cases and fuzz seeds, made by make_corpus.py)
replayed through the native reader in a child process (a crash fails the test, not the session) and
through the Python reader: the same outcome, field and reason for every file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.native.test_cases import FUZZ_CHILD
from umedsam.data.npz import load_case
from umedsam.errors import CaseError

CORPUS = Path(__file__).resolve().parent / "corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_corpus_is_complete():
    assert sorted(p.name for p in CORPUS.glob("*.npz")) == sorted(EXPECTED)


def test_corpus_replayed_through_both_readers(lib, monkeypatch):
    from umedsam.runtime import native_lib

    monkeypatch.setenv("UMEDSAM_MAX_ARRAY_MB", "1")
    paths = [CORPUS / name for name in sorted(EXPECTED)]
    r = subprocess.run([sys.executable, "-c", FUZZ_CHILD, *map(str, paths)], capture_output=True, text=True, encoding="utf-8", errors="replace",
                       env=dict(os.environ), timeout=300)
    assert r.returncode == 0, f"native reader crashed (rc {r.returncode}): {r.stderr[-2000:]}"
    for path, (status, msg, dims, n_boxes) in zip(paths, json.loads(r.stdout)):
        field, text = EXPECTED[path.name]
        try:
            case, py_msg = load_case(path), None
        except CaseError as exc:
            case, py_msg = None, str(exc)
        if not field:
            assert status == native_lib.OK, msg
            assert case is not None and dims == list(case.imgs.shape) and n_boxes == len(case.boxes)
            continue
        assert status == native_lib.ERR_CASE, (path.name, status, msg)
        for m in (msg, py_msg):
            assert m is not None and m.startswith(f"{path}: field '{field}': ") and text in m, (path.name, m)


@pytest.mark.parametrize("name", ["2Dzip_bomb.npz", "3Dheader_huge.npz"])
def test_native_refuses_bombs_at_the_default_limit_without_inflating(lib, name, monkeypatch):
    """At the default 2 GiB limit the 8 MiB bomb is legal: read; the 10^15-byte header is refused."""
    from umedsam.runtime import native_lib

    monkeypatch.delenv("UMEDSAM_MAX_ARRAY_MB", raising=False)
    status, msg, info = native_lib.check_case(str(CORPUS / name))
    if name.startswith("2D"):
        assert status == native_lib.OK and list(info.dims) == [2048, 1365, 3], msg
    else:
        assert status == native_lib.ERR_CASE and "declares 1000000000000000 bytes, over the limit of 2147483648" in msg
