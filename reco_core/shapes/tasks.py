"""Paired edits in the shapes world: add, remove, replace and style, with their instructions.

`make_pair(seed, task, config)` is a pure function of its arguments. Object edits render the source
and target scenes over the same background, so the mask (pixels where any channel differs) is exact
by construction. Train and test pairs come from disjoint seed ranges (`split_seeds`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np
import torch

from ..errors import ReCoInputError
from .world import (
    MAX_SHAPES,
    SHAPE_EXTENT,
    Scene,
    Shape,
    WorldConfig,
    all_shape_names,
    inside_frame,
    quantize,
    render_background,
    render_scene,
    sample_scene,
    with_shapes,
)

TASKS: tuple[str, ...] = ("add", "remove", "replace", "style")
STYLES: tuple[str, ...] = ("black_and_white", "night", "sepia", "invert")

OBJECT_TEMPLATES: dict[str, tuple[str, ...]] = {
    "add": (
        "add a {color} {kind} {side} the {anchor_color} {anchor_kind}",
        "put a {color} {kind} {side} the {anchor_color} {anchor_kind}",
        "insert a {color} {kind} {side} the {anchor_color} {anchor_kind}",
        "place a {color} {kind} {side} the {anchor_color} {anchor_kind}",
    ),
    "remove": (
        "remove the {color} {kind}",
        "delete the {color} {kind}",
        "get rid of the {color} {kind}",
        "erase the {color} {kind} from the video",
    ),
    "replace": (
        "replace the {color} {kind} with a {new_color} {new_kind}",
        "turn the {color} {kind} into a {new_color} {new_kind}",
        "change the {color} {kind} to a {new_color} {new_kind}",
        "swap the {color} {kind} for a {new_color} {new_kind}",
    ),
}

STYLE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "black_and_white": ("make it black and white", "convert to black and white", "make the video grayscale"),
    "night": ("make it a night scene", "turn it into night", "make it look like night"),
    "sepia": ("make it sepia", "give it a sepia look", "convert to sepia"),
    "invert": ("invert the colors", "make it a color negative", "invert the video colors"),
}

#: Where "add" puts the new shape: beside a shape the instruction names, on the named side, riding
#: along with it. The edit is then fully determined by the source and the words. The new shape is
#: ADDED_SHAPE_SIZE across, unrotated (angle 0: a triangle points down) and drawn over everything;
#: its centre keeps (unit vector) * (SHAPE_EXTENT * (r_anchor + r_new) + ADD_GAP) from the anchor's.
ADD_SIDES: dict[str, tuple[float, float]] = {
    "to the left of": (-1.0, 0.0),
    "to the right of": (1.0, 0.0),
    "above": (0.0, -1.0),
    "below": (0.0, 1.0),
}
ADDED_SHAPE_SIZE = 0.22
ADD_GAP = 0.02

#: An edit must change at least this share of the edited shape's area in every frame (else the
#: seed is redrawn), so no frame has an empty or token mask because of occlusion.
MIN_CHANGED_SHARE = 0.1
MAX_ATTEMPTS = 16
#: Train seeds are 0 .. SPLIT_SIZE-1, test seeds SPLIT_SIZE .. 2*SPLIT_SIZE-1.
SPLIT_SIZE = 2**31
SPLIT_BASES: dict[str, int] = {"train": 0, "test": SPLIT_SIZE}


@dataclass
class EditPair:
    """A source clip, its edited target, the edit mask and the instruction that asks for the edit.

    `source` and `target` are [T, H, W, 3] float32 in 0..1 (on 8-bit levels); `mask` is [T, H, W]
    float32, 1 where the target differs from the source (all ones for style edits).
    """

    source: torch.Tensor
    target: torch.Tensor
    mask: torch.Tensor
    instruction: str
    task: str
    info: dict[str, Any] = field(default_factory=dict)


# ----------------------------------------------------------------------------------------------
# Vocabulary


def instruction_words(instruction: str) -> list[str]:
    """The words of an instruction (lower case, split on spaces)."""
    return instruction.lower().split()


def _all_instructions() -> list[str]:
    names = all_shape_names()
    instructions = [template for templates in STYLE_TEMPLATES.values() for template in templates]
    for templates in OBJECT_TEMPLATES.values():
        for template, (color, kind), (new_color, new_kind), side in itertools.product(templates, names, names,
                                                                                       ADD_SIDES):
            instructions.append(template.format(color=color, kind=kind, new_color=new_color, new_kind=new_kind,
                                                side=side, anchor_color=new_color, anchor_kind=new_kind))
    return instructions


def instruction_vocabulary() -> list[str]:
    """Every word any instruction can use, sorted (the closed vocabulary of the word tokenizer)."""
    return sorted({word for instruction in _all_instructions() for word in instruction_words(instruction)})


# ----------------------------------------------------------------------------------------------
# Seeds and splits


def split_seeds(split: str, count: int, start: int = 0) -> list[int]:
    """`count` seeds of a split, from the `start`-th on. Train and test ranges never overlap."""
    if split not in SPLIT_BASES:
        raise ReCoInputError("split", f"unknown split {split!r}", f"Use one of {', '.join(SPLIT_BASES)}.")
    if count < 0 or start < 0 or start + count > SPLIT_SIZE:
        raise ReCoInputError(
            "count", f"seeds {start}..{start + count} do not fit in a split", f"Keep start + count <= {SPLIT_SIZE}."
        )
    base = SPLIT_BASES[split]
    return list(range(base + start, base + start + count))


def seed_split(seed: int) -> str:
    """Which split a seed belongs to."""
    _check_seed(seed)
    return "train" if seed < SPLIT_SIZE else "test"


def _check_seed(seed: int) -> None:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or not 0 <= seed < 2 * SPLIT_SIZE:
        raise ReCoInputError("seed", f"{seed!r} is not a whole number in 0..{2 * SPLIT_SIZE - 1}", "Use split_seeds().")


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise ReCoInputError("task", f"unknown task {task!r}", f"Use one of {', '.join(TASKS)} or None.")


def choose_task(seed: int) -> str:
    """The task `make_pair(seed)` uses when none is given."""
    return TASKS[np.random.default_rng([int(seed), 0]).integers(len(TASKS))]


def _pair_rng(seed: int, task: str, attempt: int) -> np.random.Generator:
    return np.random.default_rng([int(seed), TASKS.index(task) + 1, attempt])


# ----------------------------------------------------------------------------------------------
# Styles


def apply_style(frames: torch.Tensor, style: str) -> torch.Tensor:
    """A per-pixel global look change of [..., 3] frames in 0..1 (not quantized).

    black_and_white: Rec. 601 luma in all channels; night: 20% of the colour plus a dark blue tint of
    the luma; sepia: the classic sepia matrix; invert: 1 - x. Results are clipped to 0..1.
    """
    frames = frames.to(torch.float32)
    luma = frames @ torch.tensor([0.299, 0.587, 0.114])
    if style == "black_and_white":
        styled = luma[..., None].expand(frames.shape)
    elif style == "night":
        styled = 0.2 * frames + luma[..., None] * torch.tensor([0.15, 0.22, 0.45])
    elif style == "sepia":
        sepia = torch.tensor([[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]])
        styled = frames @ sepia.T
    elif style == "invert":
        styled = 1.0 - frames
    else:
        raise ReCoInputError("style", f"unknown style {style!r}", f"Use one of {', '.join(STYLES)}.")
    return styled.clamp(0.0, 1.0)


# ----------------------------------------------------------------------------------------------
# Object edits


@dataclass
class _ObjectEdit:
    """Scenes before and after an object edit, the shapes involved and the instruction."""

    source: Scene
    target: Scene
    edited: Shape
    new: Shape | None
    instruction: str
    side: str | None = None
    fits: bool = True


def _pick(rng: np.random.Generator, options: list) -> Any:
    return options[rng.integers(len(options))]


def _present(scene: Scene) -> tuple[tuple[str, str], ...]:
    return tuple((shape.color, shape.kind) for shape in scene.shapes)


def added_shape(color: str, kind: str, side: str, anchor: Shape) -> Shape:
    """The shape "add a {color} {kind} {side} the {anchor}" asks for (see ADD_SIDES)."""
    if side not in ADD_SIDES:
        raise ReCoInputError("side", f"unknown side {side!r}", f"Use one of {', '.join(ADD_SIDES)}.")
    distance = SHAPE_EXTENT * (anchor.radius + ADDED_SHAPE_SIZE / 2) + ADD_GAP
    dx, dy = ADD_SIDES[side]
    return Shape(kind=kind, color=color, size=ADDED_SHAPE_SIZE, start=anchor.start, velocity=(0.0, 0.0),
                 follows=anchor, offset=(dx * distance, dy * distance))


def _sample_add(rng: np.random.Generator, config: WorldConfig) -> _ObjectEdit:
    """A scene of one or two shapes; the new shape goes on a side of one of them where it stays in frame."""
    source = sample_scene(rng, config, num_shapes=int(rng.integers(1, MAX_SHAPES)))
    color, kind = _pick(rng, [name for name in all_shape_names() if name not in _present(source)])
    anchor = source.shapes[int(rng.integers(len(source.shapes)))]
    sides = [side for side in ADD_SIDES if inside_frame(added_shape(color, kind, side, anchor), config)]
    side = _pick(rng, sides or list(ADD_SIDES))
    new = added_shape(color, kind, side, anchor)
    instruction = _pick(rng, list(OBJECT_TEMPLATES["add"])).format(
        color=color, kind=kind, side=side, anchor_color=anchor.color, anchor_kind=anchor.kind)
    return _ObjectEdit(source, with_shapes(source, source.shapes + (new,)), new, None, instruction, side, bool(sides))


def _sample_remove(rng: np.random.Generator, config: WorldConfig) -> _ObjectEdit:
    source = sample_scene(rng, config, num_shapes=int(rng.integers(2, MAX_SHAPES + 1)))
    index = int(rng.integers(len(source.shapes)))
    removed = source.shapes[index]
    kept = source.shapes[:index] + source.shapes[index + 1 :]
    instruction = _pick(rng, list(OBJECT_TEMPLATES["remove"])).format(color=removed.color, kind=removed.kind)
    return _ObjectEdit(source, with_shapes(source, kept), removed, None, instruction)


def _replacement_name(rng: np.random.Generator, old: Shape, present: tuple[tuple[str, str], ...]) -> tuple[str, str]:
    """A (color, kind) not in the scene that changes the colour, the kind, or both (chosen evenly)."""
    free = [name for name in all_shape_names() if name not in present]
    by_change = {
        "color": [(c, k) for c, k in free if k == old.kind],
        "kind": [(c, k) for c, k in free if c == old.color],
        "both": [(c, k) for c, k in free if c != old.color and k != old.kind],
    }
    changes = [change for change in ("color", "kind", "both") if by_change[change]]
    return _pick(rng, by_change[_pick(rng, changes)])


def replacement_shape(old: Shape, new_color: str, new_kind: str) -> Shape:
    """What "replace the {old} with a {new_color} {new_kind}" draws: the same size on the same path; a new
    colour keeps the old turn and spin, a new kind is unrotated (angle 0, no spin), since how a circle is
    turned cannot be seen and a square's turn cannot be read off a triangle's."""
    if new_kind == old.kind:
        return replace(old, color=new_color)
    return replace(old, color=new_color, kind=new_kind, angle=0.0, spin=0.0)


def _sample_replace(rng: np.random.Generator, config: WorldConfig) -> _ObjectEdit:
    source = sample_scene(rng, config, num_shapes=int(rng.integers(1, MAX_SHAPES + 1)))
    index = int(rng.integers(len(source.shapes)))
    old = source.shapes[index]
    new_color, new_kind = _replacement_name(rng, old, _present(source))
    new = replacement_shape(old, new_color, new_kind)
    shapes = source.shapes[:index] + (new,) + source.shapes[index + 1 :]
    instruction = _pick(rng, list(OBJECT_TEMPLATES["replace"])).format(
        color=old.color, kind=old.kind, new_color=new_color, new_kind=new_kind
    )
    return _ObjectEdit(source, with_shapes(source, shapes), old, new, instruction)


_OBJECT_SAMPLERS: dict[str, Callable[[np.random.Generator, WorldConfig], _ObjectEdit]] = {
    "add": _sample_add,
    "remove": _sample_remove,
    "replace": _sample_replace,
}


def changed_pixels(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """[T, H, W] float32 mask: 1 where any channel of target differs from source."""
    changed = (source.detach().cpu().numpy() != target.detach().cpu().numpy()).any(axis=-1)
    return torch.from_numpy(changed.astype(np.float32))


def _min_changed_pixels(edit: _ObjectEdit, config: WorldConfig) -> float:
    sizes = [edit.edited.size] + ([edit.new.size] if edit.new is not None else [])
    area = np.pi * (min(sizes) / 2 * config.unit) ** 2
    return MIN_CHANGED_SHARE * area


def _shape_info(shape: Shape | None) -> dict[str, str] | None:
    return None if shape is None else {"color": shape.color, "kind": shape.kind}


def _make_object_pair(seed: int, task: str, config: WorldConfig) -> EditPair:
    for attempt in range(MAX_ATTEMPTS):
        edit = _OBJECT_SAMPLERS[task](_pair_rng(seed, task, attempt), config)
        background = render_background(edit.source.background, config)
        source = render_scene(edit.source, config, background).frames
        target = render_scene(edit.target, config, background).frames
        mask = changed_pixels(source, target)
        if edit.fits and mask.numpy().sum(axis=(1, 2)).min() >= _min_changed_pixels(edit, config):
            break
    info = {
        "seed": int(seed),
        "attempt": attempt,
        "num_shapes": len(edit.source.shapes),
        "shapes": [_shape_info(shape) for shape in edit.source.shapes],
        "edited": _shape_info(edit.edited),
        "new": _shape_info(edit.new),
        **({"side": edit.side, "anchor": _shape_info(edit.edited.follows)} if edit.side else {}),
    }
    return EditPair(source, target, mask, edit.instruction, task, info)


def _make_style_pair(seed: int, config: WorldConfig) -> EditPair:
    rng = _pair_rng(seed, "style", 0)
    scene = sample_scene(rng, config, num_shapes=int(rng.integers(1, MAX_SHAPES + 1)))
    style = _pick(rng, list(STYLES))
    instruction = _pick(rng, list(STYLE_TEMPLATES[style]))
    source = render_scene(scene, config).frames
    target = quantize(apply_style(source, style))
    mask = torch.ones(source.shape[:-1], dtype=torch.float32)
    info = {
        "seed": int(seed),
        "attempt": 0,
        "num_shapes": len(scene.shapes),
        "shapes": [_shape_info(shape) for shape in scene.shapes],
        "style": style,
    }
    return EditPair(source, target, mask, instruction, "style", info)


def make_pair(seed: int, task: str | None = None, config: WorldConfig = WorldConfig()) -> EditPair:
    """The edit pair of this seed and task (a seed-chosen task when None); deterministic."""
    _check_seed(seed)
    task = choose_task(seed) if task is None else task
    _check_task(task)
    if task == "style":
        return _make_style_pair(seed, config)
    return _make_object_pair(seed, task, config)

