"""Making the edits a benchmark asks for, with any model `python -m reco_core edit` loads.

The edit flags are parsed by the `edit` command's own parser, every clip is checked by its own
`prepare_job` and the models come from its `load_models`, so defaults, checks and LoRA handling are the
edit command's. The models are loaded once for all clips. Each edit is written under the name the authors' step 1 expects (`<edits>/<name>.mp4`;
in the shapes world a folder of PNG frames, so the ground-truth judge measures the model, not a codec),
and the source as the model saw it (resized, trimmed) goes to `<edits>/model_sources/` for the judge.
A clip that already has an edit is skipped, so an interrupted run resumes.
"""

from __future__ import annotations

import shlex
import threading
from pathlib import Path
from typing import Callable

from ..errors import CancelledError, ReCoInputError
from .benchmarks import MODEL_SOURCES_DIR, SHAPES_SOURCES_DIR, ShapesBench, find_clip
from .protocol import BenchItem, read_target_captions
from .runner import unique_items

RESERVED_FLAGS = ("--source", "--instruction", "--out", "--side-by-side")
PROMPT_CHOICES = ("instruction", "caption")


def _edit_parser():
    from ..cli import build_parser

    return build_parser()


def edit_argv(flags: str) -> list[str]:
    """`--edit "FLAGS"` as argv for the edit command, checked by its parser (the per-clip flags are added here)."""
    try:
        argv = shlex.split(flags or "")
    except ValueError as error:
        raise ReCoInputError("--edit", f"{flags!r} cannot be split into flags ({error})", "Quote it as one string.") from None
    reserved = [arg for arg in argv if arg.split("=", 1)[0] in RESERVED_FLAGS]
    if reserved:
        raise ReCoInputError("--edit", f"sets {', '.join(reserved)}, which the benchmark sets per clip",
                             "Leave out --source, --instruction, --out and --side-by-side.")
    if "--model" not in {arg.split("=", 1)[0] for arg in argv}:
        raise ReCoInputError("--edit", "has no --model", 'Give the edit flags, e.g. --edit "--model shapes" or '
                             '--edit "--model wan.safetensors --vae vae.safetensors --text-encoder umt5 --lora reco.ckpt".')
    try:
        _edit_parser().parse_args(["edit", *argv, "--source", "-", "--instruction", "-", "--out", "x.mp4"])
    except SystemExit:
        raise ReCoInputError("--edit", f"{flags!r} are not flags of `python -m reco_core edit`",
                             "See python -m reco_core edit --help (the error is printed above).") from None
    return argv


def _edit_prompt(item: BenchItem, prompt: str, captions: dict[str, str]) -> str:
    if prompt == "instruction":
        return item.instruction
    if item.video_name not in captions:
        raise ReCoInputError("--prompt", f"configs/{item.task}_edited_video_prompt.json has no caption for "
                             f"{item.video_name}", "Use --prompt instruction.")
    return captions[item.video_name]


def _load_pipeline(args, job):
    from ..edit_command import load_models
    from ..engine.pipeline import ReCoPipeline

    pipeline = ReCoPipeline(*load_models(args, job), device=job.device, offload=args.offload)
    if args.vae_tiling:
        pipeline.enable_vae_tiling()
    return pipeline


def make_edits(bench, tasks: list[str], edits: str | Path, flags: str, *, prompt: str = "instruction",
               progress: Callable[[int, int, str], None] | None = None,
               step_progress: Callable[[int, int], None] | None = None,
               cancel: threading.Event | None = None) -> dict:
    """Edit every pair of `tasks` that has no edit in `edits` yet; returns {"made": n, "skipped": [(name, why)]}."""
    from ..edit_command import prepare_job
    from ..video import write_video

    if prompt not in PROMPT_CHOICES:
        raise ReCoInputError("--prompt", f"{prompt!r} is not a choice", f"Use one of: {', '.join(PROMPT_CHOICES)}.")
    argv, edits = edit_argv(flags), Path(edits)
    shapes = isinstance(bench, ShapesBench)
    if shapes and prompt == "caption":
        raise ReCoInputError("--prompt", "caption needs the authors' captions, which the shapes world has not",
                             "Use --prompt instruction with --shapes.")
    todo = [item for task in tasks for item in unique_items(bench.items(task))
            if find_clip(edits, item.video_name) is None]
    captions = {task: read_target_captions(bench.bench_dir, task) for task in tasks} if prompt == "caption" else {}
    parser, pipeline, made, skipped = _edit_parser(), None, 0, []
    for index, item in enumerate(todo):
        if cancel is not None and cancel.is_set():
            raise CancelledError(f"editing cancelled after {made} edits")
        if progress is not None:
            progress(index, len(todo), item.video_name)
        source = bench.write_source(item, edits / SHAPES_SOURCES_DIR) if shapes else bench.raw_source_path(item)
        if source is None:
            skipped.append((item.video_name, f"no source video {item.source}"))
            continue
        out = edits / (Path(item.video_name).stem if shapes else item.video_name)
        args = parser.parse_args(["edit", *argv, "--source", str(source), "--instruction",
                                  _edit_prompt(item, prompt, captions.get(item.task, {})), "--out", str(out), "--quiet"])
        job = prepare_job(args)
        pipeline = pipeline or _load_pipeline(args, job)
        result = pipeline(job.source.frames, args.instruction, options=job.options, first_frame=job.first_frame,
                          reference=job.reference, region=job.region, mask=job.mask, progress=step_progress,
                          cancel=None if cancel is None else cancel.is_set)
        write_video(job.out, result.frames, job.options.fps)
        seen = edits / MODEL_SOURCES_DIR / item.source
        if not shapes and find_clip(seen.parent, item.source) is None:
            write_video(seen, result.source, job.options.fps)
        made += 1
    if progress is not None:
        progress(len(todo), len(todo), "")
    return {"made": made, "skipped": skipped}
