"""`python -m reco_core.shapes`: the ReCo-Shapes miniature's demo and its bundled clips.

    python -m reco_core.shapes demo --out runs/demo
    python -m reco_core.shapes demo-clips

Building the miniature and the studies behind its docs live in the repository's `shapes_lab` package
(`python -m shapes_lab build|ablation|region|settings|readme-grid`), which is not part of the installed package.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import run_command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reco_core.shapes", description="The ReCo-Shapes miniature "
                                     "(to build it: python -m shapes_lab, in the repository).")
    commands = parser.add_subparsers(dest="command", required=True)
    demo = commands.add_parser("demo", help="edit the bundled clips (same as python -m reco_core demo)")
    demo.add_argument("--out", required=True, help="folder for the videos, grid.png and metrics.json")
    clips = commands.add_parser("demo-clips", help="render the bundled demo clips again")
    clips.add_argument("--out", default=None, help="folder (default: reco_core/shapes/demo_clips)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args) -> None:
    if args.command == "demo":
        from .demo import run_demo

        run_demo(Path(args.out))
    else:
        from .demo import DEMO_CLIPS_DIR, write_demo_clips

        print(f"wrote {write_demo_clips(Path(args.out) if args.out else DEMO_CLIPS_DIR)}")


if __name__ == "__main__":
    sys.exit(main())
