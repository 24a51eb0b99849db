"""One bounded hypothesis test per pure function of layout.py, masks.py and checks.py.

Each feeds arbitrary input, in and out of the function's contract (empty and zero-size tensors, wrong numbers of
axes, odd sizes, lengths that are not 4n+1, negative, NaN and non-numbers), and asserts that the function either
returns a correct result or raises ValueError naming the argument at fault. Nothing is silently dropped, repeated
or misplaced.
"""

import math

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reco_core import checks, layout, masks

FUZZ = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
shapes = st.lists(st.integers(0, 6), min_size=0, max_size=5).map(tuple)
numbers = st.one_of(st.integers(-40, 200), st.floats(allow_nan=True, allow_infinity=True, width=32),
                    st.sampled_from(["16", None, True, 2.5]))


def attempt(function, *args, **kwargs):
    try:
        return function(*args, **kwargs), None
    except ValueError as error:
        return None, str(error)


def names_one_of(message, *names):
    assert any(name in message for name in names), f"{message!r} names none of {names}"


def rand(shape, seed=0):
    return torch.rand(shape, generator=torch.Generator().manual_seed(seed))


# ================================================================================================ layout.py


@FUZZ
@given(shapes, shapes, st.integers(-6, 6))
def test_join_halves(left_shape, right_shape, dim):
    left, right = rand(left_shape), rand(right_shape, 1)
    joined, error = attempt(layout.join_halves, left, right, dim)
    if error:
        names_one_of(error, "left", "right", "dim")
        assert left.shape != right.shape or not -left.ndim <= dim < left.ndim
        return
    assert torch.equal(joined.narrow(dim, 0, left.shape[dim]), left)
    assert torch.equal(joined.narrow(dim, left.shape[dim], right.shape[dim]), right)


@FUZZ
@given(shapes, st.integers(-6, 6))
def test_split_halves(shape, dim):
    canvas = rand(shape)
    halves, error = attempt(layout.split_halves, canvas, dim)
    if error:
        names_one_of(error, "canvas", "dim")
        return
    left, right = halves
    assert canvas.shape[dim] % 2 == 0 and left.shape == right.shape
    assert torch.equal(torch.cat([left, right], dim), canvas)


@FUZZ
@given(shapes, st.booleans(), st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.just(0.5)))
def test_build_canvas(shape, with_target, fill):
    source = rand(shape)
    target = rand(shape, 1) if with_target else None
    canvas, error = attempt(layout.build_canvas, source, target, fill)
    if error:
        names_one_of(error, "source", "target", "fill")
        assert len(shape) != 4 or (not with_target and (not math.isfinite(fill)
                                                         or abs(fill) > torch.finfo(torch.float32).max))
        return
    left, right = layout.split_canvas(canvas)
    assert torch.equal(left, source)
    assert torch.equal(right, target) if with_target else bool((right == fill).all())


@FUZZ
@given(shapes)
def test_split_canvas(shape):
    canvas = rand(shape)
    halves, error = attempt(layout.split_canvas, canvas)
    if error:
        names_one_of(error, "canvas")
        assert len(shape) != 4 or shape[2] % 2
        return
    assert torch.equal(layout.build_canvas(*halves), canvas)


@FUZZ
@given(shapes)
def test_split_latent(shape):
    latent = rand(shape)
    halves, error = attempt(layout.split_latent, latent)
    if error:
        names_one_of(error, "latent")
        assert len(shape) < 2 or shape[-1] % 2
        return
    assert torch.equal(layout.join_latent(*halves), latent)


@FUZZ
@given(shapes, shapes)
def test_join_latent(source_shape, target_shape):
    source, target = rand(source_shape), rand(target_shape, 1)
    joined, error = attempt(layout.join_latent, source, target)
    if error:
        names_one_of(error, "source", "target")
        assert source_shape != target_shape or len(source_shape) < 2
        return
    assert layout.split_latent(joined)[0].shape == source.shape


@FUZZ
@given(st.lists(st.integers(-2, 7), max_size=4).map(tuple), st.sampled_from(["source", "target", "left"]))
def test_half_mask(shape, half):
    mask, error = attempt(layout.half_mask, shape, half)
    if error:
        names_one_of(error, "shape", "half")
        return
    width = shape[-1]
    on = mask[..., : width // 2] if half == "source" else mask[..., width // 2:]
    assert mask.shape == shape and bool((on == 1).all()) and mask.sum() == on.numel()


@FUZZ
@given(shapes, shapes)
def test_vace_context_dataclass(control_shape, mask_shape):
    context, error = attempt(layout.VaceContext, rand(control_shape), rand(mask_shape))
    if error:
        names_one_of(error, "control", "mask")
        return
    inactive, reactive = context.inactive_reactive()
    assert inactive.shape == reactive.shape == context.control.shape
    assert torch.allclose(inactive + reactive - layout.GREY, context.control)


@FUZZ
@given(shapes, st.one_of(st.none(), shapes))
def test_vace_context(source_shape, first_shape):
    source = rand(source_shape)
    first = None if first_shape is None else rand(first_shape, 1)
    context, error = attempt(layout.vace_context, source, first)
    if error:
        names_one_of(error, "source", "first_frame")
        return
    assert len(source_shape) == 4 and 0 not in source_shape
    left, right = layout.split_canvas(context.control)
    assert torch.equal(left, source) and context.mask.shape == context.control.shape[:3]
    if first is not None:
        assert torch.equal(right[0], first.reshape(-1, *first.shape[-3:])[0])


@FUZZ
@given(st.integers(0, 10), st.integers(0, 3), st.integers(0, 3), st.sampled_from([None, 0, 1, 3, -1]))
def test_vace_mask_channels(frames, h_blocks, w_blocks, latent_frames):
    mask = rand((frames, 8 * h_blocks + (frames % 3 == 2), 8 * w_blocks))
    channels, error = attempt(layout.vace_mask_channels, mask, latent_frames)
    if error:
        names_one_of(error, "mask", "latent_frames")
        return
    expected = latent_frames if latent_frames is not None else (frames - 1) // 4 + 1
    assert latent_frames is not None or (frames - 1) % 4 == 0, "a length that is not 4n+1 needs latent_frames"
    assert channels.shape == (64, expected, mask.shape[1] // 8, mask.shape[2] // 8)
    assert channels.max() <= mask.max()  # the values are the mask's own, only moved


@FUZZ
@given(shapes, shapes, shapes)
def test_vace_latents_dataclass(inactive_shape, reactive_shape, mask_shape):
    latents, error = attempt(layout.VaceLatents, rand(inactive_shape), rand(reactive_shape), rand(mask_shape))
    if error:
        names_one_of(error, "inactive", "reactive", "mask")
        return
    control = latents.control()
    assert control.shape[1] == inactive_shape[1] + reactive_shape[1] + mask_shape[1]


@FUZZ
@given(st.integers(1, 9), st.sampled_from(["grid", "pixels", "flat"]))
def test_encode_vace_context(frames, encoder):
    frames = 4 * ((frames - 1) // 4) + 1
    context = layout.vace_context(rand((frames, 16, 8, 3)))
    encode = {"grid": lambda video: video[::4, ::8, ::8].mean(-1)[None, None].expand(1, 16, -1, -1, -1),
              "pixels": lambda video: video.mean(-1)[None, None],
              "flat": lambda video: video.flatten()}[encoder]
    latents, error = attempt(layout.encode_vace_context, context, encode)
    if error:
        names_one_of(error, "encode")
        assert encoder != "grid"
        return
    assert latents.control().shape == (1, 96, (frames - 1) // 4 + 1, 2, 2)


# ================================================================================================ masks.py


@FUZZ
@given(shapes, st.sampled_from([8, 1, 0, -8]))
def test_pixel_to_latent_mask(shape, stride):
    mask = (rand(shape) > 0.7).float()
    latent, error = attempt(masks.pixel_to_latent_mask, mask, stride)
    if error:
        names_one_of(error, "mask", "stride")
        return
    frames, height, width = shape
    assert (frames - 1) % 4 == 0 and height % stride == 0 and width % stride == 0
    assert latent.shape == ((frames - 1) // 4 + 1, height // stride, width // stride)
    assert latent.sum() > 0 if mask.sum() > 0 else latent.sum() == 0  # no region cell is lost


@FUZZ
@given(shapes, st.integers(-1, 14), st.sampled_from([8, 1, 0]))
def test_latent_to_pixel_mask(shape, num_frames, stride):
    latent = (rand(shape) > 0.5).float()
    pixels, error = attempt(masks.latent_to_pixel_mask, latent, num_frames, stride)
    if error:
        names_one_of(error, "latent_mask", "num_frames", "stride")
        return
    assert (num_frames + 2) // 4 + 1 <= shape[0], "no latent frame is repeated"
    assert pixels.shape == (num_frames, shape[1] * stride, shape[2] * stride, *shape[3:])
    assert torch.equal(pixels[0, ::stride, ::stride], latent[0])


@FUZZ
@given(shapes, st.sampled_from([(1, 2, 2), (1, 1, 1), (0, 2, 2), (2, 2)]))
def test_latent_to_token_grid(shape, patch):
    latent = (rand(shape) > 0.6).float()
    grid, error = attempt(masks.latent_to_token_grid, latent, patch)
    if error:
        names_one_of(error, "latent_mask", "patch")
        return
    assert grid.shape == tuple(size // step for size, step in zip(shape, patch))
    assert grid.sum() > 0 if latent.sum() > 0 else grid.sum() == 0  # the last row/column is never dropped


@FUZZ
@given(shapes)
def test_canvas_tokens(shape):
    latent = (rand(shape) > 0.6).float()
    tokens, error = attempt(masks.canvas_tokens, latent)
    if error:
        names_one_of(error, "latent_mask")
        return
    frames, height, width = shape
    assert tokens.num_tokens == frames * (height // 2) * width
    assert bool(tokens.target_region.any()) == bool(latent.any())
    assert not (tokens.source_region & tokens.target_half).any()


@FUZZ
@given(shapes)
def test_pixel_to_canvas_tokens(shape):
    mask = (rand(shape) > 0.9).float()
    tokens, error = attempt(masks.pixel_to_canvas_tokens, mask)
    if error:
        names_one_of(error, "pixel_mask")
        return
    frames, height, width = shape
    assert tokens.num_tokens == ((frames - 1) // 4 + 1) * (height // 16) * (width // 8)
    assert bool(tokens.target_region.any()) == bool(mask.any())


@FUZZ
@given(st.integers(-1, 4), st.integers(-1, 6), st.integers(-1, 8), st.integers(0, 40))
def test_token_mask_to_latent(frames, height, width, count):
    tokens = rand((count,)) > 0.5
    latent, error = attempt(masks.token_mask_to_latent, tokens, frames, height, width)
    if error:
        names_one_of(error, "tokens", "latent_frames", "latent_height", "canvas_latent_width")
        return
    assert latent.shape == (frames, height, width) and latent.sum() == 4 * tokens.sum()


# ================================================================================================ checks.py


@FUZZ
@given(numbers, numbers)
def test_nearest_multiples(value, multiple):
    result, error = attempt(checks.nearest_multiples, value, multiple)
    if error:
        names_one_of(error, "value", "multiple")
        return
    lower, upper = result
    assert lower % multiple == 0 and upper % multiple == 0 and lower <= upper and lower >= multiple
    assert value < multiple or lower <= value <= upper


@FUZZ
@given(numbers)
def test_is_valid_length(length):
    valid = checks.is_valid_length(length)  # never raises
    assert valid == (checks.is_whole_number(length) and length >= 1 and (int(length) - 1) % 4 == 0)


@FUZZ
@given(numbers)
def test_largest_valid_length(num_frames):
    length, error = attempt(checks.largest_valid_length, num_frames)
    if error:
        names_one_of(error, "num_frames")
        return
    assert checks.is_valid_length(length) and length <= num_frames < length + 4


@FUZZ
@given(numbers)
def test_nearest_valid_lengths(length):
    result, error = attempt(checks.nearest_valid_lengths, length)
    if error:
        names_one_of(error, "length")
        return
    lower, upper = result
    assert checks.is_valid_length(lower) and checks.is_valid_length(upper) and lower <= length <= upper


@FUZZ
@given(numbers)
def test_latent_frames(length):
    frames, error = attempt(checks.latent_frames, length)
    if error:
        names_one_of(error, "length")
        assert not checks.is_valid_length(length)
        return
    assert 4 * (frames - 1) + 1 == length


@FUZZ
@given(numbers, numbers)
def test_check_half_size(width, height):
    _, error = attempt(checks.check_half_size, width, height)
    valid = all(checks.is_whole_number(v) and 16 <= v <= checks.MAX_SIDE and v % 16 == 0 for v in (width, height))
    assert (error is None) == valid
    if error:
        names_one_of(error, "width", "height")


@FUZZ
@given(numbers)
def test_check_length(length):
    _, error = attempt(checks.check_length, length)
    assert (error is None) == (checks.is_valid_length(length) and length <= checks.MAX_LENGTH)
    if error:
        names_one_of(error, "length")


@FUZZ
@given(numbers, numbers)
def test_check_source_frames(num_frames, length):
    _, error = attempt(checks.check_source_frames, num_frames, length)
    if error:
        names_one_of(error, "source", "length")
        return
    assert checks.is_valid_length(length) and checks.is_whole_number(num_frames) and num_frames >= length


@FUZZ
@given(st.lists(st.integers(0, 5), max_size=4), st.lists(st.integers(0, 5), max_size=5))
def test_check_mask_matches(mask_shape, source_shape):
    _, error = attempt(checks.check_mask_matches, mask_shape, source_shape)
    if error:
        names_one_of(error, "mask", "source")
        return
    assert len(mask_shape) == 3 and mask_shape[1:] == source_shape[1:3] and mask_shape[0] in (1, source_shape[0])
    assert mask_shape[0] >= 1


@FUZZ
@given(numbers, numbers, numbers)
def test_check_range(value, low, high):
    _, error = attempt(checks.check_range, value, low, high, name="strength")
    if error:
        names_one_of(error, "strength", "low", "high")
        return
    assert checks.is_number(value) and low <= value <= high


@FUZZ
@given(numbers)
def test_check_finite(value):
    _, error = attempt(checks.check_finite, value, name="cfg")
    assert (error is None) == checks.is_number(value)
    if error:
        names_one_of(error, "cfg")


@FUZZ
@given(numbers, st.one_of(st.none(), st.integers(1, 50)))
def test_check_positive_int(value, maximum):
    _, error = attempt(checks.check_positive_int, value, name="steps", maximum=maximum)
    valid = checks.is_whole_number(value) and value >= 1 and (maximum is None or value <= maximum)
    assert (error is None) == valid
    if error:
        names_one_of(error, "steps")


@FUZZ
@given(numbers)
def test_is_whole_number_and_is_number(value):
    if checks.is_whole_number(value):
        assert checks.is_number(value) and int(value) == value
    if checks.is_number(value):
        assert math.isfinite(value) and not isinstance(value, (bool, str))


def test_every_public_function_has_a_fuzz_test():
    import inspect

    tested = {name.removeprefix("test_") for name in globals() if name.startswith("test_")}
    for module in (layout, masks, checks):
        for name, member in vars(module).items():
            if name.startswith("_") or getattr(member, "__module__", None) != module.__name__:
                continue
            if inspect.isfunction(member):
                assert name in tested or name in ("is_whole_number", "is_number"), f"{module.__name__}.{name}"
    assert "vace_context_dataclass" in tested and "vace_latents_dataclass" in tested


@pytest.mark.parametrize("function,args", [
    (masks.latent_to_token_grid, (torch.ones(2, 3, 4),)),
    (masks.pixel_to_latent_mask, (torch.ones(6, 8, 8),)),
    (masks.latent_to_pixel_mask, (torch.ones(1, 2, 2), 9)),
    (layout.vace_mask_channels, (torch.ones(6, 8, 8),)),
])
def test_inputs_that_would_lose_or_repeat_cells_are_refused(function, args):
    with pytest.raises(ValueError):
        function(*args)
