"""Training pairs: where they come from, checking them all before training, buckets, and loading clips.

A pair is a source clip, a target clip (the edit), an instruction, and optionally a mask video of the
edit region and a task tag. Pairs come from a JSONL manifest (one object per line with the keys
"source", "target", "instruction", optional "mask" and "task"; paths relative to the manifest) or a
folder (with a manifest.jsonl, or one subfolder per pair holding source.*, target.*, instruction.txt
and optionally mask.* and task.txt).
"""

from __future__ import annotations

import json
import logging
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
logger = logging.getLogger(__name__)


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
    """Read a JSONL manifest; every problem names the file and the line.

    Paths are relative to the manifest's folder and must stay inside it (no absolute paths, no `..`): a dataset
    can be handed to a server (ComfyUI's input folder) without giving it a way to read other files. A link
    inside the folder is followed, which is how clips kept elsewhere are used.
    """
    path = Path(path)
    if not path.is_file():
        raise ReCoInputError("data.manifest", f"{path} does not exist", "Give the JSONL file that lists the pairs.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise ReCoInputError("data.manifest", f"{path} is not UTF-8 text ({error.reason} at byte {error.start})",
                             "Save the manifest as UTF-8 JSON lines.") from None
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        records.append(_manifest_record(path, number, line))
    if not records:
        raise ReCoInputError("data.manifest", f"{path} lists no pairs", "Add one JSON object per pair.")
    return records


def _manifest_record(path: Path, number: int, line: str) -> PairRecord:
    where = f"{path}:{number}"
    try:
        row = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as error:
        reason = error.msg if isinstance(error, json.JSONDecodeError) else "nested too deep"
        raise ReCoInputError("data.manifest", f"line {where} is not JSON ({reason})", "One JSON object per line.") \
            from None
    if not isinstance(row, dict):
        raise ReCoInputError("data.manifest", f"line {where} is {_json_kind(row)}, not an object",
                             'Write each pair as {"source": ..., "target": ..., "instruction": ...}.')
    missing = [key for key in ("source", "target", "instruction") if not row.get(key)]
    if missing:
        raise ReCoInputError("data.manifest", f"line {where} has no {', '.join(missing)}",
                             'Each line needs "source", "target" and "instruction".')
    for key in ("source", "target", "instruction", "mask", "task", "name"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise ReCoInputError("data.manifest", f"line {where}: {key!r} is {_json_kind(row[key])}, not text",
                                 f'Write it as a string, e.g. "{key}": "..."')
    if not row["instruction"].strip():
        raise ReCoInputError("data.manifest", f"line {where} has an instruction of only spaces",
                             'Say what the edit does, e.g. "instruction": "remove the dog".')
    return PairRecord(
        name=str(row.get("name") or f"{path.stem}:{number}"),
        source=_inside(path, where, "source", row["source"]), target=_inside(path, where, "target", row["target"]),
        instruction=row["instruction"].strip(),
        mask=_inside(path, where, "mask", row["mask"]) if row.get("mask") else None, task=row.get("task"),
    )


def _json_kind(value) -> str:
    kinds = ((bool, "true or false"), ((int, float), "a number"), (list, "a list"), (dict, "an object"),
             (type(None), "null"))
    return next((f"{name}" if name in ("null", "true or false") else name for kind, name in kinds
                 if isinstance(value, kind)), "a value")


def _inside(manifest: Path, where: str, key: str, value: str) -> Path:
    """A manifest path, relative to the manifest's folder and confined to it."""
    relative = Path(value)
    if "\0" in value or relative.is_absolute() or relative.drive or ".." in relative.parts or \
            ".." in Path(value.replace("\\", "/")).parts:
        shown = repr(value).replace("\\x00", "\\0")
        raise ReCoInputError("data.manifest", f"line {where}: {key} {shown} leaves the dataset folder",
                             f"List files by paths relative to {manifest.parent} and inside it (no absolute paths, "
                             "no ..); link clips kept elsewhere into the folder.")
    return manifest.parent / relative


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
        instruction = _read_text(instruction_file)
        if not instruction:
            raise ReCoInputError("data.folder", f"{instruction_file} is empty",
                                 "Write what the edit does in it, e.g. \"remove the dog\".")
        records.append(PairRecord(
            name=pair_dir.name, source=source, target=target,
            instruction=instruction, mask=_media_file(pair_dir, "mask"),
            task=_read_text(task_file) if task_file.is_file() else None,
        ))
    if not records:
        raise ReCoInputError("data.folder", f"{folder} holds no pairs", f"Add a {MANIFEST_NAME} or one folder per pair.")
    return records


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8").strip()
    except UnicodeDecodeError as error:
        raise ReCoInputError("data.folder", f"{path} is not UTF-8 text ({error.reason})", "Save it as UTF-8.") from None


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
    for info in (source, target):
        if info.damage:
            logger.warning("pair %s: %s", record.name, info.damage)
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
