"""The accuracy-aware fallback: ranking, the smallest passing set of float blocks, honest failure."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.quantize.search import cosine_error, fallback_search, rank_blocks


def test_cosine_error():
    a = [np.array([1.0, 0.0]), np.array([1.0, 1.0])]
    assert cosine_error(a, a) == pytest.approx(0.0)
    assert cosine_error([np.array([1.0, 0.0])], [np.array([0.0, 1.0])]) == pytest.approx(1.0)


def test_rank_blocks_most_sensitive_first():
    sens = {"a": 0.01, "b": 0.3, "c": 0.001}
    assert [b for b, _ in rank_blocks(list(sens), sens.__getitem__)] == ["b", "a", "c"]


def _ranking(n):
    return [(f"b{i}", 1.0 / (i + 1)) for i in range(n)]


@pytest.mark.parametrize("needed", [0, 1, 3, 5, 10])
def test_fallback_finds_the_smallest_passing_k(needed):
    calls = []

    def evaluate(float_blocks):
        calls.append(len(float_blocks))
        drop = 0.002 if len(float_blocks) >= needed else 0.02
        return drop, drop, 0.99, 0.99

    result = fallback_search(_ranking(10), evaluate, 0.005, 0.007, 0.9, max_evals=10)
    assert result.passed and len(result.float_blocks) == needed
    assert result.float_blocks == [f"b{i}" for i in range(needed)]  # most sensitive first
    assert len(calls) == len(set(calls))  # no configuration evaluated twice
    assert all(s.passed == (len(s.float_blocks) >= needed) for s in result.steps)


def test_fallback_reports_failure_when_nothing_holds():
    result = fallback_search(_ranking(3), lambda fb: (0.1, 0.1, 1.0, 1.0), 0.005, 0.007, max_evals=10)
    assert not result.passed and result.float_blocks == []
    assert [len(s.float_blocks) for s in result.steps] == [0, 1, 2, 3]


def test_fallback_respects_the_evaluation_budget():
    result = fallback_search(_ranking(64), lambda fb: (0.002, 0.0, 1.0, 1.0) if len(fb) >= 40 else (0.1, 0.0, 1.0, 1.0),
                             0.005, 0.007, max_evals=3)
    assert len(result.steps) == 3 and not result.passed


def test_each_step_names_the_checks_that_failed():
    lines: list[str] = []
    fallback_search(_ranking(2), lambda fb: (0.0151, 0.0, 0.44, 0.96 if fb else 0.9), 0.005, 0.007, 0.5, 0.95,
                    max_evals=2, progress=lines.append)
    assert "fails: DSC drop 1.51 > 0.50 points; min label Dice 0.4400 < 0.5; min case boundary 0.9000 < 0.95" in lines[0]
    assert "NSD drop" not in lines[0].split("fails:")[1]
    assert "-> over" not in "".join(lines)


def test_nsd_bound_counts_too():
    result = fallback_search(_ranking(4), lambda fb: (0.0, 0.01 if len(fb) < 2 else 0.0, 1.0, 1.0), 0.005, 0.007)
    assert result.passed and len(result.float_blocks) == 2


def test_a_score_gain_with_changed_masks_does_not_pass():
    """INT8 that *raises* DSC by changing masks fails on agreement with FP32, as the gate would."""
    result = fallback_search(_ranking(4), lambda fb: (-0.07, -0.04, 0.6, 0.8 if len(fb) < 3 else 0.96),
                             0.005, 0.007, 0.5, 0.95)
    assert result.passed and len(result.float_blocks) == 3


def test_mask_error_sees_boundary_flips_that_cosine_misses():
    from umedsam.quantize.search import mask_error

    ref = np.full((1, 1, 8, 8), -20.0)
    ref[..., 2:5, 2:5] = 0.01  # a small object whose logits sit just above 0
    cand = ref.copy()
    cand[..., 2:5, 2] = -0.01  # one column flips sign
    assert cosine_error([ref], [cand]) < 1e-5
    assert mask_error([ref], [cand]) == pytest.approx(1 - 2 * 6 / 15)
    assert mask_error([np.full((4, 4), -1.0)], [np.full((4, 4), -2.0)]) == 0.0
