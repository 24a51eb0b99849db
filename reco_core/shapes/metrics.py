"""ReCo-Shapes benchmark scores: how well an edited clip matches the ground-truth pair.

Per pair (`score_pair`), every score but PSNR lies in 0..1 and the ground-truth target scores 1:

- color_agreement: mean over mask pixels of 1 - min(max_c |edit - target| / color_tolerance, 1).
- shape_iou (add/remove/replace): IoU, over the whole clip, of the pixels the edit changed and the
  pixels the ground truth changed, both taken as max_c |clip - source| > change_threshold.
- edit_accuracy: sqrt(color_agreement * shape_iou) for object edits; color_agreement for style.
- background_psnr: PSNR (dB, peak 1) of edit vs source outside the mask, capped at psnr_cap (the cap
  also stands for identical); None for style, whose mask has no outside.
- background_fidelity: clip((background_psnr - 10) / 30, 0, 1); None for style.
- temporal_stability: (min + f) / (max + f) of the mean frame-to-frame change of the edit and that
  of the target (equal to the source outside the mask), over pixels outside the mask in both
  frames, or over the whole frame for style. The floor f = 0.01 (2.5 levels of 255) keeps changes
  too small to see from swinging the ratio. 1 when they move alike; frozen or flickering clips
  score less.
- overall: edit_accuracy * mean(background_fidelity, temporal_stability), leaving out the None
  fidelity for style. The edit gates the score: an unedited clip scores 0 however clean.
"""

from __future__ import annotations

import math
from typing import Iterable

import numpy as np
import torch

from ..errors import ReCoInputError
from .tasks import TASKS, EditPair

SCORE_KEYS: tuple[str, ...] = (
    "edit_accuracy",
    "color_agreement",
    "shape_iou",
    "background_psnr",
    "background_fidelity",
    "temporal_stability",
    "overall",
)
COLOR_TOLERANCE = 0.2
CHANGE_THRESHOLD = 0.1
PSNR_CAP = 60.0
PSNR_FLOOR, PSNR_SPAN = 10.0, 30.0
MOTION_FLOOR = 0.01


def _to_numpy(clip: torch.Tensor | np.ndarray) -> np.ndarray:
    # Scores are computed in single-threaded numpy float64: exact enough for PSNR, and immune to the
    # thread stalls torch ops suffer on a busy machine.
    values = clip.detach().cpu().float().numpy() if isinstance(clip, torch.Tensor) else np.asarray(clip)
    return values.astype(np.float64)


def _as_frames(edit: torch.Tensor | np.ndarray, pair: EditPair) -> np.ndarray:
    """The edit as float64 [T, H, W, 3] clipped to 0..1, checked against the pair's size."""
    frames = _to_numpy(edit)
    expected = tuple(pair.source.shape)
    if frames.shape != expected:
        t, h, w, c = expected
        raise ReCoInputError(
            "edit",
            f"has shape {frames.shape} but the pair's clips are {expected} ([T, H, W, C])",
            f"Generate the edit at {w}x{h} with {t} frames and {c} channels, or resize it before scoring.",
        )
    if not np.isfinite(frames).all():
        raise ReCoInputError("edit", "contains NaN or infinite values", "Check the model output.")
    return np.clip(frames, 0.0, 1.0)


def _channel_error(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Largest per-channel absolute difference, [T, H, W]."""
    return np.abs(a - b).max(axis=-1)


def color_agreement(edit: np.ndarray, target: np.ndarray, inside: np.ndarray, tolerance: float) -> float:
    """Mean over mask pixels of 1 - min(error / tolerance, 1); 1 for an empty mask."""
    if not inside.any():
        return 1.0
    agreement = 1.0 - np.minimum(_channel_error(edit, target) / tolerance, 1.0)
    return float(agreement[inside].mean())


def shape_iou(edit: np.ndarray, source: np.ndarray, target: np.ndarray, threshold: float) -> float:
    """IoU of the pixels the edit changed and those the ground truth changed (both > threshold)."""
    edited = _channel_error(edit, source) > threshold
    expected = _channel_error(target, source) > threshold
    union = np.count_nonzero(edited | expected)
    if union == 0:
        return 1.0
    return np.count_nonzero(edited & expected) / union


def background_psnr(edit: np.ndarray, source: np.ndarray, outside: np.ndarray, cap: float) -> float | None:
    """PSNR in dB of edit vs source over pixels outside the mask, capped; None with no outside."""
    if not outside.any():
        return None
    mse = float(((edit - source) ** 2)[outside].mean())
    if mse == 0.0:
        return cap
    return min(cap, 10.0 * math.log10(1.0 / mse))


def psnr_to_score(psnr: float | None) -> float | None:
    """Map PSNR to 0..1: 10 dB or less is 0, 40 dB or more is 1."""
    if psnr is None:
        return None
    return min(1.0, max(0.0, (psnr - PSNR_FLOOR) / PSNR_SPAN))


def _mean_motion(frames: np.ndarray, still: np.ndarray) -> float:
    """Mean absolute change between consecutive frames over pixels where `still` [T-1, H, W] is set."""
    motion = np.abs(frames[1:] - frames[:-1]).mean(axis=-1)
    return float(motion[still].mean())


def temporal_stability(edit: np.ndarray, target: np.ndarray, inside: np.ndarray) -> float:
    """(min + floor) / (max + floor) of the edit's and the target's frame-to-frame change outside the mask."""
    if edit.shape[0] < 2:
        return 1.0
    still = ~(inside[1:] | inside[:-1])
    if not still.any():
        still = np.ones_like(still)
    edit_motion, target_motion = _mean_motion(edit, still), _mean_motion(target, still)
    return (min(edit_motion, target_motion) + MOTION_FLOOR) / (max(edit_motion, target_motion) + MOTION_FLOOR)


def _mean(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None


def score_pair(
    edit: torch.Tensor | np.ndarray,
    pair: EditPair,
    *,
    color_tolerance: float = COLOR_TOLERANCE,
    change_threshold: float = CHANGE_THRESHOLD,
    psnr_cap: float = PSNR_CAP,
) -> dict[str, float | None]:
    """Score an edited clip [T, H, W, 3] against a pair; keys are `SCORE_KEYS` (see module doc)."""
    edit = _as_frames(edit, pair)
    source, target = _to_numpy(pair.source), _to_numpy(pair.target)
    inside = _to_numpy(pair.mask) > 0.5
    color = color_agreement(edit, target, inside, color_tolerance)
    iou = None if pair.task == "style" else shape_iou(edit, source, target, change_threshold)
    accuracy = color if iou is None else math.sqrt(color * iou)
    psnr = background_psnr(edit, source, ~inside, psnr_cap)
    fidelity = psnr_to_score(psnr)
    stability = temporal_stability(edit, target, inside)
    return {
        "edit_accuracy": accuracy,
        "color_agreement": color,
        "shape_iou": iou,
        "background_psnr": psnr,
        "background_fidelity": fidelity,
        "temporal_stability": stability,
        "overall": accuracy * _mean([fidelity, stability]),
    }


def aggregate(results: Iterable[tuple[str, dict]]) -> dict:
    """Means of each score per task and over all pairs; None scores are left out of a mean.

    Returns {"per_task": {task: {"count": n, key: mean, ...}}, "overall": {"count": n, key: mean}},
    tasks in `TASKS` order. A mean of PSNR is a mean of capped values.
    """
    results = list(results)
    by_task: dict[str, list[dict]] = {}
    for task, scores in results:
        by_task.setdefault(task, []).append(scores)

    def summarise(rows: list[dict]) -> dict:
        return {"count": len(rows), **{key: _mean(row.get(key) for row in rows) for key in SCORE_KEYS}}

    order = [task for task in TASKS if task in by_task] + sorted(set(by_task) - set(TASKS))
    return {
        "per_task": {task: summarise(by_task[task]) for task in order},
        "overall": summarise([scores for _, scores in results]),
    }


_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("count", "pairs", "{:d}"),
    ("edit_accuracy", "edit acc", "{:.3f}"),
    ("color_agreement", "color", "{:.3f}"),
    ("shape_iou", "shape IoU", "{:.3f}"),
    ("background_psnr", "bg PSNR", "{:.2f}"),
    ("temporal_stability", "stability", "{:.3f}"),
    ("overall", "overall", "{:.3f}"),
)


def _table_rows(results: dict) -> list[list[str]]:
    rows = []
    named = list(results["per_task"].items()) + [("all", results["overall"])]
    for name, scores in named:
        cells = [name]
        for key, _, fmt in _COLUMNS:
            value = scores.get(key)
            cells.append("-" if value is None else fmt.format(value))
        rows.append(cells)
    return rows


def format_table(results: dict, markdown: bool = False) -> str:
    """`aggregate` output as a fixed-width text table, or a Markdown table when `markdown`."""
    header = ["task"] + [title for _, title, _ in _COLUMNS]
    rows = _table_rows(results)
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * len(_COLUMNS)) + "|"]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        return "\n".join(lines)
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        padded = [cells[0].ljust(widths[0])] + [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
        return "  ".join(padded)

    rule = "-" * len(line(header))
    return "\n".join([line(header), rule] + [line(row) for row in rows])
