"""`python -m reco_core demo --out DIR`: the shipped ReCo-Shapes model edits four bundled clips.

The clips (one per task: add, remove, replace, style) live in `demo_clips/` as lossless PNG frames
with their instruction and ground truth; they come from test-split seeds, so the model never saw
them. The demo writes, into DIR:

- `<task>.mp4`: source | edit | ground truth, side by side;
- `grid.png`: rows are tasks, columns a few frames of the source and then of the edit;
- `metrics.json`: `reco_core.shapes.metrics` scores of every edit against its ground truth, timings.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import torch
from PIL import Image, ImageDraw, ImageFont

from ..fsutil import atomic_path, atomic_write_text
from .dataset import load_pair, read_manifest, write_pair
from .metrics import score_pair
from .model import FPS, model_world
from .tasks import TASKS, EditPair, make_pair, split_seeds
from .world import WorldConfig, to_uint8

DEMO_CLIPS_DIR = Path(__file__).with_name("demo_clips")
MANIFEST = "manifest.jsonl"
#: Test-split seeds of the bundled clips, one per task (chosen once from DEMO_SEED_START on).
DEMO_SEED_START = 900_000
GRID_FRAMES = (0, 8, 16)
GRID_SCALE = 1
#: Region mode of the demo edits (see docs/region.md for what it changes on this model).
DEMO_REGION = "off"
LABEL_WIDTH = 150


# ----------------------------------------------------------------------------------------------
# The bundled clips


#: A bundled clip shows its edit clearly: at most two shapes and at least this share of the frame changed in
#: every frame (the first test seed from the task's start that passes is used).
DEMO_MAX_SHAPES = 2
DEMO_MIN_CHANGED = 0.04


def _clear_enough(pair: EditPair) -> bool:
    frame_area = pair.mask.shape[1] * pair.mask.shape[2]
    changed = float(pair.mask.sum(dim=(1, 2)).min()) / frame_area
    return pair.info["num_shapes"] <= DEMO_MAX_SHAPES and changed >= DEMO_MIN_CHANGED


def demo_seeds(config: WorldConfig | None = None) -> dict[str, int]:
    """The seed of each task's bundled clip: the first clear one from the task's test-split start."""
    config = config or model_world()
    seeds = {}
    for index, task in enumerate(TASKS):
        for seed in split_seeds("test", 200, start=DEMO_SEED_START + 1000 * index):
            if _clear_enough(make_pair(seed, task, config)):
                seeds[task] = seed
                break
    return seeds


def write_demo_clips(folder: Path = DEMO_CLIPS_DIR, seeds: dict[str, int] | None = None) -> Path:
    """Render the bundled clips (source, target, mask as PNG folders) and their manifest into `folder`."""
    seeds = seeds or demo_seeds()
    config = model_world()
    rows = []
    for task, seed in seeds.items():
        pair = make_pair(seed, task, config)
        write_pair(pair, folder / task)
        rows.append({"name": task, "source": f"{task}/source", "target": f"{task}/target", "mask": f"{task}/mask",
                     "instruction": pair.instruction, "task": task, "seed": seed})
    atomic_write_text(folder / MANIFEST, "".join(json.dumps(row) + "\n" for row in rows))
    return folder


def load_demo_clips(folder: Path = DEMO_CLIPS_DIR) -> list[EditPair]:
    """The bundled pairs, in task order."""
    return [load_pair(row, folder) for row in read_manifest(folder / MANIFEST)]


# ----------------------------------------------------------------------------------------------
# Pictures


def _cell(frame: torch.Tensor) -> Image.Image:
    image = Image.fromarray(to_uint8(frame))
    return image.resize((image.width * GRID_SCALE, image.height * GRID_SCALE), Image.NEAREST)


def _font(size: int = 12):
    """DejaVu Sans where installed (clear word spacing), else Pillow's own font."""
    try:
        return ImageFont.truetype("DejaVuSans.ttf", size)
    except OSError:
        return ImageFont.load_default(size)


def before_after_grid(pairs: list[EditPair], edits: list[torch.Tensor], frames=GRID_FRAMES) -> Image.Image:
    """Rows: one per pair; columns: `frames` of the source, then the same frames of the edit."""
    size = pairs[0].source.shape[1] * GRID_SCALE
    header, gap = 22, 8
    width = LABEL_WIDTH + 2 * len(frames) * size + gap
    grid = Image.new("RGB", (width, header + len(pairs) * (size + 4)), (255, 255, 255))
    draw = ImageDraw.Draw(grid)
    draw.font = _font()
    draw.text((LABEL_WIDTH, 5), "source (frames " + ", ".join(map(str, frames)) + ")", fill=(0, 0, 0))
    draw.text((LABEL_WIDTH + len(frames) * size + gap, 5), "ReCo-Shapes edit", fill=(0, 0, 0))
    for row, (pair, edit) in enumerate(zip(pairs, edits)):
        top = header + row * (size + 4)
        draw.text((6, top + 4), pair.task, fill=(0, 0, 0))
        for line, text in enumerate(_wrap(pair.instruction, 22)):
            draw.text((6, top + 22 + 14 * line), text, fill=(80, 80, 80))
        for column, index in enumerate(frames):
            grid.paste(_cell(pair.source[index]), (LABEL_WIDTH + column * size, top))
            grid.paste(_cell(edit[index]), (LABEL_WIDTH + (len(frames) + column) * size + gap, top))
    return grid


def _wrap(text: str, width: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    return lines + ([line] if line else [])


def save_image(image: Image.Image, path: Path) -> Path:
    with atomic_path(path) as tmp:
        image.save(tmp)
    return path


# ----------------------------------------------------------------------------------------------
# The demo


def run_demo(out: Path, echo: Callable[[str], None] = print, readme_grid: Path | None = None) -> dict:
    """Edit the bundled clips with the shipped model; write videos, the grid and metrics into `out`."""
    from ..engine.pipeline import ReCoPipeline
    from ..video import write_video
    from .bench import edit_options, edit_pair
    from .model import load_shapes_model

    started = time.time()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pairs = load_demo_clips()
    echo(f"[demo] loading the ReCo-Shapes model ({len(pairs)} clips to edit)")
    transformer, vae, text_encoder = load_shapes_model(torch.float32, "cpu")
    pipeline = ReCoPipeline(transformer, vae, text_encoder, device="cpu")
    options = edit_options()
    load_seconds = time.time() - started
    edits, clips = [], []
    for pair in pairs:
        edit_started = time.time()
        edit = edit_pair(pipeline, pair, options, DEMO_REGION).frames
        seconds = time.time() - edit_started
        video = write_video(out / f"{pair.task}.mp4", torch.cat([pair.source, edit, pair.target], dim=2), FPS)
        scores = score_pair(edit, pair)
        edits.append(edit)
        clips.append({"task": pair.task, "instruction": pair.instruction, "seed": pair.info["seed"],
                      "video": video.name, "seconds": round(seconds, 2), "scores": scores})
        echo(f"[demo] {pair.task:8s} \"{pair.instruction}\" -> {video.name} in {seconds:.1f} s  "
             f"(edit accuracy {scores['edit_accuracy']:.2f})")
    grid = before_after_grid(pairs, edits)
    save_image(grid, out / "grid.png")
    if readme_grid is not None:
        save_image(grid, readme_grid)
    metrics = {"clips": clips, "options": {"steps": options.steps, "cfg": options.cfg, "shift": options.shift,
                                           "sampler": options.sampler, "size": [options.width, options.height]},
               "seconds": {"load": round(load_seconds, 2), "edits": round(sum(c["seconds"] for c in clips), 2),
                           "total": round(time.time() - started, 2)}}
    atomic_write_text(out / "metrics.json", json.dumps(metrics, indent=2))
    echo(f"[demo] wrote {len(clips)} videos, grid.png and metrics.json to {out} in {metrics['seconds']['total']:.1f} s")
    return metrics
