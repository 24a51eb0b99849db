#!/usr/bin/env bash
# Run the test suite on a fresh machine: makes .venv, installs CPU torch first (so no install can
# pull a multi-GB CUDA build), then the pinned test requirements, then runs pytest.
# Extra arguments go to pytest. Set COMFYUI_PATH to also run the real-ComfyUI integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt torch
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements-test.txt
exec "$VENV/bin/python" -m pytest -q "$@"
