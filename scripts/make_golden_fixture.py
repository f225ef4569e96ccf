"""Write the golden fixture the tests read, ``tests/fixtures/golden/golden_io.npz``, from a reference run.

The source is the golden I/O file of the official LiteMedSAM pipeline run with the built-in weights (its
provenance is in tests/fixtures/golden/README.md). Only what a test reads is kept, so every clone carries
the fixture and no test reads outside the repository:

* keys no test reads are dropped (``KEEP`` lists the rest);
* ``a_image_pe`` (4 MB of float32 compared bit for bit) is replaced by the SHA-256 of its bytes, which
  the exact comparison needs and nothing more.

    python scripts/make_golden_fixture.py SOURCE.npz [-o tests/fixtures/golden/golden_io.npz]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "tests" / "fixtures" / "golden" / "golden_io.npz"
HASHED = ("a_image_pe",)
DROPPED = ("c1_box256", "c2_box256", "d_spacing", "d_call_lowres_logits", "d_call_iou", "d_new_hw", "e_resize_in_hw")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="the reference run's golden_io.npz")
    parser.add_argument("-o", "--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    arrays = {}
    with np.load(args.source, allow_pickle=False) as src:
        for key in src.files:
            if key in DROPPED:
                continue
            value = src[key]
            if key in HASHED:
                digest = hashlib.sha256(np.ascontiguousarray(value).tobytes()).digest()
                arrays[f"{key}_sha256"] = np.frombuffer(digest, np.uint8)
                arrays[f"{key}_shape"] = np.asarray(value.shape, np.int64)
            else:
                arrays[key] = value
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(buf.getvalue())
    print(f"{args.out}: {len(arrays)} arrays, {len(buf.getvalue()):,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
