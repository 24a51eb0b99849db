"""The independent ReCo-Shapes renderer: pairs that follow the task rules without sharing the world's drawing."""

import numpy as np
import pytest
import torch

from reco_core.errors import ReCoInputError
from reco_core.shapes.other_renderer import make_other_pair
from reco_core.shapes.tasks import ADD_SIDES, TASKS, instruction_vocabulary, instruction_words, make_pair
from reco_core.shapes.world import SHAPE_COLORS_8BIT, WorldConfig

CONFIG = WorldConfig(width=96, height=96, num_frames=5, fps=8)


@pytest.fixture(scope="module")
def pairs():
    return {task: [make_other_pair(seed, task, CONFIG) for seed in range(4)] for task in TASKS}


def test_pairs_are_deterministic_and_shaped_like_the_worlds(pairs):
    for task in TASKS:
        again = make_other_pair(0, task, CONFIG)
        first = pairs[task][0]
        assert torch.equal(again.source, first.source) and again.instruction == first.instruction
        assert first.source.shape == first.target.shape == (5, 96, 96, 3) and first.mask.shape == (5, 96, 96)
        assert float(first.source.min()) >= 0 and float(first.source.max()) <= 1
        assert first.task == task and first.info["renderer"] == "other"


def test_object_masks_are_the_changed_pixels_and_style_masks_the_frame(pairs):
    for task in ("add", "remove", "replace"):
        for pair in pairs[task]:
            changed = (pair.source != pair.target).any(dim=-1).float()
            assert torch.equal(pair.mask, changed) and pair.mask.sum() > 0
    for pair in pairs["style"]:
        assert bool((pair.mask == 1).all()) and not torch.equal(pair.source, pair.target)


def test_instructions_use_the_world_vocabulary(pairs):
    vocabulary = set(instruction_vocabulary())
    for task_pairs in pairs.values():
        for pair in task_pairs:
            assert set(instruction_words(pair.instruction)) <= vocabulary, pair.instruction


def _named_color(pair) -> tuple[str, np.ndarray]:
    """The colour the instruction asks for, and the mean colour of the target inside the mask on frame 0."""
    words = pair.instruction.split()
    names = [w for w in words if w in SHAPE_COLORS_8BIT]
    name = names[0] if pair.task == "add" else names[-1]
    inside = pair.mask[0] > 0.5
    return name, pair.target[0][inside].mean(dim=0).numpy() * 255


def test_added_and_replacing_shapes_have_the_named_colour(pairs):
    for task in ("add", "replace"):
        for pair in pairs[task]:
            name, seen = _named_color(pair)
            assert np.abs(seen - np.asarray(SHAPE_COLORS_8BIT[name])).max() < 60, (pair.instruction, seen)


def test_added_shape_is_on_the_named_side_of_its_anchor(pairs):
    for pair in pairs["add"]:
        side = next(s for s in ADD_SIDES if f" {s} " in f" {pair.instruction} ")
        anchor = [w for w in pair.instruction.split() if w in SHAPE_COLORS_8BIT][-1]
        # The anchor: source pixels of its colour (shapes get a small colour jitter; edges are blended).
        distance = (pair.source[0] * 255 - torch.tensor(SHAPE_COLORS_8BIT[anchor], dtype=torch.float32)).abs().amax(-1)
        ys, xs = torch.nonzero(distance < 16, as_tuple=True)
        assert len(xs) > 20, pair.instruction
        anchor_center = torch.stack([xs.float().mean(), ys.float().mean()])
        ys, xs = torch.nonzero(pair.mask[0] > 0.5, as_tuple=True)
        offset = torch.stack([xs.float().mean(), ys.float().mean()]) - anchor_center
        direction = torch.tensor(ADD_SIDES[side])
        assert float(offset @ direction) / float(offset.norm()) > 0.9, (pair.instruction, offset)


def test_the_world_and_the_other_renderer_draw_different_pictures():
    ours, theirs = make_pair(3, "remove", CONFIG), make_other_pair(3, "remove", CONFIG)
    assert float((ours.source - theirs.source).abs().mean()) > 0.02


def test_benchmark_pairs_from_the_other_renderer_and_a_bad_renderer_refused():
    from reco_core.shapes.bench import benchmark_pairs

    drawn = benchmark_pairs(1, config=CONFIG, renderer="other")
    assert [pair.task for pair in drawn] == list(TASKS) and all(p.info["renderer"] == "other" for p in drawn)
    with pytest.raises(ReCoInputError, match="--renderer.*world, other"):
        benchmark_pairs(1, config=CONFIG, renderer="blender")
