"""Clips longer than the model's length, edited window by window: the plan, the blend and the seam measure.

ReCo samples `length` (4n+1) frames at a time. A longer clip is cut into windows of exactly that length which
overlap their neighbours by at least `overlap` frames; the windows are spread evenly, so the first starts at
frame 0, the last ends at the clip's last frame, and no window is padded. Each window after the first is edited
in ReCo's first-frame mode with its first frame taken from the edit so far (see `reco_core.engine.long_clip`),
then blended in: over the frames it shares with the edit so far, its weight rises linearly from 0 at its first
frame (the frame it was handed, kept as it was) to 1 after the last shared frame.

Everything here is pure (no model): the engine, the ComfyUI node and the measurement share it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from . import checks
from .errors import ReCoInputError

#: How a long clip is edited: "chain" hands each window the edit's frame at its start (ReCo's first-frame mode);
#: "independent" edits every window on its own (no hand-over, only the blend); "first" edits the first window and
#: leaves the rest out (the behaviour before windows).
WINDOW_MODES = ("chain", "independent", "first")
#: Frames two neighbouring windows share at least, unless told otherwise (at most half a window: `default_overlap`).
DEFAULT_OVERLAP = 5


def default_overlap(length: int) -> int:
    """The overlap used when none is given: DEFAULT_OVERLAP, or half a window of `length` frames if that is less."""
    return max(1, min(DEFAULT_OVERLAP, (int(length) - 1) // 2))


@dataclass(frozen=True)
class Window:
    """Source frames [start, end) edited together; `shared` of them (from `start` on) were edited before."""

    index: int
    start: int
    end: int
    shared: int

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class WindowPlan:
    """How a clip of `frames` frames is cut into windows of `length` frames overlapping by at least `overlap`."""

    frames: int
    length: int
    overlap: int
    windows: tuple[Window, ...]

    @property
    def count(self) -> int:
        return len(self.windows)

    @property
    def windowed(self) -> bool:
        return self.count > 1

    def note(self, source_name: str = "source") -> str | None:
        """One sentence on the windows, or None for a clip edited in one go."""
        if not self.windowed:
            return None
        shared = sorted({window.shared for window in self.windows[1:]})
        overlaps = f"{shared[0]}" if len(shared) == 1 else f"{shared[0]} to {shared[-1]}"
        return (f"{source_name} has {self.frames} frames, more than the {self.length} sampled: edited in {self.count} "
                f"windows of {self.length} frames (starting at frames {', '.join(str(w.start) for w in self.windows)}), "
                f"neighbours sharing {overlaps} frames, blended.")

    def blend_weights(self, window: Window) -> torch.Tensor:
        """The weight [window.frames] of `window`'s edit against the edit so far, frame by frame."""
        return blend_weights(window.frames, window.shared)

    def seam_transitions(self) -> list[list[int]]:
        """Per seam (window 2 on), the frame-to-frame transitions t -> t+1 that cross it: those whose two frames
        do not both come from one window alone (the blended frames and the step out of them)."""
        seams = []
        for window in self.windows[1:]:
            last = window.start + window.shared  # the first frame of this window's own
            seams.append(list(range(window.start, min(last, self.frames - 1))))
        return seams

    def inner_transitions(self) -> list[int]:
        """Transitions t -> t+1 between two frames that both come from a single window, off every seam."""
        crossing = {t for seam in self.seam_transitions() for t in seam}
        return [t for t in range(self.frames - 1) if t not in crossing]


def check_overlap(overlap: int, length: int, *, name: str = "overlap", length_name: str = "length") -> int:
    """`overlap` frames shared by neighbouring windows: a whole number from 1 to `length` - 1."""
    checks.check_length(length, name=length_name)
    if not checks.is_whole_number(overlap):
        raise ReCoInputError(name, f"{overlap!r} is not a whole number of frames",
                             f"Give the frames neighbouring windows share, e.g. {DEFAULT_OVERLAP}.")
    overlap = int(overlap)
    if length < 2:
        raise ReCoInputError(length_name, f"{length} frame cannot be cut into overlapping windows",
                             "Sample at least 5 frames (4n+1).")
    if not 1 <= overlap < length:
        raise ReCoInputError(name, f"{overlap} is outside 1..{length - 1} (windows are {length} frames long)",
                             "Windows must share at least one frame (the next window starts from it) and each must "
                             f"add at least one new frame; {default_overlap(length)} (the default) is a good choice.")
    return overlap


def plan_windows(frames: int, length: int, overlap: int | None = None, *, source_name: str = "source",
                 length_name: str = "length", overlap_name: str = "overlap") -> WindowPlan:
    """Cut `frames` source frames into windows of `length` (4n+1) frames sharing at least `overlap` frames (None:
    `default_overlap(length)`).

    A clip of at most `length` frames is one window (the pipeline pads a short one as the authors do). A longer
    one gets the fewest windows that keep the overlap, spread evenly from frame 0 to the last frame; every window
    is `length` frames long.
    """
    checks.check_length(length, name=length_name)
    if not checks.is_whole_number(frames) or frames < 1:
        raise ReCoInputError(source_name, "has no frames", "Give a video or image sequence with at least one frame.")
    frames = int(frames)
    if frames <= length and length == 1:
        return WindowPlan(frames, length, 0, (Window(0, 0, frames, 0),))
    overlap = default_overlap(length) if overlap is None else overlap
    overlap = check_overlap(overlap, length, name=overlap_name, length_name=length_name)
    if frames <= length:
        return WindowPlan(frames, length, overlap, (Window(0, 0, frames, 0),))
    step = length - overlap
    count = math.ceil((frames - length) / step) + 1
    spacing = (frames - length) / (count - 1)
    starts = [round(index * spacing) for index in range(count)]
    windows, covered = [], 0
    for index, start in enumerate(starts):
        windows.append(Window(index, start, start + length, max(0, covered - start)))
        covered = start + length
    return WindowPlan(frames, length, overlap, tuple(windows))


def blend_weights(frames: int, shared: int) -> torch.Tensor:
    """Weights [frames] of a window's edit over the edit so far: j / shared on its j-th shared frame (0 on its
    first, which it was handed), 1 on its own frames."""
    weights = torch.ones(frames)
    if shared > 0:
        weights[:shared] = torch.arange(shared, dtype=torch.float32) / shared
    return weights


def blend_into(out: torch.Tensor, window: Window, edit: torch.Tensor) -> None:
    """Write `window`'s edit frames [window.frames, ...] into the clip's `out` [T, ...] in place, blended over the
    frames shared with what `out` already holds."""
    weights = blend_weights(window.frames, window.shared).to(edit)
    weights = weights.reshape(-1, *([1] * (edit.dim() - 1)))
    previous = out[window.start:window.end].to(edit)
    out[window.start:window.end] = previous * (1 - weights) + edit * weights


def union_into(out: torch.Tensor, window: Window, region: torch.Tensor) -> None:
    """A window's region mask [window.frames, H, W] added to the clip's `out` [T, H, W] (a cell is in the clip's
    region when it is in any window's)."""
    out[window.start:window.end] = torch.maximum(out[window.start:window.end], region.to(out))


def window_mask(mask: torch.Tensor | None, window: Window) -> torch.Tensor | None:
    """The slice of a user's region mask [T or 1, H, W] for `window` (a single still mask serves every window)."""
    if mask is None or mask.shape[0] == 1:
        return mask
    return mask[window.start:window.end]


# ----------------------------------------------------------------------------------------------------------------------
# Seams: frame-to-frame change where windows meet against inside a window


def frame_changes(frames: torch.Tensor) -> torch.Tensor:
    """Mean absolute change from each frame to the next [T - 1], in 8-bit levels (0..255)."""
    frames = frames.float()
    return (frames[1:] - frames[:-1]).abs().flatten(1).mean(1) * 255


def seam_report(frames: torch.Tensor, plan: WindowPlan) -> dict:
    """How much a clip [T, ...] edited by `plan` jumps where windows meet, against how much it changes inside a
    window: {"seam": mean change over seam transitions, "seam_max": the largest, "inner": mean change over inner
    transitions, "ratio": seam / inner, "per_seam": [mean per seam]} in 8-bit levels (None where there is none)."""
    if frames.shape[0] != plan.frames:
        raise ValueError(f"frames has {frames.shape[0]} frames but the plan is for {plan.frames}")
    changes = frame_changes(frames)
    per_seam = [float(changes[seam].mean()) for seam in plan.seam_transitions() if seam]
    crossing = [t for seam in plan.seam_transitions() for t in seam]
    inner = plan.inner_transitions()
    seam = float(changes[crossing].mean()) if crossing else None
    inner_mean = float(changes[inner].mean()) if inner else None
    return {"seam": seam, "seam_max": float(changes[crossing].max()) if crossing else None, "inner": inner_mean,
            "ratio": seam / inner_mean if seam is not None and inner_mean else None, "per_seam": per_seam}
