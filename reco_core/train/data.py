"""Training pairs: where they come from, checking them all before training, buckets, and loading clips.

A pair is a source clip, a target clip (the edit), an instruction, and optionally a mask video of the
edit region and a task tag. Pairs come from a JSONL manifest (one object per line with the keys
"source", "target", "instruction", optional "mask" and "task"; paths relative to the manifest) or a
folder (with a manifest.jsonl, or one subfolder per pair holding source.*, target.*, instruction.txt
and optionally mask.* and task.txt).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import checks
from ..errors import ReCoInputError
from ..frames import fit_length, resample_fps, resize_frames, resize_masks
from ..video import VIDEO_SUFFIXES, IMAGE_SUFFIXES, probe_video, read_mask_video, read_video
from .config import DataConfig

MANIFEST_NAME = "manifest.jsonl"


@dataclass(frozen=True)
class PairRecord:
    """One pair as listed: files, instruction, optional mask and task."""

    name: str
    source: Path
    target: Path
    instruction: str
    mask: Path | None = None
    task: str | None = None


@dataclass(frozen=True)
class PairPlan:
    """A checked pair with the size and length it trains at."""

    record: PairRecord
    width: int
    height: int
    frames: int

    @property
    def bucket(self) -> tuple[int, int, int]:
        return (self.width, self.height, self.frames)


def read_manifest(path: str | Path) -> list[PairRecord]:
    """Read a JSONL manifest; every problem names the file and the line."""
    path = Path(path)
    if not path.is_file():
        raise ReCoInputError("data.manifest", f"{path} does not exist", "Give the JSONL file that lists the pairs.")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise ReCoInputError("data.manifest", f"line {where} is not JSON ({error.msg})", "One JSON object per line.")
        missing = [key for key in ("source", "target", "instruction") if not row.get(key)]
        if missing:
            raise ReCoInputError("data.manifest", f"line {where} has no {', '.join(missing)}",
                                 'Each line needs "source", "target" and "instruction".')
        records.append(PairRecord(
            name=str(row.get("name") or f"{path.stem}:{number}"),
            source=path.parent / row["source"], target=path.parent / row["target"],
            instruction=str(row["instruction"]), mask=path.parent / row["mask"] if row.get("mask") else None,
            task=row.get("task"),
        ))
    if not records:
        raise ReCoInputError("data.manifest", f"{path} lists no pairs", "Add one JSON object per pair.")
    return records


def _media_file(folder: Path, stem: str) -> Path | None:
    for candidate in sorted(folder.glob(f"{stem}*")):
        if candidate.is_dir() or candidate.suffix.lower() in VIDEO_SUFFIXES + IMAGE_SUFFIXES:
            if candidate.stem == stem or candidate.name == stem:
                return candidate
    return None


def scan_folder(folder: str | Path) -> list[PairRecord]:
    """Pairs in a folder: its manifest.jsonl, or one subfolder per pair."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ReCoInputError("data.folder", f"{folder} is not a folder", "Give the folder that holds the pairs.")
    if (folder / MANIFEST_NAME).is_file():
        return read_manifest(folder / MANIFEST_NAME)
    records = []
    for pair_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        source, target = _media_file(pair_dir, "source"), _media_file(pair_dir, "target")
        instruction_file = pair_dir / "instruction.txt"
        if source is None or target is None or not instruction_file.is_file():
            missing = [n for n, v in (("source.*", source), ("target.*", target),
                                      ("instruction.txt", instruction_file.is_file() or None)) if v is None]
            raise ReCoInputError("data.folder", f"pair folder {pair_dir} has no {', '.join(missing)}",
                                 "Each pair folder needs source.mp4, target.mp4 and instruction.txt (mask.mp4 optional).")
        task_file = pair_dir / "task.txt"
        records.append(PairRecord(
            name=pair_dir.name, source=source, target=target,
            instruction=instruction_file.read_text(encoding="utf-8").strip(), mask=_media_file(pair_dir, "mask"),
            task=task_file.read_text(encoding="utf-8").strip() if task_file.is_file() else None,
        ))
    if not records:
        raise ReCoInputError("data.folder", f"{folder} holds no pairs", f"Add a {MANIFEST_NAME} or one folder per pair.")
    return records


def choose_bucket(width: int, height: int, config: DataConfig) -> tuple[int, int]:
    """The training size for a clip of `width` x `height`: the bucket closest in aspect ratio."""
    buckets = [tuple(b) for b in config.buckets] or [(config.width, config.height)]
    aspect = math.log(width / height)
    return min(buckets, key=lambda b: abs(math.log(b[0] / b[1]) - aspect))


def _frames_after_resampling(num_frames: int, fps: float, target_fps: float) -> int:
    if not fps or fps <= target_fps:
        return num_frames
    return max(1, int(num_frames * target_fps / fps))


def plan_pairs(records: list[PairRecord], config: DataConfig) -> list[PairPlan]:
    """Check every pair before training: files exist and decode, source/target/mask lengths agree.

    All problems are collected and reported together, each naming its file.
    """
    problems, plans = [], []
    for record in records:
        try:
            plans.append(_plan_one(record, config))
        except ReCoInputError as error:
            problems.append(f"- {record.name}: {error}")
    if problems:
        raise ReCoInputError("data", f"{len(problems)} of {len(records)} pairs cannot be used:\n" + "\n".join(problems),
                             "Fix or remove these pairs, then start again.")
    return plans


def folder_rate(path: Path, config: DataConfig) -> float | None:
    """A folder of frames has no frame rate of its own: its frames are taken to be at the training fps."""
    return config.fps if Path(path).is_dir() else None


def _plan_one(record: PairRecord, config: DataConfig) -> PairPlan:
    source = probe_video(record.source, fps=folder_rate(record.source, config), input_name="source")
    target = probe_video(record.target, fps=folder_rate(record.target, config), input_name="target")
    if source.num_frames != target.num_frames:
        raise ReCoInputError("target", f"{record.target} has {target.num_frames} frames but the source "
                             f"{record.source} has {source.num_frames}", "Source and target must be frame-aligned.")
    if (source.width, source.height) != (target.width, target.height):
        raise ReCoInputError("target", f"{record.target} is {target.width}x{target.height} but the source is "
                             f"{source.width}x{source.height}", "Source and target must have the same size.")
    if record.mask is not None:
        mask = probe_video(record.mask, input_name="mask")
        if mask.num_frames not in (1, source.num_frames):
            raise ReCoInputError("mask", f"{record.mask} has {mask.num_frames} frames but the source has "
                                 f"{source.num_frames}", "Give one mask frame per source frame.")
    available = _frames_after_resampling(source.num_frames, source.fps, config.fps)
    frames = min(config.frames, checks.largest_valid_length(available))
    width, height = choose_bucket(source.width, source.height, config)
    return PairPlan(record, width, height, frames)


@dataclass
class PairClips:
    source: torch.Tensor  # [T, H, W, 3]
    target: torch.Tensor
    mask: torch.Tensor | None  # [T, H, W]


def load_clips(plan: PairPlan, config: DataConfig) -> PairClips:
    """Read a planned pair at its training fps, length and size."""
    def prepare(frames: torch.Tensor, fps: float) -> torch.Tensor:
        frames = fit_length(resample_fps(frames, fps, config.fps), plan.frames)
        return resize_frames(frames, plan.width, plan.height, config.resize_mode)

    record = plan.record
    source = read_video(record.source, fps=folder_rate(record.source, config), input_name="source")
    target = read_video(record.target, fps=folder_rate(record.target, config), input_name="target")
    mask = None
    if plan.record.mask is not None:
        masks = read_mask_video(plan.record.mask, input_name="mask")
        frames = masks.frames if masks.frames.shape[0] > 1 else masks.frames.expand(source.frames.shape[0], -1, -1)
        frames = fit_length(resample_fps(frames, source.fps, config.fps), plan.frames)  # aligned with the source
        mask = (resize_masks(frames, plan.width, plan.height, config.resize_mode) > 0.5).float()
    return PairClips(prepare(source.frames, source.fps), prepare(target.frames, target.fps), mask)
