import pytest
import torch

from reco_core import losses
from reco_core.layout import join_latent


def _pair(inside_gap, outside_gap, seed=0):
    """A canvas x0 whose halves differ by `inside_gap` inside the mask and `outside_gap` outside."""
    generator = torch.Generator().manual_seed(seed)
    source = torch.randn(1, 16, 3, 4, 4, generator=generator)
    mask = torch.zeros(1, 1, 3, 4, 4)
    mask[..., 1:3, 1:3] = 1
    target = source + inside_gap * mask + outside_gap * (1 - mask)
    return join_latent(source, target), mask


@pytest.mark.parametrize("form", losses.LATENT_FORMS)
def test_latent_loss_falls_when_the_edit_region_differs_more_and_the_background_less(form):
    base = losses.latent_region_loss(*_pair(0.5, 0.5), form=form)
    better = losses.latent_region_loss(*_pair(0.8, 0.2), form=form)
    worse = losses.latent_region_loss(*_pair(0.2, 0.8), form=form)
    assert better < base < worse


def test_plain_difference_is_unbounded_and_hinge_is_bounded():
    assert losses.latent_region_loss(*_pair(100.0, 0.0), form="difference") == pytest.approx(-100.0)
    assert losses.latent_region_loss(*_pair(100.0, 0.0), form="hinge") == pytest.approx(0.0)
    assert losses.latent_region_loss(*_pair(0.0, 0.0), form="hinge", margin=1.0) == pytest.approx(1.0)


def test_discrepancy_is_the_channel_mean_of_absolute_differences():
    x0, _ = _pair(0.25, 0.75)
    a = losses.source_target_discrepancy(x0)
    assert a.shape == (1, 1, 3, 4, 4)
    assert torch.allclose(a[..., 1, 1], torch.tensor(0.25)) and torch.allclose(a[..., 0, 0], torch.tensor(0.75))


def test_one_step_estimate_recovers_x0_from_the_true_velocity():
    generator = torch.Generator().manual_seed(1)
    x0, noise = torch.randn(2, 16, 2, 4, 8, generator=generator), torch.randn(2, 16, 2, 4, 8, generator=generator)
    sigma = torch.tensor([0.3, 0.9])
    x_t = (1 - sigma.view(-1, 1, 1, 1, 1)) * x0 + sigma.view(-1, 1, 1, 1, 1) * noise
    torch.testing.assert_close(losses.one_step_x0(x_t, noise - x0, sigma), x0)
    assert losses.flow_matching_loss(noise - x0, noise, x0) == 0


def test_masked_flow_loss_only_sees_the_mask_on_both_halves():
    generator = torch.Generator().manual_seed(2)
    x0, noise = torch.randn(1, 16, 2, 4, 8, generator=generator), torch.randn(1, 16, 2, 4, 8, generator=generator)
    mask = torch.zeros(1, 1, 2, 4, 4)
    mask[..., 0, 0] = 1
    v = noise - x0
    wrong_outside = v.clone()
    wrong_outside[..., 1:, :] += 5
    assert losses.masked_flow_matching_loss(wrong_outside, noise, x0, mask) == 0
    wrong_inside = v.clone()
    wrong_inside[..., 0, 4] += 1  # column 0 of the target half
    assert losses.masked_flow_matching_loss(wrong_inside, noise, x0, mask) > 0


def test_attention_loss_weights_and_averages():
    masses = {"a": [torch.tensor([[[0.2, 0.6]]])], "b": [torch.tensor([[[0.4, 0.8]]]), torch.zeros(1, 0, 2)]}
    assert losses.attention_region_loss(masses) == pytest.approx(((0.2 + 0.6) + (0.4 + 0.8)) / 2)
    assert losses.attention_region_loss(masses, global_weight=0) == pytest.approx(0.3)
    with pytest.raises(ValueError, match="no attention mass"):
        losses.attention_region_loss({"a": [torch.zeros(1, 0, 2)]})


def test_difference_mask_thresholds_dilates_and_unites_over_time():
    source = torch.zeros(5, 16, 16, 3)
    target = source.clone()
    target[2, 8, 8] = 1.0
    mask = losses.difference_mask(source, target, threshold=0.1, dilate=1, window=1)
    assert mask.shape == (5, 16, 16)
    assert mask[2, 7:10, 7:10].all() and mask[2].sum() == 9
    assert mask[1].sum() == 9 and mask[3].sum() == 9 and mask[0].sum() == 0 and mask[4].sum() == 0
    assert losses.difference_mask(source, source).sum() == 0
