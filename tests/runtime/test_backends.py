"""ONNX Runtime and OpenVINO backends against the official pipeline's golden outputs, and their contracts."""

from __future__ import annotations

import numpy as np
import pytest

from umedsam.runtime import Predictor
from umedsam.runtime.formats import load_backend

BUNDLES = ["onnx_bundle", "ov_bundle"]


@pytest.fixture(scope="module", params=BUNDLES)
def backend(request):
    folder, _ = request.getfixturevalue(request.param)
    with load_backend(folder, threads=2) as b:
        yield b


def test_stages_match_golden(backend, golden):
    emb = backend.encode(golden["a_images"])  # batch of 2: the dynamic batch
    np.testing.assert_allclose(emb, golden["a_embeddings"], atol=1e-4, rtol=0)
    for i in range(2):  # one image: OpenVINO's static-shape encoder
        np.testing.assert_allclose(backend.encode(golden["a_images"][i:i + 1]), golden["a_embeddings"][i:i + 1],
                                   atol=1e-4, rtol=0)
    for i in range(2):
        logits, iou = backend.decode(golden["a_embeddings"][i:i + 1], golden["b_boxes256"][i])
        np.testing.assert_allclose(logits, golden["b_lowres_logits"][i], atol=1e-4, rtol=0)
        np.testing.assert_allclose(iou, golden["b_iou_predictions"][i], atol=1e-5, rtol=0)


def test_dynamic_box_count_and_inputs_untouched(backend, golden):
    emb = golden["a_embeddings"][:1].copy()
    before = emb.copy()
    boxes = np.tile(golden["b_boxes256"][0][:1], (7, 1))
    logits, iou = backend.decode(emb, boxes)
    assert logits.shape == (7, 1, 256, 256) and iou.shape == (7, 1)
    np.testing.assert_array_equal(emb, before)  # OpenVINO may write into inputs: the backend must copy
    one, _ = backend.decode(emb, boxes[:1])
    np.testing.assert_allclose(logits[3], one[0], atol=1e-4)  # batched vs single: ~1e-5
    logits[:] = 0  # outputs are the caller's: the next call must not see this
    again, _ = backend.decode(emb, boxes[:1])
    np.testing.assert_allclose(again, one, atol=0)


def test_golden_cases_end_to_end(backend, golden):
    p = Predictor(backend)
    for case in ("c1", "c2"):
        np.testing.assert_array_equal(p.segment_2d(golden[f"{case}_image"], golden[f"{case}_boxes"]).labels,
                                      golden[f"{case}_segs"])
    seg = p.segment_3d(golden["d_volume"], golden["d_boxes"])
    np.testing.assert_array_equal(np.array([c["box256"] for c in seg.calls], np.float32), golden["d_call_box256"])
    np.testing.assert_array_equal(seg.labels, golden["d_segs"])


def test_threads_are_honoured(onnx_bundle, ov_bundle):
    with load_backend(onnx_bundle[0], threads=1) as b:
        assert b.sessions["encoder"].get_session_options().intra_op_num_threads == 1
    with load_backend(ov_bundle[0], threads=1) as b:
        info = b.info()
        assert info["threads"] == 1 and info["inference_precision"] == "f32"


def test_backend_override_and_single_files(onnx_bundle, ov_bundle):
    from umedsam.errors import EngineError

    with load_backend(onnx_bundle[0], backend="openvino", threads=2) as b:  # OpenVINO reads ONNX too
        assert b.name == "openvino" and b.bundle.graphs["encoder"].suffix == ".onnx"
    with pytest.raises(EngineError, match="ONNX Runtime runs .onnx graphs only"):
        load_backend(ov_bundle[0], backend="onnxruntime")
    # a graph file inside a bundle resolves to the bundle (the manifest names its partner)
    with load_backend(ov_bundle[0] / "decoder.xml", threads=2) as b:
        assert set(b.bundle.graphs) == {"encoder", "decoder"}


def test_openvino_static_stages_and_unpinned_decoder(ov_bundle):
    """One image / one box run static-shape graphs; the decoder's are not pinned (imports side by side)."""
    from umedsam.runtime import timeline

    timeline.clear()
    with load_backend(ov_bundle[0], threads=2) as b:
        assert set(b.compiled) == {"encoder_1", "decoder_1box"}  # the dynamic graphs only when needed
        assert b.compiled["encoder_1"].inputs[0].get_partial_shape().is_static
        assert b.compiled["decoder_1box"].get_property("ENABLE_CPU_PINNING") is False
        assert b.info()["threads"] == 2
        b.encode(np.zeros((2, 3, 256, 256), np.float32))
        assert "encoder" in b.compiled and not b.compiled["encoder"].inputs[0].get_partial_shape().is_static
    threads = {e["stage"]: e["thread"] for e in timeline.entries()}
    assert threads["encoder_1: compile or import"] == 0 and threads["decoder_1box: compile or import"] == 1


def test_openvino_compile_cache_is_persistent(ov_bundle, tmp_path):
    with load_backend(ov_bundle[0], threads=2) as b:
        pass
    cache = tmp_path / "ovcache"
    from umedsam.runtime.backends.openvino_backend import OpenVINOBackend

    with OpenVINOBackend(str(ov_bundle[0]), threads=2, cache_dir=cache) as b:
        assert b.info()["cache_dir"] == str(cache)
    assert any(cache.iterdir())  # compiled blobs written for the next process


def test_tensorrt_backend_without_tensorrt_is_one_line(tmp_path):
    from umedsam.errors import EngineError

    try:
        import tensorrt  # noqa: F401
        pytest.skip("TensorRT is installed here")
    except ImportError:
        pass
    (tmp_path / "model.plan").write_bytes(b"not an engine")
    with pytest.raises(EngineError, match="backend 'tensorrt' is not installed.*pip install tensorrt"):
        load_backend(tmp_path / "model.plan")
