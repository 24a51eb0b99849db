import pytest
import torch

from reco_core import layout
from reco_core.engine.denoise import StepInfo
from reco_core.engine.pipeline import Prompt, ReCoPipeline
from reco_core.engine.schedule import renoise
from reco_core.errors import CancelledError, ReCoInputError



@pytest.fixture
def source():
    generator = torch.Generator().manual_seed(4)
    return torch.rand(11, 32, 32, 3, generator=generator)


SMALL = dict(width=32, height=32, steps=3, max_frames=9)


def test_seeded_edit_is_reproducible(pipe, prompt, source):
    first = pipe(source, prompt=prompt, seed=7, **SMALL)
    second = pipe(source, prompt=prompt, seed=7, **SMALL)
    other = pipe(source, prompt=prompt, seed=8, **SMALL)
    assert torch.equal(first.frames, second.frames)
    assert not torch.equal(first.frames, other.frames)


def test_a_longer_source_gives_its_first_model_length_frames(pipe, prompt, source):
    result = pipe(source, prompt=prompt, **SMALL)
    assert result.frames.shape == (9, 32, 32, 3)  # 11 source frames, the model samples 9
    assert result.source.shape == result.frames.shape
    assert result.canvas_latent.shape == (1, 16, 3, 4, 8)  # twice as wide as one half
    assert 0 <= result.frames.min() and result.frames.max() <= 1
    assert (result.plan.padded, result.plan.dropped) == (0, 2) and "the first 9" in result.plan.note()
    assert pipe(source, prompt=prompt, num_frames=5, **SMALL).frames.shape[0] == 5


def test_a_short_source_is_padded_with_its_last_frame_and_the_edit_trimmed_back(pipe, prompt, source):
    short = source[:3]
    result = pipe(short, prompt=prompt, seed=3, **SMALL)
    assert result.frames.shape == (3, 32, 32, 3) and result.source.shape == (3, 32, 32, 3)
    assert result.canvas_latent.shape[2] == 3  # sampled at the model's 9 frames
    assert result.plan.padded == 6 and "padded with 6 copies of its last frame" in result.plan.note()
    padded_by_hand = torch.cat([short, short[-1:].expand(6, -1, -1, -1)])
    full = pipe(padded_by_hand, prompt=prompt, seed=3, **SMALL)
    torch.testing.assert_close(result.frames, full.frames[:3])


def test_short_clip_shorten_samples_the_longest_4n_plus_1_the_source_holds(pipe, prompt, source):
    result = pipe(source[:7], prompt=prompt, short_clip="shorten", **SMALL)
    assert result.frames.shape[0] == 5 and result.canvas_latent.shape[2] == 2
    assert result.plan.padded == 0 and result.plan.dropped == 2


def test_sources_of_other_sizes_are_fitted(pipe, prompt):
    result = pipe(torch.rand(5, 40, 72, 3), prompt=prompt, **SMALL)
    assert result.frames.shape == (5, 32, 32, 3)


def test_output_size_source_gives_the_edit_back_at_the_sources_size_and_says_so(pipe, prompt, source):
    wide = torch.nn.functional.interpolate(source.permute(0, 3, 1, 2), size=(48, 64)).permute(0, 2, 3, 1)
    at_model = pipe(wide, prompt=prompt, seed=2, **SMALL)
    assert at_model.frames.shape == (9, 32, 32, 3)
    assert any("64x48" in note and "the edit is 32x32" in note for note in at_model.notes())
    restored = pipe(wide, prompt=prompt, seed=2, output_size="source", **SMALL)
    assert restored.frames.shape == (9, 48, 64, 3) and restored.source.shape == (9, 48, 64, 3)
    assert torch.equal(restored.source, wide[:9])
    assert any("scaled back to 64x48" in note for note in restored.notes())
    assert not pipe(source, prompt=prompt, output_size="source", **SMALL).size_plan.resized


def test_keep_source_holds_the_source_half_at_the_renoised_source(pipe, prompt, source):
    seen: list[StepInfo] = []
    result = pipe(source, prompt=prompt, keep_source=True, seed=5, callback=seen.append, **SMALL)
    _, source_latent = pipe.vace_conditioning(result.source, None, result.options)
    noise = torch.randn(result.canvas_latent.shape, generator=torch.Generator().manual_seed(5))
    noise_source, _ = layout.split_latent(noise)
    assert len(seen) == 3
    for info in seen:
        held, _ = layout.split_latent(info.model_input)
        torch.testing.assert_close(held, renoise(source_latent, noise_source, info.sigma))
    final_source, _ = layout.split_latent(result.canvas_latent)
    torch.testing.assert_close(final_source, source_latent)


def test_without_keep_source_the_source_half_is_denoised_freely(pipe, prompt, source):
    result = pipe(source, prompt=prompt, seed=5, **SMALL)
    _, source_latent = pipe.vace_conditioning(result.source, None, result.options)
    final_source, _ = layout.split_latent(result.canvas_latent)
    assert (final_source - source_latent).abs().max() > 1e-2


def test_callback_carries_progress_and_the_x0_estimate(pipe, prompt, source):
    seen: list[StepInfo] = []
    pipe(source, prompt=prompt, callback=seen.append, **SMALL)
    assert [info.step for info in seen] == [0, 1, 2] and all(info.total == 3 for info in seen)
    for info in seen:
        torch.testing.assert_close(info.x0, info.model_input - info.sigma * info.velocity)


def test_cancel_stops_within_a_step(pipe, prompt, source):
    calls = []
    original = pipe.velocity_fn

    def counting_velocity(*args):
        velocity = original(*args)
        return lambda latents, t, step: (calls.append(step), velocity(latents, t, step))[1]

    pipe.velocity_fn = counting_velocity
    try:
        seen = []
        with pytest.raises(CancelledError):
            pipe(source, prompt=prompt, callback=seen.append, cancel=lambda: len(seen) >= 2, width=32, height=32,
                 steps=10, max_frames=9)
    finally:
        del pipe.velocity_fn
    assert calls == [0, 1]


def test_first_frame_changes_the_result(pipe, prompt, source):
    plain = pipe(source, prompt=prompt, **SMALL)
    guided = pipe(source, prompt=prompt, first_frame=torch.ones(32, 32, 3), **SMALL)
    assert not torch.equal(plain.frames, guided.frames)


@pytest.mark.parametrize("overrides,name", [
    (dict(width=30), "width"), (dict(height=20), "height"), (dict(num_frames=8), "frames"),
    (dict(short_clip="loop"), "short_clip"), (dict(decode="half"), "decode"), (dict(steps=0), "steps"),
    (dict(sampler="ddim"), "sampler"), (dict(shift=0), "shift"),
])
def test_bad_inputs_are_named_before_any_model_work(pipe, prompt, source, overrides, name):
    options = {**SMALL, **overrides}
    with pytest.raises(ReCoInputError) as error:
        pipe(source, prompt=prompt, **options)
    assert error.value.input_name == name


def test_missing_instruction_and_wrong_text_width(pipe, source):
    with pytest.raises(ReCoInputError, match="instruction"):
        pipe(source, **SMALL)
    with pytest.raises(ReCoInputError, match="instruction"):
        pipe(source, "   ", **SMALL)
    with pytest.raises(ReCoInputError, match="width 8"):
        pipe(source, prompt=Prompt(torch.zeros(1, 3, 8)), **SMALL)


def test_euler_sampler_and_no_guidance_run(pipe, prompt, source):
    result = pipe(source, prompt=Prompt(prompt.positive), sampler="euler", cfg=1.0, **SMALL)
    assert result.frames.shape == (9, 32, 32, 3)


def test_vae_tiling_and_slicing_options_work(pipe, prompt, source):
    pipe.enable_vae_slicing()
    sliced = pipe(source, prompt=prompt, seed=2, **SMALL)
    pipe.vae.disable_slicing()
    plain = pipe(source, prompt=prompt, seed=2, **SMALL)
    torch.testing.assert_close(sliced.frames, plain.frames)
    pipe.enable_vae_tiling(tile_sample_min_height=16, tile_sample_min_width=16, tile_sample_stride_height=8,
                           tile_sample_stride_width=8)
    try:
        tiled = pipe(source, prompt=prompt, seed=2, **SMALL)
    finally:
        pipe.vae.disable_tiling()
    assert tiled.frames.shape == plain.frames.shape


def test_model_offload_gives_the_same_result_and_leaves_models_on_cpu(pipe, prompt, source):
    plain = pipe(source, prompt=prompt, seed=2, **SMALL)
    offloaded = ReCoPipeline(pipe.transformer, pipe.vae, device="cpu", offload=True)
    result = offloaded(source, prompt=prompt, seed=2, **SMALL)
    torch.testing.assert_close(result.frames, plain.frames)
    assert next(pipe.transformer.parameters()).device.type == "cpu"


def test_bf16_compute_runs(prompt, source):
    from reco_core.models.tiny import build_tiny_transformer, build_tiny_vae

    transformer, vae = build_tiny_transformer(seed=0), build_tiny_vae(seed=0)
    reference = ReCoPipeline(transformer, vae, device="cpu")(source, prompt=prompt, **SMALL)
    half = ReCoPipeline(transformer.to(torch.bfloat16), vae, device="cpu")(source, prompt=prompt, **SMALL)
    assert half.frames.dtype == torch.float32
    assert (half.frames - reference.frames).abs().mean() < 0.05
