"""The ReCo training losses. Each function states its formula.

Notation: the canvas latent is x0 = [x0_src | x0_tgt] (width-concatenated), noise eps, sigma the
flow-matching noise level, x_t = (1 - sigma) x0 + sigma eps, and the model predicts the velocity
v_pred; the flow target is v = eps - x0. M is the latent edit mask of one half, [B, 1, F, h, w].
"""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
import torch.nn.functional as F

from .layout import join_latent, split_latent

LATENT_FORMS = ("hinge", "difference")


def _expand_sigma(sigma: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    sigma = torch.as_tensor(sigma, dtype=like.dtype, device=like.device)
    return sigma.reshape(-1, *([1] * (like.ndim - 1))) if sigma.ndim else sigma


def flow_matching_loss(v_pred: torch.Tensor, noise: torch.Tensor, x0: torch.Tensor) -> torch.Tensor:
    """L_fm = mean((v_pred - (eps - x0))^2) over the whole canvas (both halves)."""
    return F.mse_loss(v_pred.float(), (noise - x0).float())


def masked_flow_matching_loss(v_pred: torch.Tensor, noise: torch.Tensor, x0: torch.Tensor,
                              half_mask: torch.Tensor) -> torch.Tensor:
    """L_M = mean((v_pred * M2 - (eps - x0) * M2)^2), M2 = [M | M] tiled on both halves.

    As in the released config the mean runs over all elements, so the term weighs the edit region
    a second time rather than normalising by its size.
    """
    tiled = join_latent(half_mask, half_mask).to(v_pred.dtype)
    return F.mse_loss((v_pred * tiled).float(), ((noise - x0) * tiled).float())


def one_step_x0(x_t: torch.Tensor, v_pred: torch.Tensor, sigma: torch.Tensor | float) -> torch.Tensor:
    """x0_hat = x_t - sigma * v_pred (the one-step backward estimate)."""
    return x_t - _expand_sigma(sigma, x_t) * v_pred


def source_target_discrepancy(x0_hat: torch.Tensor) -> torch.Tensor:
    """A = mean over channels of |x0_hat_tgt - x0_hat_src|, shape [B, 1, F, h, w]."""
    source, target = split_latent(x0_hat)
    return (target.float() - source.float()).abs().mean(dim=1, keepdim=True)


def _masked_means(values: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per sample: (mean of values inside mask, mean outside mask); empty sets count as 0."""
    mask = mask.to(values.dtype).expand_as(values)
    dims = tuple(range(1, values.ndim))
    inside = (values * mask).sum(dims) / mask.sum(dims).clamp_min(1e-6)
    outside = (values * (1 - mask)).sum(dims) / (1 - mask).sum(dims).clamp_min(1e-6)
    return inside, outside


def latent_region_loss(x0_hat: torch.Tensor, half_mask: torch.Tensor, form: str = "hinge",
                       margin: float = 1.0) -> torch.Tensor:
    """L_latent: source and target estimates should differ inside M and agree outside it.

    With A = source_target_discrepancy(x0_hat), per sample:
    - "difference" (the released code): mean(A outside M) - mean(A inside M). Unbounded below: the
      model can keep lowering it by pushing the edit region's latents apart without limit.
    - "hinge" (default): mean(A outside M) + relu(margin - mean(A inside M)). Bounded below by 0: the
      edit region only has to differ by `margin`, after which the term asks nothing more.
    Averaged over the batch.
    """
    if form not in LATENT_FORMS:
        raise ValueError(f"form must be one of {LATENT_FORMS}, got {form!r}")
    inside, outside = _masked_means(source_target_discrepancy(x0_hat), half_mask)
    if form == "difference":
        return (outside - inside).mean()
    return (outside + F.relu(margin - inside)).mean()


def attention_region_loss(masses: Mapping[str, Sequence[torch.Tensor]], edit_weight: float = 1.0,
                          global_weight: float = 1.0) -> torch.Tensor:
    """L_attn = w_edit * L_edit + w_global * L_global, averaged over layers and samples.

    Each entry of `masses` holds, per sample, [H, Nq, 2]: the softmax mass that every target-half
    query inside M puts on the source-half keys inside M (L_edit) and on the whole source half
    (L_global), from `RegionAttention(collect=True)`. Each term is the mean over heads and queries.
    """
    terms = []
    for per_sample in masses.values():
        for mass in per_sample:
            if mass.shape[-2] == 0:  # no target-region query in this sample
                continue
            terms.append(edit_weight * mass[..., 0].mean() + global_weight * mass[..., 1].mean())
    if not terms:
        raise ValueError("no attention mass was collected: is the edit mask empty or are no layers installed?")
    return torch.stack(terms).mean()


def difference_mask(source: torch.Tensor, target: torch.Tensor, threshold: float = 0.08, dilate: int = 2,
                    window: int = 1) -> torch.Tensor:
    """Derive an edit mask [T, H, W] from pixel frames [T, H, W, C] (0..1) when a pair has no mask video.

    1. |target - source| averaged over channels, above `threshold`;
    2. dilated by `dilate` pixels (max pool) so edges and thin parts are covered;
    3. united over a window of `window` frames on each side so the mask follows fast motion.
    """
    changed = ((target.float() - source.float()).abs().mean(dim=-1) > threshold).float()
    if dilate > 0:
        size = 2 * dilate + 1
        changed = F.max_pool2d(changed.unsqueeze(1), size, stride=1, padding=dilate).squeeze(1)
    if window > 0:
        size = 2 * window + 1
        changed = F.max_pool1d(changed.permute(1, 2, 0).reshape(-1, 1, changed.shape[0]), size, stride=1,
                               padding=window).reshape(changed.shape[1], changed.shape[2], -1).permute(2, 0, 1)
    return changed
