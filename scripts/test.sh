#!/usr/bin/env bash
# Run the test suite on a fresh machine: makes .venv, installs CPU torch first (so no install can
# pull a multi-GB CUDA build), then the pinned test requirements, then runs pytest.
# Extra arguments go to pytest.
#
# The real-ComfyUI integration tests (tests/comfyui) run against COMFYUI_PATH when it is set, else against
# a copy of the ComfyUI snapshot at ../shared/comfyui (or RECO_COMFYUI_SNAPSHOT) when there is one, set up
# by scripts/comfyui_for_tests.sh; their browser tests also need Chromium, installed from Debian's
# packages when this runs as root with apt-get (RECO_NO_APT=1 skips that). Without a ComfyUI they skip,
# and the summary says why.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt torch
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -c constraints.txt -r requirements-test.txt

SNAPSHOT=${RECO_COMFYUI_SNAPSHOT:-../shared/comfyui}
if [ -z "${COMFYUI_PATH:-}" ] && [ -f "$SNAPSHOT/main.py" ]; then
  if COMFYUI_PATH=$(scripts/comfyui_for_tests.sh "$SNAPSHOT"); then
    export COMFYUI_PATH
  else
    echo "test.sh: could not set up ComfyUI from $SNAPSHOT (see above); its tests will skip" >&2
  fi
fi
has_chromium() { command -v chromium || command -v chromium-browser || command -v google-chrome; } >/dev/null
if [ -n "${COMFYUI_PATH:-}" ] && ! has_chromium && [ -z "${RECO_NO_APT:-}" ] && [ "$(id -u)" = 0 ] \
   && command -v apt-get >/dev/null; then
  echo "test.sh: installing Debian's chromium for the browser tests" >&2
  { apt-get install -y -q chromium || { apt-get update -q && apt-get install -y -q chromium; }; } >/dev/null 2>&1 \
    || echo "test.sh: chromium could not be installed; the browser tests will skip" >&2
fi
exec "$VENV/bin/python" -m pytest -q "$@"
