"""Learning-rate schedules: the trainer's (`optim.lr_schedule`) and the miniature's from-scratch stages."""

from __future__ import annotations

import math

LR_SCHEDULES = ("constant", "cosine")


def warmup_cosine(step: int, total: int, warmup: int, peak: float, final: float) -> float:
    """Linear warm-up to `peak` over `warmup` steps, then cosine decay to `final` at step `total`."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    cosine = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return final + (peak - final) * cosine


def scheduled_learning_rate(schedule: str, step: int, total: int, warmup: int, peak: float, final: float) -> float:
    """The rate of optimizer step `step` (0-based): "constant" holds `peak` after the warm-up, "cosine"
    decays to `final` at `total`."""
    if schedule == "constant":
        return peak * (step + 1) / warmup if step < warmup else peak
    return warmup_cosine(step, total, warmup, peak, final)
