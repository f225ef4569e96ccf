"""Teacher outputs of the distillation corpus: boxes around the teacher's own masks, cached on disk, and the
corpus as challenge cases whose GT the FP32 predictor reproduces."""

from __future__ import annotations

import numpy as np

from umedsam.assets import sha256_file
from umedsam.data.corpus import find_exclusion, read_held_out
from umedsam.data.npz import find_cases, load_case, load_gt
from umedsam.train import distill_corpus
from umedsam.train.distill_corpus import build_teacher_corpus, write_cases


def test_teacher_corpus_cached_and_written_as_cases(torch_model, builtin_ckpt, real_cases, predictor, tmp_path,
                                                    monkeypatch):
    ex = find_exclusion(read_held_out(real_cases))
    sha = sha256_file(builtin_ckpt)
    corpus = build_teacher_corpus(torch_model, sha, tmp_path / "cache", 5, ex, seed=1, boxes=3, threads=2,
                                  log=lambda m: None)
    assert len(corpus) == 5 and corpus.embeddings.shape == (5, 256, 64, 64) and corpus.logits.shape == (5, 3, 256, 256)
    assert corpus.meta["held_out"]["cases"] == sorted(read_held_out(real_cases))
    for i in range(5):
        h, w = corpus.hw[i]
        assert corpus.valid[i].any() and not corpus.images[i][:, h:, :].any()   # padding stays zero
        for j in np.nonzero(corpus.valid[i])[0]:
            x0, y0, x1, y1 = corpus.boxes[i, j]
            mask = corpus.logits[i, j, :h, :w].astype(np.float32) > 0
            ys, xs = np.nonzero(mask)
            if len(xs):   # the box was drawn around the teacher's own mask (0-4 px outward)
                assert x0 <= xs.min() + 4 and y0 <= ys.min() + 4 and x1 >= xs.max() - 4 and y1 >= ys.max() - 4
    # a second build reads the shards: the teacher is never constructed again
    monkeypatch.setattr(distill_corpus, "Teacher", lambda *a, **k: (_ for _ in ()).throw(AssertionError("rebuilt")))
    again = build_teacher_corpus(torch_model, sha, tmp_path / "cache", 5, ex, seed=1, boxes=3, log=lambda m: None)
    assert np.array_equal(again.logits, corpus.logits)
    # as cases: the FP32 predictor on the written case gives the teacher's masks back
    folder = write_cases(corpus, tmp_path / "cases")
    cases = find_cases(folder)
    assert len(cases) == 5
    case = load_case(cases[0])
    labels = predictor.segment_case(case.kind, case.imgs, case.boxes).labels
    gt, _ = load_gt(folder / "gts" / cases[0].name)
    assert labels.shape == gt.shape and (labels == gt).mean() > 0.97
