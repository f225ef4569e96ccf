#!/usr/bin/env bash
# Create .venv and install umedsam with every extra, torch pinned to the local CPU wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
. .venv/bin/activate
python -m pip install -q --upgrade pip
python -m pip install -q -c constraints.txt -e ".[dev]"
python -m pip install -q --no-deps -r requirements-nodeps.txt
python -c "import torch; assert '+cpu' in torch.__version__ or not torch.cuda.is_available(), torch.__version__"
# the native runtime (C ABI over OpenVINO): optional, the Python runtime works without it
bash scripts/install_native.sh || echo "native runtime not built; everything else is installed"
echo "umedsam installed in .venv (torch $(python -c 'import torch; print(torch.__version__)'))"
