"""The ReCo nodes in a real ComfyUI: the edit graph end to end, LoRA formats, keep_source, samplers, cancel."""

import json
import uuid
from pathlib import Path

import pytest
import torch

from comfyui_client import PromptExecutionError, status_messages, wait_for_lines
from reco_core import layout
from reco_core import lora as lora_lib

REPO = Path(__file__).resolve().parents[2]
W, H, LENGTH = 32, 32, 5  # per-half size and clip length of the test graphs
NODES = ["ReCoLoRALoader", "ReCoInContext", "ReCoDecode"]
TARGETS = ["self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
           "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"]


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def random_lora(state, seed=0, rank=4, blocks=("blocks", "vace_blocks")):
    """A LoRA over every targeted linear of the tiny VACE model, DiT and VACE blocks."""
    generator = torch.Generator().manual_seed(seed)
    modules = {}
    for key, weight in state.items():
        name = key.removesuffix(".weight")
        if weight.ndim == 2 and name.split(".")[0] in blocks and any(name.endswith(t) for t in TARGETS):
            down = torch.randn(rank, weight.shape[1], generator=generator) * 0.05
            up = torch.randn(weight.shape[0], rank, generator=generator) * 0.05
            modules[name] = lora_lib.LoRAModule(down, up, alpha=float(rank))
    return lora_lib.LoRA(modules)


def write_lora(comfyui_server, lora, fmt, suffix=".safetensors"):
    path = comfyui_server.base_dir / "models" / "loras" / f"{unique(fmt)}{suffix}"
    if suffix == ".ckpt":
        torch.save(lora_lib.to_state_dict(lora, fmt), path)
    else:
        lora_lib.save_lora(lora, path, fmt=fmt)
    return path.name


def edit_graph(g, models, *, keep_source=False, lora=None, length=LENGTH, width=W, height=H, frames=9, sampler="ksampler",
               sampler_name="uni_pc", reference=None, decode="canvas", short_clip="pad"):
    source = g.node("ReCoTestVideoFrames", width=width, height=height, frames=frames, seed=4)
    positive = g.node("ReCoTestConditioning", seed=1, tokens=8)
    negative = g.node("ReCoTestConditioning", seed=2, tokens=8)
    model = g.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    if lora is not None:
        model = g.node("ReCoLoRALoader", model=model.out(0), lora_name=lora, strength=1.0)
    vae = g.node("VAELoader", vae_name=models["vae"])
    extra = {} if reference is None else {"reference": reference.out(0)}
    context = g.node("ReCoInContext", positive=positive.out(0), negative=negative.out(0), vae=vae.out(0),
                     source=source.out(0), width=W, height=H, length=length, strength=1.0, keep_source=keep_source,
                     short_clip=short_clip, **extra)
    if sampler == "ksampler":
        sampled = g.node("KSampler", model=model.out(0), seed=0, steps=2, cfg=2.0, sampler_name=sampler_name,
                         scheduler="simple", positive=context.out(0), negative=context.out(1),
                         latent_image=context.out(2), denoise=1.0)
    else:
        select = g.node("KSamplerSelect", sampler_name=sampler_name)
        sigmas = g.node("BasicScheduler", model=model.out(0), scheduler="simple", steps=2, denoise=1.0)
        if sampler == "custom":
            sampled = g.node("SamplerCustom", model=model.out(0), add_noise=True, noise_seed=0, cfg=2.0,
                             positive=context.out(0), negative=context.out(1), sampler=select.out(0),
                             sigmas=sigmas.out(0), latent_image=context.out(2))
        else:
            noise = g.node("RandomNoise", noise_seed=0)
            guider = g.node("CFGGuider", model=model.out(0), positive=context.out(0), negative=context.out(1), cfg=2.0)
            sampled = g.node("SamplerCustomAdvanced", noise=noise.out(0), guider=guider.out(0), sampler=select.out(0),
                             sigmas=sigmas.out(0), latent_image=context.out(2))
    decode = g.node("ReCoDecode", vae=vae.out(0), samples=sampled.out(0), source=source.out(0), decode=decode)
    return dict(source=source, context=context, sampled=sampled, decode=decode, vae=vae, model=model)


def test_nodes_are_registered_with_a_tooltip_on_every_input(comfy):
    for node_id in NODES:
        info = comfy.object_info(node_id)
        assert info is not None, f"{node_id} is not registered"
        assert info["category"] == "ReCo"
        for section in ("required", "optional"):
            for name, spec in info["input"].get(section, {}).items():
                assert spec[1].get("tooltip"), f"{node_id}.{name} has no tooltip"


def test_edit_graph_runs_to_a_saved_video(comfy, graph, tiny_models, comfyui_server):
    lora = write_lora(comfyui_server, random_lora(comfyui_server_state(comfyui_server)), "reco", suffix=".ckpt")
    n = edit_graph(graph, tiny_models, lora=lora)
    save = graph.node("ReCoTestSaveTensors", name=unique("edit"), latent=n["sampled"].out(0),
                      image=n["decode"].out(0))
    compare = graph.node("ReCoTestSaveTensors", name=unique("compare"), image=n["decode"].out(1))
    video = graph.node("CreateVideo", images=n["decode"].out(0), fps=16.0)
    saved = graph.node("SaveVideo", video=video.out(0), filename_prefix=unique("reco/edit"), format="mp4", codec="h264")
    entry = comfy.run_prompt(graph, timeout=600)

    tensors = comfy.saved_tensors(entry, save.id)
    assert tuple(tensors["latent.samples"].shape) == (1, 16, 2, H // 8, 2 * W // 8), "the canvas is 2W wide"
    assert tuple(tensors["image"].shape) == (LENGTH, H, W, 3), "the edit has the source's size and length"
    assert tuple(comfy.saved_tensors(entry, compare.id)["image"].shape) == (LENGTH, H, 2 * W, 3)
    (mp4,) = comfy.output_files(entry, saved.id, key="images")
    assert mp4.endswith(".mp4")


def comfyui_server_state(comfyui_server):
    from safetensors.torch import load_file

    return load_file(comfyui_server.models["vace"]["path"])


@pytest.mark.parametrize("sampler,sampler_name,tolerance", [
    ("ksampler", "euler", 1e-5), ("custom", "euler", 1e-5), ("advanced", "euler", 1e-5),
    # Multistep samplers blend earlier steps' estimates in their last step, so the held half ends a
    # little off; the edit never sees it (ReCo Decode decodes only the target half).
    ("ksampler", "uni_pc", 0.05), ("advanced", "dpmpp_2m", 0.05),
])
def test_keep_source_holds_the_source_half_with_every_sampler(comfy, graph, tiny_models, sampler, sampler_name,
                                                              tolerance):
    n = edit_graph(graph, tiny_models, keep_source=True, sampler=sampler, sampler_name=sampler_name)
    before = graph.node("ReCoTestSaveTensors", name=unique("before"), latent=n["context"].out(2))
    after = graph.node("ReCoTestSaveTensors", name=unique("after"), latent=n["sampled"].out(0),
                       image=n["decode"].out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    start = comfy.saved_tensors(entry, before.id)
    end = comfy.saved_tensors(entry, after.id)
    assert tuple(start["latent.noise_mask"].shape) == (1, 1, 2, H // 8, 2 * W // 8)
    source_before, _ = layout.split_latent(start["latent.samples"])
    source_after, target_after = layout.split_latent(end["latent.samples"])
    assert source_before.abs().max() > 0.01, "the source half of the canvas holds the encoded source"
    assert (source_after - source_before).abs().max() < tolerance
    assert target_after.abs().max() > 0.01
    assert tuple(end["image"].shape) == (LENGTH, H, W, 3)


def test_without_keep_source_both_halves_are_sampled(comfy, graph, tiny_models):
    n = edit_graph(graph, tiny_models, keep_source=False)
    before = graph.node("ReCoTestSaveTensors", name=unique("before"), latent=n["context"].out(2),
                        conditioning=n["context"].out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    start = comfy.saved_tensors(entry, before.id)
    assert "latent.noise_mask" not in start
    assert torch.all(start["latent.samples"] == 0)
    assert tuple(start["conditioning.0.vace_frames.0"].shape) == (1, 32, 2, H // 8, 2 * W // 8)
    mask = start["conditioning.0.vace_mask.0"]
    assert tuple(mask.shape) == (1, 64, 2, H // 8, 2 * W // 8)
    assert torch.all(mask[..., : W // 8] == 0) and torch.all(mask[..., W // 8:] == 1)


def model_forward(comfy, graph, models, lora=None, name=None):
    model = graph.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    if lora is not None:
        model = graph.node("ReCoLoRALoader", model=model.out(0), lora_name=lora, strength=1.0)
    node = graph.node("ReCoTestModelForward", model=model.out(0), name=name or unique("forward"), seed=7,
                      frames=2, height=4, width=8, sigma=0.6)
    entry = comfy.run_prompt(graph, timeout=300)
    return comfy.saved_tensors(entry, node.id)


def diffusers_velocity(comfyui_server, inputs, lora=None):
    from reco_core.models.loading import load_transformer

    model = load_transformer(comfyui_server.models["vace"]["path"], dtype=torch.float32)
    if lora is not None:
        lora_lib.apply_lora(model, lora)
    with torch.no_grad():
        return model(hidden_states=inputs["x"], timestep=inputs["timestep"], encoder_hidden_states=inputs["context"],
                     control_hidden_states=inputs["vace_context"][:, 0], return_dict=False)[0]


@pytest.mark.parametrize("fmt,suffix", [("reco", ".ckpt"), ("comfy", ".safetensors"), ("diffusers", ".safetensors"),
                                        ("kohya", ".safetensors"), ("diffsynth", ".safetensors")])
def test_lora_in_any_format_changes_the_model_as_diffusers_does(comfy, tiny_models, comfyui_server, fmt, suffix):
    from comfyui_client import Graph

    lora = random_lora(comfyui_server_state(comfyui_server), seed=3)
    name = write_lora(comfyui_server, lora, fmt, suffix)
    base = model_forward(comfy, Graph(), tiny_models)
    patched = model_forward(comfy, Graph(), tiny_models, lora=name)
    assert (patched["velocity"] - base["velocity"]).abs().max() > 1e-3, "the LoRA must change the output"
    torch.testing.assert_close(base["velocity"], diffusers_velocity(comfyui_server, base), atol=2e-4, rtol=1e-3)
    torch.testing.assert_close(patched["velocity"], diffusers_velocity(comfyui_server, patched, lora),
                               atol=2e-4, rtol=1e-3)


def test_a_lora_that_applies_nothing_is_an_error(comfy, graph, tiny_models, comfyui_server):
    module = lora_lib.LoRAModule(torch.zeros(4, 128), torch.zeros(128, 4))
    name = write_lora(comfyui_server, lora_lib.LoRA({"blocks.17.self_attn.q": module}), "comfy")
    model = graph.node("UNETLoader", unet_name=tiny_models["vace"], weight_dtype="default")
    loaded = graph.node("ReCoLoRALoader", model=model.out(0), lora_name=name, strength=1.0)
    graph.node("ReCoTestModelForward", model=loaded.out(0), name=unique("never"), seed=0, frames=2, height=4, width=8,
               sigma=0.5)
    with pytest.raises(PromptExecutionError) as error:
        comfy.run_prompt(graph, timeout=120)
    (failure,) = status_messages(error.value.entry, "execution_error")
    assert failure["node_type"] == "ReCoLoRALoader"
    assert name in failure["exception_message"] and "applies nothing" in failure["exception_message"]


@pytest.mark.parametrize("changes,expected", [
    (dict(length=8), "4n+1"),
    (dict(length=7), "4n+1"),
])
def test_bad_settings_are_explained(comfy, graph, tiny_models, changes, expected):
    n = edit_graph(graph, tiny_models, **changes)
    graph.node("ReCoTestSaveTensors", name=unique("never"), latent=n["sampled"].out(0))
    with pytest.raises(PromptExecutionError) as error:
        comfy.run_prompt(graph, timeout=120)
    (failure,) = status_messages(error.value.entry, "execution_error")
    assert failure["node_type"] == "ReCoInContext" and expected in failure["exception_message"]


def test_cancel_stops_the_edit_within_a_step(comfy, graph, tiny_models, comfyui_server):
    name = unique("steps")
    n = edit_graph(graph, tiny_models)
    unet = graph.node("UNETLoader", unet_name=tiny_models["vace"], weight_dtype="default")
    counted = graph.node("ReCoTestStepCounter", model=unet.out(0), name=name, delay=0.2)
    n["sampled"].set(model=counted.out(0), steps=500)
    graph.node("ReCoTestSaveTensors", name=unique("never"), image=n["decode"].out(0))
    steps_file = comfyui_server.output_dir / "reco_test" / f"{name}.steps"
    prompt_id = comfy.submit(graph)
    calls_at_cancel = wait_for_lines(steps_file, 2)
    comfy.interrupt()
    entry = comfy.wait(prompt_id, timeout=60, check=False)
    assert entry["status"]["status_str"] == "error"
    assert status_messages(entry, "execution_interrupted")[0]["node_type"] == "KSampler"
    assert len(steps_file.read_text().splitlines()) <= calls_at_cancel + 2  # at most the step in flight


# --- the authors' inference: sigmas, decoding, short clips, ReCo_ref ------------------------------------------------
def authors_sigmas(steps, shift):
    """DiffSynth's FlowMatchScheduler(shift, sigma_min=0, extra_one_step=True) grid, then 0 (its last step)."""
    sigmas = torch.linspace(1.0, 0.0, steps + 1)[:-1]
    return torch.cat([shift * sigmas / (1 + (shift - 1) * sigmas), torch.zeros(1)])


def test_euler_simple_50_with_shift_5_is_the_authors_sigma_grid(comfy, graph, tiny_models):
    model = graph.node("UNETLoader", unet_name=tiny_models["vace"], weight_dtype="default")
    shifted = graph.node("ModelSamplingSD3", model=model.out(0), shift=5.0)
    sigmas = graph.node("BasicScheduler", model=shifted.out(0), scheduler="simple", steps=50, denoise=1.0)
    save = graph.node("ReCoTestSaveTensors", name=unique("sigmas"), sigmas=sigmas.out(0))
    got = comfy.saved_tensors(comfy.run_prompt(graph, timeout=120), save.id)["sigmas"]
    assert got.shape == (51,)
    torch.testing.assert_close(got.float(), authors_sigmas(50, 5.0), atol=1e-6, rtol=0)


def test_decode_canvas_crops_the_whole_decoded_canvas_and_target_decodes_the_half(comfy, graph, tiny_models):
    n = edit_graph(graph, tiny_models, frames=LENGTH)
    whole = graph.node("VAEDecode", samples=n["sampled"].out(0), vae=n["vae"].out(0))
    target = graph.node("ReCoDecode", vae=n["vae"].out(0), samples=n["sampled"].out(0), decode="target")
    save = graph.node("ReCoTestSaveTensors", name=unique("canvas"), image=n["decode"].out(0))
    save_whole = graph.node("ReCoTestSaveTensors", name=unique("whole"), image=whole.out(0))
    save_target = graph.node("ReCoTestSaveTensors", name=unique("target"), image=target.out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    canvas = comfy.saved_tensors(entry, save.id)["image"]
    full = comfy.saved_tensors(entry, save_whole.id)["image"]
    half = comfy.saved_tensors(entry, save_target.id)["image"]
    assert canvas.shape == half.shape == (LENGTH, H, W, 3) and full.shape == (LENGTH, H, 2 * W, 3)
    torch.testing.assert_close(canvas, full[..., W:, :])
    assert (canvas - half).abs().max() > 1e-3, "the decoder sees across the seam: the two paths differ"


def test_a_short_clip_is_padded_to_the_length_and_trimmed_back_and_the_nodes_say_so(comfy, graph, tiny_models):
    n = edit_graph(graph, tiny_models, frames=3, length=LENGTH)
    save = graph.node("ReCoTestSaveTensors", name=unique("short"), latent=n["context"].out(2),
                      image=n["decode"].out(0))
    compare = graph.node("ReCoTestSaveTensors", name=unique("short_compare"), image=n["decode"].out(1))
    entry = comfy.run_prompt(graph, timeout=600)
    tensors = comfy.saved_tensors(entry, save.id)
    assert tensors["latent.samples"].shape[2] == 2, "sampled at length 5 (2 latent frames)"
    assert int(tensors["latent.reco_frames"]) == 3
    assert tuple(tensors["image"].shape) == (3, H, W, 3), "the edit has the source's 3 frames"
    assert tuple(comfy.saved_tensors(entry, compare.id)["image"].shape) == (3, H, 2 * W, 3)
    (context_note,) = entry["outputs"][str(n["context"].id)]["reco_notes"]
    assert "padded with 2 copies of its last frame" in context_note
    assert any("2 padded frames trimmed" in note for note in entry["outputs"][str(n["decode"].id)]["reco_notes"])


def test_short_clip_shorten_samples_the_longest_length_the_source_holds(comfy, graph, tiny_models):
    n = edit_graph(graph, tiny_models, frames=7, length=9, short_clip="shorten")
    save = graph.node("ReCoTestSaveTensors", name=unique("shorten"), latent=n["context"].out(2),
                      image=n["decode"].out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    tensors = comfy.saved_tensors(entry, save.id)
    assert tensors["latent.samples"].shape[2] == 2 and tuple(tensors["image"].shape) == (5, H, W, 3)


def reference_graph(graph, models, *, keep_source=False, seed=11):
    reference = graph.node("ReCoTestVideoFrames", width=48, height=24, frames=1, seed=seed)
    return edit_graph(graph, models, frames=LENGTH, reference=reference, keep_source=keep_source)


def test_reco_ref_puts_the_reference_frame_in_front_and_reco_decode_drops_it(comfy, graph, tiny_models):
    """ReCo_ref on tiny random weights: [white | reference] is one more latent frame in front of the clip's, in
    the VACE context (inactive = the encoded reference, reactive = normalised zero, mask 0) and in the latent;
    ReCo Decode drops it, so the edit is the decode of the clip's frames only."""
    from comfyui_client import Graph

    n = reference_graph(graph, tiny_models)
    trimmed = graph.node("TrimVideoLatent", samples=n["sampled"].out(0), trim_amount=1)
    whole = graph.node("VAEDecode", samples=trimmed.out(0), vae=n["vae"].out(0))
    before = graph.node("ReCoTestSaveTensors", name=unique("ref_before"), latent=n["context"].out(2),
                        conditioning=n["context"].out(0))
    after = graph.node("ReCoTestSaveTensors", name=unique("ref_after"), latent=n["sampled"].out(0),
                       image=n["decode"].out(0))
    clip_only = graph.node("ReCoTestSaveTensors", name=unique("ref_whole"), image=whole.out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    start = comfy.saved_tensors(entry, before.id)
    frames, mask = start["conditioning.0.vace_frames.0"], start["conditioning.0.vace_mask.0"]
    assert tuple(frames.shape) == (1, 32, 3, H // 8, 2 * W // 8), "2 latent frames of clip + the reference frame"
    assert tuple(mask.shape) == (1, 64, 3, H // 8, 2 * W // 8)
    assert torch.all(mask[:, :, 0] == 0), "the reference frame is all kept (mask 0)"
    assert torch.all(mask[:, :, 1:, :, : W // 8] == 0) and torch.all(mask[:, :, 1:, :, W // 8:] == 1)
    wan_mean = torch.tensor(json.loads((REPO / "reco_core/models/configs/wan2.1-vae.json").read_text())["latents_mean"])
    torch.testing.assert_close(frames[0, 16:, 0], wan_mean.view(16, 1, 1).expand(16, H // 8, 2 * W // 8))
    assert frames[0, :16, 0].std() > 1e-3, "the inactive half of the reference frame holds the encoded reference"
    assert tuple(start["latent.samples"].shape) == (1, 16, 3, H // 8, 2 * W // 8)
    assert int(start["latent.reco_reference_frames"]) == 1 and int(start["latent.reco_frames"]) == LENGTH
    # The clip's own context is the one without a reference.
    plain = Graph()
    p = edit_graph(plain, tiny_models, frames=LENGTH)
    plain_save = plain.node("ReCoTestSaveTensors", name=unique("ref_plain"), conditioning=p["context"].out(0))
    plain_frames = comfy.saved_tensors(comfy.run_prompt(plain, timeout=600), plain_save.id)
    torch.testing.assert_close(frames[:, :, 1:], plain_frames["conditioning.0.vace_frames.0"])
    # ReCo Decode: the clip's frames only.
    edited = comfy.saved_tensors(entry, after.id)["image"]
    assert tuple(edited.shape) == (LENGTH, H, W, 3)
    torch.testing.assert_close(edited, comfy.saved_tensors(entry, clip_only.id)["image"][..., W:, :])
    assert any("reference frame" in note for note in entry["outputs"][str(n["decode"].id)]["reco_notes"])


def test_reco_ref_with_keep_source_generates_the_reference_frame_freely(comfy, graph, tiny_models):
    n = reference_graph(graph, tiny_models, keep_source=True)
    save = graph.node("ReCoTestSaveTensors", name=unique("ref_keep"), latent=n["context"].out(2),
                      image=n["decode"].out(0))
    tensors = comfy.saved_tensors(comfy.run_prompt(graph, timeout=600), save.id)
    noise_mask = tensors["latent.noise_mask"]
    assert tuple(noise_mask.shape) == (1, 1, 3, H // 8, 2 * W // 8)
    assert torch.all(noise_mask[:, :, 0] == 1) and torch.all(noise_mask[:, :, 1:, :, : W // 8] == 0)
    assert tuple(tensors["image"].shape) == (LENGTH, H, W, 3)


def test_region_sampling_with_a_reference_is_refused_with_the_fix(comfy, graph, tiny_models):
    n = reference_graph(graph, tiny_models)
    sampler = graph.node("ReCoSampler", model=n["model"].out(0), positive=n["context"].out(0),
                         negative=n["context"].out(1), latent_image=n["context"].out(2), seed=0, steps=2, cfg=2.0,
                         sampler_name="euler", scheduler="simple", region="auto", background=0.8, attention="region")
    graph.node("ReCoTestSaveTensors", name=unique("never"), latent=sampler.out(0))
    with pytest.raises(PromptExecutionError) as error:
        comfy.run_prompt(graph, timeout=300)
    (failure,) = status_messages(error.value.entry, "execution_error")
    assert failure["node_type"] == "ReCoSampler" and "Set region to off" in failure["exception_message"]
