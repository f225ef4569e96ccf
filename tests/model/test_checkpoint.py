"""Checkpoint containers, prefixes, refusal of code-carrying pickles, key mismatch reports."""

from __future__ import annotations

import os
from collections import OrderedDict

import pytest
import torch

from umedsam.errors import CheckpointError
from umedsam.model import MedSAMLite, load_checkpoint


@pytest.fixture(scope="module")
def random_state():
    torch.manual_seed(1)
    model = MedSAMLite()
    for p in model.parameters():
        p.data.normal_(0, 0.02)
    return OrderedDict((k, v.clone()) for k, v in model.state_dict().items())


def _assert_loaded(model, state):
    ours = model.state_dict()
    assert all(torch.equal(ours[k], state[k]) for k in state)


def test_plain_state_dict_loads_strictly(tmp_path, random_state):
    path = tmp_path / "plain.pth"
    torch.save(random_state, path)
    model = load_checkpoint(path)
    _assert_loaded(model, random_state)
    assert not model.training
    # the attention-bias cache was computed from the loaded weights, not the init
    attn = model.image_encoder.layers[1].blocks[0].attn
    assert torch.equal(attn.ab, attn.attention_biases[:, attn.attention_bias_idxs])


@pytest.mark.parametrize("wrap", ["model", "state_dict", "module_prefix"])
def test_training_containers_and_module_prefix(tmp_path, random_state, wrap):
    if wrap == "module_prefix":
        obj = OrderedDict((f"module.{k}", v) for k, v in random_state.items())
    else:
        obj = {wrap: random_state, "epoch": 3, "optimizer": {"lr": torch.tensor(1e-4)}, "loss": 0.1}
    path = tmp_path / f"{wrap}.pth"
    torch.save(obj, path)
    _assert_loaded(load_checkpoint(path), random_state)


def test_missing_num_batches_tracked_is_tolerated(tmp_path, random_state):
    state = OrderedDict((k, v) for k, v in random_state.items() if not k.endswith("num_batches_tracked"))
    torch.save(state, tmp_path / "nbt.pth")
    load_checkpoint(tmp_path / "nbt.pth")


def test_key_mismatch_lists_missing_unexpected_and_misshaped(tmp_path, random_state):
    state = OrderedDict(random_state)
    del state["mask_decoder.iou_token.weight"]
    state["extra.weight"] = torch.zeros(3)
    state["prompt_encoder.no_mask_embed.weight"] = torch.zeros(1, 128)
    torch.save(state, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path / "bad.pth")
    msg = str(info.value)
    assert "bad.pth" in msg and "\n" not in msg
    assert "1 missing (mask_decoder.iou_token.weight)" in msg
    assert "1 unexpected (extra.weight)" in msg
    assert "prompt_encoder.no_mask_embed.weight (1, 128) != (1, 256)" in msg


class _Evil:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_pickle_with_code_is_refused_and_not_executed(tmp_path):
    marker = tmp_path / "pwned"
    torch.save({"model": _Evil(str(marker))}, tmp_path / "evil.pth")
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(tmp_path / "evil.pth")
    assert not marker.exists()


def test_corrupt_and_missing_files(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CheckpointError, match="junk.pth"):
        load_checkpoint(tmp_path / "junk.pth")
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "absent.pth")


def test_builtin_checkpoint_is_verified(builtin_ckpt):
    from umedsam.assets import BUILTIN_SHA256, sha256_file

    assert sha256_file(builtin_ckpt) == BUILTIN_SHA256
