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
echo "umedsam installed in .venv (torch $(python -c 'import torch; print(torch.__version__)'))"
