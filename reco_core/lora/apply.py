"""Applying a canonical LoRA to a diffusers Wan / Wan-VACE transformer through PEFT.

A LoRA that matches none of the model's modules is an error, never a silent no-op; a partial
match is reported with counts (and logged).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import torch

from ..errors import ReCoLoRAError
from . import names
from .formats import FORMATS, LoRA

logger = logging.getLogger(__name__)


@dataclass
class LoRAMatch:
    """Which LoRA modules found a home in the model."""

    matched: list[str]
    unmatched: list[str]
    shape_mismatch: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.matched) + len(self.unmatched) + len(self.shape_mismatch)

    def summary(self) -> str:
        text = f"{len(self.matched)} of {self.total} LoRA modules applied"
        if self.unmatched:
            text += f"; {len(self.unmatched)} have no matching module (e.g. {self.unmatched[0]})"
        if self.shape_mismatch:
            text += f"; {len(self.shape_mismatch)} do not fit in shape (e.g. {self.shape_mismatch[0]})"
        return text


def _linear_modules(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    return {name: module for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}


def diffusers_linear_shapes(model: torch.nn.Module) -> dict[str, tuple[int, int]]:
    """{canonical module name: (in_features, out_features)} of a diffusers Wan model's LoRA-able linears."""
    shapes = {}
    for name, module in _linear_modules(model).items():
        try:
            shapes[names.diffusers_to_canonical(name)] = (module.in_features, module.out_features)
        except names.UnknownModuleError:
            continue
    return shapes


def match_lora(lora: LoRA, shapes: dict[str, tuple[int, int]]) -> LoRAMatch:
    """Match LoRA modules against `{canonical module name: (in_features, out_features)}` of a model."""
    matched, unmatched, misfit = [], [], []
    for canonical, module in lora.modules.items():
        if canonical not in shapes:
            unmatched.append(canonical)
        elif shapes[canonical] != (module.down.shape[1], module.up.shape[0]):
            misfit.append(canonical)
        else:
            matched.append(canonical)
    return LoRAMatch(matched, unmatched, misfit)


def require_match(lora: LoRA, match: LoRAMatch, model_description: str) -> None:
    """Raise when nothing matched; log a warning when only part of the LoRA matched."""
    if not match.matched:
        reason = (f"its {len(match.shape_mismatch)} modules have other shapes than {model_description}"
                  if match.shape_mismatch and not match.unmatched else
                  f"none of its {match.total} modules exist in {model_description}")
        raise ReCoLoRAError(
            lora.describe_source(),
            f"applies nothing: read as {lora.source_format} format, but {reason}",
            f"Formats tried: {', '.join(FORMATS)}. Check that the LoRA was made for this base "
            f"(`python -m reco_core lora info FILE` tells which base it fits).",
        )
    if match.unmatched or match.shape_mismatch:
        logger.warning("LoRA %s: %s", lora.describe_source(), match.summary())


def apply_lora(model: torch.nn.Module, lora: LoRA, strength: float = 1.0, adapter_name: str | None = None) -> LoRAMatch:
    """Add `lora` to a diffusers Wan transformer as a PEFT adapter at `strength`.

    Several LoRAs can be stacked with distinct adapter names; all stay active with their strengths.
    """
    match = match_lora(lora, diffusers_linear_shapes(model))
    require_match(lora, match, f"this {type(model).__name__}")
    folded = lora.folded()
    state_dict: dict[str, torch.Tensor] = {}
    for canonical in match.matched:
        module = folded.modules[canonical]
        target = names.canonical_to_diffusers(canonical)
        state_dict[f"{target}.lora_A.weight"] = module.down
        state_dict[f"{target}.lora_B.weight"] = module.up
    adapter_name = adapter_name or _next_adapter_name(model)
    model.load_lora_adapter(state_dict, prefix=None, adapter_name=adapter_name)
    strengths = dict(getattr(model, "_reco_lora_strengths", {}))
    strengths[adapter_name] = float(strength)
    model._reco_lora_strengths = strengths
    model.set_adapters(list(strengths), weights=list(strengths.values()))
    return match


def _next_adapter_name(model: torch.nn.Module) -> str:
    existing = set(getattr(model, "peft_config", {}) or {})
    index = 0
    while f"reco_{index}" in existing:
        index += 1
    return f"reco_{index}"


def set_lora_strength(model: torch.nn.Module, adapter_name: str, strength: float) -> None:
    strengths = dict(getattr(model, "_reco_lora_strengths", {}))
    if adapter_name not in strengths:
        raise KeyError(f"no LoRA adapter named {adapter_name!r}; loaded: {', '.join(strengths) or 'none'}")
    strengths[adapter_name] = float(strength)
    model._reco_lora_strengths = strengths
    model.set_adapters(list(strengths), weights=list(strengths.values()))


def merge_lora_into_weights(model: torch.nn.Module, lora: LoRA, strength: float = 1.0) -> LoRAMatch:
    """Add strength * B @ A * scale to the base weights in place (no adapter, no per-step overhead)."""
    linears = _linear_modules(model)
    match = match_lora(lora, diffusers_linear_shapes(model))
    require_match(lora, match, f"this {type(model).__name__}")
    with torch.no_grad():
        for canonical in match.matched:
            layer = linears[names.canonical_to_diffusers(canonical)]
            delta = lora.modules[canonical].delta().to(layer.weight.device) * strength
            layer.weight.add_(delta.to(layer.weight.dtype))
    return match
