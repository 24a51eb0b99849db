"""Edit settings, validated up front so a bad value fails before any model work."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .. import checks
from ..errors import ReCoInputError
from ..frames import RESIZE_MODES
from ..lengths import SHORT_CLIP_MODES, ClipPlan, plan_clip
from ..restore import OUTPUT_SIZES, SizePlan, plan_size
from .schedule import SAMPLERS

#: The authors' negative prompt (inference_reco_single.py): Wan's standard English one without
#: "style, works, paintings", which would push against every style instruction at cfg 5.
RECO_NEGATIVE_PROMPT = (
    "Bright tones, overexposed, static, blurred details, subtitles, images, static, overall gray, worst quality, "
    "low quality, JPEG compression residue, ugly, incomplete, extra fingers, poorly drawn hands, poorly drawn "
    "faces, deformed, disfigured, misshapen limbs, fused fingers, still picture, messy background, three legs, "
    "many people in the background, walking backwards"
)

#: Bounds that only catch typos: ComfyUI's KSampler stops at 10000 steps and cfg 100; the noise seed is 64-bit.
MAX_STEPS = 10_000
MAX_CFG = 100.0
MAX_SHIFT = 100.0
MAX_SEED = 2**64 - 1
MAX_FPS = 1000.0

#: "canvas": decode the whole [source | target] canvas and crop the target half (the authors' path);
#: "target": decode only the target half's latent (half the decoder work, not the same pixels).
DECODE_MODES = ("canvas", "target")


@dataclass
class EditOptions:
    """How to edit. Defaults follow the authors' inference (Euler flow matching, 50 steps, shift 5, cfg 5,
    their negative prompt, the whole canvas decoded, 81 frames with short clips padded).

    The model samples `num_frames` frames (None: `max_frames`); `short_clip` says what a shorter source
    gets (see reco_core.lengths). UniPC with 30 steps (`sampler="unipc", steps=30`) is the faster choice of
    the authors' diffusers conversion.
    """

    width: int = 832
    height: int = 480
    num_frames: int | None = None
    max_frames: int = 81
    steps: int = 50
    cfg: float = 5.0
    shift: float = 5.0
    sampler: str = "euler"
    seed: int = 0
    negative_prompt: str = RECO_NEGATIVE_PROMPT
    vace_strength: float = 1.0
    keep_source: bool = False
    resize_mode: str = "crop"
    short_clip: str = "pad"
    decode: str = "canvas"
    output_size: str = "model"
    fps: float = 16.0
    extra: dict = field(default_factory=dict)

    def validate(self) -> "EditOptions":
        checks.check_half_size(self.width, self.height)
        if self.num_frames is not None:
            checks.check_length(self.num_frames, name="frames")
        checks.check_length(self.max_frames, name="max_frames")
        checks.check_positive_int(self.steps, name="steps", maximum=MAX_STEPS)
        if not checks.is_number(self.cfg) or not 0 <= self.cfg <= MAX_CFG:
            raise ReCoInputError("cfg", f"{self.cfg} is not a number between 0 and {MAX_CFG:g}",
                                 "Use 1 for no guidance, 5 is the default.")
        if not checks.is_number(self.shift) or not 0 < self.shift <= MAX_SHIFT:
            raise ReCoInputError("shift", f"{self.shift} is not a positive number up to {MAX_SHIFT:g}",
                                 "Use a positive flow shift (5 is the default).")
        if not checks.is_whole_number(self.seed) or not 0 <= self.seed <= MAX_SEED:
            raise ReCoInputError("seed", f"{self.seed} is not a whole number between 0 and {MAX_SEED}",
                                 "Use any whole number in that range (the seed of the noise).")
        if self.sampler not in SAMPLERS:
            raise ReCoInputError("sampler", f"{self.sampler!r} is not available", f"Use one of: {', '.join(SAMPLERS)}.")
        if self.resize_mode not in RESIZE_MODES:
            raise ReCoInputError("resize_mode", f"{self.resize_mode!r} is unknown", f"Use one of: {', '.join(RESIZE_MODES)}.")
        if self.short_clip not in SHORT_CLIP_MODES:
            raise ReCoInputError("short_clip", f"{self.short_clip!r} is unknown",
                                 f"Use one of: {', '.join(SHORT_CLIP_MODES)}.")
        if self.output_size not in OUTPUT_SIZES:
            raise ReCoInputError("output_size", f"{self.output_size!r} is unknown",
                                 f"Use one of: {', '.join(OUTPUT_SIZES)}.")
        if self.decode not in DECODE_MODES:
            raise ReCoInputError("decode", f"{self.decode!r} is unknown", f"Use one of: {', '.join(DECODE_MODES)}.")
        checks.check_range(self.vace_strength, 0.0, 10.0, name="vace_strength")
        if not checks.is_number(self.fps) or not 0 < self.fps <= MAX_FPS:
            raise ReCoInputError("fps", f"{self.fps} is not a frame rate (above 0, at most {MAX_FPS:g})",
                                 "Use the clip's frame rate, e.g. 16.")
        if not isinstance(self.negative_prompt, str):
            raise ReCoInputError("negative_prompt", f"is a {type(self.negative_prompt).__name__}, not text",
                                 "Give the negative prompt as a string (\"\" for none).")
        return self

    @property
    def length(self) -> int:
        """Frames the model samples."""
        return self.max_frames if self.num_frames is None else self.num_frames

    def plan_clip(self, source_frames: int, *, source_name: str = "source", length_name: str = "frames") -> ClipPlan:
        """How a source of `source_frames` frames is fitted to the model's length (padded, cut or shortened)."""
        return plan_clip(source_frames, self.length, self.short_clip, source_name=source_name, length_name=length_name)

    def plan_size(self, source_width: int, source_height: int) -> SizePlan:
        """How a source of this size is fitted to the per-half size (and, with output_size "source", put back)."""
        return plan_size(source_width, source_height, self.width, self.height, self.resize_mode)

    def updated(self, **changes) -> "EditOptions":
        return replace(self, **changes).validate()
