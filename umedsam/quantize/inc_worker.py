"""neural-compressor worker: runs *inside neural-compressor's own environment*, never imported by umedsam.

Intel neural-compressor 3.x keeps its ONNX side in ``onnx-neural-compressor``, which pins numpy < 2
and its own onnx/onnxruntime; umedsam's main environment runs numpy 2. So the quantize step writes a
request (paths, options, node lists) and the calibration feeds as ``.npz``, and runs this file with
that environment's Python (``scripts/install_inc.sh`` creates ``.venv-inc``). Only numpy, onnx,
onnxruntime and onnx_neural_compressor are imported here.

Usage: ``python inc_worker.py REQUEST.json`` -> writes ``request["output"]`` (the graph) and
``request["report"]`` (a JSON report; stdout is left to neural-compressor's own logging).
"""

from __future__ import annotations

import json
import pathlib
import sys
import time


def main(request_path: str) -> int:
    from importlib.metadata import version

    import numpy as np
    import onnxruntime as ort
    from onnx_neural_compressor.quantization import config, quantize
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType

    with open(request_path) as f:
        req = json.load(f)
    data = np.load(req["feeds"])
    n = int(data["count"])
    names = list(req["input_names"])
    feeds = [{name: data[f"{name}__{i}"] for name in names} for i in range(n)]

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.it = iter(feeds)

        def get_next(self):
            return next(self.it, None)

        def rewind(self) -> None:
            self.it = iter(feeds)

    extra = {"WeightSymmetric": True, "ActivationSymmetric": False}
    if req.get("smooth_quant_alpha") is not None:
        extra.update(SmoothQuant=True, SmoothQuantAlpha=float(req["smooth_quant_alpha"]), SmoothQuantFolding=True)
    cfg = config.StaticQuantConfig(
        calibration_data_reader=Reader(), calibrate_method=CalibrationMethod.MinMax, quant_format=QuantFormat.QDQ,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
        op_types_to_quantize=req.get("op_types"), nodes_to_exclude=list(req.get("nodes_to_exclude", [])),
        per_channel=bool(req.get("per_channel", True)), reduce_range=bool(req.get("reduce_range", False)),
        calibration_sampling_size=n, extra_options=extra)
    start = time.perf_counter()
    # no ORT pre-optimisation: it renames fused nodes (our exclusions are by name) and would park the
    # weights as external data in a temporary folder
    quantize(req["model"], req["output"], cfg, optimization_level=ort.GraphOptimizationLevel.ORT_DISABLE_ALL)
    import onnx  # neural-compressor may write weights as external data: a bundle graph is one file

    model = onnx.load(req["output"])
    for leftover in {t.external_data[0].value for t in model.graph.initializer if t.external_data}:
        pathlib.Path(req["output"]).with_name(leftover).unlink(missing_ok=True)
    onnx.save(model, req["output"], save_as_external_data=False)
    with open(req["report"], "w") as f:
        json.dump({"seconds": round(time.perf_counter() - start, 2),
                   "onnx_neural_compressor": version("onnx-neural-compressor"), "numpy": np.__version__}, f)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
