import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reco_core.errors import ReCoInputError
from reco_core.frames import (
    fit_length,
    from_uint8,
    grid,
    resample_fps,
    resample_indices,
    resize_frames,
    resize_masks,
    side_by_side,
    to_uint8,
)

sizes = st.integers(min_value=1, max_value=40)


def _numbered_frames(count: int, height: int = 4, width: int = 6) -> torch.Tensor:
    """Frame t is filled with the value t / 100, so indices can be read back from pixels."""
    return (torch.arange(count, dtype=torch.float32) / 100).view(count, 1, 1, 1).expand(count, height, width, 3).clone()


# ---------------------------------------------------------------------------------------------------------------------
# resize
# ---------------------------------------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(src_w=sizes, src_h=sizes, dst_w=sizes, dst_h=sizes, mode=st.sampled_from(["crop", "stretch", "pad"]))
def test_resize_frames_gives_exact_size_in_range(src_w, src_h, dst_w, dst_h, mode):
    frames = torch.rand(2, src_h, src_w, 3)
    out = resize_frames(frames, dst_w, dst_h, mode)
    assert out.shape == (2, dst_h, dst_w, 3)
    assert out.dtype == frames.dtype
    assert 0.0 <= out.min() and out.max() <= 1.0


@settings(max_examples=30, deadline=None)
@given(src_w=sizes, src_h=sizes, dst_w=sizes, dst_h=sizes, mode=st.sampled_from(["crop", "stretch", "pad"]))
def test_resize_masks_gives_exact_size_in_range(src_w, src_h, dst_w, dst_h, mode):
    masks = (torch.rand(3, src_h, src_w) > 0.5).float()
    out = resize_masks(masks, dst_w, dst_h, mode)
    assert out.shape == (3, dst_h, dst_w)
    assert 0.0 <= out.min() and out.max() <= 1.0


@pytest.mark.parametrize("mode", ["crop", "stretch", "pad", "nearest"])
def test_resize_to_same_size_is_identity(mode):
    frames = torch.rand(2, 8, 12, 3)
    assert torch.equal(resize_frames(frames, 12, 8, mode), frames)


def test_nearest_is_the_authors_resize_exactly():
    """inference_reco_single.py: F.interpolate(video.permute(0, 3, 1, 2), (480, 832)) on 0..255 values."""
    pixels = torch.randint(0, 256, (3, 27, 45, 3)).float()
    theirs = torch.nn.functional.interpolate(pixels.permute(0, 3, 1, 2), (16, 32)).permute(0, 2, 3, 1) / 255
    assert torch.equal(resize_frames(pixels / 255, 32, 16, "nearest"), theirs)


def test_crop_without_scaling_is_the_centre_slice():
    frames = torch.rand(2, 10, 20, 3)
    assert torch.equal(resize_frames(frames, 10, 10, "crop"), frames[:, :, 5:15])
    tall = torch.rand(1, 30, 10, 3)
    assert torch.equal(resize_frames(tall, 10, 10, "crop"), tall[:, 10:20])


def test_crop_keeps_the_centre_when_scaling():
    frames = torch.zeros(1, 64, 128, 3)
    frames[:, 24:40, 56:72] = 1.0  # a white square in the middle of a wide frame
    out = resize_frames(frames, 32, 32, "crop")
    assert torch.allclose(out[0, 14:18, 14:18], torch.ones(4, 4, 3))
    assert out[0, :2].max() == 0 and out[0, :, :2].max() == 0


def test_pad_letterboxes_with_fill():
    frames = torch.rand(1, 10, 20, 3)
    out = resize_frames(frames, 20, 20, "pad", fill=0.25)
    assert torch.equal(out[:, 5:15], frames)
    assert torch.all(out[:, :5] == 0.25) and torch.all(out[:, 15:] == 0.25)
    per_channel = resize_frames(frames, 20, 20, "pad", fill=(1.0, 0.0, 0.5))
    assert torch.equal(per_channel[0, 0, 0], torch.tensor([1.0, 0.0, 0.5]))


def test_stretch_keeps_flat_colour_and_masks_get_soft_edges():
    flat = torch.full((1, 9, 13, 3), 0.3)
    assert torch.allclose(resize_frames(flat, 5, 7, "stretch"), torch.full((1, 7, 5, 3), 0.3))
    mask = torch.zeros(1, 32, 32)
    mask[:, :, 15:] = 1.0
    small = resize_masks(mask, 8, 8, "stretch")
    assert ((small > 0) & (small < 1)).any()
    assert torch.all(resize_masks(mask[:, :16], 32, 32, "pad")[:, :8] == 0)


def test_resize_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        resize_frames(torch.rand(1, 4, 4, 3), 2, 2, "zoom")
    with pytest.raises(ValueError, match="positive"):
        resize_frames(torch.rand(1, 4, 4, 3), 0, 2)


# ---------------------------------------------------------------------------------------------------------------------
# length and frame rate
# ---------------------------------------------------------------------------------------------------------------------


def test_fit_length_trims_and_keeps_exact():
    frames = _numbered_frames(10)
    assert torch.equal(fit_length(frames, 5), frames[:5])
    assert torch.equal(fit_length(frames, 10), frames)


def test_fit_length_repeats_the_last_frame():
    frames = _numbered_frames(3)
    out = fit_length(frames, 7)
    assert out.shape[0] == 7
    assert torch.equal(out[:3], frames)
    assert all(torch.equal(out[i], frames[2]) for i in range(3, 7))
    masks = torch.rand(2, 4, 4)
    assert fit_length(masks, 5).shape == (5, 4, 4)


def test_fit_length_error_names_count_and_valid_length():
    with pytest.raises(ReCoInputError) as raised:
        fit_length(_numbered_frames(50), 81, pad="error")
    message = str(raised.value)
    assert raised.value.input_name == "source"
    assert "50 frames" in message and "81" in message and "49" in message


def test_largest_valid_length():
    from reco_core.checks import largest_valid_length

    assert [largest_valid_length(n) for n in (1, 4, 5, 8, 9, 80, 81, 84)] == [1, 1, 5, 5, 9, 77, 81, 81]
    with pytest.raises(ValueError, match="num_frames"):
        largest_valid_length(0)  # no clip has a length: one definition, which refuses it (frames.py said 0)


def test_resample_indices_30_to_16_fps():
    assert resample_indices(30, 30, 16) == [0, 2, 4, 6, 7, 9, 11, 13, 15, 17, 19, 21, 22, 24, 26, 28]


def test_resample_indices_up_equal_and_unknown():
    assert resample_indices(4, 8, 16) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert resample_indices(5, 16, 16) == [0, 1, 2, 3, 4]
    assert resample_indices(5, None, 16) == [0, 1, 2, 3, 4]
    assert resample_indices(5, 0, 16) == [0, 1, 2, 3, 4]


def test_resample_fps_picks_frames_by_time():
    frames = _numbered_frames(30)
    out = resample_fps(frames, 30, 16)
    picked = (out[:, 0, 0, 0] * 100).round().long().tolist()
    assert picked == resample_indices(30, 30, 16)
    assert resample_fps(frames, 16, 16) is frames
    assert resample_fps(frames, None, 16) is frames


# ---------------------------------------------------------------------------------------------------------------------
# conversions and comparison images
# ---------------------------------------------------------------------------------------------------------------------


def test_uint8_round_trip_is_exact_and_clamps():
    array = torch.randint(0, 256, (2, 5, 7, 3), dtype=torch.uint8).numpy()
    assert (to_uint8(from_uint8(array)) == array).all()
    assert to_uint8(torch.tensor([-0.5, 0.5, 2.0])).tolist() == [0, 128, 255]
    with pytest.raises(TypeError):
        from_uint8(array.astype("float32"))


def test_side_by_side_shapes():
    left, right = torch.rand(3, 10, 20, 3), torch.rand(3, 10, 8, 3)
    assert side_by_side(left, right).shape == (3, 10, 28, 3)
    assert side_by_side(left[0], right[0]).shape == (10, 28, 3)
    taller = torch.rand(3, 20, 16, 3)
    out = side_by_side(left, taller)
    assert out.shape == (3, 10, 28, 3)
    assert torch.equal(out[:, :, :20], left)


def test_grid_shape_and_separators():
    a, b, c = torch.zeros(10, 20, 3), torch.zeros(10, 30, 3), torch.zeros(20, 20, 3)
    sheet = grid([[a, b], [c]], separator=2)
    assert sheet.shape == (10 + 2 + 20, 20 + 2 + 30, 3)
    assert torch.all(sheet[:10, 20:22] == 1.0)  # between a and b
    assert torch.all(sheet[10:12] == 1.0)  # between the rows
    assert torch.all(sheet[12:, :20] == 0.0) and torch.all(sheet[12:, 20:] == 1.0)  # c, then filler
    resized = grid([[a, torch.zeros(20, 40, 3)]], separator=0)
    assert resized.shape == (10, 40, 3)


def test_a_region_mask_is_fitted_as_its_source_is():
    from reco_core.frames import fit_clip, fit_region_mask

    source = torch.rand(3, 8, 16, 3)
    mask = torch.zeros(5, 8, 16)
    mask[1, :, :8] = 1  # frame 1 marks the left half; frames 3 and 4 lie beyond the 3 frames used
    mask[3:] = 1
    fitted = fit_region_mask(mask, 5, 8, 4, "stretch", used=3)
    assert fitted.shape == (5, 4, 8) and set(fitted.unique().tolist()) <= {0.0, 1.0}
    assert fitted[1, :, :4].all() and not fitted[1, :, 4:].any()
    assert not fitted[3:].any(), "frames past the used ones are the last used frame's, as the source's are"
    assert fit_clip(source, 3, 5, 8, 4, "stretch").shape == (5, 4, 8, 3)
    still = fit_region_mask(mask[1:2], 5, 8, 4, "stretch")
    assert torch.equal(still, fitted[1:2].expand(5, -1, -1))
