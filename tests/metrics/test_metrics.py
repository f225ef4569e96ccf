"""DSC/NSD equal the challenge's compute_metrics.py semantics (DeepMind surface-distance)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from umedsam.metrics import case_metrics, compute_surface_distances, dice, surface_dice_at_tolerance
from umedsam.metrics.surface import surfel_area_table

SPACINGS = [(1.0, 1.0, 1.0), (1.0, 2.0, 3.0), (3.0, 0.8, 0.8), (0.5, 1.7, 2.9)]


@pytest.mark.parametrize("spacing", SPACINGS)
def test_surfel_area_table_equals_oracle_for_all_codes(spacing):
    lookup = pytest.importorskip("surface_distance.lookup_tables")
    np.testing.assert_allclose(surfel_area_table(spacing),
                               lookup.create_table_neighbour_code_to_surface_area(spacing), atol=1e-12)


def test_hand_computed_areas():
    table = surfel_area_table((1.0, 1.0, 1.0))
    assert table[0] == 0 and table[255] == 0
    assert math.isclose(table[0b10000000], math.sqrt(3) / 8)  # one corner: triangle at the edge midpoints
    assert math.isclose(table[0b11110000], 1.0)  # half the cube: a unit square
    assert math.isclose(surfel_area_table((2.0, 1.0, 1.0))[0b11110000], 1.0)  # plane normal to axis 0
    assert math.isclose(surfel_area_table((1.0, 3.0, 1.0))[0b11110000], 3.0)


def test_dice_basics():
    a = np.zeros((4, 4), bool)
    b = a.copy()
    assert math.isnan(dice(a, b))
    a[:2] = True
    b[1:3] = True
    assert dice(a, b) == 0.5


def test_identical_masks_nsd_one_and_cube_area():
    m = np.zeros((10, 10, 10), bool)
    m[2:6, 2:6, 2:6] = True
    sd = compute_surface_distances(m, m, (1.0, 1.0, 1.0))
    assert surface_dice_at_tolerance(sd, 2.0) == 1.0
    assert np.all(sd.distances_gt_to_pred == 0)
    # marching-cubes surface of a 4^3 voxel cube: faces 3x3 each + bevelled edges and corners
    assert 70 < sd.surfel_areas_gt.sum() < 96


def test_shift_beyond_tolerance_analytic():
    """Two slabs 5 mm apart along axis 0: no surfel is within 2 mm except none -> NSD 0; at 5 mm tol -> 1."""
    a = np.zeros((20, 6, 6), bool)
    b = np.zeros((20, 6, 6), bool)
    a[2:4] = True
    b[7:9] = True
    sd = compute_surface_distances(a, b, (1.0, 1.0, 1.0))
    assert surface_dice_at_tolerance(sd, 2.0) == 0.0
    assert surface_dice_at_tolerance(sd, 7.0) == 1.0


def _random_pair(seed, shape):
    rng = np.random.default_rng(seed)
    a = ndimage.gaussian_filter(rng.random(shape), 2) > 0.5
    b = ndimage.binary_dilation(a, iterations=1) ^ (ndimage.gaussian_filter(rng.random(shape), 2) > 0.53)
    return a, b


@pytest.mark.parametrize("spacing", SPACINGS[1:])
def test_nsd_matches_oracle_anisotropic(spacing):
    metrics = pytest.importorskip("surface_distance.metrics")
    for seed in range(3):
        a, b = _random_pair(seed, (12, 30, 25))
        ours = surface_dice_at_tolerance(compute_surface_distances(a, b, spacing), 2.0)
        oracle = metrics.compute_surface_dice_at_tolerance(metrics.compute_surface_distances(a, b, spacing), 2.0)
        assert abs(ours - oracle) < 1e-12


def test_2d_case_uses_singleton_axis_against_oracle():
    metrics = pytest.importorskip("surface_distance.metrics")
    a, b = _random_pair(5, (60, 50))
    gt, seg = a.astype(np.uint8), b.astype(np.uint8)
    dsc, nsd = case_metrics(gt, seg)
    sd = metrics.compute_surface_distances(a[..., None], b[..., None], (1.0, 1.0, 1.0))
    assert abs(nsd - metrics.compute_surface_dice_at_tolerance(sd, 2.0)) < 1e-12
    assert abs(dsc - dice(a, b)) < 1e-12


def test_challenge_rules_low_dsc_empty_prediction_extra_labels():
    gt = np.zeros((40, 40), np.uint8)
    gt[5:15, 5:15] = 1
    gt[20:35, 20:35] = 2
    # empty prediction: DSC 0, NSD 0
    assert case_metrics(gt, np.zeros_like(gt)) == (0.0, 0.0)
    # DSC <= 0.2: NSD is not computed (0), even though some surface is close
    seg = np.zeros_like(gt)
    seg[5:7, 5:15] = 1
    dsc, nsd = case_metrics(gt, seg)
    assert 0 < dsc <= 0.2 and nsd == 0.0
    # perfect label 1, label 2 predicted as label 3 (> gt.max(): ignored) -> label 2 scores 0
    seg = np.where(gt == 2, 3, gt).astype(np.uint8)
    dsc, nsd = case_metrics(gt, seg)
    assert dsc == 0.5 and nsd == 0.5
    # a label absent from GT but <= gt.max() that is predicted scores 0; absent from both -> NaN case
    gt3 = gt.copy()
    gt3[gt3 == 2] = 3  # labels {1, 3}: label 2 absent from GT
    seg = gt3.copy()
    dsc, nsd = case_metrics(gt3, seg)
    assert math.isnan(dsc) and nsd == 0.0  # label 2 in neither map -> NaN -> NSD skipped
    seg[0:3, 0:3] = 2
    dsc, nsd = case_metrics(gt3, seg)
    assert math.isclose(dsc, 2 / 3) and math.isclose(nsd, 2 / 3)


def test_3d_uses_spacing_in_array_axis_order():
    metrics = pytest.importorskip("surface_distance.metrics")
    a, b = _random_pair(9, (10, 24, 20))
    gt, seg = a.astype(np.uint8), b.astype(np.uint8)
    spacing = (4.0, 0.7, 0.7)
    dsc, nsd = case_metrics(gt, seg, spacing)
    oracle = metrics.compute_surface_dice_at_tolerance(metrics.compute_surface_distances(a, b, spacing), 2.0)
    assert abs(nsd - oracle) < 1e-12
    _, nsd_iso = case_metrics(gt, seg, (0.7, 0.7, 0.7))
    assert nsd_iso != nsd
