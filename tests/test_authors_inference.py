"""The engine against the authors' inference (inference_reco_single.py and their DiffSynth pipeline): the sigma grid
and Euler update, the defaults, whole-canvas decoding, the bf16 timestep, and ReCo_ref's reference frame."""

import pytest
import torch

from reco_core import layout, reference as ref
from reco_core.engine.denoise import StepInfo, denoise
from reco_core.engine.options import EditOptions, RECO_NEGATIVE_PROMPT
from reco_core.engine.pipeline import Prompt, ReCoPipeline, model_timestep
from reco_core.engine.schedule import make_scheduler
from reco_core.errors import ReCoInputError

# Copied from the authors' inference_reco_single.py (commit 912642e), word for word.
AUTHORS_NEGATIVE = ("Bright tones, overexposed, static, blurred details, subtitles, images, static, overall gray, "
                    "worst quality, low quality, JPEG compression residue, ugly, incomplete, extra fingers, poorly "
                    "drawn hands, poorly drawn faces, deformed, disfigured, misshapen limbs, fused fingers, still "
                    "picture, messy background, three legs, many people in the background, walking backwards")


def authors_sigmas(steps: int, shift: float) -> torch.Tensor:
    """DiffSynth's FlowMatchScheduler(shift, sigma_min=0, extra_one_step=True).set_timesteps(steps), then the
    final step to 0 that its step() takes."""
    sigmas = torch.linspace(1.0, 0.0, steps + 1)[:-1]
    sigmas = shift * sigmas / (1 + (shift - 1) * sigmas)
    return torch.cat([sigmas, torch.zeros(1)])


def test_defaults_are_the_authors_settings():
    options = EditOptions()
    assert (options.sampler, options.steps, options.shift, options.cfg) == ("euler", 50, 5.0, 5.0)
    assert options.negative_prompt == RECO_NEGATIVE_PROMPT == AUTHORS_NEGATIVE
    assert "style" not in options.negative_prompt and "paintings" not in options.negative_prompt
    assert (options.decode, options.short_clip, options.length, options.width, options.height) == \
        ("canvas", "pad", 81, 832, 480)


def test_euler_50_steps_shift_5_is_the_authors_sigma_grid():
    scheduler = make_scheduler("euler", 50, 5.0)
    expected = authors_sigmas(50, 5.0)
    assert scheduler.sigmas.shape == expected.shape == (51,)
    torch.testing.assert_close(scheduler.sigmas.float(), expected, atol=1e-6, rtol=0)
    torch.testing.assert_close(scheduler.timesteps.float(), expected[:-1] * 1000, atol=2e-4, rtol=0)


def test_euler_update_is_the_authors_step():
    """x_next = x + v * (sigma_next - sigma), with the authors' sigmas, for a velocity that depends on x and t."""
    steps, shift = 6, 5.0
    noise = torch.randn(1, 2, 1, 2, 4, generator=torch.Generator().manual_seed(0))

    def velocity(latents, timestep, step):
        return torch.sin(latents * 3) + timestep.float() / 1000

    ours = denoise(velocity, noise, make_scheduler("euler", steps, shift))
    sigmas = authors_sigmas(steps, shift)
    theirs = noise.clone()
    for i in range(steps):
        theirs = theirs + velocity(theirs, sigmas[i] * 1000, i) * (sigmas[i + 1] - sigmas[i])
    torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=0)


def test_a_16_bit_model_gets_the_timestep_rounded_as_the_authors_pipeline_casts_it():
    timestep = torch.tensor(995.9349)
    assert model_timestep(timestep, torch.bfloat16).item() == 996.0
    assert model_timestep(timestep, torch.float32).item() == pytest.approx(995.9349)


# ----------------------------------------------------------------------------------------------------- the pipeline


@pytest.fixture
def source():
    return torch.rand(5, 32, 32, 3, generator=torch.Generator().manual_seed(4))


SMALL = dict(width=32, height=32, steps=2, max_frames=5)


def test_the_default_decode_crops_the_whole_decoded_canvas_and_target_decodes_only_the_half(pipe, prompt, source):
    canvas = pipe(source, prompt=prompt, seed=1, **SMALL)
    whole = pipe.decode_latents(canvas.canvas_latent)
    torch.testing.assert_close(canvas.frames, layout.split_canvas(whole)[1])
    target = pipe(source, prompt=prompt, seed=1, decode="target", **SMALL)
    torch.testing.assert_close(target.frames, pipe.decode_latents(layout.split_latent(canvas.canvas_latent)[1]))
    assert (canvas.frames - target.frames).abs().max() > 1e-4, "the decoder sees across the seam"


def test_a_bf16_model_is_called_with_the_rounded_timestep(prompt, source):
    from reco_core.models.tiny import build_tiny_transformer, build_tiny_vae

    transformer = build_tiny_transformer(seed=0).to(torch.bfloat16)
    seen = []
    hook = transformer.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["timestep"].clone()),
                                                 with_kwargs=True)
    try:
        ReCoPipeline(transformer, build_tiny_vae(seed=0), device="cpu")(source, prompt=prompt, **SMALL)
    finally:
        hook.remove()
    sigma = 5 * 0.5 / (1 + 4 * 0.5)  # the second of 2 steps
    assert seen[0].float().unique().tolist() == [1000.0]
    assert seen[-1].float().unique().tolist() == [torch.tensor(sigma * 1000).to(torch.bfloat16).item()]


# ----------------------------------------------------------------------------------------------------------- ReCo_ref


def test_the_reference_is_letterboxed_on_white_with_the_authors_arithmetic():
    image = torch.zeros(50, 100, 3)  # black, 2:1
    boxed = ref.letterbox(image, 32, 24)
    assert boxed.shape == (24, 32, 3)
    # scale min(24/50, 32/100) = 0.32 -> 32 x int(16.0) = 16 rows, top (24 - 16) // 2 = 4
    assert torch.all(boxed[:4] == 1) and torch.all(boxed[20:] == 1)
    assert torch.all(boxed[4:20] < 0.01)
    canvas = ref.reference_canvas(image, 32, 24)
    assert canvas.shape == (1, 24, 64, 3)
    assert torch.all(canvas[0, :, :32] == 1), "the left (source) half is white"
    torch.testing.assert_close(canvas[0, :, 32:], boxed)


def test_the_reference_is_resampled_with_lanczos_and_rounded_down():
    from PIL import Image

    image = torch.rand(37, 53, 3, generator=torch.Generator().manual_seed(0))
    boxed = ref.letterbox(image, 32, 32)
    new_w, new_h = 32, int(37 * 32 / 53)  # 22
    pixels = Image.fromarray((image * 255).round().byte().numpy()).resize((new_w, new_h), Image.LANCZOS)
    top = (32 - new_h) // 2
    expected = torch.from_numpy(__import__("numpy").array(pixels)).float() / 255
    torch.testing.assert_close(boxed[top:top + new_h], expected)


def test_a_reference_that_is_not_an_image_is_named():
    with pytest.raises(ReCoInputError) as error:
        ref.reference_image(torch.zeros(4, 4))
    assert error.value.input_name == "reference"


def capture_control(pipe):
    captured = {}
    original = pipe.velocity_fn

    def spy(prompt, control, options):
        captured["control"] = control
        return original(prompt, control, options)

    pipe.velocity_fn = spy
    return captured


def test_reco_ref_puts_the_reference_frame_in_front_and_trims_it_from_the_edit(pipe, prompt, source):
    image = torch.rand(20, 40, 3, generator=torch.Generator().manual_seed(5))
    plain = pipe(source, prompt=prompt, seed=1, **SMALL)
    captured = capture_control(pipe)
    steps: list[StepInfo] = []
    try:
        result = pipe(source, prompt=prompt, seed=1, reference=image, callback=steps.append, **SMALL)
    finally:
        del pipe.velocity_fn
    control = captured["control"]
    assert control.shape[2] == plain.canvas_latent.shape[2] + 1  # 2 latent frames of clip + the reference
    reference_latent = pipe.encode_frames(ref.reference_canvas(image, 32, 32))
    torch.testing.assert_close(control[:, :16, :1], reference_latent)          # inactive: the reference
    assert torch.all(control[:, 16:32, :1] == 0) and torch.all(control[:, 32:, :1] == 0)  # reactive 0, mask 0
    clip_control, _ = pipe.vace_conditioning(plain.source, None, plain.options)
    torch.testing.assert_close(control[:, :, 1:], clip_control)
    # Noise: the clip's from the seed, the reference frame's from its own generator (seed 2025).
    start = steps[0].model_input
    torch.testing.assert_close(start[:, :, 1:], torch.randn(plain.canvas_latent.shape,
                                                            generator=torch.Generator().manual_seed(1)))
    torch.testing.assert_close(start[:, :, :1], ref.reference_noise((1, 16, 1, 4, 8), "cpu"))
    assert result.frames.shape == plain.frames.shape and result.canvas_latent.shape == plain.canvas_latent.shape
    assert (result.frames - plain.frames).abs().max() > 1e-4


def test_reco_ref_with_keep_source_holds_only_the_clip_frames(pipe, prompt, source):
    steps: list[StepInfo] = []
    result = pipe(source, prompt=prompt, seed=1, reference=torch.rand(16, 16, 3), keep_source=True,
                  callback=steps.append, **SMALL)
    _, source_latent = pipe.vace_conditioning(result.source, None, result.options)
    held, _ = layout.split_latent(result.canvas_latent)
    torch.testing.assert_close(held, source_latent)
    assert result.frames.shape == (5, 32, 32, 3)


def test_reco_ref_refuses_region_sampling_before_any_work(pipe, prompt, source):
    from reco_core.region import RegionOptions

    with pytest.raises(ReCoInputError) as error:
        pipe(source, prompt=prompt, reference=torch.rand(8, 8, 3), region=RegionOptions(mode="auto"), **SMALL)
    assert error.value.input_name == "region"
