"""How a source clip is fitted to the length the model samples (4n+1 frames), and what is said about it.

The authors always sample 81 frames: a longer clip gives a window of 81 frames, a shorter one is padded
by repeating its last frame. Here a longer clip gives its first `length` frames, and a shorter one is
either padded the same way ("pad", the default; the padded frames are trimmed from the edit) or sampled
at the longest 4n+1 length it holds ("shorten": cheaper, its last frames are left out).
"""

from __future__ import annotations

from dataclasses import dataclass

from . import checks
from .choices import SHORT_CLIP_MODES
from .errors import ReCoInputError



@dataclass(frozen=True)
class ClipPlan:
    """`length` frames are sampled; the first `frames` of them are the source's and are returned."""

    length: int
    frames: int
    source_frames: int

    @property
    def padded(self) -> int:
        """Copies of the last frame added to reach `length` (trimmed from the edit)."""
        return self.length - self.frames

    @property
    def dropped(self) -> int:
        """Source frames after the edited ones (not edited)."""
        return self.source_frames - self.frames

    def note(self, source_name: str = "source") -> str | None:
        """One sentence on what was done to fit the source, or None when it fit as it was."""
        if self.padded:
            return (f"{source_name} has {self.source_frames} frames, fewer than the {self.length} sampled: padded "
                    f"with {self.padded} copies of its last frame (as the authors do); the edit is trimmed back "
                    f"to {self.frames} frames.")
        if self.dropped:
            return (f"{source_name} has {self.source_frames} frames: the first {self.frames} are edited, the last "
                    f"{self.dropped} are left out.")
        return None


def plan_clip(source_frames: int, length: int, short_clip: str = "pad", *, source_name: str = "source",
              length_name: str = "length") -> ClipPlan:
    """The plan for a source of `source_frames` frames and a model length of `length` (4n+1) frames."""
    checks.check_length(length, name=length_name)
    if short_clip not in SHORT_CLIP_MODES:
        raise ReCoInputError("short_clip", f"{short_clip!r} is unknown", f"Use one of: {', '.join(SHORT_CLIP_MODES)}.")
    if source_frames < 1:
        raise ReCoInputError(source_name, "has no frames", "Give a video or image sequence with at least one frame.")
    if source_frames >= length:
        return ClipPlan(length, length, source_frames)
    if short_clip == "pad":
        return ClipPlan(length, source_frames, source_frames)
    shortened = checks.largest_valid_length(source_frames)
    return ClipPlan(shortened, shortened, source_frames)
