"""Exporting shapes-world pairs to disk as lossless PNG frame folders plus a JSONL manifest.

Layout under `out_dir`::

    train.jsonl
    train/pair_00012/source/frame_00000.png ...
    train/pair_00012/target/frame_00000.png ...
    train/pair_00012/mask/frame_00000.png ...

Each pair folder appears whole or not at all (written in a hidden temporary folder, then renamed),
and the manifest is written last with `fsutil`, so an interrupted export leaves no half pair.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image

from ..errors import CancelledError, ReCoInputError
from ..fsutil import atomic_write_text
from .tasks import TASKS, EditPair, make_pair, split_seeds
from .world import WorldConfig, from_uint8, to_uint8

MANIFEST_FIELDS: tuple[str, ...] = ("source", "target", "mask", "instruction", "task", "seed")
CLIPS: tuple[str, ...] = ("source", "target", "mask")


def manifest_path(out_dir: str | os.PathLike, split: str) -> Path:
    """Where `export_dataset` writes the manifest of a split."""
    return Path(out_dir) / f"{split}.jsonl"


def pair_folder_name(index: int) -> str:
    return f"pair_{index:05d}"


def frame_name(index: int) -> str:
    return f"frame_{index:05d}.png"


def save_png_frames(frames: np.ndarray, folder: Path) -> None:
    """Write uint8 frames [T, H, W, 3] (RGB) or [T, H, W] (grey) as numbered PNGs."""
    folder.mkdir(parents=True, exist_ok=True)
    for index, frame in enumerate(frames):
        Image.fromarray(np.ascontiguousarray(frame)).save(folder / frame_name(index))


def load_png_frames(folder: Path) -> np.ndarray:
    """Read a folder of numbered PNGs back as uint8 [T, H, W, C] or [T, H, W]."""
    paths = sorted(folder.glob("frame_*.png"))
    if not paths:
        raise ReCoInputError(str(folder), "holds no frame_*.png files", "Point at a folder written by export_dataset.")
    return np.stack([np.asarray(Image.open(path)) for path in paths])


def _replace_folder(staged: Path, final: Path) -> None:
    """Move a finished folder into place, swapping out an older copy if there is one."""
    if final.exists():
        retired = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, retired / final.name)
        os.replace(staged, final)
        shutil.rmtree(retired)
    else:
        os.replace(staged, final)


def write_pair(pair: EditPair, folder: str | os.PathLike) -> None:
    """Write a pair's source, target and mask as PNG folders under `folder`, all or nothing."""
    final = Path(folder)
    final.parent.mkdir(parents=True, exist_ok=True)
    staged = Path(tempfile.mkdtemp(prefix=f".{final.name}.tmp.", dir=final.parent))
    try:
        save_png_frames(to_uint8(pair.source), staged / "source")
        save_png_frames(to_uint8(pair.target), staged / "target")
        save_png_frames(to_uint8(pair.mask), staged / "mask")
        _replace_folder(staged, final)
    except BaseException:
        shutil.rmtree(staged, ignore_errors=True)
        raise


def _task_for(index: int, tasks: Sequence[str] | None) -> str | None:
    """Tasks cycle by pair index so every task gets an equal share; None lets the seed choose."""
    return None if not tasks else tasks[index % len(tasks)]


def _check_tasks(tasks: Sequence[str] | None) -> None:
    unknown = [task for task in tasks or () if task not in TASKS]
    if unknown:
        raise ReCoInputError("tasks", f"unknown task(s) {unknown}", f"Use some of {', '.join(TASKS)}, or None.")


def export_dataset(
    out_dir: str | os.PathLike,
    split: str,
    count: int,
    config: WorldConfig = WorldConfig(),
    tasks: Sequence[str] | None = None,
    seed_offset: int = 0,
    callback: Callable[[int, int], None] | None = None,
    cancel: Callable[[], bool] | None = None,
) -> Path:
    """Render `count` pairs of a split to `out_dir` and return the path of its JSONL manifest.

    Pairs use the split's seeds from the `seed_offset`-th on and are named by that global index, so
    exports with different offsets fill one folder without clashing (each writes its own manifest
    rows to `<split>.jsonl`, replacing the previous one). `tasks` cycles through the given tasks;
    None lets each seed choose. `callback(done, count)` runs after every pair and `cancel()` is
    checked before each, raising `CancelledError`.
    """
    _check_tasks(tasks)
    root = Path(out_dir)
    rows = []
    for done, seed in enumerate(split_seeds(split, count, start=seed_offset)):
        if cancel is not None and cancel():
            raise CancelledError("dataset export cancelled")
        index = seed_offset + done
        pair = make_pair(seed, _task_for(index, tasks), config)
        relative = Path(split) / pair_folder_name(index)
        write_pair(pair, root / relative)
        rows.append(
            {
                "source": (relative / "source").as_posix(),
                "target": (relative / "target").as_posix(),
                "mask": (relative / "mask").as_posix(),
                "instruction": pair.instruction,
                "task": pair.task,
                "seed": seed,
            }
        )
        if callback is not None:
            callback(done + 1, count)
    path = manifest_path(root, split)
    atomic_write_text(path, "".join(json.dumps(row) + "\n" for row in rows))
    return path


def read_manifest(path: str | os.PathLike) -> list[dict]:
    """The rows of a JSONL manifest."""
    rows = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, row in enumerate(rows, start=1):
        missing = [name for name in MANIFEST_FIELDS if name not in row]
        if missing:
            raise ReCoInputError(str(path), f"row {number} lacks {missing}", "Re-export the dataset.")
    return rows


def load_pair(row: dict, root: str | os.PathLike) -> EditPair:
    """Read back the pair a manifest row names (paths relative to `root`), bit-identical to the export.

    `info` holds only the seed; `make_pair(seed, task, config)` rebuilds the full description.
    """
    root = Path(root)
    source = from_uint8(load_png_frames(root / row["source"]))
    target = from_uint8(load_png_frames(root / row["target"]))
    mask = from_uint8(load_png_frames(root / row["mask"]))
    if not source.shape == target.shape or source.shape[:-1] != mask.shape:
        raise ReCoInputError(
            row["source"],
            f"source {tuple(source.shape)}, target {tuple(target.shape)} and mask {tuple(mask.shape)} disagree",
            "Re-export the dataset.",
        )
    return EditPair(source, target, mask, row["instruction"], row["task"], {"seed": int(row["seed"])})
