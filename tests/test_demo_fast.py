"""The fast demo's NIfTI round trip (its one stage not covered by another command's tests), and the
demo command's two modes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from umedsam.cli.main import app


def test_nifti_round_trip_stage(ov_bundle, tmp_path):
    pytest.importorskip("SimpleITK")
    pytest.importorskip("nibabel")
    from umedsam.demo_fast import nifti_round_trip

    folder, _ = ov_bundle
    lines: list[str] = []
    markdown, summary = nifti_round_trip(tmp_path, folder, 2, lines.append)
    if summary.endswith("skipped"):
        pytest.skip(markdown)
    assert summary.startswith("NIfTI round trip: OK"), (summary, lines)
    assert "| affine and shape equal the input's | yes |" in markdown
    assert "| labels equal the `umedsam convert` npz path | yes |" in markdown
    assert (tmp_path / "clinical" / "out" / "mni152_t1.nii.gz").is_file()


def test_demo_has_a_fast_default_and_full():
    result = CliRunner().invoke(app, ["demo", "--help"])
    assert result.exit_code == 0 and "--full" in result.output
