"""Edit settings, validated up front so a bad value fails before any model work."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .. import checks
from ..errors import ReCoInputError
from ..frames import RESIZE_MODES
from .schedule import SAMPLERS

#: Wan's standard English negative prompt, as the ReCo diffusers script uses.
WAN_NEGATIVE_PROMPT = (
    "Bright tones, overexposed, static, blurred details, subtitles, style, works, paintings, images, static, "
    "overall gray, worst quality, low quality, JPEG compression residue, ugly, incomplete, extra fingers, "
    "poorly drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, still "
    "picture, messy background, three legs, many people in the background, walking backwards"
)


@dataclass
class EditOptions:
    """How to edit. Defaults follow the paper's diffusers settings (UniPC, 30 steps, cfg 5, shift 5).

    `num_frames=None` takes the longest 4n+1 length the source holds, up to `max_frames`.
    """

    width: int = 832
    height: int = 480
    num_frames: int | None = None
    max_frames: int = 81
    steps: int = 30
    cfg: float = 5.0
    shift: float = 5.0
    sampler: str = "unipc"
    seed: int = 0
    negative_prompt: str = WAN_NEGATIVE_PROMPT
    vace_strength: float = 1.0
    keep_source: bool = False
    resize_mode: str = "crop"
    fps: float = 16.0
    extra: dict = field(default_factory=dict)

    def validate(self) -> "EditOptions":
        checks.check_half_size(self.width, self.height)
        if self.num_frames is not None:
            checks.check_length(self.num_frames, name="frames")
        checks.check_length(self.max_frames, name="max_frames")
        checks.check_positive_int(self.steps, name="steps")
        if self.cfg < 0:
            raise ReCoInputError("cfg", f"{self.cfg} is negative", "Use 1 for no guidance, 5 is the default.")
        if self.shift <= 0:
            raise ReCoInputError("shift", f"{self.shift} is not positive", "Use a positive flow shift (5 is the default).")
        if self.sampler not in SAMPLERS:
            raise ReCoInputError("sampler", f"{self.sampler!r} is not available", f"Use one of: {', '.join(SAMPLERS)}.")
        if self.resize_mode not in RESIZE_MODES:
            raise ReCoInputError("resize_mode", f"{self.resize_mode!r} is unknown", f"Use one of: {', '.join(RESIZE_MODES)}.")
        checks.check_range(self.vace_strength, 0.0, 10.0, name="vace_strength")
        if self.fps <= 0:
            raise ReCoInputError("fps", f"{self.fps} is not positive", "Use the clip's frame rate, e.g. 16.")
        return self

    def resolve_length(self, source_frames: int, *, source_name: str = "source", length_name: str = "frames") -> int:
        """The clip length for a source of `source_frames` frames (checked against the source)."""
        if self.num_frames is None:
            checks.check_source_frames(source_frames, 1, name=source_name)
            return min(checks.largest_valid_length(source_frames), self.max_frames)
        checks.check_source_frames(source_frames, self.num_frames, name=source_name, length_name=length_name)
        return self.num_frames

    def updated(self, **changes) -> "EditOptions":
        return replace(self, **changes).validate()
