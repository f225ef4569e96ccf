"""Write the tuning cases an optimize run uses: the distillation corpus's first images as challenge cases.

``umedsam-optimize`` tunes (calibration, the quantizer's own check, low-rank recovery) on cases kept apart
from the held-out ``--data``. The distillation corpus (docs/COMPRESSION.md) is such a set: real images
that PyPI packages ship plus phantoms, with every held-out case located in its sources and removed, and
the FP32 teacher's masks as ground truth. This writes the very folder the search's low-rank pass writes
for itself (``OUT/corpus-cases/<key>-48``), so a search given it as ``--calib`` builds the corpus once.

    python benchmarks/tuning_cases.py --data held -o opt --corpus-size 64 [--threads 2]

prints the folder to pass as ``umedsam-optimize --calib`` (with the same ``-o`` and ``--corpus-size``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from umedsam.optimize.passes import PassContext, distillation_cases


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, type=Path, help="the held-out cases (kept out of the corpus)")
    ap.add_argument("-o", "--out", required=True, type=Path, help="the optimize run's output folder")
    ap.add_argument("--ckpt", type=Path, default=None, help="checkpoint (default: the built-in weights)")
    ap.add_argument("--corpus-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ctx = PassContext(args.ckpt, args.data, args.out, args.threads, held_out=args.data, corpus_size=args.corpus_size)
    print(distillation_cases(ctx))


if __name__ == "__main__":
    main()
