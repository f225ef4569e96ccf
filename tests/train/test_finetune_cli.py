"""``umedsam-finetune``: two SAM steps on phantoms write an official-format checkpoint that loads strictly."""

import json

import torch
from typer.testing import CliRunner

from umedsam.cli.finetune import app
from umedsam.data.phantoms import write_phantoms

runner = CliRunner()


def test_finetune_writes_a_loadable_state_dict(tmp_path):
    from umedsam.model import load_checkpoint

    write_phantoms(tmp_path / "train", n2d=2, n3d=0, seed=11)
    out = tmp_path / "ft.pth"
    res = runner.invoke(app, ["--finetune-data", str(tmp_path / "train"), "-o", str(out), "--steps", "2",
                              "--batch", "1", "--trainable", "decoder", "--save-every", "1", "--threads", "2",
                              "--json", str(tmp_path / "ft.json")])
    assert res.exit_code == 0, res.output
    state = torch.load(out, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert not out.with_suffix(".factorized.json").exists()
    model = load_checkpoint(out)
    assert model.compression is None
    record = json.loads((tmp_path / "ft.json").read_text(encoding="utf-8"))
    assert record["train"]["steps"] == 2 and set(record["train"]["sigma"]) == {"mse", "iou", "dice", "ce", "shape"}
    assert "learned σ" in res.output


def test_finetune_refuses_bad_options(tmp_path):
    res = runner.invoke(app, ["--finetune-data", str(tmp_path), "-o", str(tmp_path / "x.pth")])
    assert res.exit_code == 1 and "no input case" in res.output
    res = runner.invoke(app, ["--finetune-data", str(tmp_path), "-o", str(tmp_path / "x.pth"), "--trainable", "neck"])
    assert res.exit_code == 1 and "--trainable" in res.output
