"""Attention costs of the region constraints.

    python bench/attention.py [--tokens 16384] [--out results.json]

1. L_attn's attention mass (training): peak memory of forward + backward at N and 4N tokens (target:
   linear growth, i.e. about 4x), against the naive softmax map at N (which grows with N^2).
2. Blocked attention (sampling): exact region blocking as two SDPA calls against one plain SDPA at
   16k tokens (target at most 1.3x).
"""

from __future__ import annotations

import argparse

from common import child_peak_rss_mb, device_name, median_seconds, report

import torch

MASS_CODE = """
from reco_core.attention import attention_mass, dense_mass_reference
n, heads, dim = {n}, 4, 64
q = torch.randn(1, heads, n, dim, requires_grad=True)
k = torch.randn(1, heads, n, dim, requires_grad=True)
sets = torch.zeros(n, 2)
sets[: n // 4, 0] = 1
sets[: n // 2, 1] = 1
selected = q[:, :, n // 2 : n // 2 + n // 4]
fn = {fn}
fn(selected, k, sets).sum().backward()
"""


def mass_memory(tokens: int) -> dict:
    fast_n = child_peak_rss_mb(MASS_CODE.format(n=tokens, fn="attention_mass"))
    fast_4n = child_peak_rss_mb(MASS_CODE.format(n=4 * tokens, fn="attention_mass"))
    naive_n = child_peak_rss_mb(MASS_CODE.format(n=tokens, fn="dense_mass_reference"))
    return {"tokens": tokens, "mass_peak_mb_n": fast_n, "mass_peak_mb_4n": fast_4n,
            "mass_growth_4n_over_n": fast_4n / max(fast_n, 1e-6), "naive_peak_mb_n": naive_n,
            "mass_over_naive_at_n": fast_n / max(naive_n, 1e-6)}


def blocked_timing(tokens: int) -> dict:
    from reco_core.attention import blocked_attention

    device = "cuda" if torch.cuda.is_available() else "cpu"
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    heads, dim = (12, 128) if device == "cuda" else (2, 64)
    q, k, v = (torch.randn(1, heads, tokens, dim, device=device, dtype=dtype) for _ in range(3))
    # An edit region of a sixth of the target half, blocked from the whole source half (the harder mode).
    blocked_q = torch.zeros(tokens, dtype=torch.bool, device=device)
    blocked_q[tokens // 2 : tokens // 2 + tokens // 12] = True
    blocked_k = torch.zeros(tokens, dtype=torch.bool, device=device)
    blocked_k[: tokens // 2] = True
    plain = median_seconds(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, v), repeats=5)
    split = median_seconds(lambda: blocked_attention(q, k, v, blocked_q, blocked_k), repeats=5)
    return {"tokens": tokens, "heads": heads, "head_dim": dim, "plain_sdpa_s": plain, "blocked_s": split,
            "blocked_over_plain": split / plain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=16384, help="tokens for the blocked-attention timing")
    parser.add_argument("--mass-tokens", type=int, default=4096, help="N for the memory growth (4N is also run)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    memory = mass_memory(args.mass_tokens)
    timing = blocked_timing(args.tokens)
    results = {"device": device_name(), **{f"memory_{k}": v for k, v in memory.items()},
               **{f"blocked_{k}": v for k, v in timing.items()}}
    report(f"region attention ({results['device']})", [
        (f"L_attn mass fwd+bwd peak at N={memory['tokens']}", f"{memory['mass_peak_mb_n']:.0f} MB"),
        (f"L_attn mass fwd+bwd peak at 4N={4 * memory['tokens']}", f"{memory['mass_peak_mb_4n']:.0f} MB"),
        ("growth 4N / N (linear: about 4x; quadratic: 16x)", f"{memory['mass_growth_4n_over_n']:.2f}x"),
        ("naive softmax map fwd+bwd peak at N", f"{memory['naive_peak_mb_n']:.0f} MB"),
        ("mass / naive at N", f"{memory['mass_over_naive_at_n']:.3f}x"),
        (f"plain SDPA at {timing['tokens']} tokens", f"{timing['plain_sdpa_s'] * 1000:.1f} ms"),
        ("blocked attention (two SDPA calls)", f"{timing['blocked_s'] * 1000:.1f} ms"),
        ("blocked / plain (target <= 1.3)", f"{timing['blocked_over_plain']:.3f}x"),
    ], results, args.out)


if __name__ == "__main__":
    main()
