"""LoRA state-dict formats for Wan / Wan-VACE: recognise, normalise, and write each of them.

Every format is read into one canonical `LoRA`: modules keyed by their original Wan names
(`blocks.0.self_attn.q`, `vace_blocks.3.ffn.2`), each with down (A, [r, in]), up (B, [out, r]) and
an optional alpha (None means alpha = rank, i.e. scale 1, the PEFT/DiffSynth convention).

Formats that have no place for alpha (reco, diffsynth, diffusers, peft) store the scale folded into
the down matrix, so converting between any two formats keeps the effective update B @ A * alpha / r.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import torch

from ..errors import ReCoLoRAError
from . import names

FORMATS: dict[str, str] = {
    "reco": "ReCo release (bare Wan names, .lora_A.default.weight, no alpha)",
    "diffsynth": "DiffSynth-Studio (bare Wan names, .lora_A.weight, no alpha)",
    "diffusers": "diffusers (transformer. + diffusers names, .lora_A.weight)",
    "peft": "PEFT state dict (diffusers names, no prefix, .lora_A.weight)",
    "comfy": "ComfyUI (diffusion_model. + Wan names, .lora_down/.lora_up + .alpha)",
    "kohya": "kohya / musubi-tuner (lora_unet_ + Wan names with _, .lora_down/.lora_up + .alpha)",
}
#: Prefixes training frameworks wrap around state dicts; removed before anything else.
WRAPPER_PREFIXES = ("state_dict.", "_forward_module.", "module.", "base_model.model.", "model.", "pipe.dit.",
                    "pipe.vace.", "dit.", "vace.")

_LORA_AB = re.compile(r"^(?P<module>.+)\.lora_(?P<part>[AB])(?:\.(?P<adapter>[\w-]+))?\.weight$")
_LORA_UPDOWN = re.compile(r"^(?P<module>.+?)(?:\.lora_|\.lora\.|_lora\.)(?P<part>down|up)\.weight$")
_ALPHA = re.compile(r"^(?P<module>.+)\.alpha$")
_UNSUPPORTED = (".dora_scale", ".lora_magnitude_vector", ".diff", ".diff_b", ".lora_B.bias", "hada_", "lokr_",
                ".oft_", ".w_norm", ".b_norm")


@dataclass
class LoRAModule:
    down: torch.Tensor  # A: [rank, in_features]
    up: torch.Tensor  # B: [out_features, rank]
    alpha: float | None = None

    @property
    def rank(self) -> int:
        return self.down.shape[0]

    @property
    def scale(self) -> float:
        return 1.0 if self.alpha is None else self.alpha / self.rank

    def delta(self) -> torch.Tensor:
        """The weight update this module adds at strength 1: B @ A * alpha / rank."""
        return (self.up.float() @ self.down.float()) * self.scale

    def folded(self) -> "LoRAModule":
        """The same update with the scale folded into `down` and alpha dropped (scale 1)."""
        if self.alpha is None or self.alpha == self.rank:
            return LoRAModule(self.down, self.up, None)
        down = (self.down.float() * self.scale).to(self.down.dtype)
        return LoRAModule(down, self.up, None)


@dataclass
class LoRA:
    """A LoRA in canonical form. `source_format` says what it was read from; `source` is the file."""

    modules: dict[str, LoRAModule]
    source_format: str = "reco"
    source: str | None = None
    wrappers: list[str] = field(default_factory=list)
    metadata: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.modules)

    @property
    def ranks(self) -> list[int]:
        return sorted({m.rank for m in self.modules.values()})

    @property
    def alphas(self) -> list[float | None]:
        return sorted({m.alpha for m in self.modules.values()}, key=lambda a: (a is not None, a or 0))

    def by_kind(self) -> dict[str, int]:
        counts = {"dit": 0, "vace": 0, "other": 0}
        for name in self.modules:
            counts[names.block_kind(name)] += 1
        return counts

    def folded(self) -> "LoRA":
        return LoRA({k: m.folded() for k, m in self.modules.items()}, self.source_format, self.source,
                    list(self.wrappers), dict(self.metadata))

    def describe_source(self) -> str:
        return self.source or "<in-memory LoRA>"


# ----------------------------------------------------------------------------------------------- reading


def strip_wrappers(key: str) -> tuple[str, list[str]]:
    """Remove training-framework wrapper prefixes (state_dict., module., model., pipe.dit., ...)."""
    removed = []
    while True:
        for prefix in WRAPPER_PREFIXES:
            if key.startswith(prefix):
                key = key[len(prefix):]
                removed.append(prefix)
                break
        else:
            return key, removed


def _split_key(key: str) -> tuple[str, str, str | None]:
    """A LoRA key -> (module path as written, part 'down'|'up'|'alpha', adapter name or None)."""
    for marker in _UNSUPPORTED:
        if marker in key:
            raise ReCoLoRAError("lora", f"key {key!r} is not a plain LoRA weight ({marker.strip('._')})",
                                "Only plain LoRA (A/B or down/up, with optional alpha) is supported.")
    if match := _ALPHA.match(key):
        return match["module"], "alpha", None
    if match := _LORA_AB.match(key):
        return match["module"], "down" if match["part"] == "A" else "up", match["adapter"]
    if match := _LORA_UPDOWN.match(key):
        return match["module"], match["part"], None
    raise ReCoLoRAError("lora", f"key {key!r} is not a LoRA weight",
                        "Give a LoRA file (keys ending in lora_A/lora_B, lora_down/lora_up or alpha).")


def _family_and_module(module: str, adapter: str | None) -> tuple[str, str]:
    """Module path as written -> (format name, canonical module name)."""
    if module.startswith("lora_unet_"):
        return "kohya", names.kohya_to_canonical(module[len("lora_unet_"):])
    if module.startswith("diffusion_model."):
        return "comfy", _bare_to_canonical(module[len("diffusion_model."):])
    if module.startswith("transformer."):
        return "diffusers", _bare_to_canonical(module[len("transformer."):])
    if names.looks_diffusers(module):
        return "peft", names.diffusers_to_canonical(module)
    if names.is_canonical(module):
        return ("reco" if adapter else "diffsynth"), module
    raise names.UnknownModuleError(module)


def _bare_to_canonical(module: str) -> str:
    return module if names.is_canonical(module) else names.diffusers_to_canonical(module)


def parse_state_dict(state_dict: dict[str, torch.Tensor], source: str | None = None) -> LoRA:
    """Recognise the format of a LoRA state dict and bring it to canonical form.

    Raises `ReCoLoRAError` naming `source` and the formats tried when the keys fit no format.
    """
    where = source or "state dict"
    if not state_dict:
        raise ReCoLoRAError(where, "holds no tensors", "Give a LoRA file with weights in it.")
    parts: dict[str, dict[str, torch.Tensor]] = {}
    families: set[str] = set()
    wrappers: list[str] = []
    unknown: list[str] = []
    for key, value in state_dict.items():
        bare, removed = strip_wrappers(key)
        wrappers.extend(p for p in removed if p not in wrappers)
        module, part, adapter = _split_key(bare)
        try:
            family, canonical = _family_and_module(module, adapter)
        except names.UnknownModuleError:
            unknown.append(key)
            continue
        families.add(family)
        parts.setdefault(canonical, {})[part] = value
    if unknown and not parts:
        tried = "; ".join(f"{k}: {v}" for k, v in FORMATS.items())
        raise ReCoLoRAError(
            where,
            f"matches no known Wan LoRA format (first keys: {', '.join(unknown[:3])})",
            f"Formats tried: {tried}.",
        )
    if unknown:
        raise ReCoLoRAError(where, f"has {len(unknown)} keys for modules Wan does not have "
                            f"(e.g. {unknown[0]!r})", "Is this a LoRA for another model family?")
    if len(families) > 1:
        raise ReCoLoRAError(where, f"mixes LoRA formats ({', '.join(sorted(families))})",
                            "Convert it with one tool, or split it into one file per format.")
    modules = {name: _module_from_parts(name, p, where) for name, p in sorted(parts.items())}
    return LoRA(modules, source_format=families.pop(), source=source, wrappers=wrappers)


def _module_from_parts(name: str, parts: dict[str, torch.Tensor], where: str) -> LoRAModule:
    if "down" not in parts or "up" not in parts:
        missing = "down (A)" if "down" not in parts else "up (B)"
        raise ReCoLoRAError(where, f"module {name} has no {missing} matrix", "The file is incomplete; re-export it.")
    down, up = (_matrix(parts[part], name, part, where) for part in ("down", "up"))
    if up.shape[1] != down.shape[0]:
        raise ReCoLoRAError(where, f"module {name} has mismatched ranks (down {tuple(down.shape)}, up "
                            f"{tuple(up.shape)})", "The file is corrupt; re-export it.")
    for part, matrix in (("down", down), ("up", up)):
        if not _all_finite(matrix):
            raise ReCoLoRAError(where, f"module {name} has NaN or infinite values in its {part} matrix",
                                "The LoRA is broken (a training run that diverged?): it would turn every frame "
                                "black. Use an earlier checkpoint or re-train.")
    return LoRAModule(down=down, up=up, alpha=_alpha(parts.get("alpha"), name, where))


def _matrix(tensor: torch.Tensor, name: str, part: str, where: str) -> torch.Tensor:
    """A down [rank, in] or up [out, rank] matrix (a 1x1 convolution's [r, in, 1, 1] is flattened)."""
    if not isinstance(tensor, torch.Tensor) or tensor.ndim < 2:
        shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
        raise ReCoLoRAError(where, f"module {name} has a {part} weight of shape {shape}, not a matrix",
                            "The file is corrupt or not a LoRA; re-export it.")
    if tensor.numel() == 0:
        raise ReCoLoRAError(where, f"module {name} has rank 0 (its {part} matrix {tuple(tensor.shape)} is empty)",
                            "A LoRA needs rank 1 or more; re-export it with a positive rank.")
    if not tensor.dtype.is_floating_point:
        raise ReCoLoRAError(where, f"module {name} has {str(tensor.dtype).replace('torch.', '')} {part} weights",
                            "LoRA weights are floating point (fp32, fp16, bf16); re-export it.")
    return tensor.reshape(tensor.shape[0], -1)


def _all_finite(tensor: torch.Tensor) -> bool:
    try:
        return bool(torch.isfinite(tensor).all())
    except (RuntimeError, TypeError):  # dtypes without isfinite (float8) are checked in float32
        return bool(torch.isfinite(tensor.float()).all())


def _alpha(alpha: torch.Tensor | None, name: str, where: str) -> float | None:
    if alpha is None:
        return None
    if not isinstance(alpha, torch.Tensor) or alpha.numel() != 1:
        shape = tuple(alpha.shape) if isinstance(alpha, torch.Tensor) else type(alpha).__name__
        raise ReCoLoRAError(where, f"module {name} has an alpha of shape {shape}, not one number",
                            "alpha is one number per module (the scale is alpha / rank); re-export the LoRA.")
    value = float(alpha.float().item())
    if not math.isfinite(value):
        raise ReCoLoRAError(where, f"module {name} has alpha {value}", "alpha must be a finite number; re-export it.")
    return value


# ----------------------------------------------------------------------------------------------- writing


def _written_name(fmt: str, canonical: str) -> str:
    if fmt in ("reco", "diffsynth"):
        return canonical
    if fmt == "comfy":
        return f"diffusion_model.{canonical}"
    if fmt == "kohya":
        return f"lora_unet_{names.canonical_to_kohya(canonical)}"
    if fmt == "diffusers":
        return f"transformer.{names.canonical_to_diffusers(canonical)}"
    if fmt == "peft":
        return names.canonical_to_diffusers(canonical)
    raise ValueError(f"unknown LoRA format {fmt!r}; choose one of {', '.join(FORMATS)}")


def to_state_dict(lora: LoRA, fmt: str) -> dict[str, torch.Tensor]:
    """Write `lora` as a flat state dict in format `fmt` (one of FORMATS)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown LoRA format {fmt!r}; choose one of {', '.join(FORMATS)}")
    out: dict[str, torch.Tensor] = {}
    for canonical, module in lora.modules.items():
        name = _written_name(fmt, canonical)
        if fmt in ("comfy", "kohya"):
            out[f"{name}.lora_down.weight"] = module.down
            out[f"{name}.lora_up.weight"] = module.up
            alpha = module.rank if module.alpha is None else module.alpha
            out[f"{name}.alpha"] = torch.tensor(float(alpha))
            continue
        folded = module.folded()
        adapter = ".default" if fmt == "reco" else ""
        out[f"{name}.lora_A{adapter}.weight"] = folded.down
        out[f"{name}.lora_B{adapter}.weight"] = folded.up
    return out


def convert(lora: LoRA, fmt: str) -> LoRA:
    """Round-trip `lora` through format `fmt` (what reading the written file back would give)."""
    return parse_state_dict(to_state_dict(lora, fmt), source=lora.source)
