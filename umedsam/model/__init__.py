"""PyTorch model: architecture, checkpoint loading (and, later, training parts).

Importing this package imports torch; the runtime never imports it at module level.
"""

from umedsam.model.checkpoint import load_checkpoint, read_state_dict, save_checkpoint
from umedsam.model.medsam_lite import MedSAMLite

__all__ = ["MedSAMLite", "load_checkpoint", "read_state_dict", "save_checkpoint"]
