"""ReCo-Shapes benchmark metrics: ground truth scores 1, doing nothing scores low, damage in between."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from reco_core.errors import ReCoInputError
from reco_core.shapes.metrics import (
    PSNR_CAP,
    SCORE_KEYS,
    aggregate,
    format_table,
    psnr_to_score,
    score_pair,
)
from reco_core.shapes.tasks import TASKS, make_pair


@pytest.fixture(scope="module")
def pairs():
    """Two pairs of every task."""
    return [make_pair(seed, task) for task in TASKS for seed in (1, 2)]


def _corrupt(pair, seed: int) -> torch.Tensor:
    """The target, slightly damaged: a colour shift inside the mask and faint noise everywhere."""
    generator = torch.Generator().manual_seed(seed)
    shifted = pair.target + 0.06 * pair.mask[..., None]
    noise = 0.01 * torch.randn(pair.target.shape, generator=generator)
    return (shifted + noise).clamp(0, 1)


def test_ground_truth_scores_perfectly(pairs):
    for pair in pairs:
        scores = score_pair(pair.target, pair)
        assert set(scores) == set(SCORE_KEYS)
        assert scores["edit_accuracy"] == 1.0 and scores["color_agreement"] == 1.0
        assert scores["temporal_stability"] == 1.0 and scores["overall"] == 1.0
        if pair.task == "style":
            assert scores["shape_iou"] is None and scores["background_psnr"] is None
        else:
            assert scores["shape_iou"] == 1.0 and scores["background_psnr"] == PSNR_CAP


def test_unedited_source_scores_low(pairs):
    for pair in pairs:
        scores = score_pair(pair.source, pair)
        if pair.task == "style":
            assert scores["overall"] < 0.5, pair.instruction
            continue
        assert scores["edit_accuracy"] < 0.2, pair.instruction
        assert scores["overall"] < 0.2
        assert scores["background_psnr"] == PSNR_CAP, "the source leaves the background untouched"


def test_slightly_corrupted_target_scores_in_between(pairs):
    for index, pair in enumerate(pairs):
        damaged = score_pair(_corrupt(pair, index), pair)
        unedited = score_pair(pair.source, pair)
        for key in ("edit_accuracy", "overall"):
            assert unedited[key] < damaged[key] < 1.0, (pair.instruction, key, damaged[key])
        assert 0.5 < damaged["edit_accuracy"]
        if pair.task != "style":
            assert 30.0 < damaged["background_psnr"] < PSNR_CAP


def test_scores_stay_in_range_for_garbage(pairs):
    generator = torch.Generator().manual_seed(0)
    for pair in pairs:
        scores = score_pair(torch.rand(pair.source.shape, generator=generator), pair)
        for key in SCORE_KEYS:
            value = scores[key]
            if key == "background_psnr" or value is None:
                continue
            assert 0.0 <= value <= 1.0, key
        assert scores["overall"] < 0.3


def test_frozen_background_loses_stability():
    pair = make_pair(2, "remove")
    frozen = torch.where(pair.mask[..., None] > 0, pair.target, pair.target[:1].expand_as(pair.target))
    assert score_pair(frozen, pair)["temporal_stability"] < 0.9


def test_numpy_edit_is_accepted():
    pair = make_pair(1, "add")
    assert score_pair(pair.target.numpy(), pair)["overall"] == 1.0


def test_edit_of_another_size_is_rejected():
    pair = make_pair(1, "add")
    with pytest.raises(ReCoInputError, match="edit"):
        score_pair(pair.target[:, :32], pair)
    with pytest.raises(ReCoInputError, match="edit"):
        score_pair(pair.target[:-4], pair)
    with pytest.raises(ReCoInputError, match="NaN"):
        score_pair(torch.full_like(pair.target, float("nan")), pair)


def test_psnr_mapping():
    assert psnr_to_score(None) is None
    assert psnr_to_score(10.0) == 0.0 and psnr_to_score(40.0) == 1.0 and psnr_to_score(60.0) == 1.0
    assert math.isclose(psnr_to_score(25.0), 0.5)


def test_aggregate_and_tables(pairs):
    results = [(pair.task, score_pair(pair.target, pair)) for pair in pairs]
    results += [(pair.task, score_pair(pair.source, pair)) for pair in pairs]
    summary = aggregate(results)
    assert list(summary["per_task"]) == list(TASKS)
    assert summary["overall"]["count"] == len(results)
    assert summary["per_task"]["style"]["background_psnr"] is None
    expected_add = np.mean([scores["overall"] for task, scores in results if task == "add"])
    assert math.isclose(summary["per_task"]["add"]["overall"], expected_add)
    text = format_table(summary)
    lines = text.splitlines()
    assert len({len(line) for line in lines}) == 1, "fixed width"
    assert lines[0].split()[0] == "task" and lines[-1].startswith("all")
    markdown = format_table(summary, markdown=True)
    assert markdown.startswith("| task |") and markdown.count("\n") == len(TASKS) + 2
    assert "| style |" in markdown and " - |" in markdown


class _PixelCodec:
    """A stand-in pipeline whose "latents" are the canvas pixels themselves: decoding crops the half `half` names
    (the target by default) and applies `damage` (none: a lossless codec)."""

    def __init__(self, half: int = 1, damage=None):
        self.half, self.damage = half, damage

    def encode_frames(self, frames):
        return frames.unsqueeze(0)

    def decode_edit(self, latents, options):
        from reco_core.layout import split_canvas

        frames = split_canvas(latents[0])[self.half]
        return frames if self.damage is None else self.damage(frames)


def test_codec_ceiling_is_perfect_for_a_lossless_codec_and_lower_for_a_shifting_one(pairs):
    from reco_core.shapes.bench import codec_ceiling_results, edit_options, unchanged_results

    options = edit_options()
    lossless = codec_ceiling_results(_PixelCodec(), pairs, options)["per_task"]
    shifted = codec_ceiling_results(_PixelCodec(damage=lambda f: f.roll(2, dims=2)), pairs, options)["per_task"]
    source_half = codec_ceiling_results(_PixelCodec(half=0), pairs, options)
    for task in TASKS:
        assert lossless[task]["edit_accuracy"] == pytest.approx(1.0), task
        assert shifted[task]["edit_accuracy"] < 0.95, task
    # The ceiling is the target half's: cropping the source half instead scores what the unchanged source does.
    assert source_half == unchanged_results(pairs)
