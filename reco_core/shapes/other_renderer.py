"""A second, independent renderer of ReCo-Shapes edit pairs, for held-out checks the model never trained on.

It follows the documented task rules (instruction templates, what each task changes, where "add" puts
the new shape, the style formulas) but shares no drawing or sampling code with `world.py`/`tasks.py`:

- backgrounds are smooth value noise (a coarse random grid, bicubically upsampled) over a vertical
  tint gradient, panned by whole sub-pixel shifts, instead of panning plane waves;
- shapes are PIL polygons and ellipses drawn at 4x and box-downsampled, instead of analytic signed
  distances; they move in straight lines reflected off the frame edges, with no wobble;
- colours are the world's named shape colours (the words mean those colours) with small random jitter.

A model that only learnt the training renderer's quirks scores worse here; one that learnt the edits
scores about the same (`python -m reco_core bench shapes --renderer other`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..errors import ReCoInputError
from .tasks import ADD_GAP, ADD_SIDES, ADDED_SHAPE_SIZE, OBJECT_TEMPLATES, STYLE_TEMPLATES, TASKS, EditPair
from .world import SHAPE_COLORS_8BIT, SHAPE_EXTENT, SHAPE_KINDS, WorldConfig

SUPERSAMPLE = 4
#: Sepia and the others written out from their published definitions (not imported from tasks.py).
_LUMA = np.array([0.299, 0.587, 0.114])
_SEPIA = np.array([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])


@dataclass
class _Mover:
    kind: str
    color: tuple[float, float, float]
    size: float  # equal-area diameter, world units
    centers: np.ndarray  # [T, 2] world units
    angle: float


def _style(frames: np.ndarray, style: str) -> np.ndarray:
    luma = frames @ _LUMA
    if style == "black_and_white":
        out = np.repeat(luma[..., None], 3, axis=-1)
    elif style == "night":
        out = 0.2 * frames + luma[..., None] * np.array([0.15, 0.22, 0.45])
    elif style == "sepia":
        out = frames @ _SEPIA.T
    else:
        out = 1.0 - frames
    return np.clip(out, 0.0, 1.0)


def _background(rng: np.random.Generator, config: WorldConfig) -> np.ndarray:
    """[T, H, W, 3] value-noise texture over a tint gradient, drifting a little each frame."""
    pad = 16
    coarse = rng.normal(0.0, 1.0, (6, 6)).astype(np.float32)
    big = np.asarray(Image.fromarray(coarse).resize((config.width + 2 * pad, config.height + 2 * pad), Image.BICUBIC))
    big = 0.07 * big / max(float(np.abs(big).max()), 1e-6)
    base = rng.uniform(0.35, 0.55) + rng.uniform(-0.05, 0.05, 3)
    tint = np.linspace(-0.04, 0.04, config.height)[:, None, None] * rng.choice([-1.0, 1.0])
    drift = rng.uniform(-1.0, 1.0, 2)
    frames = []
    for t in range(config.num_frames):
        dx, dy = (pad + np.round(drift * t)).astype(int)
        window = big[dy : dy + config.height, dx : dx + config.width]
        frames.append(base + window[..., None] + tint)
    return np.clip(np.stack(frames), 0.2, 0.7)


def _straight_path(rng: np.random.Generator, size: float, config: WorldConfig) -> np.ndarray:
    """Straight motion reflected off the edges so the whole shape stays inside, [T, 2]."""
    world = np.array(config.extent)
    margin = SHAPE_EXTENT * size / 2
    start = rng.uniform(margin, world - margin)
    heading = rng.uniform(0, 2 * math.pi)
    velocity = rng.uniform(0.08, 0.22) * np.array([math.cos(heading), math.sin(heading)])
    raw = start + np.arange(config.num_frames)[:, None] / config.fps * velocity
    span = world - 2 * margin
    folded = np.mod(raw - margin, 2 * span)
    return margin + np.where(folded > span, 2 * span - folded, folded)


def _polygon(kind: str, center: np.ndarray, size: float, angle: float, unit: float) -> list[tuple[float, float]]:
    radius = size / 2
    if kind == "square":
        half = radius * math.sqrt(math.pi) / 2
        corners = [(-half, -half), (half, -half), (half, half), (-half, half)]
    else:  # an equilateral triangle of equal area, pointing down at angle 0
        side = 2 * radius * math.sqrt(math.pi / math.sqrt(3))
        height = side * math.sqrt(3) / 2
        corners = [(-side / 2, -height / 3), (side / 2, -height / 3), (0.0, 2 * height / 3)]
    cos, sin = math.cos(angle), math.sin(angle)
    return [((center[0] + cos * x - sin * y) * unit, (center[1] + sin * x + cos * y) * unit) for x, y in corners]


def _draw(frame: np.ndarray, mover: _Mover, t: int, config: WorldConfig) -> np.ndarray:
    """Composite one shape over an [H, W, 3] frame; returns its coverage [H, W]."""
    scale = config.unit * SUPERSAMPLE
    mask = Image.new("L", (config.width * SUPERSAMPLE, config.height * SUPERSAMPLE), 0)
    draw = ImageDraw.Draw(mask)
    center = mover.centers[t]
    if mover.kind == "circle":
        r = mover.size / 2
        draw.ellipse([(center[0] - r) * scale, (center[1] - r) * scale, (center[0] + r) * scale,
                      (center[1] + r) * scale], fill=255)
    else:
        draw.polygon(_polygon(mover.kind, center, mover.size, mover.angle, scale), fill=255)
    alpha = np.asarray(mask.resize((config.width, config.height), Image.BOX), dtype=np.float64) / 255.0
    frame += alpha[..., None] * (np.asarray(mover.color) - frame)
    return alpha


def _render(background: np.ndarray, movers: list[_Mover], config: WorldConfig) -> np.ndarray:
    frames = background.copy()
    for t in range(config.num_frames):
        for mover in movers:
            _draw(frames[t], mover, t, config)
    return np.clip(np.rint(frames * 255), 0, 255) / 255.0


def _color(rng: np.random.Generator, name: str) -> tuple[float, float, float]:
    levels = np.clip(np.asarray(SHAPE_COLORS_8BIT[name]) + rng.integers(-6, 7, 3), 0, 255)
    return tuple(float(v) / 255 for v in levels)


def _names() -> list[tuple[str, str]]:
    return [(color, kind) for color in SHAPE_COLORS_8BIT for kind in SHAPE_KINDS]


def _movers(rng: np.random.Generator, count: int, config: WorldConfig) -> tuple[list[tuple[str, str]], list[_Mover]]:
    names = [_names()[i] for i in rng.choice(len(_names()), size=count, replace=False)]
    movers = []
    for color, kind in names:
        size = rng.uniform(0.16, 0.28)
        movers.append(_Mover(kind, _color(rng, color), size, _straight_path(rng, size, config),
                             rng.uniform(0, 2 * math.pi)))
    return names, movers


def _inside(centers: np.ndarray, size: float, config: WorldConfig) -> bool:
    margin = SHAPE_EXTENT * size / 2
    return bool(((centers >= margin) & (centers <= np.array(config.extent) - margin)).all())


def _object_pair(rng: np.random.Generator, task: str, config: WorldConfig) -> tuple | None:
    count = int(rng.integers(1, 3)) if task == "add" else int(rng.integers(2 if task == "remove" else 1, 4))
    names, movers = _movers(rng, count, config)
    template = OBJECT_TEMPLATES[task][int(rng.integers(len(OBJECT_TEMPLATES[task])))]
    index = int(rng.integers(count))
    (color, kind), chosen = names[index], movers[index]
    free = [name for name in _names() if name not in names]
    if task == "remove":
        return movers, movers[:index] + movers[index + 1 :], template.format(color=color, kind=kind)
    new_color, new_kind = free[int(rng.integers(len(free)))]
    if task == "replace":
        angle = chosen.angle if new_kind == kind else 0.0  # a new kind is unrotated (see tasks.replacement_shape)
        new = _Mover(new_kind, _color(rng, new_color), chosen.size, chosen.centers, angle)
        instruction = template.format(color=color, kind=kind, new_color=new_color, new_kind=new_kind)
        return movers, movers[:index] + [new] + movers[index + 1 :], instruction
    sides = list(ADD_SIDES)
    side = sides[int(rng.integers(len(sides)))]
    distance = SHAPE_EXTENT * (chosen.size / 2 + ADDED_SHAPE_SIZE / 2) + ADD_GAP
    centers = chosen.centers + distance * np.asarray(ADD_SIDES[side])
    if not _inside(centers, ADDED_SHAPE_SIZE, config):
        return None
    new = _Mover(new_kind, _color(rng, new_color), ADDED_SHAPE_SIZE, centers, 0.0)
    instruction = template.format(color=new_color, kind=new_kind, side=side, anchor_color=color, anchor_kind=kind)
    return movers, movers + [new], instruction


def make_other_pair(seed: int, task: str, config: WorldConfig = WorldConfig()) -> EditPair:
    """An edit pair of `task` drawn by this renderer; deterministic in (seed, task, config)."""
    if task not in TASKS:
        raise ReCoInputError("task", f"unknown task {task!r}", f"Use one of {', '.join(TASKS)}.")
    for attempt in range(64):
        rng = np.random.default_rng([int(seed), TASKS.index(task), attempt, 7])
        background = _background(rng, config)
        if task == "style":
            _, movers = _movers(rng, int(rng.integers(1, 4)), config)
            styles = list(STYLE_TEMPLATES)
            style = styles[int(rng.integers(len(styles)))]
            source = _render(background, movers, config)
            target = np.clip(np.rint(_style(source, style) * 255), 0, 255) / 255.0
            mask = np.ones(source.shape[:-1])
            instruction = STYLE_TEMPLATES[style][int(rng.integers(len(STYLE_TEMPLATES[style])))]
            info = {"seed": int(seed), "renderer": "other", "style": style}
            break
        drawn = _object_pair(rng, task, config)
        if drawn is None:
            continue
        before, after, instruction = drawn
        source, target = _render(background, before, config), _render(background, after, config)
        mask = (source != target).any(axis=-1).astype(np.float64)
        if mask.sum(axis=(1, 2)).min() >= 0.1 * math.pi * (0.08 * config.unit) ** 2:
            info = {"seed": int(seed), "renderer": "other"}
            break
    else:
        raise RuntimeError(f"no valid {task} pair for seed {seed}")  # not reached for the default world
    as_tensor = lambda values: torch.from_numpy(np.asarray(values, dtype=np.float32))  # noqa: E731
    return EditPair(as_tensor(source), as_tensor(target), as_tensor(mask), instruction, task, info)
