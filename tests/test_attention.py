import pytest
import torch
import torch.nn.functional as F

from reco_core import masks
from reco_core.attention import attention_mass, blocked_attention, dense_mass_reference
from reco_core.engine.region_attention import RegionAttention, region_attention, select_layers


def _qkv(n=24, heads=2, dim=8, seed=0, grad=False):
    generator = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, heads, n, dim, generator=generator, dtype=torch.float64) for _ in range(3))
    if grad:
        for t in (q, k, v):
            t.requires_grad_(True)
    return q, k, v


def test_attention_mass_matches_naive_softmax_in_value_and_gradient():
    q, k, _ = _qkv(grad=True)
    selected = torch.tensor([1, 4, 9, 20])
    key_sets = torch.zeros(24, 2)
    key_sets[3:9, 0] = 1
    key_sets[:12, 1] = 1
    fast = attention_mass(q[:, :, selected], k, key_sets)
    naive = dense_mass_reference(q[:, :, selected], k, key_sets)
    torch.testing.assert_close(fast, naive)
    weights = torch.randn_like(fast)
    grads_fast = torch.autograd.grad((fast * weights).sum(), (q, k))
    grads_naive = torch.autograd.grad((naive * weights).sum(), (q, k))
    for a, b in zip(grads_fast, grads_naive):
        torch.testing.assert_close(a, b)


def test_blocked_attention_matches_a_dense_mask_and_puts_zero_mass_on_blocked_keys():
    q, k, v = _qkv(n=30)
    blocked_q = torch.zeros(30, dtype=torch.bool)
    blocked_q[[2, 5, 17, 29]] = True
    blocked_k = torch.zeros(30, dtype=torch.bool)
    blocked_k[10:20] = True
    dense_allowed = ~(blocked_q[:, None] & blocked_k[None, :])
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=dense_allowed)
    torch.testing.assert_close(blocked_attention(q, k, v, blocked_q, blocked_k), reference)
    # Mass through the same blocked path with indicator values: exactly zero on blocked keys.
    indicator = blocked_k.to(q.dtype)[None, None, :, None].expand(1, 2, 30, 8).contiguous()
    mass = blocked_attention(q, k, indicator, blocked_q, blocked_k)[..., 0]
    assert torch.all(mass[:, :, blocked_q] == 0)
    assert torch.all(mass[:, :, ~blocked_q] > 0)


def test_blocked_attention_without_blocked_queries_is_plain_sdpa():
    q, k, v = _qkv()
    none = torch.zeros(24, dtype=torch.bool)
    torch.testing.assert_close(blocked_attention(q, k, v, none, ~none), F.scaled_dot_product_attention(q, k, v))


def _tokens_for(latent_shape):
    frames, height, width = latent_shape[2], latent_shape[3], latent_shape[4] // 2
    region = torch.zeros(frames, height, width)
    region[:, :2, :2] = 1
    return masks.canvas_tokens(region)


def _forward(model, inputs):
    return model(**inputs, return_dict=False)[0]


def test_region_processor_is_identical_to_stock_when_nothing_is_asked(tiny_vace, tiny_vace_inputs):
    with torch.no_grad():
        stock = _forward(tiny_vace, tiny_vace_inputs)
        state = RegionAttention(tokens=[_tokens_for(tiny_vace_inputs["hidden_states"].shape)])
        with region_attention(tiny_vace, state):
            ours = _forward(tiny_vace, tiny_vace_inputs)
        assert torch.equal(ours, stock)
        state.block = "region"
        with region_attention(tiny_vace, state):
            blocked = _forward(tiny_vace, tiny_vace_inputs)
        assert not torch.equal(blocked, stock)
        assert torch.equal(_forward(tiny_vace, tiny_vace_inputs), stock), "processors are restored"


def test_blocked_region_matches_a_dense_mask_model(tiny_vace, tiny_vace_inputs):
    from reco_core.engine import region_attention as module

    tokens = _tokens_for(tiny_vace_inputs["hidden_states"].shape)
    state = RegionAttention(tokens=[tokens], block="source")
    with torch.no_grad(), region_attention(tiny_vace, state):
        ours = _forward(tiny_vace, tiny_vace_inputs)
    allowed = ~(tokens.target_region[:, None] & tokens.source_half[None, :])

    class DenseMaskProcessor(module.RegionAttnProcessor):
        def _attend(self, query, key, value):
            return F.scaled_dot_product_attention(query, key, value, attn_mask=allowed)

    layers = module.self_attention_layers(tiny_vace)
    previous = {name: layer.processor for name, layer in layers.items()}
    for name, layer in layers.items():
        layer.set_processor(DenseMaskProcessor(state, name))
    try:
        with torch.no_grad():
            reference = _forward(tiny_vace, tiny_vace_inputs)
    finally:
        for name, layer in layers.items():
            layer.set_processor(previous[name])
    torch.testing.assert_close(ours, reference, atol=1e-5, rtol=1e-5)


def test_collected_masses_have_gradients_and_survive_gradient_checkpointing(tiny_vace, tiny_vace_inputs):
    tokens = _tokens_for(tiny_vace_inputs["hidden_states"].shape)

    def loss_and_grads(checkpointing):
        tiny_vace.zero_grad()
        if checkpointing:
            tiny_vace.enable_gradient_checkpointing()
        else:
            tiny_vace.disable_gradient_checkpointing()
        tiny_vace.train()
        state = RegionAttention(tokens=[tokens], collect=True)
        with region_attention(tiny_vace, state):
            out = _forward(tiny_vace, tiny_vace_inputs)
            mass = torch.stack([m[0].mean() for m in state.masses.values()]).mean()
            (out.square().mean() + mass).backward()
        grads = {n: p.grad.clone() for n, p in tiny_vace.named_parameters() if p.grad is not None}
        return len(state.masses), grads

    layers, plain = loss_and_grads(False)
    assert layers == 4  # 2 DiT + 2 VACE self-attention layers
    _, checkpointed = loss_and_grads(True)
    assert plain.keys() == checkpointed.keys()
    for name in plain:
        torch.testing.assert_close(plain[name], checkpointed[name], atol=1e-6, rtol=1e-5)
    assert any(g.abs().max() > 0 for n, g in plain.items() if "attn1.to_q" in n)


def test_select_layers(tiny_vace):
    assert select_layers(tiny_vace, "all") == ["blocks.0", "blocks.1", "vace_blocks.0", "vace_blocks.1"]
    assert select_layers(tiny_vace, "vace") == ["vace_blocks.0", "vace_blocks.1"]
    assert select_layers(tiny_vace, "1,vace_blocks.0") == ["blocks.1", "vace_blocks.0"]
    with pytest.raises(ValueError, match="unknown"):
        select_layers(tiny_vace, "7")


@pytest.mark.parametrize("fused", [False, True])
def test_project_qkv_gives_the_attention_layers_own_projections(tiny_vace, fused):
    from reco_core.engine.region_attention import project_qkv

    block = tiny_vace.blocks[0]
    hidden = torch.randn(1, 6, block.attn1.to_q.in_features, generator=torch.Generator().manual_seed(0))
    text = torch.randn(1, 3, block.attn2.to_k.in_features, generator=torch.Generator().manual_seed(1))
    expected = [(attn.to_q(hidden), attn.to_k(context), attn.to_v(context))
                for attn, context in ((block.attn1, hidden), (block.attn2, text))]
    if fused:
        block.attn1.fuse_projections()
        block.attn2.fuse_projections()
        assert block.attn1.fused_projections and block.attn2.fused_projections
    with torch.no_grad():
        for (attn, context), wanted in zip(((block.attn1, None), (block.attn2, text)), expected):
            for got, want in zip(project_qkv(attn, hidden, context), wanted):
                torch.testing.assert_close(got, want.detach())
