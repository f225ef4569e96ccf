"""Training parts of U-MedSAM: the uncertainty-aware loss, the SAM optimizer, data and the training loop.

Training-only: nothing here changes inference or the exported graphs (the loss's learned σ weights
live in the loss module, never in the model's state dict). Importing this package imports torch.
"""

from umedsam.train.loss import UMedSAMLoss, dice_loss, iou_mse_loss, shape_distance_loss, signed_distance
from umedsam.train.sam import SAM

__all__ = ["SAM", "UMedSAMLoss", "dice_loss", "iou_mse_loss", "shape_distance_loss", "signed_distance"]
