"""The ReCo-Shapes world, its edit pairs, splits, vocabulary and dataset export."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from reco_core.errors import CancelledError, ReCoInputError
from reco_core.shapes import dataset as dataset_module
from reco_core.shapes.dataset import export_dataset, load_pair, read_manifest, write_pair
from reco_core.shapes.tasks import (
    ADD_SIDES,
    ADDED_SHAPE_SIZE,
    OBJECT_TEMPLATES,
    STYLES,
    TASKS,
    apply_style,
    changed_pixels,
    choose_task,
    instruction_vocabulary,
    instruction_words,
    make_pair,
    seed_split,
    split_seeds,
)
from reco_core.shapes.world import (
    MAX_SHAPE_SIZE,
    MIN_SHAPE_SIZE,
    SHAPE_COLORS,
    SHAPE_COLORS_8BIT,
    SHAPE_KINDS,
    Shape,
    WorldConfig,
    quantize,
    render_background,
    render_scene,
    sample_background,
    sample_scene,
    shape_centers,
    shape_coverage,
    to_uint8,
)
from reco_core.shapes.world import SHAPE_EXTENT

OBJECT_TASKS = ("add", "remove", "replace")
SEEDS_PER_TASK = 6


@pytest.fixture(scope="module")
def object_pairs():
    """A handful of pairs of every object task, from both splits."""
    seeds = split_seeds("train", SEEDS_PER_TASK // 2) + split_seeds("test", SEEDS_PER_TASK // 2)
    return [make_pair(seed, task) for task in OBJECT_TASKS for seed in seeds]


@pytest.fixture(scope="module")
def style_pairs():
    # Seeds 0..5 cover all four styles.
    return [make_pair(seed, "style") for seed in range(6)]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# ----------------------------------------------------------------------------------------------
# World


def test_world_config_defaults_and_validation():
    config = WorldConfig()
    assert (config.width, config.height, config.num_frames, config.fps) == (64, 64, 17, 8)
    for bad in ({"width": 70}, {"height": 8}, {"num_frames": 16}, {"fps": 0}):
        with pytest.raises(ReCoInputError):
            WorldConfig(**bad)


@pytest.mark.parametrize("config", [WorldConfig(), WorldConfig(width=128, height=96, num_frames=9, fps=16)])
def test_render_shapes_ranges_and_levels(config):
    scene = sample_scene(_rng(), config, num_shapes=3)
    rendered = render_scene(scene, config)
    frames, coverage = rendered.frames, rendered.coverage
    assert frames.shape == (config.num_frames, config.height, config.width, 3) and frames.dtype == torch.float32
    assert coverage.shape == (3, config.num_frames, config.height, config.width)
    assert frames.min() >= 0 and frames.max() <= 1 and coverage.min() >= 0 and coverage.max() <= 1
    assert torch.equal(frames, quantize(frames)), "frames sit on 8-bit levels"


def test_largest_size_renders():
    config = WorldConfig(width=256, height=256, num_frames=5)
    assert render_scene(sample_scene(_rng(), config, 2), config).frames.shape == (5, 256, 256, 3)


def test_render_is_deterministic():
    config = WorldConfig()
    first = render_scene(sample_scene(_rng(7), config, 3), config)
    second = render_scene(sample_scene(_rng(7), config, 3), config)
    assert torch.equal(first.frames, second.frames) and torch.equal(first.coverage, second.coverage)


@pytest.mark.parametrize("kind", SHAPE_KINDS)
def test_shapes_have_equal_area_and_stay_inside(kind):
    config = WorldConfig(width=128, height=128)
    shape = Shape(kind=kind, color="red", size=0.3, start=(0.5, 0.5), velocity=(0.3, 0.2), spin=0.4)
    coverage = shape_coverage(shape, config)
    expected_area = math.pi * (shape.radius * config.unit) ** 2
    assert np.allclose(coverage.sum(axis=(1, 2)), expected_area, rtol=0.03)
    assert set(np.unique(coverage)) - {0.0, 1.0}, "edges are anti-aliased"


def test_trajectories_are_smooth_and_bounded():
    config = WorldConfig(num_frames=81)
    for seed in range(10):
        for shape in sample_scene(_rng(seed), config, 3).shapes:
            centers = shape_centers(shape, config)
            steps = np.linalg.norm(np.diff(centers, axis=0), axis=1)
            assert steps.max() < 0.05 and steps.max() > 0
            margin = 1.5 * shape.radius
            assert centers.min() >= margin - 1e-9 and centers.max() <= 1 - margin + 1e-9
            assert MIN_SHAPE_SIZE <= shape.size <= MAX_SHAPE_SIZE


def test_background_pans_slowly_and_never_looks_like_a_shape():
    config = WorldConfig()
    shape_colors = np.array(list(SHAPE_COLORS.values()))
    for seed in range(12):
        background = sample_background(_rng(seed))
        pan_pixels_per_frame = np.hypot(*background.pan_velocity) * config.unit / config.fps
        assert 0.1 <= pan_pixels_per_frame <= 2.0
        pixels = render_background(background, config).reshape(-1, 3)
        assert pixels.min() > 0.2 and pixels.max() < 0.7
        assert (pixels.max(axis=1) - pixels.min(axis=1)).max() < 0.2, "muted: low chroma"
        distance = np.abs(pixels[:, None, :] - shape_colors[None]).max(axis=-1)
        assert distance.min() > 0.25
        frames = render_background(background, config)
        assert not np.array_equal(frames[0], frames[1]), "the background moves"


# ----------------------------------------------------------------------------------------------
# Pairs


@pytest.mark.parametrize("task", TASKS)
def test_make_pair_is_deterministic(task):
    first, second = make_pair(3, task), make_pair(3, task)
    for name in ("source", "target", "mask"):
        assert torch.equal(getattr(first, name), getattr(second, name))
    assert first.instruction == second.instruction and first.info == second.info
    other = make_pair(4, task)
    assert not torch.equal(first.source, other.source)


def test_task_none_is_the_seed_choice():
    for seed in range(4):
        chosen = make_pair(seed)
        assert chosen.task == choose_task(seed)
        assert torch.equal(chosen.target, make_pair(seed, chosen.task).target)
    assert {choose_task(seed) for seed in range(40)} == set(TASKS)


def test_make_pair_rejects_bad_arguments():
    with pytest.raises(ReCoInputError):
        make_pair(0, "recolor")
    with pytest.raises(ReCoInputError):
        make_pair(-1)


def test_pair_shapes_and_ranges(object_pairs, style_pairs):
    config = WorldConfig()
    for pair in object_pairs + style_pairs:
        assert pair.source.shape == pair.target.shape == (config.num_frames, config.height, config.width, 3)
        assert pair.mask.shape == pair.source.shape[:-1]
        for clip in (pair.source, pair.target, pair.mask):
            assert clip.dtype == torch.float32 and clip.min() >= 0 and clip.max() <= 1


def test_object_mask_is_exactly_the_changed_pixels(object_pairs):
    for pair in object_pairs:
        source, target, mask = pair.source.numpy(), pair.target.numpy(), pair.mask.numpy()
        changed = (source != target).any(axis=-1)
        assert np.array_equal(mask, changed.astype(np.float32)), pair.instruction
        assert (mask.sum(axis=(1, 2)) > 0).all(), f"empty mask frame: {pair.instruction}"
        assert mask.mean() < 0.3, "an object edit changes only part of the frame"


def test_mask_exact_on_a_wide_clip():
    pair = make_pair(11, "replace", WorldConfig(width=96, height=64, num_frames=9))
    assert torch.equal(pair.mask, changed_pixels(pair.source, pair.target))
    assert (pair.mask.sum(dim=(1, 2)) > 0).all()


def _shows_color(frames: torch.Tensor, mask: torch.Tensor, color: str) -> bool:
    """Whether every frame has a mask pixel of exactly this shape colour (fully covered)."""
    exact = (to_uint8(frames) == SHAPE_COLORS_8BIT[color]).all(axis=-1) & (mask.numpy() > 0)
    return bool(exact.any(axis=(1, 2)).all())


def test_object_edits_do_what_they_say(object_pairs):
    for pair in object_pairs:
        present = [(shape["color"], shape["kind"]) for shape in pair.info["shapes"]]
        edited = (pair.info["edited"]["color"], pair.info["edited"]["kind"])
        assert f"{edited[0]} {edited[1]}" in pair.instruction
        assert 1 <= len(present) <= 3
        if pair.task == "add":
            assert edited not in present
            assert _shows_color(pair.target, pair.mask, edited[0])
        else:
            assert present.count(edited) == 1, "the shape referred to is unique"
            assert _shows_color(pair.source, pair.mask, edited[0])
        if pair.task == "replace":
            new = (pair.info["new"]["color"], pair.info["new"]["kind"])
            assert new != edited and new not in present
            assert pair.instruction.endswith(f"{new[0]} {new[1]}")
            if new[0] != edited[0]:
                assert _shows_color(pair.target, pair.mask, new[0])


def _centroids(coverage_mask: np.ndarray) -> np.ndarray:
    """Centre of mass per frame of a [T, H, W] mask, as (x, y) in pixels."""
    ys, xs = np.mgrid[: coverage_mask.shape[1], : coverage_mask.shape[2]]
    total = coverage_mask.sum(axis=(1, 2))
    return np.stack([(coverage_mask * xs).sum(axis=(1, 2)) / total, (coverage_mask * ys).sum(axis=(1, 2)) / total], 1)


def test_add_puts_the_new_shape_on_the_named_side_and_it_rides_along():
    """Image rows grow downward, so "above" is a smaller y."""
    assert set(ADD_SIDES) == {"to the left of", "to the right of", "above", "below"}
    config = WorldConfig()
    sides_seen = set()
    for seed in split_seeds("test", 12):
        pair = make_pair(seed, "add", config)
        side, anchor = pair.info["side"], pair.info["anchor"]
        sides_seen.add(side)
        assert f"{side} the {anchor['color']} {anchor['kind']}" in pair.instruction
        assert anchor in pair.info["shapes"]
        # The new shape is the only change; where it is not hidden, it sits on the named side of its anchor.
        new_pixels = pair.mask.numpy()
        dx, dy = {"to the left of": (-1, 0), "to the right of": (1, 0), "above": (0, -1), "below": (0, 1)}[side]
        anchor_color = np.array(SHAPE_COLORS_8BIT[anchor["color"]])
        anchor_pixels = (to_uint8(pair.source) == anchor_color).all(axis=-1).astype(float)
        offset = _centroids(new_pixels) - _centroids(anchor_pixels)
        along = offset @ np.array([dx, dy])
        assert (along > 0.5 * ADDED_SHAPE_SIZE * config.unit).all(), pair.instruction
        # It moves with the anchor: the offset barely changes over the clip (only occlusion moves the centroid).
        assert np.ptp(along) < 0.35 * SHAPE_EXTENT * ADDED_SHAPE_SIZE * config.unit, pair.instruction
    assert len(sides_seen) >= 3


def test_style_mask_is_all_ones_and_target_is_styled_source(style_pairs):
    assert {pair.info["style"] for pair in style_pairs} == set(STYLES)
    for pair in style_pairs:
        assert torch.equal(pair.mask, torch.ones_like(pair.mask))
        assert torch.equal(pair.target, quantize(apply_style(pair.source, pair.info["style"])))
        assert not torch.equal(pair.target, pair.source)


def test_styles_are_per_pixel_looks():
    pixel = torch.tensor([[0.9, 0.2, 0.1]])
    grey = apply_style(pixel, "black_and_white")
    assert torch.allclose(grey, grey[:, :1].expand(1, 3))
    assert torch.allclose(apply_style(pixel, "invert"), 1 - pixel)
    night = apply_style(pixel, "night")
    assert night.max() < 0.4 and night[0, 2] > night[0, 0] - 0.1
    sepia = apply_style(torch.tensor([[0.5, 0.5, 0.5]]), "sepia")
    assert sepia[0, 0] > sepia[0, 1] > sepia[0, 2]
    with pytest.raises(ReCoInputError):
        apply_style(pixel, "cartoon")


# ----------------------------------------------------------------------------------------------
# Instructions and splits


def test_instructions_use_only_the_vocabulary(object_pairs, style_pairs):
    vocabulary = instruction_vocabulary()
    assert vocabulary == sorted(set(vocabulary))
    assert set(SHAPE_COLORS) | set(SHAPE_KINDS) <= set(vocabulary)
    instructions = {pair.instruction for pair in object_pairs + style_pairs}
    instructions |= {make_pair(seed).instruction for seed in range(8)}
    for instruction in instructions:
        assert set(instruction_words(instruction)) <= set(vocabulary), instruction


def test_instruction_templates_vary():
    tiny = WorldConfig(width=32, height=32, num_frames=5)
    seen = {make_pair(seed, "remove", tiny).instruction.split(" the ")[0] for seed in range(12)}
    assert len(seen) >= 3
    assert all(len(templates) >= 3 for templates in OBJECT_TEMPLATES.values())


def test_splits_are_disjoint():
    train, test = split_seeds("train", 1000), split_seeds("test", 1000)
    assert len(set(train)) == 1000 and not set(train) & set(test)
    assert {seed_split(seed) for seed in train} == {"train"} and {seed_split(seed) for seed in test} == {"test"}
    assert split_seeds("train", 3, start=5) == train[5:8]
    assert not torch.equal(make_pair(train[0], "add").source, make_pair(test[0], "add").source)
    with pytest.raises(ReCoInputError):
        split_seeds("validation", 3)
    with pytest.raises(ReCoInputError):
        split_seeds("train", 2**31 + 1)


# ----------------------------------------------------------------------------------------------
# Dataset


SMALL = WorldConfig(width=32, height=32, num_frames=5)


def test_export_writes_manifest_and_round_trips(tmp_path: Path):
    manifest = export_dataset(tmp_path, "train", 4, SMALL, tasks=list(TASKS))
    rows = read_manifest(manifest)
    assert manifest == tmp_path / "train.jsonl"
    assert [row["task"] for row in rows] == list(TASKS)
    assert [row["seed"] for row in rows] == split_seeds("train", 4)
    for row in rows:
        assert set(row) == {"source", "target", "mask", "instruction", "task", "seed"}
        assert len(list((tmp_path / row["source"]).glob("frame_*.png"))) == SMALL.num_frames
        original = make_pair(row["seed"], row["task"], SMALL)
        loaded = load_pair(row, tmp_path)
        for name in ("source", "target", "mask"):
            assert torch.equal(getattr(loaded, name), getattr(original, name)), name
        assert loaded.instruction == original.instruction and loaded.task == original.task
    assert json.loads(manifest.read_text().splitlines()[0])["source"] == "train/pair_00000/source"


def test_export_offset_names_pairs_globally(tmp_path: Path):
    rows = read_manifest(export_dataset(tmp_path, "test", 2, SMALL, seed_offset=3))
    assert [row["seed"] for row in rows] == split_seeds("test", 2, start=3)
    assert rows[0]["source"] == "test/pair_00003/source"


def test_failed_export_leaves_no_partial_pair(tmp_path: Path, monkeypatch):
    real_save = dataset_module.save_png_frames
    calls = {"count": 0}

    def failing_save(frames, folder):
        calls["count"] += 1
        if calls["count"] == 5:  # the second pair's target
            raise OSError("disk full")
        real_save(frames, folder)

    monkeypatch.setattr(dataset_module, "save_png_frames", failing_save)
    with pytest.raises(OSError):
        export_dataset(tmp_path, "train", 3, SMALL)
    assert sorted(path.name for path in (tmp_path / "train").iterdir()) == ["pair_00000"]
    assert not (tmp_path / "train.jsonl").exists()


def test_write_pair_replaces_an_older_copy(tmp_path: Path):
    folder = tmp_path / "pair_00000"
    write_pair(make_pair(0, "add", SMALL), folder)
    (folder / "stale.txt").write_text("old")
    pair = make_pair(1, "remove", SMALL)
    write_pair(pair, folder)
    assert not (folder / "stale.txt").exists()
    assert [path.name for path in tmp_path.iterdir()] == ["pair_00000"]
    row = {"source": "pair_00000/source", "target": "pair_00000/target", "mask": "pair_00000/mask",
           "instruction": pair.instruction, "task": pair.task, "seed": 1}
    assert torch.equal(load_pair(row, tmp_path).target, pair.target)


def test_export_can_be_cancelled(tmp_path: Path):
    progress = []
    with pytest.raises(CancelledError):
        export_dataset(tmp_path, "train", 3, SMALL, callback=lambda done, total: progress.append(done),
                       cancel=lambda: len(progress) >= 1)
    assert progress == [1]
    with pytest.raises(ReCoInputError):
        export_dataset(tmp_path, "train", 1, SMALL, tasks=["paint"])
