import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reco_core import masks


def _reference_latent_mask(mask):
    """Brute force: a latent cell is on if any pixel it covers is on."""
    frames, height, width = mask.shape
    latent = torch.zeros((frames - 1) // 4 + 1, height // 8, width // 8)
    for t in range(frames):
        f = 0 if t == 0 else (t - 1) // 4 + 1
        for y in range(height):
            for x in range(width):
                if mask[t, y, x] > 0.5:
                    latent[f, y // 8, x // 8] = 1
    return latent


def _reference_canvas_tokens(latent_mask):
    """Brute force over token indices: token (f, r, c) of the canvas [F, h/2, w] in row-major order."""
    frames, height, half_width = latent_mask.shape
    rows, half_cols = height // 2, half_width // 2
    cols = 2 * half_cols
    source = torch.zeros(frames * rows * cols, dtype=torch.bool)
    target = torch.zeros_like(source)
    for f in range(frames):
        for r in range(rows):
            for c in range(cols):
                index = (f * rows + r) * cols + c
                hc = c % half_cols
                on = bool(latent_mask[f, 2 * r:2 * r + 2, 2 * hc:2 * hc + 2].any())
                if c < half_cols:
                    source[index] = on
                else:
                    target[index] = on
    return source, target


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2**31 - 1))
def test_pixel_to_latent_matches_brute_force(n, h_blocks, w_blocks, seed):
    generator = torch.Generator().manual_seed(seed)
    mask = (torch.rand(4 * n + 1, 8 * h_blocks, 8 * w_blocks, generator=generator) > 0.97).float()
    assert torch.equal(masks.pixel_to_latent_mask(mask), _reference_latent_mask(mask))


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 4), st.integers(0, 2**31 - 1))
def test_canvas_tokens_match_brute_force(frames, rows, half_cols, seed):
    generator = torch.Generator().manual_seed(seed)
    latent_mask = (torch.rand(frames, 2 * rows, 2 * half_cols, generator=generator) > 0.8).float()
    tokens = masks.canvas_tokens(latent_mask)
    source, target = _reference_canvas_tokens(latent_mask)
    assert torch.equal(tokens.source_region, source)
    assert torch.equal(tokens.target_region, target)
    assert tokens.num_tokens == frames * rows * 2 * half_cols


def test_halves_are_interleaved_row_by_row():
    tokens = masks.canvas_tokens(torch.zeros(1, 4, 4))  # 2 token rows of [2 source | 2 target]
    assert tokens.source_half.tolist() == [True, True, False, False, True, True, False, False]
    assert torch.equal(tokens.target_half, ~tokens.source_half)


def test_canvas_tokens_agree_with_the_transformer_token_order():
    """Patchify a canvas latent the way diffusers' Wan does and check where a marked cell lands."""
    half = torch.zeros(2, 4, 6)
    half[1, 2, 5] = 1
    tokens = masks.canvas_tokens(half)
    canvas = torch.cat([half, half], dim=-1)[None, None]  # [1, 1, F, h, 2w]
    patched = torch.nn.functional.max_pool3d(canvas, (1, 2, 2))
    order = patched.flatten(2).squeeze()  # diffusers: conv patch embed then flatten(2)
    on = order > 0
    assert torch.equal(on, tokens.source_region | tokens.target_region)


def test_latent_to_pixel_covers_what_it_came_from():
    mask = torch.zeros(9, 16, 16)
    mask[3, 5, 9] = 1
    latent = masks.pixel_to_latent_mask(mask)
    back = masks.latent_to_pixel_mask(latent, 9)
    assert back.shape == mask.shape
    assert torch.all(back >= mask)
    assert back[1:5, :8, 8:].all() and back.sum() == 4 * 64


def test_token_mask_to_latent_inverts_canvas_tokens():
    half = (torch.rand(3, 4, 4) > 0.5).float()
    grid = masks.latent_to_token_grid(half)
    tokens = masks.canvas_tokens(half)
    latent = masks.token_mask_to_latent(tokens.target_region, 3, 4, 8)
    assert torch.equal(latent[..., 4:], grid.repeat_interleave(2, 1).repeat_interleave(2, 2))
    assert latent[..., :4].sum() == 0
