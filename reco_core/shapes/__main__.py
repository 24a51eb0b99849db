"""`python -m reco_core.shapes`: build the ReCo-Shapes miniature, run its ablation, the demo, the clips.

    python -m reco_core.shapes build --out runs/shapes [--fast] [--install] [--resume]
    python -m reco_core.shapes ablation --out runs/ablation [--count 16]
    python -m reco_core.shapes region --out runs/region [--count 8]
    python -m reco_core.shapes settings --out runs/settings [--count 6]
    python -m reco_core.shapes demo --out runs/demo [--readme-grid]
    python -m reco_core.shapes demo-clips
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from ..errors import ReCoInputError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reco_core.shapes", description="The ReCo-Shapes miniature.")
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="build the miniature (text encoder, VAE, base, ReCo LoRA, benchmark)")
    build.add_argument("--out", required=True, help="folder for the built files, logs and the LoRA run")
    build.add_argument("--fast", action="store_true", help="a few steps of every stage (minutes; for CI)")
    build.add_argument("--install", action="store_true", help="copy the result into reco_core/shapes/weights/")
    build.add_argument("--resume", action="store_true", help="skip stages whose files are already in --out")
    ablation = commands.add_parser("ablation", help="train LoRAs without L_latent / L_attn and benchmark them")
    ablation.add_argument("--out", required=True, help="folder for the four runs and ablation.json")
    ablation.add_argument("--count", type=int, default=None, help="benchmark pairs per task")
    ablation.add_argument("--base", default=None, help="folder of a build to use instead of the shipped base")
    ablation.add_argument("--no-docs", action="store_true", help="do not rewrite docs/benchmark.md")
    ablation.add_argument("--steps", type=int, default=None, help="train each variant for this many steps instead of "
                          "the config's (then full ReCo is retrained too)")
    region = commands.add_parser("region", help="benchmark region-constrained sampling (auto) against off")
    region.add_argument("--out", required=True, help="folder for region.json")
    region.add_argument("--count", type=int, default=None, help="benchmark pairs per task")
    region.add_argument("--no-docs", action="store_true", help="do not rewrite docs/region.md")
    settings = commands.add_parser("settings", help="score candidate edit settings on validation pairs "
                                   "(how the defaults were chosen)")
    settings.add_argument("--out", required=True, help="folder for settings.json")
    settings.add_argument("--count", type=int, default=None, help="validation pairs per task (default 6)")
    settings.add_argument("--no-docs", action="store_true", help="do not rewrite docs/edit-settings.md")
    demo = commands.add_parser("demo", help="edit the bundled clips (same as python -m reco_core demo)")
    demo.add_argument("--out", required=True, help="folder for the videos, grid.png and metrics.json")
    demo.add_argument("--readme-grid", action="store_true", help="also write docs/images/demo_grid.png")
    clips = commands.add_parser("demo-clips", help="render the bundled demo clips again")
    clips.add_argument("--out", default=None, help="folder (default: reco_core/shapes/demo_clips)")
    return parser


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        if args.command == "build":
            from .build import build

            build(args.out, fast=args.fast, install=args.install, resume=args.resume)
        elif args.command == "ablation":
            from .ablation import run_ablation

            run_ablation(Path(args.out), count=args.count, base=args.base, write_docs=not args.no_docs,
                         steps=args.steps)
        elif args.command == "region":
            from .region_bench import run_region_comparison

            run_region_comparison(Path(args.out), count=args.count, write_docs=not args.no_docs)
        elif args.command == "settings":
            from .edit_settings import DOCS, run_settings

            run_settings(Path(args.out), count=args.count, docs=None if args.no_docs else DOCS)
        elif args.command == "demo":
            from .demo import REPO_GRID, run_demo

            run_demo(Path(args.out), readme_grid=REPO_GRID if args.readme_grid else None)
        else:
            from .demo import DEMO_CLIPS_DIR, write_demo_clips

            print(f"wrote {write_demo_clips(Path(args.out) if args.out else DEMO_CLIPS_DIR)}")
    except ReCoInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
