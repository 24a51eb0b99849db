"""The bundled ReCo-Shapes miniature in a real ComfyUI: loader, demo clip, text encoding, the region sampler."""

import uuid

import pytest
import torch

from reco_core.shapes import model as shapes_model
from reco_core.shapes.demo import load_demo_clips

pytestmark = pytest.mark.skipif(bool(shapes_model.shipped_files().missing()),
                                reason="the shipped ReCo-Shapes weights are not built yet")
CLIPS = {pair.task: pair for pair in load_demo_clips()}


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def shapes_graph(g, task, *, region="auto", lora_strength=1.0, steps=4):
    loader = g.node("ReCoShapesLoader", lora_strength=lora_strength)
    model = g.node("ModelSamplingSD3", model=loader.out(0), shift=3.0)
    clip = g.node("ReCoShapesClip", clip=task)
    positive = g.node("CLIPTextEncode", clip=loader.out(1), text=clip.out(1))
    negative = g.node("CLIPTextEncode", clip=loader.out(1), text="")
    context = g.node("ReCoInContext", positive=positive.out(0), negative=negative.out(0), vae=loader.out(2),
                     source=clip.out(0), width=shapes_model.WIDTH, height=shapes_model.HEIGHT,
                     length=shapes_model.FRAMES, strength=1.0, keep_source=False)
    sampled = g.node("ReCoSampler", model=model.out(0), positive=context.out(0), negative=context.out(1),
                     latent_image=context.out(2), seed=0, steps=steps, cfg=1.0, sampler_name="euler",
                     scheduler="simple", region=region, background=0.8, attention="region")
    decode = g.node("ReCoDecode", vae=loader.out(2), samples=sampled.out(0), source=clip.out(0))
    save = g.node("ReCoTestSaveTensors", name=unique(f"shapes_{task}"), image=decode.out(0), mask=sampled.out(1))
    return save


def test_demo_clip_node_gives_the_bundled_clip(comfy, graph):
    clip = graph.node("ReCoShapesClip", clip="remove")
    save = graph.node("ReCoTestSaveTensors", name=unique("clip"), image=clip.out(0))
    entry = comfy.run_prompt(graph, timeout=120)
    assert torch.allclose(comfy.saved_tensors(entry, save.id)["image"], CLIPS["remove"].source, atol=1e-6)


@pytest.mark.parametrize("task", ["add", "remove"])
def test_the_miniature_edit_graph_runs_on_core_sampling(comfy, graph, task):
    """The whole no-download graph in ComfyUI: the edit has the clip's size and length, it is not the source,
    and ReCo Sampler returns the automatic region it used as a pixel mask of the clip."""
    pair = CLIPS[task]
    save = shapes_graph(graph, task)
    tensors = comfy.saved_tensors(comfy.run_prompt(graph, timeout=600), save.id)
    edit, region = tensors["image"], tensors["mask"]
    assert edit.shape == pair.source.shape and region.shape == pair.mask.shape
    assert (edit - pair.source).abs().mean() > 0.01
    assert 0 < region.mean() < 1 and set(region.unique().tolist()) <= {0.0, 1.0}


def test_the_lora_strength_reaches_the_model(comfy, graph):
    base = shapes_graph(graph, "add", region="off", lora_strength=0.0)
    reco = shapes_graph(graph, "add", region="off", lora_strength=1.0)
    entry = comfy.run_prompt(graph, timeout=600)
    without, with_lora = (comfy.saved_tensors(entry, node.id)["image"] for node in (base, reco))
    # The LoRA moves this clip by about 0.003 on average (the engine measures the same); without it, exactly 0.
    assert (without - with_lora).abs().mean() > 0.001
