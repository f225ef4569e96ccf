"""umedsam/common.py: atomic writes with the umask's mode, JSON, the escaping table writer, speed wording."""

from __future__ import annotations

import json
import os
import stat

import numpy as np
import pytest

import umedsam.common
from umedsam.common import (commit_dir, markdown_table, speed_ratio, staging_dir, write_bytes_atomic, write_json,
                            write_text_atomic)
from umedsam.errors import UmedsamError
from tests.markdown_tables import assert_tables_render, cells


@pytest.fixture
def umask022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_atomic_files_get_the_umask_mode(tmp_path, umask022):
    write_text_atomic(tmp_path / "a" / "r.md", "x")
    assert stat.S_IMODE((tmp_path / "a" / "r.md").stat().st_mode) == 0o644
    os.umask(0o077)
    write_bytes_atomic(tmp_path / "b.bin", b"\0")
    assert stat.S_IMODE((tmp_path / "b.bin").stat().st_mode) == 0o600


def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch):
    target = tmp_path / "r.json"
    write_json(target, {"a": 1})

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(umedsam.common.os, "replace", full_disk)
    with pytest.raises(OSError):
        write_json(target, {"a": 2})
    assert json.loads(target.read_text(encoding="utf-8")) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_write_json_handles_numpy_and_paths(tmp_path):
    write_json(tmp_path / "n.json", {"f": np.float32(0.5), "i": np.int64(3), "b": np.bool_(True), "p": tmp_path})
    data = json.loads((tmp_path / "n.json").read_text(encoding="utf-8"))
    assert data == {"f": 0.5, "i": 3, "b": True, "p": str(tmp_path)}


def test_staged_folder_is_renamed_into_place_with_normal_mode(tmp_path, umask022):
    out = tmp_path / "bundle"
    tmp = staging_dir(out, force=False)
    (tmp / "f").write_text("x")
    commit_dir(tmp, out)
    assert (out / "f").read_text(encoding="utf-8") == "x" and stat.S_IMODE(out.stat().st_mode) == 0o755
    with pytest.raises(UmedsamError, match="already exists"):
        staging_dir(out, force=False)


def test_table_cells_are_escaped():
    text = markdown_table(["emb max|Δ|", "a\nb"], [["x|y", 1], [r"already \| escaped", None]])
    assert assert_tables_render(text) == 1
    assert cells(text.splitlines()[0]) == [r"emb max\|Δ\|", "a b"]
    with pytest.raises(ValueError, match="row 0 has 1 cells"):
        markdown_table(["a", "b"], [["only one"]])


@pytest.mark.parametrize("ratio,words", [(1.24, "1.24× faster"), (0.96, "1.04× slower"), (1.001, "same speed"),
                                         (float("nan"), "n/a"), (None, "n/a"), (0.0, "n/a")])
def test_speed_ratio_words(ratio, words):
    assert speed_ratio(ratio) == words


def test_builtin_is_accepted_wherever_a_checkpoint_is():
    from umedsam.assets import builtin_checkpoint, is_builtin, resolve_checkpoint

    assert is_builtin(None) and is_builtin("builtin") and not is_builtin("model.pth")
    assert resolve_checkpoint("builtin") == resolve_checkpoint(None) == builtin_checkpoint()
