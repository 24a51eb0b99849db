"""`python -m shapes_lab.long_clips`: long clips in windows, chained against independent, on the miniature.

A held-out ReCo-Shapes clip of 65 frames per pair (test split, never trained on) is edited in windows of the
model's 17 frames twice, with the same plan, blend and noise:

- chain: each window after the first gets the edit's frame at its start as ReCo's edited first frame;
- independent: every window edited on its own (the same clip cut into windows, then blended).

Scores: the benchmark's edit accuracy per window (`score_pair` on the window's frames) and over the clip,
background PSNR over the clip, and the jump at window seams: the mean frame-to-frame change (8-bit levels) over
the transitions where windows meet against over those inside one window, for the edit and for the ground truth.
Writes `long_clips.json` and, per pair, a PNG sheet (rows: source, chain, independent, ground truth; columns: the
frames around every seam) to `--out`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image

from reco_core.engine.long_clip import edit_long_clip
from reco_core.errors import ReCoInputError
from reco_core.frames import grid, to_uint8
from reco_core.fsutil import atomic_write_text
from reco_core.windows import DEFAULT_OVERLAP, WindowPlan, seam_report
from reco_core.shapes.bench import benchmark_pairs, edit_options, shapes_pipeline
from reco_core.shapes.metrics import score_pair
from reco_core.shapes.model import FPS, SHAPES_EDIT_DEFAULTS
from reco_core.shapes.tasks import TASKS, EditPair
from reco_core.shapes.world import WorldConfig

CLIP_FRAMES = 65
MODES = ("chain", "independent")


def long_pairs(count: int, tasks: tuple[str, ...] = TASKS, frames: int = CLIP_FRAMES) -> list[EditPair]:
    """`count` held-out pairs per task, `frames` long (the benchmark's seeds, drawn longer)."""
    config = WorldConfig(width=SHAPES_EDIT_DEFAULTS["width"], height=SHAPES_EDIT_DEFAULTS["height"],
                         num_frames=frames, fps=FPS)
    return benchmark_pairs(count, tasks, config=config)


def window_pair(pair: EditPair, start: int, end: int) -> EditPair:
    return EditPair(pair.source[start:end], pair.target[start:end], pair.mask[start:end], pair.instruction, pair.task,
                    pair.info)


def score_clip(frames: torch.Tensor, pair: EditPair, plan: WindowPlan) -> dict:
    """Edit accuracy per window and over the clip, background PSNR, and the seam report."""
    whole = score_pair(frames, pair)
    per_window = [score_pair(frames[w.start:w.end], window_pair(pair, w.start, w.end))["edit_accuracy"]
                  for w in plan.windows]
    return {"edit_accuracy": whole["edit_accuracy"], "edit_accuracy_per_window": per_window,
            "background_psnr": whole["background_psnr"], "temporal_stability": whole["temporal_stability"],
            "seams": seam_report(frames, plan)}


def seam_sheet(pair: EditPair, edits: dict[str, torch.Tensor], plan: WindowPlan) -> torch.Tensor:
    """Rows source, each edit, ground truth; columns the frame before each seam, its first and its last blended
    frame and the first frame of the new window's own (at most 4 frames per seam), one grey column between seams."""
    columns: list[int | None] = []
    for window in plan.windows[1:]:
        if columns:
            columns.append(None)
        columns += sorted({max(0, window.start - 1), window.start, window.start + window.shared - 1,
                           min(plan.frames - 1, window.start + window.shared)})
    rows = [pair.source, *edits.values(), pair.target]
    spacer = torch.full((pair.source.shape[1], 6, 3), 0.5)
    return grid([[row[c] if c is not None else spacer for c in columns] for row in rows])


def write_png(path: Path, image: torch.Tensor) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(to_uint8(image))).save(path)


def run(out: str | Path, count: int = 1, overlap: int = DEFAULT_OVERLAP, tasks: tuple[str, ...] = TASKS,
        frames: int = CLIP_FRAMES, seed: int = 0, steps: int | None = None, modes: tuple[str, ...] = MODES,
        reach: bool = False, echo: Callable[[str], None] = print) -> dict:
    """Edit `count` long held-out pairs per task in `modes` (the miniature's edit settings, or `steps` steps);
    with `reach`, also measure how far a first frame carries (`first_frame_reach`, on the second window). Writes
    long_clips.json and the seam sheets."""
    out = Path(out)
    pipeline = shapes_pipeline()
    options = edit_options(seed=seed, **({"steps": steps} if steps else {}))
    rows = []
    for pair in long_pairs(count, tasks, frames):
        row = {"task": pair.task, "seed": pair.info["seed"], "instruction": pair.instruction, "modes": {}}
        edits = {}
        for mode in modes:
            started = time.time()
            result = edit_long_clip(pipeline, pair.source, pair.instruction, options=options, overlap=overlap,
                                    mode=mode)
            if result.frames.shape[0] != pair.source.shape[0]:
                raise RuntimeError(f"{mode}: {result.frames.shape[0]} frames out for {pair.source.shape[0]} in")
            edits[mode] = result.frames
            row["modes"][mode] = {**score_clip(result.frames, pair, result.windows),
                                  "seconds": round(time.time() - started, 1)}
            scores = row["modes"][mode]
            echo(f"[long] {pair.task:8s} {mode:11s} edit acc {scores['edit_accuracy']:.3f} per window "
                 f"{' '.join(f'{a:.2f}' for a in scores['edit_accuracy_per_window'])}  bg "
                 f"{scores['background_psnr'] or float('nan'):.2f} dB  seam {scores['seams']['seam']:.2f} / inner "
                 f"{scores['seams']['inner']:.2f}")
        plan = result.windows
        row["windows"] = [[w.start, w.end] for w in plan.windows]
        row["truth_seams"] = seam_report(pair.target, plan)
        row["source_seams"] = seam_report(pair.source, plan)
        if reach and plan.windowed:
            second = plan.windows[1]
            row["first_frame_reach"] = first_frame_reach(pipeline, pair, options, second.start, second.end)
        write_png(out / f"{pair.task}_{pair.info['seed']}_seams.png", seam_sheet(pair, edits, plan))
        rows.append(row)
    report = {"frames": frames, "length": options.length, "overlap": overlap, "count": count, "seed": seed,
              "options": {"steps": options.steps, "cfg": options.cfg, "shift": options.shift,
                          "sampler": options.sampler}, "pairs": rows, "summary": summarise(rows, modes)}
    atomic_write_text(out / "long_clips.json", json.dumps(report, indent=2))
    echo(format_summary(report["summary"], modes))
    echo(f"[long] wrote {out / 'long_clips.json'}")
    return report


def first_frame_reach(pipeline, pair: EditPair, options, start: int, end: int) -> dict:
    """How far a given first frame carries into a window on this model: the window [start, end) edited without a
    first frame and with the ground truth's frame `start` as ReCo's first frame; the mean change between the two
    (8-bit levels) at the first frame, over the next four (the first latent frame after it) and at the last, and
    both edits' edit accuracy."""
    window = window_pair(pair, start, end)
    alone = pipeline(window.source, pair.instruction, options=options).frames
    given = pipeline(window.source, pair.instruction, options=options, first_frame=window.target[0]).frames
    change = (given - alone).abs().flatten(1).mean(1) * 255
    return {"first": float(change[0]), "next_four": float(change[1:5].mean()), "last": float(change[-1]),
            "edit_accuracy_without": score_pair(alone, window)["edit_accuracy"],
            "edit_accuracy_with_truth": score_pair(given, window)["edit_accuracy"]}


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return sum(values) / len(values) if values else None


def summarise(rows: list[dict], modes: tuple[str, ...] = MODES) -> dict:
    """Per task and mode: means over pairs (per window index too), and the ground truth's seam figures."""
    summary = {}
    for task in dict.fromkeys(row["task"] for row in rows):
        task_rows = [row for row in rows if row["task"] == task]
        entry = {"pairs": len(task_rows), "truth_seam": _mean(r["truth_seams"]["seam"] for r in task_rows),
                 "truth_inner": _mean(r["truth_seams"]["inner"] for r in task_rows)}
        for mode in modes:
            scores = [row["modes"][mode] for row in task_rows]
            windows = len(scores[0]["edit_accuracy_per_window"])
            entry[mode] = {
                "edit_accuracy": _mean(s["edit_accuracy"] for s in scores),
                "edit_accuracy_per_window": [_mean(s["edit_accuracy_per_window"][k] for s in scores)
                                             for k in range(windows)],
                "background_psnr": _mean(s["background_psnr"] for s in scores),
                "seam": _mean(s["seams"]["seam"] for s in scores),
                "inner": _mean(s["seams"]["inner"] for s in scores),
                "ratio": _mean(s["seams"]["ratio"] for s in scores),
            }
        summary[task] = entry
    return summary


def format_summary(summary: dict, modes: tuple[str, ...] = MODES) -> str:
    lines = ["| task | mode | edit acc. per window | edit acc. | bg PSNR (dB) | seam jump | within window | ratio |",
             "|---|---|---|---:|---:|---:|---:|---:|"]
    for task, entry in summary.items():
        for mode in modes:
            s = entry[mode]
            psnr = "-" if s["background_psnr"] is None else f"{s['background_psnr']:.2f}"
            lines.append(f"| {task} | {mode} | {' / '.join(f'{a:.2f}' for a in s['edit_accuracy_per_window'])} | "
                         f"{s['edit_accuracy']:.3f} | {psnr} | {s['seam']:.2f} | {s['inner']:.2f} | {s['ratio']:.2f} |")
        lines.append(f"| {task} | ground truth | | | | {entry['truth_seam']:.2f} | {entry['truth_inner']:.2f} | "
                     f"{entry['truth_seam'] / entry['truth_inner']:.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shapes_lab.long_clips", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="folder for long_clips.json and the seam sheets")
    parser.add_argument("--count", type=int, default=1, help="held-out pairs per task (default 1)")
    parser.add_argument("--overlap", type=int, default=DEFAULT_OVERLAP, help="frames neighbouring windows share")
    parser.add_argument("--tasks", default=",".join(TASKS), help="tasks, separated by commas")
    parser.add_argument("--frames", type=int, default=CLIP_FRAMES, help="frames per held-out clip (4n+1)")
    parser.add_argument("--seed", type=int, default=0, help="noise seed of every window")
    parser.add_argument("--steps", type=int, default=None, help="sampling steps (default: the miniature's own)")
    parser.add_argument("--modes", default=",".join(MODES), help="window modes to compare, separated by commas")
    parser.add_argument("--reach", action="store_true", help="also measure how far a given first frame carries "
                        "into a window on this model")
    args = parser.parse_args(argv)
    try:
        tasks = tuple(task.strip() for task in args.tasks.split(",") if task.strip())
        unknown = [task for task in tasks if task not in TASKS]
        if unknown or args.count < 1:
            raise ReCoInputError("--tasks" if unknown else "--count", f"{unknown or args.count} is not valid",
                                 f"Use tasks from {', '.join(TASKS)} and a count of 1 or more.")
        modes = tuple(mode.strip() for mode in args.modes.split(",") if mode.strip())
        if not modes or any(mode not in MODES for mode in modes):
            raise ReCoInputError("--modes", f"{args.modes!r} is not valid", f"Use modes from {', '.join(MODES)}.")
        run(args.out, args.count, args.overlap, tasks, args.frames, args.seed, args.steps, modes, args.reach)
    except ReCoInputError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
