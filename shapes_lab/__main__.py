"""`python -m shapes_lab`: build the ReCo-Shapes miniature, run the studies behind its docs, the README grid.

    python -m shapes_lab build --out runs/shapes [--fast] [--install] [--resume]
    python -m shapes_lab ablation --out runs/ablation [--count 16]
    python -m shapes_lab region --out runs/region [--count 8]
    python -m shapes_lab settings --out runs/settings [--count 6]
    python -m shapes_lab readme-grid --out runs/demo
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from reco_core.errors import run_command

README_GRID = Path(__file__).resolve().parents[1] / "docs" / "images" / "demo_grid.png"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m shapes_lab", description="Build and study the ReCo-Shapes "
                                     "miniature (from a checkout of the repository).")
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
    grid = commands.add_parser("readme-grid", help="run the demo and write docs/images/demo_grid.png")
    grid.add_argument("--out", required=True, help="folder for the demo's videos, grid.png and metrics.json")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args) -> None:
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
    else:
        from reco_core.shapes.demo import run_demo

        run_demo(Path(args.out), readme_grid=README_GRID)


if __name__ == "__main__":
    sys.exit(main())
