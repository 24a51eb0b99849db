"""Region-aware self-attention for diffusers' Wan / Wan-VACE blocks.

`RegionAttention` is shared state installed on chosen self-attention modules. Set its fields before
a forward pass (diffusers passes no kwargs to processors, so the state lives here):

- `block`: at sampling time, target-half queries inside the region cannot attend to the source
  region ("region") or to the whole source half ("source"); "off" leaves attention untouched;
- `collect`: at training time, record the attention mass that target-region queries put on the
  source region and on the whole source half (for L_attn), keyed by layer so gradient-checkpoint
  recomputation overwrites instead of appending.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import torch
import torch.nn.functional as F
from diffusers.models.transformers.transformer_wan import WanAttnProcessor

from ..attention import attention_mass, hide_source
from ..masks import CanvasTokens
from ..region import attention_layer_names


@dataclass
class RegionAttention:
    """Shared state of the region processors of one model."""

    tokens: Sequence[CanvasTokens] | None = None  # one per batch sample (or one shared by all)
    block: str = "off"
    collect: bool = False
    masses: dict[str, list[torch.Tensor]] = field(default_factory=dict)
    layers: set[str] | None = None  # None: every installed layer is active

    def active(self, name: str) -> bool:
        return self.tokens is not None and (self.layers is None or name in self.layers)

    def tokens_for(self, sample: int) -> CanvasTokens:
        return self.tokens[sample if len(self.tokens) > 1 else 0]

    def reset(self) -> None:
        self.masses.clear()


def project_qkv(attn, hidden_states: torch.Tensor, context: torch.Tensor | None = None):
    """Query, key and value of a diffusers WanAttention (self-attention when `context` is None) through its own
    linear layers, so a LoRA on them applies; the fused layers when `fuse_projections()` made them."""
    context = hidden_states if context is None else context
    if getattr(attn, "fused_projections", False):
        if not attn.is_cross_attention:
            return attn.to_qkv(hidden_states).chunk(3, dim=-1)
        key, value = attn.to_kv(context).chunk(2, dim=-1)
        return attn.to_q(hidden_states), key, value
    return attn.to_q(hidden_states), attn.to_k(context), attn.to_v(context)


def apply_rotary(hidden: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate interleaved channel pairs (x0, x1), (x2, x3), ... as Wan's RoPE does; hidden is [B, S, H, D]."""
    even, odd = hidden.unflatten(-1, (-1, 2)).unbind(-1)
    cos, sin = cos[..., 0::2], sin[..., 1::2]
    out = torch.empty_like(hidden)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out.type_as(hidden)


class RegionAttnProcessor:
    """Self-attention with region blocking and attention-mass collection; otherwise the stock path."""

    def __init__(self, state: RegionAttention, name: str):
        self.state = state
        self.name = name
        self.stock = WanAttnProcessor()

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        if encoder_hidden_states is not None or not self.state.active(self.name):
            return self.stock(attn, hidden_states, encoder_hidden_states, attention_mask, rotary_emb)
        # 1. Projections and per-head norms, as the stock processor does.
        query, key, value = project_qkv(attn, hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        query, key, value = (t.unflatten(2, (attn.heads, -1)) for t in (query, key, value))
        # 2. Rotary position embedding.
        if rotary_emb is not None:
            query, key = apply_rotary(query, *rotary_emb), apply_rotary(key, *rotary_emb)
        query, key, value = (t.transpose(1, 2) for t in (query, key, value))  # [B, H, S, D]
        # 3. Attention mass of target-region queries on the source (training).
        if self.state.collect:
            self.state.masses[self.name] = self._masses(query, key)
        # 4. Attention, blocked where asked.
        out = self._attend(query, key, value)
        # 5. Output projection.
        out = out.transpose(1, 2).flatten(2, 3).type_as(hidden_states)
        return attn.to_out[1](attn.to_out[0](out))

    def _masses(self, query: torch.Tensor, key: torch.Tensor) -> list[torch.Tensor]:
        """Per sample: [H, Nq, 2] = mass on (source region, source half) of each target-region query."""
        masses = []
        for sample in range(query.shape[0]):
            tokens = self.state.tokens_for(sample)
            selected = query[sample : sample + 1, :, tokens.target_region]
            key_sets = torch.stack([tokens.source_region, tokens.source_half], dim=1)
            masses.append(attention_mass(selected, key[sample : sample + 1], key_sets)[0])
        return masses

    def _attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        if self.state.block == "off":
            return F.scaled_dot_product_attention(query, key, value)
        outs = []
        for sample in range(query.shape[0]):
            one = slice(sample, sample + 1)
            outs.append(hide_source(query[one], key[one], value[one], self.state.tokens_for(sample), self.state.block))
        return torch.cat(outs)


def self_attention_layers(model) -> dict[str, torch.nn.Module]:
    """Every self-attention module of a Wan / Wan-VACE transformer, keyed "blocks.i" / "vace_blocks.i"."""
    layers = {f"blocks.{i}": block.attn1 for i, block in enumerate(model.blocks)}
    for i, block in enumerate(getattr(model, "vace_blocks", None) or []):
        layers[f"vace_blocks.{i}"] = block.attn1
    return layers


def select_layers(model, spec: str | Sequence[str] | None) -> list[str]:
    """Layer names from a spec: None/"all", "dit", "vace", or names/indices ("0,2,vace_blocks.1")."""
    return attention_layer_names(spec, len(model.blocks), len(getattr(model, "vace_blocks", None) or []))


@contextlib.contextmanager
def region_attention(model, state: RegionAttention, layers: Sequence[str] | None = None) -> Iterator[RegionAttention]:
    """Install region processors on `layers` (default all self-attention layers) for the duration."""
    modules = self_attention_layers(model)
    chosen = list(modules) if layers is None else list(layers)
    previous = {name: modules[name].processor for name in chosen}
    for name in chosen:
        modules[name].set_processor(RegionAttnProcessor(state, name))
    try:
        yield state
    finally:
        for name, processor in previous.items():
            modules[name].set_processor(processor)
