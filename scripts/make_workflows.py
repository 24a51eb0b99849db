#!/usr/bin/env python3
"""Generate the example workflows in workflows/ (ComfyUI UI format, LiteGraph "version": 0.4).

Each workflow is described compactly in workflow_definitions.py (nodes, links, widget values, groups) and
turned into UI JSON by workflow_rendering.py. The node definitions saved in
workflows/node_definitions/object_info.json give every node's input slots, output slots and widget order, so
the files match what frontend 1.27.10 itself saves (widget inputs after socket inputs, the extra
control_after_generate widget after seed INTs, the upload widget of file pickers).

    python scripts/make_workflows.py                  # regenerate workflows/*.json from the saved definitions
    python scripts/make_workflows.py --check          # exit 1 if a file is out of date
    python scripts/make_workflows.py --server URL     # refresh the saved definitions from a running ComfyUI
                                                      # that has this pack, then regenerate
    python scripts/make_workflows.py --server URL --thumbnails [--screenshots docs/images]
        # also render workflows/<name>.jpg (and DIR/workflow_<name>.png) in the real front end with headless
        # Chromium (tests/comfyui/frontend.py); CHROME_PATH picks the browser

Output is deterministic: ids, positions and the workflow UUID depend only on this file and the saved
definitions. Standard library plus this project's reco_core, for the miniature's default LoRA strength and the
authors' negative prompt (thumbnails also need a Chromium binary).
"""
from __future__ import annotations

import argparse
import difflib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workflow_definitions import Node  # noqa: E402,F401  (Node: for tests/comfyui/test_workflows.py)
from workflow_rendering import (  # noqa: E402,F401  (the helpers the workflow tests use, too)
    FILE_INPUTS, FRONTEND_NODES, OBJECT_INFO_PATH, PACK_CNR_ID, REPO_ROOT, TITLE_HEIGHT, WORKFLOWS_DIR, build_all,
    check_widget_value, fetch_object_info, input_specs, input_type, load_object_info, render_workflows,
    to_api_prompt, trim_node_info, used_node_types)


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="a running ComfyUI with this pack: refresh the saved node definitions")
    parser.add_argument("--check", action="store_true", help="only check that workflows/*.json are up to date")
    parser.add_argument("--thumbnails", action="store_true", help="render workflows/<name>.jpg (needs --server)")
    parser.add_argument("--screenshots", metavar="DIR", help="also write DIR/workflow_<name>.png (needs --server)")
    args = parser.parse_args(argv)

    if args.server and not args.check:
        saved = fetch_object_info(args.server, used_node_types())
        OBJECT_INFO_PATH.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {OBJECT_INFO_PATH.relative_to(REPO_ROOT)} ({len(saved) - 1} node types)")
    files = build_all()
    stale = []
    for name, text in files.items():
        path = WORKFLOWS_DIR / name
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old == text:
            continue
        if args.check:
            stale.append(name)
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       f"a/workflows/{name}", f"b/workflows/{name}", n=1))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote workflows/{name}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/make_workflows.py", file=sys.stderr)
        return 1
    if args.thumbnails or args.screenshots:
        if not args.server:
            parser.error("--thumbnails/--screenshots need --server")
        render_workflows(args.server, [Path(n).stem for n in files], args.thumbnails, args.screenshots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
