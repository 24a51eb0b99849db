#!/usr/bin/env bash
# Prepare a real ComfyUI for the integration tests in tests/comfyui and print its folder.
#
#   scripts/comfyui_for_tests.sh [SNAPSHOT]      (default SNAPSHOT: ../shared/comfyui next to the repo)
#
# SNAPSHOT is a ComfyUI source tree (main.py, requirements.txt); it may be read-only, so it is copied to
# .cache/comfyui/ComfyUI, which gets its own venv/ (where tests/comfyui/conftest.py looks for ComfyUI's
# Python): CPU torch pinned by constraints.txt first, then ComfyUI's requirements and this pack's under
# the same pin, so no install can move torch. Reruns reuse the copy and the venv while SNAPSHOT.txt and
# the requirement files are unchanged. Progress goes to stderr; stdout is only the folder.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SNAPSHOT=${1:-$ROOT/../shared/comfyui}
DEST=${RECO_COMFYUI_CACHE:-$ROOT/.cache/comfyui}/ComfyUI
log() { echo "comfyui_for_tests: $*" >&2; }

[ -f "$SNAPSHOT/main.py" ] || { log "$SNAPSHOT has no main.py"; exit 2; }
SNAPSHOT=$(cd "$SNAPSHOT" && pwd)

# 1. The copy (refreshed when the snapshot changes).
snapshot_id() { cat "$1/SNAPSHOT.txt" 2>/dev/null || cat "$1/comfyui_version.py"; }
if [ ! -f "$DEST/main.py" ] || [ "$(snapshot_id "$SNAPSHOT")" != "$(snapshot_id "$DEST")" ]; then
  log "copying $SNAPSHOT to $DEST"
  rm -rf "$DEST.partial" && mkdir -p "$(dirname "$DEST")"
  cp -R "$SNAPSHOT" "$DEST.partial" && chmod -R u+w "$DEST.partial"
  rm -rf "$DEST" && mv "$DEST.partial" "$DEST"
fi

# 2. ComfyUI's Python: its own venv, torch from constraints.txt (the local CPU wheel) before anything else.
VENV=$DEST/venv
PY=$VENV/bin/python
STAMP=$VENV/.reco-requirements-$(cat "$DEST/requirements.txt" "$ROOT/requirements.txt" "$ROOT/constraints.txt" \
  | md5sum | cut -c1-12)
if [ ! -f "$STAMP" ]; then
  started=$(date +%s)
  [ -x "$PY" ] || python3 -m venv "$VENV"
  pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }
  TORCH_PIN=$(grep -E '^torch==' "$ROOT/constraints.txt")
  log "installing $TORCH_PIN, then ComfyUI's and the pack's requirements under that pin"
  pip_install "$TORCH_PIN"
  PIN=$(mktemp) REQS=$(mktemp)
  echo "$TORCH_PIN" > "$PIN"
  # torch is pinned above; torchaudio has no CPU build for this torch and ComfyUI runs without it.
  grep -v -E '^[[:space:]]*(torch|torchaudio)[[:space:]]*([;#].*)?$' "$DEST/requirements.txt" > "$REQS"
  # app/frontend_management.py imports requests, which ComfyUI's requirements.txt does not list.
  pip_install -c "$PIN" -r "$REQS" -r "$ROOT/requirements.txt" requests
  rm -f "$PIN" "$REQS"
  "$PY" "$ROOT/scripts/torchvision_cpu_shim.py" --install
  touch "$STAMP"
  log "ComfyUI's Python ready in $(( $(date +%s) - started )) s"
fi
echo "$DEST"
