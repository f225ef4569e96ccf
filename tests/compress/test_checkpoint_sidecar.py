"""A factorized checkpoint: official-format state dict + sidecar, loaded key-exactly; bad sidecars refused."""

import json
import shutil

import pytest
import torch

from umedsam.model.factorized import sidecar_path
from umedsam.errors import CheckpointError
from umedsam.model import load_checkpoint


def test_budget_met_and_model_unchanged(torch_model, factorized):
    s = factorized.summary
    assert s["encoder_flops_ratio"] <= 0.70 + 1e-9 and s["factorized_layers"] > 5
    assert s["params_after"] < s["params_before"]
    original = torch_model
    assert original.compression is None                      # the source model is not modified
    assert all(isinstance(original.get_submodule(p.name), torch.nn.Linear | torch.nn.Conv2d)
               for p in factorized.plans)


def test_roundtrip_is_key_exact_and_gives_the_same_outputs(factorized, factorized_ckpt):
    state = torch.load(factorized_ckpt, weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert any(k.endswith(".0.weight") for k in state)
    loaded = load_checkpoint(factorized_ckpt)
    assert loaded.compression["layers"] == len(factorized.plans)
    x = torch.rand(1, 3, 256, 256, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = factorized.model.image_encoder(x), loaded.image_encoder(x)
    assert torch.equal(a, b)


def test_missing_or_bad_sidecar_is_a_one_line_error(factorized_ckpt, tmp_path):
    lone = tmp_path / "lone.pth"
    shutil.copyfile(factorized_ckpt, lone)
    with pytest.raises(CheckpointError, match="sidecar lone.factorized.json is missing"):
        load_checkpoint(lone)
    data = json.loads(sidecar_path(factorized_ckpt).read_text(encoding="utf-8"))
    first = next(iter(data["layers"]))
    for mutate, field in [(lambda d: d.update(format="x"), "'format'"),
                          (lambda d: d["layers"][first].update(kind="cp"), f"'layers.{first}.kind'"),
                          (lambda d: d["layers"][first].update(ranks=[0]), f"'layers.{first}.ranks'")]:
        bad = json.loads(json.dumps(data))
        mutate(bad)
        sidecar_path(lone).write_text(json.dumps(bad))
        with pytest.raises(CheckpointError, match=field) as exc:
            load_checkpoint(lone)
        assert str(lone.with_suffix(".factorized.json")) in str(exc.value) and "\n" not in str(exc.value)
    wrong_rank = json.loads(json.dumps(data))
    wrong_rank["layers"][first]["ranks"] = [wrong_rank["layers"][first]["ranks"][0] + 8]
    sidecar_path(lone).write_text(json.dumps(wrong_rank))
    with pytest.raises(CheckpointError, match="mis-shaped"):
        load_checkpoint(lone)


def test_compressing_twice_is_refused(factorized_ckpt):
    from umedsam.compress.compress import CompressOptions, compress_model

    with pytest.raises(ValueError, match="already factorized"):
        compress_model(load_checkpoint(factorized_ckpt), [], CompressOptions())


def test_torch_backend_reports_lowrank_and_parity_class(factorized_ckpt):
    from umedsam.metrics.parity import precision_class
    from umedsam.model.torch_backend import TorchBackend

    info = TorchBackend(str(factorized_ckpt), threads=1).info()
    assert info["compression"]["checkpoint_sha256"]
    assert precision_class(info, {"precision": "fp32"}) == "lowrank"       # vs the original
    assert precision_class(info, {"compression": dict(info["compression"])}) == "fp32"   # vs its own export
