"""Edit a clip of any length with ReCoPipeline, window by window (see reco_core.windows for the plan).

1. Plan the windows (a clip no longer than the model's length is one window: padded and trimmed as before).
2. For each window: its source frames (and its slice of a region mask), and, in "chain" mode from the second
   window on, the edit's frame at the window's start as ReCo's edited first frame; edit it with the pipeline.
3. Blend the window's edit into the clip (linear over the shared frames), add its region to the clip's.
4. Report progress per window and step; `cancel` is checked before every step and between windows.

Only one window is ever sampled at a time: the memory is that of one window plus the clip's output frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import torch

from .. import checks, layout
from ..errors import CancelledError, ReCoInputError
from ..lengths import ClipPlan
from ..region import RegionOptions
from ..restore import SizePlan
from ..windows import WINDOW_MODES, Window, WindowPlan, blend_into, plan_windows, union_into, \
    window_mask
from .options import EditOptions


@dataclass
class LongEditResult:
    """A whole clip's edit: `frames` [T, H, W, C] with every source frame, `source` as edited, the region used
    ([T, H, W], the union of the windows' regions, or None), and how it was cut (`windows`; `plan` is the first
    window's ClipPlan: a short clip's padding)."""

    frames: torch.Tensor
    source: torch.Tensor
    options: EditOptions
    windows: WindowPlan
    mode: str = "chain"
    region: torch.Tensor | None = None
    plan: ClipPlan | None = None
    size_plan: SizePlan | None = None

    def notes(self, source_name: str = "source") -> list[str]:
        """Sentences on what was done to fit the source (resized, padded, cut into windows)."""
        notes = [self.size_plan.note(self.options.output_size, source_name) if self.size_plan else None]
        if self.windows.windowed:
            notes.append(self.windows.note(source_name))
            if self.mode == "chain":
                notes.append("each window after the first starts from the edit's frame where it begins (ReCo's "
                             "first-frame mode).")
        elif self.plan is not None:
            notes.append(self.plan.note(source_name))
        return [note for note in notes if note]

    @property
    def side_by_side(self) -> torch.Tensor:
        return layout.build_canvas(self.source, self.frames)


@dataclass(frozen=True)
class WindowProgress:
    """Where a long edit is: window `window.index` of `count`, step `step` of `steps` in it."""

    window: Window
    count: int
    step: int
    steps: int

    @property
    def done(self) -> int:
        return self.window.index * self.steps + self.step

    @property
    def total(self) -> int:
        return self.count * self.steps


def check_mode(mode: str, name: str = "windows") -> str:
    if mode not in WINDOW_MODES:
        raise ReCoInputError(name, f"{mode!r} is unknown", f"Use one of: {', '.join(WINDOW_MODES)}.")
    return mode


def edit_long_clip(
    pipeline,
    source: torch.Tensor,
    instruction: str | None = None,
    *,
    options: EditOptions | None = None,
    overlap: int | None = None,
    mode: str = "chain",
    prompt=None,
    first_frame: torch.Tensor | None = None,
    reference: torch.Tensor | None = None,
    region: RegionOptions | None = None,
    mask: torch.Tensor | None = None,
    cancel: Callable[[], bool] | None = None,
    progress: Callable[[WindowProgress], None] | None = None,
    on_window: Callable[[Window, int], None] | None = None,
) -> LongEditResult:
    """Edit every frame of `source` [T, H, W, C] by `instruction` in windows of the model's length.

    `overlap`: frames neighbouring windows share at least (None: `reco_core.windows.default_overlap`); `mode`:
    "chain" (each window after the first gets the edit's frame at its start as ReCo's edited first frame),
    "independent" (no hand-over) or "first" (only the first window, the rest left out, as before windows; also
    what a one-frame model length gets). `first_frame` is your own edit of the clip's first frame
    (the first window's); `reference`, `region` and `mask` apply to every window (a mask [T or 1, H, W] is sliced
    per window; an auto region is found in each window, since what is edited moves). `progress` gets a
    WindowProgress after every step, `on_window(window, count)` before each window; `cancel()` is checked before
    every step and between windows and raises CancelledError. The fps is the caller's: every frame comes back.
    """
    # 1. Check everything before the first window runs.
    options = (options or EditOptions()).validate()
    region = (region or RegionOptions()).validate()
    check_mode(mode)
    pipeline.check_source(source)
    if mask is not None:
        checks.check_mask_matches(mask.shape, source.shape)
    if prompt is None and not (instruction or "").strip():
        raise ReCoInputError("instruction", "is empty", 'Say what to change, e.g. "remove the dog".')
    if options.length == 1:  # a one-frame window cannot be handed a first frame and still edit anything
        mode = "first"
    windows = plan_windows(source.shape[0] if mode != "first" else min(source.shape[0], options.length),
                           options.length, overlap, length_name="frames")
    if prompt is None:  # encode the instruction once for every window
        prompt = pipeline.encode_prompt(instruction, options.negative_prompt if options.cfg != 1 else None)
    if mode == "first" or not windows.windowed:
        return _one_window(pipeline, source, windows, mode, options, prompt, first_frame, reference, region, mask,
                           cancel, progress, on_window)
    # 2.-4. Window by window.
    frames = edited_source = clip_region = None
    size_plan = None
    for window in windows.windows:
        if cancel is not None and cancel():
            raise CancelledError(f"cancelled before window {window.index + 1} of {windows.count}")
        if on_window is not None:
            on_window(window, windows.count)
        handed = first_frame if window.index == 0 else (frames[window.start] if mode == "chain" else None)
        result = pipeline(source[window.start:window.end], options=options, prompt=prompt, first_frame=handed,
                          reference=reference, region=region, mask=window_mask(mask, window), cancel=cancel,
                          progress=_step_reporter(progress, window, windows.count))
        if frames is None:
            frames = result.frames.new_zeros(windows.frames, *result.frames.shape[1:])
            edited_source = result.source.new_zeros(windows.frames, *result.source.shape[1:])
            size_plan = result.size_plan
        blend_into(frames, window, result.frames)
        edited_source[window.start:window.end] = result.source
        if result.region is not None:
            if clip_region is None:
                clip_region = result.region.new_zeros(windows.frames, *result.region.shape[1:])
            union_into(clip_region, window, result.region)
    return LongEditResult(frames=frames, source=edited_source, options=options, windows=windows, mode=mode,
                          region=clip_region, size_plan=size_plan)


def _step_reporter(progress, window: Window, count: int):
    if progress is None:
        return None
    return lambda done, total: progress(WindowProgress(window, count, done, total))


def _one_window(pipeline, source, windows: WindowPlan, mode, options, prompt, first_frame, reference, region, mask,
                cancel, progress, on_window) -> LongEditResult:
    """A clip no longer than the model's length, or mode "first": one pipeline call on the whole source, exactly
    as before windows (a short clip padded and trimmed, a long one's first frames edited and the rest left out)."""
    window = Window(0, 0, min(source.shape[0], windows.length), 0)
    if on_window is not None:
        on_window(window, 1)
    result = pipeline(source, options=options, prompt=prompt, first_frame=first_frame, reference=reference,
                      region=region, mask=mask, cancel=cancel, progress=_step_reporter(progress, window, 1))
    window = replace(window, end=result.frames.shape[0])
    plan = WindowPlan(source.shape[0], windows.length, windows.overlap, (window,))
    return LongEditResult(frames=result.frames, source=result.source, options=options, windows=plan, mode=mode,
                          region=result.region, plan=result.plan, size_plan=result.size_plan)
