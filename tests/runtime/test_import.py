"""The runtime must import no torch and no onnx."""

from __future__ import annotations

import subprocess
import sys

import pytest

from umedsam.errors import EngineError
from umedsam.runtime.formats import resolve_format


def test_runtime_import_pulls_no_torch_or_onnx():
    code = ("import sys, umedsam.runtime, umedsam.runtime.batch, umedsam.data.npz, umedsam.cli.predict;"
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'onnx', 'onnxscript'));"
            "assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_format_table_resolution(tmp_path):
    assert resolve_format(None).name == "torch"
    (tmp_path / "m.pth").write_bytes(b"")
    assert resolve_format(tmp_path / "m.pth").name == "torch"
    with pytest.raises(EngineError, match="not found"):
        resolve_format(tmp_path / "absent.pth")
    (tmp_path / "m.xyz").write_bytes(b"")
    with pytest.raises(EngineError, match="unknown engine suffix"):
        resolve_format(tmp_path / "m.xyz")
    with pytest.raises(EngineError, match="no manifest.json"):
        resolve_format(tmp_path)
    with pytest.raises(EngineError, match="unknown backend"):
        resolve_format(None, backend="nope")
