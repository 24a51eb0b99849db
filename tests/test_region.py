
import pytest
import torch

from reco_core import layout
from reco_core.errors import ReCoInputError
from reco_core.region import RegionOptions, auto_region, lock_weight, otsu_threshold, region_iou


def planted_canvas(seed=0, frames=4, height=12, width=12, gap=1.5, noise=0.1):
    """A canvas x0 whose halves differ by `gap` inside a planted blob and by small noise elsewhere."""
    generator = torch.Generator().manual_seed(seed)
    source = torch.randn(1, 16, frames, height, width, generator=generator)
    truth = torch.zeros(frames, height, width)
    for f in range(frames):
        truth[f, 3 + f // 2 : 8 + f // 2, 4:9] = 1  # a moving 5x5 square
    target = source + noise * torch.randn(source.shape, generator=generator) + gap * truth
    return layout.join_latent(source, target), truth


def test_auto_region_recovers_a_planted_region():
    for seed in range(5):
        canvas, truth = planted_canvas(seed)
        found = auto_region(canvas, RegionOptions(mode="auto", dilate=0))
        assert region_iou(found, truth) > 0.9, seed


def test_auto_region_removes_specks_and_flicker_and_dilates():
    canvas, truth = planted_canvas(noise=0.0)
    source, target = layout.split_latent(canvas)
    target = target.clone()
    target[:, :, 1, 0, 11] += 3.0  # an isolated speck
    target[:, :, 2, 3:8, 4:9] -= 1.5  # the square vanishes for one latent frame (flicker)
    noisy = layout.join_latent(source, target)
    found = auto_region(noisy, RegionOptions(mode="auto", dilate=0, min_cells=3, smooth=0))
    assert found[1, 0, 11] == 0, "speck removed"
    assert found[2].sum() > 0, "flicker filled by the temporal majority"
    grown = auto_region(noisy, RegionOptions(mode="auto", dilate=1, min_cells=3, smooth=0))
    assert grown.sum() > found.sum() and torch.all(grown >= found)


def test_manual_threshold_overrides_otsu():
    canvas, truth = planted_canvas()
    strict = auto_region(canvas, RegionOptions(mode="auto", dilate=0, threshold=0.95))
    loose = auto_region(canvas, RegionOptions(mode="auto", dilate=0, threshold=0.05, min_cells=1))
    assert strict.sum() < truth.sum() < loose.sum()


def test_otsu_splits_two_clusters():
    values = torch.cat([torch.full((100,), 0.1), torch.full((30,), 0.8)]) + 0.01 * torch.randn(130)
    assert 0.15 < otsu_threshold(values) < 0.75


def test_lock_weight_holds_then_fades_smoothly_to_zero():
    weights = [lock_weight(p / 100, 0.8, 0.6, 0.2) for p in range(101)]
    assert weights[0] == weights[40] == 0.8
    assert all(a >= b for a, b in zip(weights, weights[1:]))
    assert weights[61] == 0.0 and weights[50] == pytest.approx(0.4, abs=0.02)
    assert max(abs(a - b) for a, b in zip(weights, weights[1:])) < 0.08, "no jump at the release"
    assert lock_weight(1.0, 1.0, 1.0, 0.0) == 1.0


@pytest.mark.parametrize("options,name", [
    (RegionOptions(mode="everywhere"), "region"), (RegionOptions(attention="all"), "attention"),
    (RegionOptions(background=1.5), "background"), (RegionOptions(threshold=2.0), "threshold"),
])
def test_bad_region_options_are_named(options, name):
    with pytest.raises(ReCoInputError) as error:
        options.validate()
    assert error.value.input_name == name


# ------------------------------------------------------------------------------------------ in the pipeline


@pytest.fixture(scope="module")
def pipe():
    from reco_core.engine.pipeline import ReCoPipeline
    from reco_core.models.tiny import build_tiny_transformer, build_tiny_vae

    return ReCoPipeline(build_tiny_transformer(), build_tiny_vae(), device="cpu")


@pytest.fixture
def inputs():
    from reco_core.engine.pipeline import Prompt

    generator = torch.Generator().manual_seed(3)
    prompt = Prompt(torch.randn(1, 6, 32, generator=generator), torch.randn(1, 4, 32, generator=generator))
    return torch.rand(9, 32, 32, 3, generator=generator), prompt


SMALL = dict(width=32, height=32, steps=4, max_frames=9)  # the clips have 9 frames: no padding


def test_background_lock_at_one_holds_the_target_background_at_the_source(pipe, inputs):
    source, prompt = inputs
    mask = torch.zeros(1, 32, 32)
    mask[:, 8:24, 8:24] = 1
    options = RegionOptions(mode="mask", background=1.0, release=1.0, fade=0.0, attention="off")
    result = pipe(source, prompt=prompt, region=options, mask=mask, **SMALL)
    _, source_latent = pipe.vace_conditioning(result.source, None, result.options)
    _, target = layout.split_latent(result.canvas_latent)
    latent_region = torch.zeros(3, 4, 4)
    latent_region[:, 1:3, 1:3] = 1
    outside = (1 - latent_region).bool()
    torch.testing.assert_close(target[0][:, outside], source_latent[0][:, outside])
    assert (target[0][:, ~outside] - source_latent[0][:, ~outside]).abs().max() > 1e-2, "the region is free"
    assert result.region.shape == (9, 32, 32)


def test_region_off_is_plain_sampling(pipe, inputs):
    source, prompt = inputs
    plain = pipe(source, prompt=prompt, seed=4, **SMALL)
    off = pipe(source, prompt=prompt, seed=4, region=RegionOptions(mode="off"), **SMALL)
    assert torch.equal(plain.frames, off.frames) and off.region is None


def test_auto_region_is_found_during_sampling_and_changes_the_result(pipe, inputs):
    source, prompt = inputs
    seen = []
    plain = pipe(source, prompt=prompt, seed=4, **SMALL)
    auto = pipe(source, prompt=prompt, seed=4, region=RegionOptions(mode="auto", detect_at=0.5), callback=seen.append,
                **SMALL)
    assert auto.region is not None and auto.region.shape == (9, 32, 32)
    assert len(seen) == 4
    assert not torch.equal(plain.frames, auto.frames)


def test_mask_mode_needs_a_mask_of_the_source_size(pipe, inputs):
    source, prompt = inputs
    with pytest.raises(ReCoInputError, match="mask"):
        pipe(source, prompt=prompt, region=RegionOptions(mode="mask"), **SMALL)
    with pytest.raises(ReCoInputError) as error:
        pipe(source, prompt=prompt, region=RegionOptions(mode="mask"), mask=torch.ones(1, 16, 16), **SMALL)
    assert error.value.input_name == "mask"


def test_attention_layer_names_are_one_parser_for_the_engine_and_the_nodes():
    from reco_core.region import attention_layer_names

    assert attention_layer_names("all", 2, 1) == ["blocks.0", "blocks.1", "vace_blocks.0"]
    assert attention_layer_names("vace", 2, 1) == ["vace_blocks.0"]
    assert attention_layer_names(" 1, vace_blocks.0", 2, 1) == ["blocks.1", "vace_blocks.0"]
    with pytest.raises(ValueError, match=r"blocks\.7"):
        attention_layer_names("0,7", 2, 1)


def test_hide_source_blocks_what_a_dense_mask_blocks():
    import torch.nn.functional as F

    from reco_core.attention import hide_source
    from reco_core.masks import canvas_tokens

    region = torch.zeros(1, 4, 4)
    region[0, :2, :2] = 1  # one of the four tokens of each half
    tokens = canvas_tokens(region)
    assert int(tokens.source_region.sum()) == 1 and int(tokens.source_half.sum()) == 4
    q, k, v = (torch.randn(1, 2, tokens.target_region.numel(), 8, generator=torch.Generator().manual_seed(i))
               for i in range(3))
    for hide, hidden in (("region", tokens.source_region), ("source", tokens.source_half)):
        allowed = ~(tokens.target_region[:, None] & hidden[None, :])
        torch.testing.assert_close(hide_source(q, k, v, tokens, hide), F.scaled_dot_product_attention(q, k, v, allowed))


def test_the_cli_and_the_nodes_default_to_the_region_options_defaults():
    """One set of region defaults: `reco edit` flags and the ReCo Sampler / Long Clip widgets start where
    RegionOptions does (attention off since the miniature's region study, docs/region.md)."""
    import ast
    from pathlib import Path

    from reco_core.cli import build_parser

    defaults = RegionOptions()
    args = build_parser().parse_args(["edit", "--source", "in.mp4", "--instruction", "x", "--out", "o.mp4"])
    for name in ("attention", "background", "release", "detect_at", "threshold"):
        assert getattr(args, name) == getattr(defaults, name), name
    root = Path(__file__).resolve().parents[1]
    for node_file in ("nodes/sampler.py", "nodes/long_clip.py"):
        widgets = {}
        for call in ast.walk(ast.parse((root / node_file).read_text())):
            if isinstance(call, ast.Call) and call.args and isinstance(call.args[0], ast.Constant):
                default = next((k.value for k in call.keywords if k.arg == "default"), None)
                if isinstance(default, ast.Constant):
                    widgets[call.args[0].value] = default.value
        assert widgets["attention"] == defaults.attention, node_file
        assert widgets["background"] == defaults.background, node_file
