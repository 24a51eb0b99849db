import types

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reco_core import layout
from reco_core.errors import ReCoInputError

sizes = st.tuples(st.integers(1, 9), st.integers(1, 6), st.integers(1, 6), st.integers(1, 4))


@settings(max_examples=40, deadline=None)
@given(sizes)
def test_canvas_round_trip(shape):
    source, target = torch.rand(shape), torch.rand(shape)
    canvas = layout.build_canvas(source, target)
    assert canvas.shape == (shape[0], shape[1], 2 * shape[2], shape[3])
    left, right = layout.split_canvas(canvas)
    assert torch.equal(left, source) and torch.equal(right, target)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 3), st.integers(1, 4), st.integers(1, 5), st.integers(1, 4), st.integers(1, 6))
def test_latent_split_join_round_trip(batch, channels, frames, height, half_width):
    latent = torch.randn(batch, channels, frames, height, 2 * half_width)
    source, target = layout.split_latent(latent)
    assert source.shape[-1] == half_width
    assert torch.equal(layout.join_latent(source, target), latent)


def test_split_rejects_odd_width():
    with pytest.raises(ValueError, match="even width"):
        layout.split_latent(torch.zeros(1, 16, 1, 2, 5))


def test_canvas_without_target_is_grey():
    source = torch.rand(5, 16, 16, 3)
    _, target = layout.split_canvas(layout.build_canvas(source))
    assert torch.all(target == layout.GREY)


def test_vace_context_is_source_grey_with_mask_zero_one():
    source = torch.rand(5, 16, 32, 3)
    context = layout.vace_context(source)
    left, right = layout.split_canvas(context.control)
    assert torch.equal(left, source) and torch.all(right == 0.5)
    assert torch.all(context.mask[..., :32] == 0) and torch.all(context.mask[..., 32:] == 1)
    inactive, reactive = context.inactive_reactive()
    assert torch.allclose(inactive, context.control)  # mask 0 keeps the source, grey stays grey
    assert torch.all(reactive == 0.5)  # nothing to regenerate from: the target half is grey


def test_first_frame_mode_shows_the_edited_frame_and_unmasks_it():
    source = torch.rand(5, 16, 16, 3)
    edited = torch.rand(16, 16, 3)
    context = layout.vace_context(source, first_frame=edited)
    _, right = layout.split_canvas(context.control)
    assert torch.equal(right[0], edited) and torch.all(right[1:] == 0.5)
    assert torch.all(context.mask[0] == 0) and torch.all(context.mask[1:, :, 16:] == 1)


def test_first_frame_of_wrong_size_is_named():
    with pytest.raises(ReCoInputError) as error:
        layout.vace_context(torch.rand(5, 16, 16, 3), first_frame=torch.rand(8, 8, 3))
    assert error.value.input_name == "first_frame"


def test_vace_mask_channels_match_diffusers_pipeline():
    from diffusers import WanVACEPipeline

    mask = (torch.rand(17, 32, 48) > 0.5).float()
    fake_pipe = types.SimpleNamespace(
        vae_scale_factor_temporal=4, vae_scale_factor_spatial=8,
        transformer=types.SimpleNamespace(config=types.SimpleNamespace(patch_size=(1, 2, 2))),
    )
    reference = WanVACEPipeline.prepare_masks(fake_pipe, mask[None, None], reference_images=[[]])
    ours = layout.vace_mask_channels(mask)
    assert ours.shape == (64, 5, 4, 6)
    assert torch.equal(ours, reference[0])


def test_vace_mask_channel_layout_is_pixel_unshuffle():
    mask = torch.zeros(1, 8, 8)
    mask[0, 3, 5] = 1  # row 3, column 5 of the first 8x8 block
    channels = layout.vace_mask_channels(mask)
    assert channels.shape == (64, 1, 1, 1)
    assert channels[3 * 8 + 5, 0, 0, 0] == 1 and channels.sum() == 1


def test_half_mask():
    mask = layout.half_mask((2, 3, 8), "target")
    assert torch.all(mask[..., :4] == 0) and torch.all(mask[..., 4:] == 1)
    assert torch.equal(layout.half_mask((2, 3, 8), "source"), 1 - mask)


def test_grey_reactive_video_is_encoded_once_per_size_and_reused():
    calls = []

    def encode(frames):
        calls.append(frames.clone())
        return frames[::4, ::8, ::8].mean(-1)[None, None] + len(calls)  # a distinct latent per call, on the latent grid

    memo = {}
    sources = [torch.rand(5, 8, 8, 3) for _ in range(2)]
    first, second = (layout.encode_vace_context(layout.vace_context(s), encode, memo) for s in sources)
    assert len(calls) == 3  # two inactive videos, one grey reactive video
    assert torch.equal(first.reactive, second.reactive)
    assert not torch.equal(first.inactive, second.inactive)
    layout.encode_vace_context(layout.vace_context(sources[0]), encode)
    assert len(calls) == 5  # without a memo both videos are encoded


def test_a_reactive_video_that_is_not_grey_is_never_reused():
    calls = []

    def encode(frames):
        calls.append(frames)
        return frames[::4, ::8, ::8].mean(-1)[None, None]

    context = layout.vace_context(torch.rand(5, 8, 8, 3))
    context.control[:, :, 8:] = 0.9  # something to regenerate on the target half
    memo = {}
    layout.encode_vace_context(context, encode, memo)
    layout.encode_vace_context(context, encode, memo)
    assert len(calls) == 4 and not memo
