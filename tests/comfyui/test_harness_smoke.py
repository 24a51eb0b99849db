"""The harness itself: the server starts, the packs load, a core Wan-VACE graph runs, interrupts work."""
import time
import uuid

import pytest

from comfyui_client import PromptValidationError, status_messages

TESTING_NODES = ["ReCoTestConditioning", "ReCoTestSaveTensors", "ReCoTestVideoFrames", "ReCoTestSlowNode",
                 "ReCoTestStepCounter"]


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def test_testing_pack_nodes_are_registered(comfy, tiny_models):
    for node_id in TESTING_NODES:
        info = comfy.object_info(node_id)
        assert info is not None, f"{node_id} not registered"
        assert info["python_module"] == "custom_nodes.reco_testing_pack"
    assert comfy.object_info("NoSuchNodeReCo") is None
    unet_options = comfy.object_info("UNETLoader")["input"]["required"]["unet_name"][0]
    assert tiny_models["vace"] in unet_options and tiny_models["t2v"] in unet_options
    assert tiny_models["vae"] in comfy.object_info("VAELoader")["input"]["required"]["vae_name"][0]


def test_pack_imports_without_error(comfyui_server):
    init = comfyui_server.pack_link / "__init__.py"
    if not init.exists():
        pytest.skip("the pack has no __init__.py yet")
    assert not comfyui_server.pack_import_failed(), \
        "the pack failed to import; server log:\n" + comfyui_server.log_text()[-6000:]


def add_wan_vace_graph(g, models, width=64, height=32, length=5, steps=2, seed=0):
    """Core-only Wan-VACE graph; returns the nodes of interest."""
    frames = g.node("ReCoTestVideoFrames", width=width, height=height, frames=length, seed=seed)
    positive = g.node("ReCoTestConditioning", seed=1, tokens=8)
    negative = g.node("ReCoTestConditioning", seed=2, tokens=8)
    unet = g.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    vae = g.node("VAELoader", vae_name=models["vae"])
    vace = g.node("WanVaceToVideo", positive=positive.out(0), negative=negative.out(0), vae=vae.out(0),
                  width=width, height=height, length=length, batch_size=1, strength=1.0,
                  control_video=frames.out(0), control_masks=frames.out(1))
    sampler = g.node("KSampler", model=unet.out(0), seed=seed, steps=steps, cfg=2.0, sampler_name="euler",
                     scheduler="simple", positive=vace.out(0), negative=vace.out(1), latent_image=vace.out(2),
                     denoise=1.0)
    trimmed = g.node("TrimVideoLatent", samples=sampler.out(0), trim_amount=vace.out(3))
    decoded = g.node("VAEDecode", samples=trimmed.out(0), vae=vae.out(0))
    return dict(frames=frames, vace=vace, sampler=sampler, trimmed=trimmed, decoded=decoded)


def test_core_wan_vace_graph_runs(comfy, graph, tiny_models):
    n = add_wan_vace_graph(graph, tiny_models)
    save = graph.node("ReCoTestSaveTensors", name=unique("smoke"), latent=n["trimmed"].out(0),
                      image=n["decoded"].out(0), conditioning=n["vace"].out(0))
    frames_save = graph.node("ReCoTestSaveTensors", name=unique("frames"), image=n["frames"].out(0),
                             mask=n["frames"].out(1))
    entry = comfy.run_prompt(graph, timeout=300)

    assert entry["status"]["status_str"] == "success"
    t = comfy.saved_tensors(entry, save.id)
    assert tuple(t["latent.samples"].shape) == (1, 16, 2, 4, 8)
    assert tuple(t["image"].shape) == (5, 32, 64, 3)
    assert 0.0 <= float(t["image"].min()) and float(t["image"].max()) <= 1.0
    assert tuple(t["conditioning.0.cross_attn"].shape) == (1, 8, 4096)
    assert tuple(t["conditioning.0.vace_frames.0"].shape) == (1, 32, 2, 4, 8)
    assert tuple(t["conditioning.0.vace_mask.0"].shape) == (1, 64, 2, 4, 8)

    f = comfy.saved_tensors(entry, frames_save.id)
    assert tuple(f["image"].shape) == (5, 32, 64, 3) and tuple(f["mask"].shape) == (5, 32, 64)
    assert 0 < float(f["mask"].mean()) < 1
    assert not bool((f["image"][0] == f["image"][-1]).all()), "squares should move"


def test_validation_error_carries_node_errors(comfy, graph):
    frames = graph.node("ReCoTestVideoFrames", width=64, height=32, frames=1, seed=0)
    bad = graph.node("ReCoTestSaveTensors", name="../escape", image=frames.out(0))
    with pytest.raises(PromptValidationError) as info:
        comfy.run_prompt(graph, timeout=60)
    errors = info.value.node_errors[bad.id]["errors"]
    assert errors[0]["type"] == "custom_validation_failed"


def test_interrupt_stops_long_ksampler(comfy, graph, tiny_models, comfyui_server):
    name = unique("steps")
    unet = graph.node("UNETLoader", unet_name=tiny_models["t2v"], weight_dtype="default")
    counted = graph.node("ReCoTestStepCounter", model=unet.out(0), name=name, delay=0.02)
    cond = graph.node("ReCoTestConditioning", seed=3, tokens=4)
    latent = graph.node("EmptyHunyuanLatentVideo", width=32, height=32, length=1, batch_size=1)
    sampler = graph.node("KSampler", model=counted.out(0), seed=0, steps=5000, cfg=1.0, sampler_name="euler",
                         scheduler="simple", positive=cond.out(0), negative=cond.out(0),
                         latent_image=latent.out(0), denoise=1.0)
    graph.node("ReCoTestSaveTensors", name=unique("never"), latent=sampler.out(0))
    steps_file = comfyui_server.output_dir / "reco_test" / f"{name}.steps"

    prompt_id = comfy.submit(graph)
    wait_for(lambda: steps_file.exists() and len(steps_file.read_text().splitlines()) >= 3, 120,
             "the sampler to make 3 model calls")
    started = time.monotonic()
    comfy.interrupt()
    entry = comfy.wait(prompt_id, timeout=60, check=False)
    elapsed = time.monotonic() - started

    assert entry["status"]["status_str"] == "error"
    interrupted = status_messages(entry, "execution_interrupted")
    assert interrupted and interrupted[0]["node_type"] == "KSampler"
    assert elapsed < 10, f"interrupt took {elapsed:.1f}s"
    assert len(steps_file.read_text().splitlines()) < 1000


def test_interrupt_stops_slow_node_and_server_recovers(comfy, graph, comfyui_server):
    marker = unique("slow")
    graph.node("ReCoTestSlowNode", seconds=120.0, marker=marker)
    started_file = comfyui_server.output_dir / "reco_test" / f"{marker}.started"
    prompt_id = comfy.submit(graph)
    wait_for(started_file.exists, 60, "ReCoTestSlowNode to start")
    comfy.interrupt(prompt_id)
    entry = comfy.wait(prompt_id, timeout=30, check=False)
    assert entry["status"]["status_str"] == "error"
    assert status_messages(entry, "execution_interrupted")[0]["node_type"] == "ReCoTestSlowNode"

    follow_up = comfy.run_prompt({"1": {"class_type": "ReCoTestSlowNode",
                                        "inputs": {"seconds": 0.0, "marker": unique("quick")}}}, timeout=60)
    assert follow_up["outputs"]["1"]["text"] == ["slept 0.0s"]
