"""Regenerate the native reader's corpus (hostile cases + the fuzz seeds) and its expected outcomes.

    PYTHONPATH=. python tests/native/corpus/make_corpus.py

The files are committed; tests/native/test_corpus.py replays them through the native and the Python
readers with UMEDSAM_MAX_ARRAY_MB=1 (the bombs inflate to 8 MiB). Add a file here (and rerun) when a
fuzzer finds a new failure, so it stays fixed.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.data import hostile

HERE = Path(__file__).resolve().parent


def main() -> None:
    expect = hostile.hostile_cases(HERE)
    seeds = {"2Dseed_compressed.npz": dict(imgs=(np.arange(360) % 200).astype(np.uint8).reshape(12, 10, 3),
                                           boxes=hostile.BOX2D),
             "3Dseed_stored.npz": dict(imgs=hostile.vol(), boxes=hostile.BOX3D, spacing=np.ones(3))}
    for name, arrays in seeds.items():
        (np.savez_compressed if "compressed" in name else np.savez)(HERE / name, **arrays)
        expect[name] = ("", "")
    (HERE / "expected.json").write_text(json.dumps({k: list(v) for k, v in sorted(expect.items())}, indent=1) + "\n")


if __name__ == "__main__":
    main()
