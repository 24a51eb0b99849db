"""Edits made at the model's size, restored at the source's size over the source's own pixels."""

from __future__ import annotations

import pytest
import torch

from reco_core.frames import RESIZE_MODES, resize_frames
from reco_core.restore import plan_size, restore_edit


def _textured(frames: int, height: int, width: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.rand(frames, height, width, 3, generator=generator)


@pytest.mark.parametrize("mode", RESIZE_MODES)
def test_an_edit_that_changes_nothing_gives_back_the_source_with_its_detail(mode):
    source = _textured(3, 96, 160)  # fine detail that a round trip through 64x64 would blur away
    small = resize_frames(source, 64, 64, mode)
    restored = restore_edit(small, source, mode)
    assert restored.shape == source.shape
    assert torch.allclose(restored, source, atol=1e-5)
    blurred = resize_frames(small, 160, 96, "stretch")
    assert (blurred - source).abs().mean() > 0.1, "the naive upscale would have lost the detail"


@pytest.mark.parametrize("mode", ["crop", "stretch", "pad"])
def test_a_local_change_lands_in_the_same_place_and_the_rest_is_kept(mode):
    source = _textured(2, 128, 128)
    small = resize_frames(source, 64, 64, mode)
    edit = small.clone()
    edit[:, 8:24, 40:56] = torch.tensor([1.0, 0.0, 0.0])  # a red square in the top right
    restored = restore_edit(edit, source, mode)
    changed = (restored - source).abs().amax(dim=-1) > 0.05
    rows, columns = changed[0].nonzero(as_tuple=True)
    assert rows.float().mean() < 64 and columns.float().mean() > 64, "the change stays in the top right"
    assert changed[:, 80:, :40].sum() == 0, "far from the change the source is untouched"
    assert restored[:, 30:40, 90:100, 0].mean() > 0.9, "inside the change it is red"


def test_same_size_is_the_edit_itself_and_more_source_frames_are_allowed():
    source = _textured(5, 64, 64)
    edit = _textured(3, 64, 64)
    assert torch.equal(restore_edit(edit, source), edit)
    with pytest.raises(ValueError):
        restore_edit(_textured(6, 64, 64), source)


def test_the_plan_says_what_was_resized():
    assert plan_size(64, 64, 64, 64).note() is None
    note = plan_size(128, 96, 64, 64, "crop").note("source")
    assert "128x96" in note and "64x64" in note and "scaled back" in note
    assert "the edit is 64x64" in plan_size(128, 96, 64, 64, "stretch").note("model")


def test_a_removed_object_leaves_no_ghost_of_its_edges():
    source = torch.full((1, 128, 128, 3), 0.4)
    source[:, 40:72, 40:72] = 1.0  # a sharp white square
    small = resize_frames(source, 64, 64, "stretch")
    edit = small.clone()
    edit[:, 16:40, 16:40] = 0.4  # the model filled it with background
    restored = restore_edit(edit, source, "stretch")
    assert (restored[:, 36:76, 36:76] - 0.4).abs().max() < 0.02
