"""ReCoTrainLoRA in a real ComfyUI: trains on a pair folder in input/, writes a LoRA that core and the pack load."""

import time
import uuid

import pytest
import torch

from comfyui_client import Graph, PromptExecutionError, PromptValidationError, status_messages
from reco_core import lora as lora_lib

SIZE, LENGTH = 32, 5


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def dataset(comfyui_server):
    from reco_core.shapes.dataset import export_dataset
    from reco_core.shapes.world import WorldConfig

    name = unique("pairs")
    folder = comfyui_server.input_dir / name
    manifest = export_dataset(folder, "train", 3, WorldConfig(width=SIZE, height=SIZE, num_frames=LENGTH, fps=8))
    manifest.rename(folder / "manifest.jsonl")
    return name


def train_graph(g, models, dataset, lora_name, steps=3, save_every=0, resume=True):
    vae = g.node("VAELoader", vae_name=models["vae"])
    clip = g.node("ReCoTestCLIP", seed=0)
    return g.node("ReCoTrainLoRA", dataset=dataset, base_model=models["vace"], vae=vae.out(0), clip=clip.out(0),
                  lora_name=lora_name, steps=steps, rank=4, learning_rate=1e-3, width=SIZE, height=SIZE,
                  length=LENGTH, resume=resume, latent_weight=0.1, attn_weight=0.1, gradient_accumulation=1,
                  save_every=save_every, seed=0)


def forward(comfy, models, lora=None, loader="ReCoLoRALoader"):
    g = Graph()
    model = g.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    if lora is not None:
        kwargs = dict(model=model.out(0), lora_name=lora, strength=1.0) if loader == "ReCoLoRALoader" else \
            dict(model=model.out(0), lora_name=lora, strength_model=1.0)
        model = g.node(loader, **kwargs)
    node = g.node("ReCoTestModelForward", model=model.out(0), name=unique("forward"), seed=5, frames=2, height=4,
                  width=8, sigma=0.6)
    return comfy.saved_tensors(comfy.run_prompt(g, timeout=300), node.id)["velocity"]


def test_training_writes_a_lora_that_core_and_the_pack_load(comfy, graph, tiny_models, comfyui_server, dataset):
    name = unique("trained")
    trainer = train_graph(graph, tiny_models, dataset, name)
    curve = graph.node("ReCoTestSaveTensors", name=unique("curve"), image=trainer.out(0))
    entry = comfy.run_prompt(graph, timeout=900)
    image = comfy.saved_tensors(entry, curve.id)["image"]
    assert image.ndim == 4 and image.shape[-1] == 3 and image.std() > 0.01
    path = comfyui_server.base_dir / "models" / "loras" / f"{name}.safetensors"
    lora = lora_lib.load_lora(path)
    assert lora.source_format == "comfy" and lora.by_kind()["vace"] > 0 and lora.by_kind()["dit"] > 0
    run = comfyui_server.output_dir / "reco_training" / name
    assert (run / "metrics.jsonl").read_text().count("\n") == 3 and (run / "checkpoints").is_dir()

    base = forward(comfy, tiny_models)
    ours = forward(comfy, tiny_models, f"{name}.safetensors")
    core = forward(comfy, tiny_models, f"{name}.safetensors", loader="LoraLoaderModelOnly")
    assert (ours - base).abs().max() > 1e-4, "the trained LoRA changes the model"
    torch.testing.assert_close(ours, core)


@pytest.mark.parametrize("bad", ["../escape", "sub/dir", "/abs/path"])
def test_output_names_that_leave_the_loras_folder_are_refused(comfy, graph, tiny_models, dataset, bad):
    train_graph(graph, tiny_models, dataset, bad)
    with pytest.raises(PromptValidationError) as error:
        comfy.run_prompt(graph, timeout=60)
    assert "outside the loras folder" in str(error.value)


def test_cancel_keeps_the_last_checkpoint(comfy, graph, tiny_models, comfyui_server, dataset):
    name = unique("cancelled")
    train_graph(graph, tiny_models, dataset, name, steps=100000, save_every=0)
    metrics = comfyui_server.output_dir / "reco_training" / name / "metrics.jsonl"
    prompt_id = comfy.submit(graph)
    deadline = time.monotonic() + 600
    while not (metrics.is_file() and metrics.read_text().count("\n") >= 2):
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.1)
    comfy.interrupt()
    entry = comfy.wait(prompt_id, timeout=120, check=False)
    assert status_messages(entry, "execution_interrupted")[0]["node_type"] == "ReCoTrainLoRA"
    checkpoints = list((comfyui_server.output_dir / "reco_training" / name / "checkpoints").iterdir())
    assert len(checkpoints) == 1 and checkpoints[0].name.startswith("step-")


def test_training_over_a_finished_run_without_resume_is_refused(comfy, tiny_models, comfyui_server, dataset):
    name = unique("twice")
    first = Graph()
    train_graph(first, tiny_models, dataset, name, steps=1)
    comfy.run_prompt(first, timeout=900)
    run = comfyui_server.output_dir / "reco_training" / name
    before = (run / "metrics.jsonl").read_text()
    again = Graph()
    train_graph(again, tiny_models, dataset, name, steps=1, resume=False)
    with pytest.raises(PromptExecutionError) as error:
        comfy.run_prompt(again, timeout=300)
    (failure,) = status_messages(error.value.entry, "execution_error")
    assert failure["node_type"] == "ReCoTrainLoRA" and "already holds a training run" in failure["exception_message"]
    assert "Turn resume on" in failure["exception_message"] and (run / "metrics.jsonl").read_text() == before
