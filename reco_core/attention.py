"""Region-aware attention without an N x N map.

Two primitives over q, k, v laid out [B, H, N, D] (after RoPE):

- `attention_mass`: how much probability mass selected queries put on given key sets. Running SDPA
  with values that are key-set indicators returns exactly sum_{k in S} softmax(q K^T / sqrt(d))_k,
  with SDPA's own fused kernels and backward: O(N) memory, differentiable (ReCo's L_attn).
- `blocked_attention`: attention in which selected queries cannot see selected keys, exactly, as
  two SDPA calls (all other queries see every key; the blocked queries see only the allowed keys).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _indicator_values(key_sets: torch.Tensor, head_dim: int, like: torch.Tensor) -> torch.Tensor:
    """Key sets [N, S] (bool/0-1) -> value tensor [1, 1, N, max(S, D)] holding the indicators."""
    num_keys, num_sets = key_sets.shape
    width = max(num_sets, head_dim)  # fused kernels want the value width of the queries
    values = like.new_zeros(1, 1, num_keys, width)
    values[0, 0, :, :num_sets] = key_sets.to(like.dtype)
    return values


def attention_mass(query: torch.Tensor, key: torch.Tensor, key_sets: torch.Tensor) -> torch.Tensor:
    """Softmax mass of each query on each key set: [B, H, Nq, S].

    `query` [B, H, Nq, D] are the selected queries, `key` [B, H, N, D] all keys, `key_sets` [N, S]
    the indicator of each key set. Exact (same softmax as the full attention row) and differentiable.
    """
    values = _indicator_values(key_sets, query.shape[-1], query)
    values = values.expand(query.shape[0], query.shape[1], -1, -1)
    mass = F.scaled_dot_product_attention(query, key, values)
    return mass[..., : key_sets.shape[1]]


def blocked_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, blocked_queries: torch.Tensor,
                      blocked_keys: torch.Tensor) -> torch.Tensor:
    """SDPA in which queries in `blocked_queries` [N] put zero mass on keys in `blocked_keys` [N].

    Equal to SDPA with a dense boolean mask, but never builds it: 1. the free queries attend to all
    keys; 2. the blocked queries attend to the allowed keys only; 3. the rows are put back in place.
    """
    free_index = (~blocked_queries).nonzero().squeeze(1)
    blocked_index = blocked_queries.nonzero().squeeze(1)
    allowed_index = (~blocked_keys).nonzero().squeeze(1)
    if blocked_index.numel() == 0:
        return F.scaled_dot_product_attention(query, key, value)
    if allowed_index.numel() == 0:
        raise ValueError("blocked queries would see no key at all")
    out = query.new_empty(*query.shape[:-1], value.shape[-1])
    if free_index.numel():
        out[:, :, free_index] = F.scaled_dot_product_attention(query[:, :, free_index], key, value)
    out[:, :, blocked_index] = F.scaled_dot_product_attention(
        query[:, :, blocked_index], key[:, :, allowed_index], value[:, :, allowed_index]
    )
    return out


def hide_source(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, tokens, hide: str) -> torch.Tensor:
    """Canvas self-attention [B, H, N, D] in which the target-region queries of `tokens` (a CanvasTokens) cannot
    see the source region (`hide` "region") or the whole source half ("source"): ReCo's attention constraint."""
    hidden_keys = tokens.source_region if hide == "region" else tokens.source_half
    return blocked_attention(query, key, value, tokens.target_region.to(query.device), hidden_keys.to(query.device))


def dense_mass_reference(query: torch.Tensor, key: torch.Tensor, key_sets: torch.Tensor) -> torch.Tensor:
    """The naive softmax form of `attention_mass` (builds the map): for tests on small sizes only."""
    scores = (query @ key.transpose(-1, -2)) / query.shape[-1] ** 0.5
    return scores.softmax(-1) @ key_sets.to(query.dtype)
