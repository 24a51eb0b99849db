"""ReCoSampler in a real ComfyUI: region off is KSampler, the region is found or taken from a MASK, the
background lock holds the target background, the attention constraint acts, and cancel stops it."""

import uuid

import pytest
import torch

from comfyui_client import PromptExecutionError, status_messages, wait_for_lines
from reco_core import layout

W, H, LENGTH = 32, 32, 5


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def base_graph(g, models, keep_source=False):
    source = g.node("ReCoTestVideoFrames", width=W, height=H, frames=LENGTH, seed=4)
    positive = g.node("ReCoTestConditioning", seed=1, tokens=8)
    negative = g.node("ReCoTestConditioning", seed=2, tokens=8)
    model = g.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    vae = g.node("VAELoader", vae_name=models["vae"])
    context = g.node("ReCoInContext", positive=positive.out(0), negative=negative.out(0), vae=vae.out(0),
                     source=source.out(0), width=W, height=H, length=LENGTH, strength=1.0, keep_source=keep_source)
    return source, model, context


def reco_sampler(g, model, context, region="auto", mask=None, sampler_name="euler", steps=4, **extra):
    inputs = dict(model=model.out(0), positive=context.out(0), negative=context.out(1), latent_image=context.out(2),
                  seed=3, steps=steps, cfg=2.0, sampler_name=sampler_name, scheduler="simple", region=region,
                  background=extra.pop("background", 0.8), attention=extra.pop("attention", "region"), **extra)
    if mask is not None:
        inputs["mask"] = mask
    return g.node("ReCoSampler", **inputs)


@pytest.mark.parametrize("sampler_name,keep_source", [("uni_pc", False), ("euler", True), ("dpmpp_2m", False)])
def test_region_off_equals_ksampler(comfy, graph, tiny_models, sampler_name, keep_source):
    _, model, context = base_graph(graph, tiny_models, keep_source)
    ours = reco_sampler(graph, model, context, region="off", sampler_name=sampler_name)
    core = graph.node("KSampler", model=model.out(0), seed=3, steps=4, cfg=2.0, sampler_name=sampler_name,
                      scheduler="simple", positive=context.out(0), negative=context.out(1),
                      latent_image=context.out(2), denoise=1.0)
    a = graph.node("ReCoTestSaveTensors", name=unique("ours"), latent=ours.out(0), mask=ours.out(1))
    b = graph.node("ReCoTestSaveTensors", name=unique("core"), latent=core.out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    ours_t, core_t = comfy.saved_tensors(entry, a.id), comfy.saved_tensors(entry, b.id)
    assert torch.equal(ours_t["latent.samples"], core_t["latent.samples"])
    assert tuple(ours_t["mask"].shape) == (LENGTH, H, W) and ours_t["mask"].sum() == 0


def test_auto_region_is_found_and_returned_as_a_mask(comfy, graph, tiny_models):
    _, model, context = base_graph(graph, tiny_models)
    sampled = reco_sampler(graph, model, context, region="auto", detect_at=0.5)
    plain = reco_sampler(graph, model, context, region="off")
    a = graph.node("ReCoTestSaveTensors", name=unique("auto"), latent=sampled.out(0), mask=sampled.out(1))
    b = graph.node("ReCoTestSaveTensors", name=unique("off"), latent=plain.out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    auto, off = comfy.saved_tensors(entry, a.id), comfy.saved_tensors(entry, b.id)
    mask = auto["mask"]
    assert tuple(mask.shape) == (LENGTH, H, W)
    assert 0 < mask.mean() < 1, "a region that is neither empty nor everything"
    assert not torch.equal(auto["latent.samples"], off["latent.samples"])


def test_background_lock_holds_the_target_outside_a_given_mask_at_the_source(comfy, graph, tiny_models):
    source, model, context = base_graph(graph, tiny_models)
    mask = graph.node("SolidMask", value=0.0, width=W, height=H)
    box = graph.node("SolidMask", value=1.0, width=16, height=16)
    region = graph.node("MaskComposite", destination=mask.out(0), source=box.out(0), x=8, y=8, operation="add")
    sampled = reco_sampler(graph, model, context, region="mask", mask=region.out(0), background=1.0, release=1.0,
                           attention="source")
    save = graph.node("ReCoTestSaveTensors", name=unique("locked"), latent=sampled.out(0), mask=sampled.out(1))
    start = graph.node("ReCoTestSaveTensors", name=unique("start"), conditioning=context.out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    result = comfy.saved_tensors(entry, save.id)
    vace = comfy.saved_tensors(entry, start.id)["conditioning.0.vace_frames.0"]
    source_latent, _ = layout.split_latent(vace[:, :16])  # inactive = [source | grey], raw
    _, target = layout.split_latent(result["latent.samples"])
    outside = torch.ones(2, H // 8, W // 8, dtype=torch.bool)
    outside[:, 1:3, 1:3] = False
    assert (target[0][:, outside] - source_latent[0][:, outside]).abs().max() < 1e-3
    assert (target[0][:, ~outside] - source_latent[0][:, ~outside]).abs().max() > 1e-2
    assert result["mask"][:, 8:24, 8:24].min() == 1 and result["mask"].sum() == LENGTH * 16 * 16


def test_attention_constraint_changes_the_result(comfy, graph, tiny_models):
    _, model, context = base_graph(graph, tiny_models)
    mask = graph.node("SolidMask", value=1.0, width=W, height=H)
    free = reco_sampler(graph, model, context, region="mask", mask=mask.out(0), background=0.0, attention="off")
    blocked = reco_sampler(graph, model, context, region="mask", mask=mask.out(0), background=0.0, attention="source")
    a = graph.node("ReCoTestSaveTensors", name=unique("free"), latent=free.out(0))
    b = graph.node("ReCoTestSaveTensors", name=unique("blocked"), latent=blocked.out(0))
    entry = comfy.run_prompt(graph, timeout=600)
    difference = comfy.saved_tensors(entry, a.id)["latent.samples"] - comfy.saved_tensors(entry, b.id)["latent.samples"]
    assert difference.abs().max() > 1e-3


def test_a_latent_without_source_is_refused_with_region_on(comfy, graph, tiny_models):
    model = graph.node("UNETLoader", unet_name=tiny_models["vace"], weight_dtype="default")
    cond = graph.node("ReCoTestConditioning", seed=1, tokens=8)
    empty = graph.node("EmptyHunyuanLatentVideo", width=64, height=32, length=5, batch_size=1)
    sampled = graph.node("ReCoSampler", model=model.out(0), positive=cond.out(0), negative=cond.out(0),
                         latent_image=empty.out(0), seed=0, steps=2, cfg=1.0, sampler_name="euler", scheduler="simple",
                         region="auto", background=0.8, attention="region")
    graph.node("ReCoTestSaveTensors", name=unique("never"), latent=sampled.out(0))
    with pytest.raises(PromptExecutionError) as error:
        comfy.run_prompt(graph, timeout=120)
    (failure,) = status_messages(error.value.entry, "execution_error")
    assert "ReCo In-Context Edit" in failure["exception_message"]


def test_cancel_stops_the_region_sampler_within_a_step(comfy, graph, tiny_models, comfyui_server):
    name = unique("steps")
    _, model, context = base_graph(graph, tiny_models)
    counted = graph.node("ReCoTestStepCounter", model=model.out(0), name=name, delay=0.2)
    sampled = reco_sampler(graph, counted, context, region="auto", steps=500)
    graph.node("ReCoTestSaveTensors", name=unique("never"), latent=sampled.out(0))
    steps_file = comfyui_server.output_dir / "reco_test" / f"{name}.steps"
    prompt_id = comfy.submit(graph)
    calls = wait_for_lines(steps_file, 2)
    comfy.interrupt()
    entry = comfy.wait(prompt_id, timeout=60, check=False)
    assert status_messages(entry, "execution_interrupted")[0]["node_type"] == "ReCoSampler"
    assert len(steps_file.read_text().splitlines()) <= calls + 2
