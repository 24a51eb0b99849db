"""The training run, declared in one TOML file and validated before anything loads.

Every field is documented in docs/training.md. Relative paths are taken from the config file's
folder. Unknown keys are errors (with the closest known key suggested), so a typo never silently
falls back to a default.
"""

from __future__ import annotations

import difflib
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from .. import checks
from ..choices import DTYPE_NAMES, RESIZE_MODES
from ..errors import ReCoInputError
from ..fsutil import tomllib
from ..losses import LATENT_FORMS
from .schedule import LR_SCHEDULES

MIXED_PRECISION = ("no", "bf16", "fp16")
LORA_BLOCKS = ("all", "dit", "vace")
LORA_TARGETS = ("q", "k", "v", "o", "ffn.0", "ffn.2")
TIMESTEP_SAMPLING = ("uniform", "logit_normal")
BUNDLED_MODEL = "shapes"


@dataclass
class ModelConfig:
    transformer: str = ""
    vae: str = ""
    text_encoder: str = ""
    dtype: str = "bf16"
    gradient_checkpointing: bool = True
    init_lora: str = ""


@dataclass
class LoRAConfig:
    rank: int = 128
    alpha: float = 128.0
    targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    blocks: str = "all"
    cross_attention: bool = True


@dataclass
class DataConfig:
    manifest: str = ""
    folder: str = ""
    generate_shapes: int = 0
    width: int = 832
    height: int = 480
    frames: int = 81
    fps: float = 16.0
    buckets: list[list[int]] = field(default_factory=list)
    resize_mode: str = "crop"
    first_frame_probability: float = 0.05
    mask_threshold: float = 0.08
    mask_dilate: int = 4
    mask_window: int = 1
    style_tasks: list[str] = field(default_factory=lambda: ["style"])
    cache_dir: str = ""


@dataclass
class LossConfig:
    masked_mse: bool = True
    latent_weight: float = 1e-3
    latent_form: str = "hinge"
    latent_margin: float = 1.0
    attn_weight: float = 1e-3
    attn_edit_weight: float = 1.0
    attn_global_weight: float = 1.0
    attn_layers: str = "all"
    attn_on_style: bool = False
    timesteps: str = "uniform"
    shift: float = 5.0


@dataclass
class OptimConfig:
    learning_rate: float = 5e-5
    lr_schedule: str = "constant"
    warmup_steps: int = 0
    final_learning_rate: float = 0.0
    weight_decay: float = 0.01
    betas: list[float] = field(default_factory=lambda: [0.9, 0.999])
    max_grad_norm: float = 1.0
    steps: int = 1000
    batch_size: int = 1
    gradient_accumulation: int = 2
    mixed_precision: str = "bf16"
    seed: int = 0


@dataclass
class OutputConfig:
    name: str = "reco_lora"
    save_every: int = 250
    keep_checkpoints: int = 3
    sample_every: int = 250
    sample_steps: int = 20
    sample_count: int = 2
    sample_cfg: float = 5.0
    log_every: int = 1
    dtype: str = "fp32"  # of the saved LoRA file (training is fp32 either way)


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    base_dir: str = "."

    def resolve(self, path: str) -> str:
        """A path from the config, relative to the config file's folder ("shapes" names the bundled model)."""
        if not path or path == BUNDLED_MODEL or os.path.isabs(path):
            return path
        return str((Path(self.base_dir) / path).resolve())

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("base_dir")
        return data

    def validate(self) -> "TrainConfig":
        _check_types(self)
        _choice(self.model.dtype, DTYPE_NAMES, "model.dtype")
        if not self.model.transformer:
            raise ReCoInputError("model.transformer", "is not set", "Point it at the base Wan2.1 VACE model file, "
                                 "a diffusers folder, or \"shapes\" for the bundled miniature.")
        _positive(self.lora.rank, "lora.rank")
        if self.lora.alpha <= 0:
            raise ReCoInputError("lora.alpha", f"{self.lora.alpha} is not positive", "Use the rank (scale 1), e.g. 128.")
        _choice(self.lora.blocks, LORA_BLOCKS, "lora.blocks")
        for target in self.lora.targets:
            _choice(target, LORA_TARGETS, "lora.targets")
        data = self.data
        if not (data.manifest or data.folder or data.generate_shapes):
            raise ReCoInputError("data", "names no pairs", "Set data.manifest (JSONL), data.folder, or "
                                 "data.generate_shapes (a count of generated shapes pairs).")
        checks.check_half_size(data.width, data.height, width_name="data.width", height_name="data.height")
        checks.check_length(data.frames, name="data.frames")
        for bucket in data.buckets:
            if len(bucket) != 2:
                raise ReCoInputError("data.buckets", f"entry {bucket} is not [width, height]", "Write [[832, 480], ...].")
            checks.check_half_size(*bucket, width_name="data.buckets width", height_name="data.buckets height")
        _choice(data.resize_mode, RESIZE_MODES, "data.resize_mode")
        checks.check_range(data.first_frame_probability, 0.0, 1.0, name="data.first_frame_probability")
        loss = self.loss
        _choice(loss.latent_form, LATENT_FORMS, "loss.latent_form")
        _choice(loss.timesteps, TIMESTEP_SAMPLING, "loss.timesteps")
        for name in ("latent_weight", "attn_weight", "attn_edit_weight", "attn_global_weight"):
            if getattr(loss, name) < 0:
                raise ReCoInputError(f"loss.{name}", "is negative", "Use 0 to switch the term off.")
        optim = self.optim
        if optim.learning_rate <= 0:
            raise ReCoInputError("optim.learning_rate", f"{optim.learning_rate} is not positive", "5e-5 is the default.")
        for name in ("steps", "batch_size", "gradient_accumulation"):
            _positive(getattr(optim, name), f"optim.{name}")
        _choice(optim.lr_schedule, LR_SCHEDULES, "optim.lr_schedule")
        if optim.warmup_steps < 0 or int(optim.warmup_steps) != optim.warmup_steps:
            raise ReCoInputError("optim.warmup_steps", f"{optim.warmup_steps} is not a whole number of steps",
                                 "Use 0 (no warm-up) or more.")
        if not 0 <= optim.final_learning_rate <= optim.learning_rate:
            raise ReCoInputError("optim.final_learning_rate", f"{optim.final_learning_rate} is not between 0 and "
                                 f"optim.learning_rate ({optim.learning_rate})", "The cosine schedule decays to it.")
        _choice(optim.mixed_precision, MIXED_PRECISION, "optim.mixed_precision")
        _choice(self.output.dtype, DTYPE_NAMES, "output.dtype")
        for name in ("save_every", "sample_every", "log_every", "keep_checkpoints"):
            if getattr(self.output, name) < 0:
                raise ReCoInputError(f"output.{name}", "is negative", "Use 0 to switch it off.")
        check_output_name(self.output.name, "output.name")
        return self


#: The saved LoRA is <name>.safetensors: the name must leave room for the suffix in a 255-byte file name.
MAX_NAME_BYTES = 255 - len(".safetensors")


def check_output_name(name: str, input_name: str) -> None:
    """A plain file name for the LoRA: no folders, no control characters, short enough for any file system."""
    if not isinstance(name, str) or not name.strip() or name in (".", "..") or any(c in name for c in "/\\:") \
            or any(ord(c) < 32 or ord(c) == 127 for c in name):
        shown = repr(name).replace("\\x00", "\\0")
        raise ReCoInputError(input_name, f"{shown} is not a plain file name",
                             "Use a name without folders or control characters, e.g. \"my_reco_lora\".")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > MAX_NAME_BYTES:
        raise ReCoInputError(input_name, f"is {size} bytes long", f"Use at most {MAX_NAME_BYTES} bytes (the file "
                             "name gets .safetensors, and file names stop at 255 bytes).")


def _expected_type(default):
    if isinstance(default, bool):
        return (bool,), "true or false"
    if isinstance(default, int):
        return (int,), "a whole number (written without a decimal point)"
    if isinstance(default, float):
        return (int, float), "a number"
    if isinstance(default, str):
        return (str,), "text in quotes"
    return (list,), "a list"


def _check_types(config: "TrainConfig") -> None:
    """Every setting has the type of its default, and numbers are finite (TOML allows nan and inf)."""
    for section in fields(config):
        if section.name == "base_dir":
            continue
        values = getattr(config, section.name)
        for setting in fields(values):
            value, name = getattr(values, setting.name), f"{section.name}.{setting.name}"
            default = setting.default if setting.default is not MISSING else setting.default_factory()
            types, words = _expected_type(default)
            if isinstance(value, bool) and bool not in types or not isinstance(value, types):
                raise ReCoInputError(name, f"{value!r} is not {words}", f"Write it like the default: {default!r}.")
            for number in _numbers(value):
                if not math.isfinite(number):
                    raise ReCoInputError(name, f"{value!r} is not a finite number", f"Write a plain number, e.g. "
                                         f"the default {default!r}.")


def _numbers(value) -> list[float]:
    if isinstance(value, bool):
        return []
    if isinstance(value, float):
        return [value]
    if isinstance(value, list):
        return [n for item in value for n in _numbers(item)]
    return []


def _choice(value: str, options: tuple[str, ...], name: str) -> None:
    if value not in options:
        raise ReCoInputError(name, f"{value!r} is not one of {', '.join(options)}", f"Use one of: {', '.join(options)}.")


def _positive(value: int, name: str) -> None:
    if int(value) != value or value < 1:
        raise ReCoInputError(name, f"{value} is not a positive whole number", "Use 1 or more.")


def _section(cls, values: dict, name: str):
    known = {f.name: f for f in fields(cls)}
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"Did you mean {name}.{close[0]}?" if close else f"Known keys: {', '.join(known)}."
            raise ReCoInputError(f"{name}.{key}", "is not a known setting", hint)
    return cls(**values)


def config_from_dict(data: dict[str, Any], base_dir: str | os.PathLike = ".") -> TrainConfig:
    sections = {f.name: f for f in fields(TrainConfig) if f.name != "base_dir"}
    parts = {}
    for key, values in data.items():
        if key not in sections:
            close = difflib.get_close_matches(key, sections, n=1)
            hint = f"Did you mean [{close[0]}]?" if close else f"Sections: {', '.join(sections)}."
            raise ReCoInputError(f"[{key}]", "is not a known section", hint)
        if not isinstance(values, dict):
            raise ReCoInputError(f"[{key}]", "is not a table", f"Write it as a [{key}] section.")
        parts[key] = _section(sections[key].default_factory().__class__, values, key)
    return TrainConfig(**parts, base_dir=str(base_dir)).validate()


def load_config(path: str | os.PathLike) -> TrainConfig:
    """Read and validate a training TOML file."""
    path = Path(path)
    if not path.is_file():
        raise ReCoInputError("--config", f"{path} does not exist", "Give the path of a training TOML file "
                             "(configs/tiny-cpu.toml is a small one to start from).")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ReCoInputError("--config", f"{path} is not valid TOML ({error})", "Fix the syntax at that line.") from error
    return config_from_dict(data, base_dir=path.parent)
