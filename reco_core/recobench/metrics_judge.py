"""`--judge metrics`: ReCo-Bench's nine scores for the ReCo-Shapes world, measured against ground truth.

No model is asked. Each score is a 0..1 measure of `reco_core.shapes.metrics` (or one built from its
functions) times 10, answered in the authors' JSON format so it is read and aggregated like any judge:

| score | measure (E edit, S source, T true target, M true edit mask) |
|---|---|
| SA semantic accuracy | colour agreement of E with T inside M |
| SP scope precision | IoU of the pixels E changed and the pixels T changed (vs S) |
| CP content preservation | background fidelity (PSNR of E vs S outside M, 10..40 dB -> 0..1); style: IoU of the edges of E and T |
| AN appearance | PSNR of E vs T inside M, 10..40 dB -> 0..1 |
| SN scale | per frame, min/max of the areas E and T changed, averaged |
| MN motion | temporal stability inside M: E moves there as T does |
| VF visual fidelity | PSNR of E vs T over the whole clip, 10..40 dB -> 0..1 |
| TS temporal stability | temporal stability outside M (whole frame for style) |
| ES edit persistence | colour agreement inside M over the last third of frames relative to the first third, at most 1 |

As the authors' prompt asks, an edit that changed nothing (no pixel moved by more than the change
threshold) gets 0 on all nine.
"""

from __future__ import annotations

import json
import threading

import numpy as np
import torch

from ..errors import CancelledError, ReCoInputError
from ..shapes import metrics
from .judges import JudgeRequest

PERSISTENCE_FLOOR = 0.05
FAILED_EDIT = "Edit failed to apply. The edited video is identical to the original."


def _array(clip) -> np.ndarray:
    return torch.as_tensor(clip).detach().cpu().double().numpy()


def _changed(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a - b).max(axis=-1) > metrics.CHANGE_THRESHOLD


def _psnr_score(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    score = metrics.psnr_to_score(metrics.background_psnr(a, b, where, metrics.PSNR_CAP))
    return 1.0 if score is None else score


def edge_iou(edit: np.ndarray, target: np.ndarray) -> float:
    """IoU of the pixels with a grey-level step above the change threshold to their right or below, in E and T."""
    def edges(clip: np.ndarray) -> np.ndarray:
        grey = clip.mean(axis=-1)
        steps = np.zeros(grey.shape, dtype=bool)
        steps[:, :, :-1] |= np.abs(np.diff(grey, axis=2)) > metrics.CHANGE_THRESHOLD
        steps[:, :-1, :] |= np.abs(np.diff(grey, axis=1)) > metrics.CHANGE_THRESHOLD
        return steps

    a, b = edges(edit), edges(target)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def area_agreement(edit: np.ndarray, source: np.ndarray, target: np.ndarray) -> float:
    """Mean over frames of min/max of the changed areas of E and T (1 for a frame where neither changed)."""
    edited = _changed(edit, source).sum(axis=(1, 2))
    expected = _changed(target, source).sum(axis=(1, 2))
    ratios = [1.0 if max(e, t) == 0 else min(e, t) / max(e, t) for e, t in zip(edited, expected)]
    return float(np.mean(ratios))


def persistence(edit: np.ndarray, target: np.ndarray, inside: np.ndarray) -> float:
    """min(1, (late + f) / (early + f)) of the per-frame colour agreement inside M, first and last thirds."""
    per_frame = [metrics.color_agreement(edit[i:i + 1], target[i:i + 1], inside[i:i + 1], metrics.COLOR_TOLERANCE)
                 for i in range(edit.shape[0])]
    third = max(1, len(per_frame) // 3)
    early, late = float(np.mean(per_frame[:third])), float(np.mean(per_frame[-third:]))
    return min(1.0, (late + PERSISTENCE_FLOOR) / (early + PERSISTENCE_FLOOR))


def nine_scores(edit, pair) -> dict[str, float]:
    """The nine 0..1 measures for an edit [T, H, W, 3] of a shapes pair (all 0 for an edit that changed nothing)."""
    base = metrics.score_pair(edit, pair)
    e, s, t = np.clip(_array(edit), 0, 1), _array(pair.source), _array(pair.target)
    inside = _array(pair.mask) > 0.5
    if not _changed(e, s).any():
        return dict.fromkeys(("SA", "SP", "CP", "AN", "SN", "MN", "VF", "TS", "ES"), 0.0)
    style = pair.task == "style"
    return {
        "SA": base["color_agreement"],
        "SP": metrics.shape_iou(e, s, t, metrics.CHANGE_THRESHOLD),
        "CP": edge_iou(e, t) if style else base["background_fidelity"],
        "AN": _psnr_score(e, t, inside),
        "SN": area_agreement(e, s, t),
        "MN": metrics.temporal_stability(e, t, ~inside),
        "VF": _psnr_score(e, t, np.ones_like(inside)),
        "TS": base["temporal_stability"],
        "ES": persistence(e, t, inside),
    }


def answer_json(scores: dict[str, float]) -> str:
    """The nine measures as the authors' answer: three blocks of three scores on 0..10 (2 decimals)."""
    def block(labels: tuple[str, str, str], reasoning: str) -> dict:
        return {"scores": [round(10 * scores[label], 2) for label in labels], "reasoning": reasoning}

    failed = not any(scores.values())
    return json.dumps({
        "edit_accuracy": block(("SA", "SP", "CP"), FAILED_EDIT if failed else
                               "ground truth: colour agreement in the edit region, changed-pixel IoU, preservation"),
        "video_quality": block(("VF", "TS", "ES"), FAILED_EDIT if failed else
                               "ground truth: PSNR to the true edit, temporal stability, edit persistence"),
        "naturalness": block(("AN", "SN", "MN"), FAILED_EDIT if failed else
                             "ground truth: PSNR in the edit region, changed-area agreement, motion in the region"),
    })


class MetricsJudge:
    """Scores shapes-world edits from ground truth (`nine_scores`); no prompt, no model, deterministic."""

    identity = {"kind": "metrics", "version": 1}
    needs_prompt = False
    workers = 1

    def scrub(self, text: str) -> str:
        return text

    def answer(self, request: JudgeRequest, cancel: threading.Event) -> tuple[str, int]:
        if cancel.is_set():
            raise CancelledError("judging cancelled")
        if request.truth is None:
            raise ReCoInputError("--judge", "metrics needs ground truth, which only the ReCo-Shapes world has",
                                 "Use --shapes, or a vision-language judge (--judge openai or local).")
        _, edit = request.load_clips()
        return answer_json(nine_scores(edit, request.truth)), 1
