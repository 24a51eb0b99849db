#!/usr/bin/env bash
# The main job on a fresh machine: install into .venv (CPU torch first), then edit the bundled clips
# with the shipped ReCo-Shapes model. Writes mp4 results, a before/after grid and metrics to OUT.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-out/demo}
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt torch
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements.txt
exec "$VENV/bin/python" -m reco_core demo --out "$OUT"
