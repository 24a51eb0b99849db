import pytest

from reco_core import checks
from reco_core.errors import ReCoInputError


@pytest.mark.parametrize("width,height", [(832, 480), (16, 16), (128, 64)])
def test_valid_half_sizes_pass(width, height):
    checks.check_half_size(width, height)


@pytest.mark.parametrize("value,expected", [(500, "496 or 512"), (8, "16"), (833, "832 or 848")])
def test_bad_width_names_input_and_nearest_values(value, expected):
    with pytest.raises(ReCoInputError) as error:
        checks.check_half_size(value, 480)
    assert error.value.input_name == "width"
    assert str(value) in str(error.value) and expected in str(error.value)


def test_bad_height_is_reported_as_height():
    with pytest.raises(ReCoInputError) as error:
        checks.check_half_size(832, 470)
    assert error.value.input_name == "height" and "464 or 480" in str(error.value)


@pytest.mark.parametrize("length", [1, 5, 17, 81])
def test_valid_lengths_pass(length):
    checks.check_length(length)


@pytest.mark.parametrize("length,expected", [(80, "77 or 81"), (82, "81 or 85"), (2, "1 or 5"), (0, "1")])
def test_bad_length_gives_nearest_4n_plus_1(length, expected):
    with pytest.raises(ReCoInputError) as error:
        checks.check_length(length)
    assert error.value.input_name == "length" and expected in str(error.value)


def test_nearest_valid_lengths_bracket_the_value():
    for n in range(1, 200):
        lower, upper = checks.nearest_valid_lengths(n)
        assert checks.is_valid_length(lower) and checks.is_valid_length(upper)
        assert lower <= n <= upper and upper - lower in (0, 4)


def test_short_source_suggests_the_longest_length_that_fits():
    with pytest.raises(ReCoInputError) as error:
        checks.check_source_frames(50, 81)
    message = str(error.value)
    assert error.value.input_name == "source" and "50 frames" in message and "49" in message


def test_source_with_enough_frames_passes():
    checks.check_source_frames(100, 81)


def test_mask_size_mismatch_names_both_sizes():
    with pytest.raises(ReCoInputError) as error:
        checks.check_mask_matches((81, 480, 640), (81, 480, 832, 3))
    assert error.value.input_name == "mask" and "640x480" in str(error.value) and "832x480" in str(error.value)


def test_mask_frame_mismatch_and_still_mask():
    checks.check_mask_matches((1, 480, 832), (81, 480, 832, 3))
    with pytest.raises(ReCoInputError, match="has 5 frames"):
        checks.check_mask_matches((5, 480, 832), (81, 480, 832, 3))


def test_latent_frames():
    assert [checks.latent_frames(n) for n in (1, 5, 17, 81)] == [1, 2, 5, 21]
