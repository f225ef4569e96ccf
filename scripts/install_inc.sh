#!/usr/bin/env bash
# Intel neural-compressor for `umedsam-quantize --method inc`, in its OWN environment (.venv-inc).
# Why separate: neural-compressor 3.x keeps ONNX support in onnx-neural-compressor, which needs
# numpy < 2 (umedsam's environment runs numpy 2). umedsam drives it through a subprocess
# (umedsam/quantize/inc_worker.py), so nothing here is imported by umedsam itself.
# prettytable and scipy are imported by onnx-neural-compressor 1.0 but not declared as a dependency.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv-inc
.venv-inc/bin/python -m pip install -q --upgrade pip
.venv-inc/bin/python -m pip install -q "onnx-neural-compressor==1.0" "numpy<2" prettytable scipy
.venv-inc/bin/python -c "import importlib.metadata as m, onnx_neural_compressor, numpy; print('neural-compressor env ready:', m.version('onnx-neural-compressor'), 'numpy', numpy.__version__)"
