"""Training metrics: one JSON object per logged step, and a loss-curve picture drawn with PIL."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..fsutil import atomic_path

CURVE_COLOURS = {"loss": (30, 30, 30), "flow": (40, 110, 200), "masked": (80, 170, 80), "latent": (210, 120, 30),
                 "attn": (190, 50, 90)}


class MetricsLog:
    """metrics.jsonl under the run folder; on resume, entries after the resumed step are dropped."""

    def __init__(self, path: Path, resume_step: int | None = None):
        self.path = path
        self.rows: list[dict] = []
        if path.is_file():
            rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
            self.rows = [r for r in rows if resume_step is not None and r["step"] <= resume_step]
            self._rewrite()

    @classmethod
    def read(cls, path: Path) -> "MetricsLog":
        """The whole log of a run, read only."""
        log = cls.__new__(cls)
        log.path = path
        log.rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
        return log

    def _rewrite(self) -> None:
        with atomic_path(self.path) as tmp:
            tmp.write_text("".join(json.dumps(r) + "\n" for r in self.rows))

    def append(self, row: dict) -> None:
        self.rows.append(row)
        with open(self.path, "a") as handle:
            handle.write(json.dumps(row) + "\n")

    def series(self, key: str) -> tuple[list[int], list[float]]:
        points = [(r["step"], r[key]) for r in self.rows if r.get(key) is not None]
        return [p[0] for p in points], [p[1] for p in points]


def _smooth(values: list[float], window: int) -> list[float]:
    if window <= 1 or len(values) < window:
        return values
    kernel = np.ones(window) / window
    padded = np.concatenate([np.full(window - 1, values[0]), values])
    return list(np.convolve(padded, kernel, mode="valid"))


def loss_curve_image(log: MetricsLog, width: int = 640, height: int = 360) -> torch.Tensor:
    """The loss terms over the steps (log scale, lightly smoothed) as an image [H, W, 3] in 0..1."""
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    left, right, top, bottom = 50, width - 10, 20, height - 30
    draw.rectangle([left, top, right, bottom], outline=(160, 160, 160))
    curves = {k: log.series(k) for k in CURVE_COLOURS if log.series(k)[0]}
    values = [abs(v) for _, (_, ys) in curves.items() for v in ys if v != 0]
    if values:
        steps = [s for xs, _ in curves.values() for s in xs]
        low, high = math.log10(min(values)), math.log10(max(values))
        high = high if high > low else low + 1
        first, last = min(steps), max(max(steps), min(steps) + 1)

        def point(step: float, value: float) -> tuple[float, float]:
            x = left + (step - first) / (last - first) * (right - left)
            y = bottom - (math.log10(max(abs(value), 1e-12)) - low) / (high - low) * (bottom - top)
            return x, y

        for legend, (name, (xs, ys)) in enumerate(curves.items()):
            colour = CURVE_COLOURS[name]
            smooth = _smooth(ys, max(1, len(ys) // 50))
            if len(xs) > 1:
                draw.line([point(x, y) for x, y in zip(xs, smooth)], fill=colour, width=2)
            draw.text((left + 8 + 70 * legend, top + 4), name, fill=colour)
        draw.text((4, top), f"{10 ** high:.2g}", fill=(90, 90, 90))
        draw.text((4, bottom - 10), f"{10 ** low:.2g}", fill=(90, 90, 90))
        draw.text((left, bottom + 6), f"step {first}", fill=(90, 90, 90))
        draw.text((right - 70, bottom + 6), f"step {last}", fill=(90, 90, 90))
    return torch.from_numpy(np.asarray(image, dtype=np.float32) / 255.0)


def save_loss_curve(log: MetricsLog, path: Path) -> torch.Tensor:
    image = loss_curve_image(log)
    with atomic_path(path) as tmp:
        Image.fromarray((image.numpy() * 255).astype(np.uint8)).save(tmp, format="PNG")
    return image
