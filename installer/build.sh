#!/usr/bin/env bash
# Builds dist/chainpos/: a self-contained folder with the `chainpos` executable (the till;
# HQ is not in it), made by PyInstaller from installer/chainpos.spec. Copy the folder to
# the till and start `chainpos/chainpos run` (or `demo --standalone`); the machine needs
# only the Qt system libraries that installer/run lists (no Python).
#
#   installer/build.sh               the test suite first, then the bundle
#   installer/build.sh --skip-tests  the bundle only (the dev venv must exist)
#
# CHAINPOS_VENV (default .venv), CHAINPOS_DIST (default dist) and CHAINPOS_BUILD (default
# build) choose the virtual environment, the output folder and PyInstaller's work folder.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${CHAINPOS_VENV:-$PWD/.venv}
DIST=${CHAINPOS_DIST:-dist}
WORK=${CHAINPOS_BUILD:-build}
if [ "${1:-}" = "--skip-tests" ]; then
  [ -x "$VENV/bin/python" ] || { echo "installer/build.sh: no $VENV; run installer/run test first" >&2; exit 1; }
else
  installer/run test -q -x  # also creates the venv with the dev extras (PyInstaller)
fi
"$VENV/bin/python" -c "import PyInstaller" 2>/dev/null ||
  "$VENV/bin/python" -m pip install -q "pyinstaller>=6"
"$VENV/bin/python" -m PyInstaller --noconfirm --clean --log-level WARN \
  --distpath "$DIST" --workpath "$WORK" installer/chainpos.spec
echo "Built $DIST/chainpos/chainpos"
