"""The training loop on the real model: SAM steps move only what is trainable, losses are finite."""

import numpy as np
import pytest
import torch

from umedsam.data.phantoms import write_phantoms
from umedsam.train.data import load_samples
from umedsam.train.trainer import TrainOptions, select_trainable, train


@pytest.fixture(scope="module")
def samples(tmp_path_factory):
    root = tmp_path_factory.mktemp("trainer")
    write_phantoms(root, n2d=2, n3d=0, seed=5)
    return load_samples(root)


def test_select_trainable():
    from umedsam.model import MedSAMLite

    m = MedSAMLite()
    dec = select_trainable(m, "decoder")
    assert dec and all(not p.requires_grad for p in m.image_encoder.parameters())
    with pytest.raises(ValueError):
        select_trainable(m, "factorized", [])


def test_decoder_finetune_with_sam_changes_only_the_decoder(samples):
    from umedsam.model import load_checkpoint

    torch.set_num_threads(2)
    model = load_checkpoint()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lines: list[str] = []
    result = train(model, samples, TrainOptions(steps=2, batch=1, lr=1e-4, rho=0.05, trainable="decoder",
                                                log_every=1), progress=lines.append)
    assert lines[0].startswith("step 1/2 (")
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("mask_decoder.", "prompt_encoder.")) for k in changed)
    assert result.steps == 2 and len(result.history) == 2
    assert all(np.isfinite(h["total"]) for h in result.history)
    assert set(result.sigma) == {"mse", "iou", "dice", "ce", "shape"}
    assert not model.training and not any(p.requires_grad for p in model.parameters())


def test_a_time_budget_is_printed_as_what_ran(samples):
    """With --minutes, progress says the steps run and the budget, not 'step 4/100000'."""
    from umedsam.model import load_checkpoint

    lines: list[str] = []
    train(load_checkpoint(), samples, TrainOptions(steps=100000, minutes=0.001, batch=1, trainable="decoder",
                                                   log_every=1), progress=lines.append)
    assert lines and "/100000" not in lines[-1] and "of a 0.001-minute budget" in lines[-1]
