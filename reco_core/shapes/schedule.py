"""The learning-rate schedule of the miniature's from-scratch training stages (VAE and base)."""

from __future__ import annotations

import math


def warmup_cosine(step: int, total: int, warmup: int, peak: float, final: float) -> float:
    """Linear warm-up to `peak` over `warmup` steps, then cosine decay to `final` at step `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return final + (peak - final) * cosine
