"""umedsam: deploy U-MedSAM / LiteMedSAM checkpoints small, fast and provably accurate.

The package root imports nothing heavy: ``umedsam.runtime`` must stay torch-free, and PyTorch is
only loaded by ``umedsam.model`` and the torch backend.
"""

__version__ = "0.1.0"
