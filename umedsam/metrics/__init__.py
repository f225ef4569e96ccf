"""Challenge-exact metrics: DSC and NSD (numpy/scipy + scikit-image marching cubes)."""

from umedsam.metrics.challenge import case_metrics, dice, multi_class_dsc, multi_class_nsd
from umedsam.metrics.surface import compute_surface_distances, surface_dice_at_tolerance

__all__ = ["case_metrics", "dice", "multi_class_dsc", "multi_class_nsd", "compute_surface_distances",
           "surface_dice_at_tolerance"]
