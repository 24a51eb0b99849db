"""`python -m reco_core`: edit clips, inspect and convert LoRAs, train, run the demo and the benchmark.

Every input is checked before any model loads; errors name the input and the fix and exit with 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import sys
from pathlib import Path

from .choices import ATTENTION_MODES, DTYPE_NAMES, REGION_MODES, RESIZE_MODES, SHORT_CLIP_MODES
from .errors import CancelledError, ReCoInputError

EXIT_BAD_INPUT = 2
EXIT_CANCELLED = 130
EXIT_BROKEN_PIPE = 1


# ================================================================================================ parsing


SHAPES_DEFAULTS_NOTE = ("--model shapes has its own defaults (its size and length, 10 Euler steps, shift 3, cfg 1, no "
                        "negative prompt, LoRA strength 0.9), chosen for the miniature; any flag you give wins")


def add_edit_parser(commands) -> None:
    edit = commands.add_parser("edit", help="edit a clip by an instruction",
                               description="Edit a video by an instruction with ReCo (no mask to paint). The defaults "
                               "are the authors' inference settings: Euler, 50 steps, shift 5, cfg 5, their negative "
                               "prompt, 832x480 per half, 81 frames (a short clip padded with its last frame), the "
                               f"whole canvas decoded. {SHAPES_DEFAULTS_NOTE}.")
    edit.add_argument("--source", required=True, help="the clip to edit: a video file (mp4, mov, webm, gif), a "
                      "folder of frames, or an image")
    edit.add_argument("--instruction", required=True, help='what to change, e.g. "remove the dog"')
    edit.add_argument("--out", required=True, help="where to write the edit: .mp4 (H.264), .webm, .gif, or a "
                      "folder for PNG frames")
    edit.add_argument("--model", default=None, help="the Wan2.1 VACE model: a single file (ComfyUI's "
                      "wan2.1_vace_1.3B_fp16.safetensors or the original), a diffusers folder, or \"shapes\" "
                      "for the bundled miniature (no other files needed; it has its own defaults, see above)")
    edit.add_argument("--vae", default=None, help="the Wan2.1 VAE file or diffusers folder (not needed with "
                      "--model shapes)")
    edit.add_argument("--text-encoder", default=None, help="folder of the UMT5 text encoder (transformers "
                      "format with its tokenizer)")
    edit.add_argument("--lora", action="append", default=[], metavar="FILE[:STRENGTH]",
                      help="a ReCo LoRA in any format (.ckpt release, DiffSynth, diffusers, ComfyUI, kohya); "
                      "repeat to stack several; strength defaults to 1. With --model shapes your LoRA replaces "
                      "the bundled one (strength defaults to the miniature's 0.9)")
    edit.add_argument("--reference", default=None, help="ReCo_ref: an image of the object (or look) to add; it is "
                      "letterboxed on white and given to the model as an extra frame before the clip. Use it "
                      "with the ReCo_ref LoRA (ReCo_ref_rank256-2026_m4_version.ckpt)")
    edit.add_argument("--size", default=None, help="per-half size WIDTHxHEIGHT, multiples of 16 (default 832x480; "
                      "the model's own size with --model shapes)")
    edit.add_argument("--frames", type=int, default=None, help="frames the model samples, 4n+1 (default 81, the "
                      "authors'; the model's own length with --model shapes). A longer clip is edited in "
                      "windows of this length (see --windows); a shorter one is handled by --short-clip")
    edit.add_argument("--windows", choices=("chain", "independent", "first"), default="chain", help="a clip longer "
                      "than --frames: chain edits it in overlapping windows, each after the first starting from "
                      "the edit's frame where it begins (ReCo's first-frame mode), and blends the shared frames, so "
                      "every frame is edited (default); independent edits each window on its own; first edits "
                      "only the first --frames frames and leaves the rest out (the behaviour before windows)")
    edit.add_argument("--window-overlap", type=int, default=None, help="frames neighbouring windows share, 1 to "
                      "--frames minus 1 (default 5, fewer for short windows: half a window at most)")
    edit.add_argument("--short-clip", choices=SHORT_CLIP_MODES, default="pad", help="a clip shorter than "
                      "--frames: pad repeats its last frame up to --frames and trims the padded frames from the "
                      "edit (the authors' way, default); shorten samples the longest 4n+1 length it holds "
                      "(faster, its last frames are left out)")
    edit.add_argument("--fps", type=float, default=None, help="resample the source to this frame rate first "
                      "(default: keep the source's rate; ReCo was trained at 16 fps)")
    edit.add_argument("--steps", type=int, default=None, help="sampling steps (default 50, the authors'; 30 with "
                      "--sampler unipc is the faster choice)")
    edit.add_argument("--cfg", type=float, default=None, help="classifier-free guidance scale (default 5; 1 "
                      "turns guidance off)")
    edit.add_argument("--shift", type=float, default=None, help="flow shift of the noise schedule (default 5)")
    edit.add_argument("--sampler", choices=("euler", "unipc"), default=None, help="sampler (default euler, the "
                      "authors' flow-matching Euler; unipc with --steps 30 is their diffusers conversion, faster, "
                      "possibly lower quality)")
    edit.add_argument("--seed", type=int, default=0, help="random seed (default 0; 1 gives the authors' noise)")
    edit.add_argument("--negative", default=None, help="negative prompt (default: the authors' one, Wan's "
                      "standard prompt without \"style, works, paintings\")")
    edit.add_argument("--side-by-side", action="store_true", help="write source | edit side by side instead "
                      "of the edit alone")
    edit.add_argument("--keep-source", action="store_true", help="hold the source half at the re-noised source "
                      "at every step instead of denoising it too")
    edit.add_argument("--first-frame", default=None, help="an image of your own edit of the first frame; ReCo "
                      "propagates it through the clip")
    edit.add_argument("--resize", choices=RESIZE_MODES, default="crop", help="how a "
                      "source of another size is fitted: crop the centre (default), pad, stretch, or nearest "
                      "(stretch with nearest-neighbour sampling, exactly the authors' script)")
    edit.add_argument("--output-size", choices=("model", "source"), default=None, help="model writes the edit at "
                      "the size the model edits at (default, as the authors); source scales it back to the "
                      "source's size over the source's own pixels, so what was not edited keeps its detail "
                      "(the default with --model shapes)")
    edit.add_argument("--decode", choices=("canvas", "target"), default="canvas", help="canvas decodes the whole "
                      "[source | target] canvas and crops the edit (the authors' path, default); target decodes "
                      "only the target half (faster, slightly different pixels)")
    edit.add_argument("--dtype", choices=DTYPE_NAMES, default=None, help="transformer weights and compute "
                      "(default bf16 on GPU, fp32 on CPU)")
    edit.add_argument("--device", default=None, help="cuda, cuda:1, cpu, ... (default: cuda if available)")
    edit.add_argument("--offload", action="store_true", help="keep models on the CPU and move each to the "
                      "device only while it works (less GPU memory)")
    edit.add_argument("--vae-tiling", action="store_true", help="encode and decode in tiles (less memory)")
    edit.add_argument("--region", choices=REGION_MODES, default="off", help="region-constrained "
                      "sampling (ours, not the authors'): auto finds the edit region from the model's own "
                      "estimates, mask takes it from --mask; the background outside it is held to the source "
                      "(default off)")
    edit.add_argument("--mask", default=None, help="with --region mask: a mask video or image of the region to "
                      "edit, the source's size (white = edit)")
    edit.add_argument("--background", type=float, default=0.8, help="background lock strength 0..1 outside the "
                      "region (default 0.8)")
    edit.add_argument("--release", type=float, default=0.7, help="fraction of the steps the background lock holds "
                      "before it fades out (default 0.7)")
    edit.add_argument("--attention", choices=ATTENTION_MODES, default="off", help="with a region: "
                      "edit-region tokens may not attend to the source region (region) or the whole source (source); "
                      "default off")
    edit.add_argument("--threshold", type=float, default=None, help="auto region threshold 0..1 on the normalised "
                      "source/target discrepancy (default: Otsu)")
    edit.add_argument("--detect-at", type=float, default=0.2, help="progress 0..1 at which the auto region is "
                      "read from the model's estimate (default 0.2)")
    edit.add_argument("--quiet", action="store_true", help="no progress bars (ours and the libraries')")


#: argparse takes "-inf" for an option; numbers of any spelling are values, so --cfg -inf reaches the checks.
NEGATIVE_NUMBER = re.compile(r"^-(\d+|\d*\.\d+|\d+\.?\d*e[-+]?\d+|inf|infinity|nan)$", re.IGNORECASE)


def accept_negative_numbers(parser: argparse.ArgumentParser) -> None:
    parser._negative_number_matcher = NEGATIVE_NUMBER  # argparse's own hook (same name in Python 3.9 .. 3.13)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                accept_negative_numbers(child)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m reco_core", description="ReCo: instruction-based video "
                                     "editing by region-constrained in-context generation.")
    commands = parser.add_subparsers(dest="command", required=True)
    add_edit_parser(commands)

    lora = commands.add_parser("lora", help="inspect or convert LoRA files")
    lora_commands = lora.add_subparsers(dest="lora_command", required=True)
    info = lora_commands.add_parser("info", help="format, rank, alpha, blocks and the base a LoRA fits")
    info.add_argument("file", help="a LoRA file (.safetensors, or a .ckpt/.pt read safely)")
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    convert = lora_commands.add_parser("convert", help="convert a LoRA to another format (always safetensors)")
    convert.add_argument("input", help="the LoRA to convert, in any supported format")
    convert.add_argument("output", help="where to write it (*.safetensors)")
    convert.add_argument("--to", required=True, choices=("comfy", "diffusers", "peft", "kohya", "reco", "diffsynth"),
                         help="comfy: ComfyUI and kijai's wrapper; diffusers: pipe.load_lora_weights; peft: a PEFT "
                         "state dict; kohya: musubi-tuner; reco/diffsynth: DiffSynth-Studio")

    train = commands.add_parser("train", help="train a ReCo LoRA from a TOML config",
                                description="Train a ReCo LoRA. Runs the same under accelerate launch / torchrun.")
    train.add_argument("--config", required=True, help="the training TOML (see docs/training.md; "
                       "configs/tiny-cpu.toml trains a tiny model on the CPU in minutes)")
    train.add_argument("--out", required=True, help="run folder: checkpoints, metrics, samples, the LoRA")
    train.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")

    demo = commands.add_parser("demo", help="edit the bundled clips with the bundled ReCo-Shapes model")
    demo.add_argument("--out", required=True, help="folder for the four mp4 results, grid.png and metrics.json")

    bench = commands.add_parser("bench", help="benchmarks")
    bench_commands = bench.add_subparsers(dest="bench_command", required=True)
    shapes = bench_commands.add_parser("shapes", help="score edits of held-out ReCo-Shapes pairs per task")
    shapes.add_argument("--out", default=None, help="write the results JSON here")
    shapes.add_argument("--count", type=int, default=None, help="pairs per task (default from the model card)")
    shapes.add_argument("--lora", default=None, help="score this LoRA instead of the bundled one")
    shapes.add_argument("--region", choices=REGION_MODES, default="off", help="region-constrained "
                        "sampling: auto finds the region, mask is given each pair's true edit mask")
    add_reco_bench_parser(bench_commands)
    accept_negative_numbers(parser)
    return parser


def add_reco_bench_parser(bench_commands) -> None:
    from .recobench.cli import add_parser

    add_parser(bench_commands)


# ================================================================================================ commands


def run_lora(args) -> int:
    from .lora import describe, describe_text, load_lora, save_lora

    if args.lora_command == "info":
        lora = load_lora(args.file)
        print(json.dumps(describe(lora), indent=2, default=str) if args.json else describe_text(lora))
        return 0
    from .fsutil import check_output_file, same_file

    output = check_output_file(args.output, "output", fix="Give a file name for the converted LoRA, e.g. "
                               f"{Path(args.output) / 'my_lora.safetensors'}.")
    if same_file(output, args.input):
        raise ReCoInputError("output", f"{output} is the input LoRA: converting would overwrite it",
                             "Write the converted LoRA to another file.")
    lora = load_lora(args.input)
    path = save_lora(lora, output, fmt=args.to)
    print(f"wrote {path} ({len(lora)} modules, {lora.source_format} -> {args.to})")
    return 0


def run_train(args) -> int:
    from .fsutil import check_output_folder
    from .bundled import trainer as make_trainer
    from .train import load_config

    check_output_folder(args.out, "--out")
    config = load_config(args.config)
    bars = TrainProgress()
    trainer = make_trainer(config, args.out, progress=bars.step, cache_progress=bars.cache, pairs_progress=bars.pairs)
    trainer.check_run_folder(args.resume)
    try:
        path = trainer.train(resume=args.resume)
    finally:
        bars.close()
    if not trainer.accelerator.is_main_process:
        return 0
    if trainer.stopped_early:
        print(f"stopped at step {trainer.step} of {config.optim.steps}: checkpoint saved in {Path(args.out)}; "
              f"continue with --resume (the LoRA so far: {path})", file=sys.stderr)
        return EXIT_CANCELLED
    print(f"LoRA written to {path}")
    return 0


class TrainProgress:
    """One bar per stage before and during training: making pairs, caching latents, training steps. Each bar
    starts when its stage does, so the time spent before step 1 does not enter the steps' rate and ETA."""

    def __init__(self):
        self.bars: dict[str, object] = {}

    def _bar(self, name: str, total: int, unit: str, initial: int = 0):
        from tqdm import tqdm

        if name not in self.bars:
            self.close()
            self.bars[name] = tqdm(total=total, initial=initial, desc=name, unit=unit, dynamic_ncols=True)
        return self.bars[name]

    def pairs(self, done: int, total: int) -> None:
        self._advance(self._bar("making pairs", total, "pair"), done)

    def cache(self, done: int, total: int) -> None:
        self._advance(self._bar("caching latents", total, "pair"), done)

    def step(self, step: int, steps: int, terms: dict) -> None:
        bar = self._bar("training", steps, "step", initial=step - 1)
        bar.set_postfix({k: f"{v:.4g}" for k, v in terms.items() if k in ("loss", "flow", "latent", "attn")},
                        refresh=False)
        self._advance(bar, step)

    @staticmethod
    def _advance(bar, done: int) -> None:
        if done > bar.n:
            bar.update(done - bar.n)

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


def run_edit(args) -> int:
    from .edit_command import run

    return run(args)


def run_demo(args) -> int:
    from .fsutil import check_output_folder
    from .shapes.demo import run_demo as demo

    demo(check_output_folder(args.out, "--out"))
    return 0


def run_bench(args) -> int:
    if args.bench_command == "reco":
        from .recobench.cli import run

        return run(args)
    from .shapes.bench import run_benchmark

    run_benchmark(out=args.out, count=args.count, lora=args.lora, region=args.region)
    return 0


COMMANDS = {"edit": run_edit, "lora": run_lora, "train": run_train, "demo": run_demo, "bench": run_bench}


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        code = COMMANDS[args.command](args)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except BrokenPipeError:
        # The reader went away (`reco lora info FILE | head`): stop quietly, as command-line tools do.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except ReCoInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except (CancelledError, KeyboardInterrupt) as error:
        print(f"cancelled: {error}", file=sys.stderr)
        return EXIT_CANCELLED
