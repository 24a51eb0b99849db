"""Cross-attention on compact text: an exact CPU speed-up for training the ReCo-Shapes models.

Wan pads every text to 512 rows. Here the cross-attention sees only the real rows, plus a zero row with
a logit bias that stands for all the padding (`CompactText`), so the result is the same.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.nn.functional as F

from reco_core.models.text import TEXT_LENGTH

@dataclass
class CompactText:
    """A stand-in for Wan's 512 text rows: the real rows plus one or more zero rows, and a logit bias.

    Every zero-padding row of the 512 gives the same key and value, so attending to n copies of it
    equals attending to m < n copies with log(n / m) added to their logits. With the bias, the model
    computes exactly what it computes on 512 rows, while its text embedding and cross-attention
    work on ~20 rows instead of 512.
    """

    text: torch.Tensor  # [B, L, D]
    bias: torch.Tensor  # [B, 1, 1, L]


def compact_text_from_rows(rows: list[torch.Tensor], length: int = TEXT_LENGTH) -> CompactText:
    """CompactText for per-sample real rows [L_b, D] that Wan would zero-pad to `length`."""
    width = max(row.shape[0] for row in rows) + 1
    text = torch.zeros(len(rows), width, rows[0].shape[-1], dtype=rows[0].dtype)
    bias = torch.zeros(len(rows), width)
    for sample, row in enumerate(rows):
        text[sample, : row.shape[0]] = row
        bias[sample, row.shape[0] :] = math.log((length - row.shape[0]) / (width - row.shape[0]))
    return CompactText(text.to(rows[0].device), bias.view(len(rows), 1, 1, width).to(rows[0].device))


def compact_text(padded: torch.Tensor) -> CompactText:
    """[B, 512, D] zero-padded embeddings (real rows first) -> CompactText."""
    real = (padded[..., :8] != 0).any(dim=-1)  # a real token row is never zero in 8 channels at once
    return compact_text_from_rows([padded[i, : int(real[i].sum())] for i in range(padded.shape[0])],
                                  padded.shape[1])


class CompactTextAttnProcessor:
    """Cross-attention with the compact-text logit bias; otherwise what diffusers' WanAttnProcessor does."""

    def __init__(self, state: dict):
        self.state = state

    def __call__(self, attn, hidden_states, encoder_hidden_states=None, attention_mask=None, rotary_emb=None):
        from reco_core.engine.region_attention import project_qkv

        query, key, value = project_qkv(attn, hidden_states, encoder_hidden_states)
        query, key = attn.norm_q(query), attn.norm_k(key)
        query, key, value = (t.unflatten(2, (attn.heads, -1)).transpose(1, 2) for t in (query, key, value))
        bias = self.state.get("bias")
        if bias is not None and bias.shape[-1] != key.shape[-2]:
            bias = None  # a full 512-row text (e.g. sampling) needs no bias
        out = F.scaled_dot_product_attention(query, key, value, attn_mask=None if bias is None else bias.to(query.dtype))
        out = out.transpose(1, 2).flatten(2, 3).type_as(hidden_states)
        return attn.to_out[1](attn.to_out[0](out))


def cross_attention_modules(model) -> list[torch.nn.Module]:
    blocks = list(model.blocks) + list(getattr(model, "vace_blocks", None) or [])
    return [block.attn2 for block in blocks]


def install_compact_cross_attention(model) -> dict:
    """Install the compact-text processors for good (a trainer's model); set `state["bias"]` before each
    forward. Returns that state."""
    state: dict = {}
    for module in cross_attention_modules(model):
        module.set_processor(CompactTextAttnProcessor(state))
    return state


@contextlib.contextmanager
def compact_cross_attention(model) -> Iterator[dict]:
    """The compact-text processors for the duration of the block; set `state["bias"]` before each forward."""
    modules = cross_attention_modules(model)
    previous = [module.processor for module in modules]
    try:
        yield install_compact_cross_attention(model)
    finally:
        for module, processor in zip(modules, previous):
            module.set_processor(processor)
