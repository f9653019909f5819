#!/usr/bin/env bash
# Builds dist/chainpos/ (a self-contained folder with the `chainpos` executable).
set -euo pipefail
cd "$(dirname "$0")/.."
installer/run test -q -x
.venv/bin/python -m pip install -q "pyinstaller>=6"
.venv/bin/pyinstaller --noconfirm --clean --distpath dist --workpath build installer/chainpos.spec
echo "Built dist/chainpos/chainpos"
