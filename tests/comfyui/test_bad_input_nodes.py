"""The ComfyUI rows of the bad-input table (tests/bad_inputs.py): bad widget values and wrong inputs sent through
a real server's API reach the artist as a ReCoInputError with the table's message, never as a bare traceback."""

import json
import sys
import uuid
from pathlib import Path

import pytest
import torch

from comfyui_client import Graph, PromptExecutionError, PromptValidationError, status_messages

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bad_inputs import CASES, matches  # noqa: E402

NAN = float("nan")
ROWS = {case.id: case for case in CASES if case.kind == "comfyui"}
CLEAR_ERRORS = ("ReCoInputError", "ReCoLoRAError")


def unique(prefix):
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def edit_graph(g, models, context=None, sampler=None, latent=None, mask=None):
    """source (40x24, 9 frames) -> In-Context -> Sampler -> Decode -> save; `context`/`sampler` override inputs."""
    source = g.node("ReCoTestVideoFrames", width=40, height=24, frames=9, seed=4)
    positive = g.node("ReCoTestConditioning", seed=1, tokens=8)
    negative = g.node("ReCoTestConditioning", seed=2, tokens=8)
    vae = g.node("VAELoader", vae_name=models["vae"])
    model = g.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    ctx = g.node("ReCoInContext", **{**dict(positive=positive.out(0), negative=negative.out(0), vae=vae.out(0),
                                            source=source.out(0), width=32, height=32, length=5, strength=1.0,
                                            keep_source=False), **(context or {})})
    extra = {"mask": mask if isinstance(mask, list) else mask.out(0)} if mask is not None else {}
    sampled = g.node("ReCoSampler", **{**dict(model=model.out(0), positive=ctx.out(0), negative=ctx.out(1),
                                              latent_image=(latent or ctx).out(0 if latent else 2), seed=0, steps=1,
                                              cfg=2.0, sampler_name="euler", scheduler="simple", region="off",
                                              background=0.8, attention="region"), **extra, **(sampler or {})})
    decoded = g.node("ReCoDecode", vae=vae.out(0), samples=sampled.out(0))
    g.node("ReCoTestSaveTensors", name=unique("edit"), image=decoded.out(0))
    return dict(context=ctx, sampler=sampled, decode=decoded, vae=vae)


def with_values(g, node, **values):
    """The prompt dict with `values` set on `node` (NaN included, which Graph itself refuses)."""
    prompt = g.prompt()
    prompt[node.id]["inputs"].update(values)
    return prompt


def lora_graph(g, models, lora_name, strength=1.0):
    model = g.node("UNETLoader", unet_name=models["vace"], weight_dtype="default")
    loader = g.node("ReCoLoRALoader", model=model.out(0), lora_name=lora_name, strength=1.0)
    g.node("ReCoTestModelForward", model=loader.out(0), name=unique("forward"), seed=5, frames=2, height=4,
           width=8, sigma=0.6)
    return with_values(g, loader, strength=strength)


def write_lora(server, name, down, up):
    from safetensors.torch import save_file

    key = "diffusion_model.blocks.0.self_attn.q"
    path = server.base_dir / "models" / "loras" / name
    save_file({f"{key}.lora_down.weight": down, f"{key}.lora_up.weight": up}, str(path))
    return name


def train_graph(g, models, dataset, **values):
    vae = g.node("VAELoader", vae_name=models["vae"])
    clip = g.node("ReCoTestCLIP", seed=0)
    trainer = g.node("ReCoTrainLoRA", dataset=dataset, base_model=models["vace"], vae=vae.out(0), clip=clip.out(0),
                     lora_name=unique("bad"), steps=1, rank=4, learning_rate=1e-3, width=32, height=32, length=5,
                     resume=False, latent_weight=0.1, attn_weight=0.1, gradient_accumulation=1, save_every=0, seed=0)
    return with_values(g, trainer, **values)


@pytest.fixture(scope="module")
def outside_dataset(comfyui_server):
    """A dataset folder in input/ whose manifest asks for a file outside it."""
    name = unique("outside")
    folder = comfyui_server.input_dir / name
    folder.mkdir()
    row = {"source": "/etc/passwd", "target": "/etc/passwd", "instruction": "read the server's files"}
    (folder / "manifest.jsonl").write_text(json.dumps(row) + "\n")
    return name


@pytest.fixture(scope="module")
def good_dataset(comfyui_server):
    from reco_core.video import write_video

    name = unique("pairs")
    folder = comfyui_server.input_dir / name
    frames = torch.rand(5, 32, 32, 3, generator=torch.Generator().manual_seed(0))
    write_video(folder / "a.mp4", frames, fps=8)
    write_video(folder / "b.mp4", frames.flip(1), fps=8)
    (folder / "manifest.jsonl").write_text(json.dumps({"source": "a.mp4", "target": "b.mp4", "instruction": "flip"}))
    return name


def build(case_id, g, models, server, datasets):
    if case_id == "comfy-incontext-width":
        edit_graph(g, models, context={"width": 30})
        return g
    if case_id == "comfy-incontext-length":
        edit_graph(g, models, context={"length": 8})
        return g
    if case_id == "comfy-incontext-strength-nan":
        return with_values(g, edit_graph(g, models)["context"], strength=NAN)
    if case_id == "comfy-sampler-cfg-nan":
        return with_values(g, edit_graph(g, models)["sampler"], cfg=NAN)
    if case_id == "comfy-sampler-image-latent":
        edit_graph(g, models, latent=g.node("EmptyLatentImage", width=64, height=32, batch_size=1))
        return g
    if case_id == "comfy-sampler-foreign-latent":
        latent = g.node("EmptyHunyuanLatentVideo", width=64, height=32, length=5, batch_size=1)
        edit_graph(g, models, latent=latent, sampler={"region": "auto"})
        return g
    if case_id == "comfy-sampler-latent-size":
        latent = g.node("EmptyHunyuanLatentVideo", width=128, height=32, length=5, batch_size=1)
        edit_graph(g, models, latent=latent)
        return g
    if case_id == "comfy-sampler-mask-size":
        mask = g.node("SolidMask", value=1.0, width=64, height=64)
        edit_graph(g, models, mask=mask, sampler={"region": "mask"})
        return g
    if case_id == "comfy-sampler-attention-blocks":
        edit_graph(g, models, sampler={"region": "auto", "attention_blocks": "abc"})
        return g
    if case_id == "comfy-decode-image-latent":
        vae = g.node("VAELoader", vae_name=models["vae"])
        decoded = g.node("ReCoDecode", vae=vae.out(0), samples=g.node("EmptyLatentImage", width=64, height=32,
                                                                         batch_size=1).out(0))
        g.node("ReCoTestSaveTensors", name=unique("decode"), image=decoded.out(0))
        return g
    if case_id == "comfy-lora-nan":
        name = write_lora(server, f"{unique('nan')}.safetensors", torch.full((2, 32), NAN), torch.randn(32, 2))
        return lora_graph(g, models, name)
    if case_id == "comfy-lora-rank0":
        name = write_lora(server, f"{unique('rank0')}.safetensors", torch.zeros(0, 32), torch.zeros(32, 0))
        return lora_graph(g, models, name)
    if case_id == "comfy-lora-strength-nan":
        name = write_lora(server, f"{unique('good')}.safetensors", torch.randn(2, 32), torch.randn(32, 2))
        return lora_graph(g, models, name, strength=NAN)
    if case_id == "comfy-train-manifest-outside":
        return train_graph(g, models, datasets["outside"])
    if case_id == "comfy-train-name-nul":
        return train_graph(g, models, datasets["good"], lora_name="my\0lora")
    if case_id == "comfy-train-name-too-long":
        return train_graph(g, models, datasets["good"], lora_name="x" * 300)
    if case_id == "comfy-train-learning-rate-nan":
        return train_graph(g, models, datasets["good"], learning_rate=NAN)
    if case_id == "comfy-shapes-strength-nan":
        loader = g.node("ReCoShapesLoader", lora_strength=0.9)
        g.node("ReCoTestModelForward", model=loader.out(0), name=unique("forward"), seed=5, frames=2, height=4,
               width=8, sigma=0.6)
        return with_values(g, loader, lora_strength=NAN)
    raise KeyError(case_id)


def outcome(comfy, prompt) -> tuple[str, str]:
    """(exception type or "validation", message) of a prompt that must fail."""
    try:
        entry = comfy.run_prompt(prompt, timeout=300, check=False)
    except PromptValidationError as error:
        details = [err.get("details", "") for info in error.node_errors.values() for err in info.get("errors", [])]
        return "validation", " ".join(detail.split(" - ", 1)[-1] for detail in details)  # "input - message"
    failures = status_messages(entry, "execution_error")
    assert failures, f"the prompt did not fail: {entry.get('status')}"
    return failures[0]["exception_type"], failures[0]["exception_message"]


def test_every_comfyui_row_has_a_graph():
    for case_id in ROWS:
        assert case_id.startswith("comfy-")


@pytest.mark.parametrize("case_id", sorted(ROWS))
def test_bad_node_input_gets_the_tables_message(comfy, tiny_models, comfyui_server, outside_dataset, good_dataset,
                                                case_id):
    case = ROWS[case_id]
    g = Graph()
    prompt = build(case_id, g, tiny_models, comfyui_server, {"outside": outside_dataset, "good": good_dataset})
    kind, message = outcome(comfy, prompt)
    message = message.replace(str(comfyui_server.base_dir), "DIR").strip()
    assert kind == "validation" or kind.endswith(CLEAR_ERRORS), f"{case_id}: {kind}: {message}"
    assert matches(case.message, message), f"{case_id}: {message}"


# ============================================================================================ held-out probe
# Other bad inputs of the same families, written without a message to match: each must end as a validation error,
# a clear ReCo error or a normal run, never as an exception a user would read as a traceback.


def held_out(case_id, g, models, server, datasets):
    def sampler_values(**values):
        return with_values(g, edit_graph(g, models, sampler={"region": "auto"})["sampler"], **values)

    if case_id == "sampler-denoise-nan":
        return with_values(g, edit_graph(g, models)["sampler"], denoise=NAN)
    if case_id in ("sampler-release-nan", "sampler-threshold-nan", "sampler-background-nan", "sampler-detect-at-nan"):
        return sampler_values(**{case_id.split("-")[1].replace("detect", "detect_at"): NAN})
    if case_id == "sampler-attention-blocks-out-of-range":
        edit_graph(g, models, sampler={"region": "auto", "attention_blocks": "0,7"})
        return g
    if case_id == "sampler-mask-two-frames":
        frames = g.node("ReCoTestVideoFrames", width=40, height=24, frames=2, seed=9)
        edit_graph(g, models, mask=frames.out(1), sampler={"region": "mask"})  # its MASK: 2 frames for 5
        return g
    if case_id == "sampler-latent-of-fewer-frames":
        latent = g.node("EmptyHunyuanLatentVideo", width=64, height=32, length=1, batch_size=1)
        edit_graph(g, models, latent=latent)
        return g
    if case_id == "decode-odd-width-video-latent":
        vae = g.node("VAELoader", vae_name=models["vae"])
        latent = g.node("EmptyHunyuanLatentVideo", width=40, height=32, length=5, batch_size=1)
        decoded = g.node("ReCoDecode", vae=vae.out(0), samples=latent.out(0))
        g.node("ReCoTestSaveTensors", name=unique("decode"), image=decoded.out(0))
        return g
    if case_id == "incontext-first-frame-of-another-size":
        first = g.node("ReCoTestVideoFrames", width=64, height=64, frames=1, seed=3)
        edit_graph(g, models, context={"first_frame": first.out(0)})
        return g
    if case_id == "incontext-length-nan":
        return with_values(g, edit_graph(g, models)["context"], length=NAN)
    if case_id == "lora-vector-alpha":
        from safetensors.torch import save_file

        key = "diffusion_model.blocks.0.self_attn.q"
        name = f"{unique('alpha')}.safetensors"
        save_file({f"{key}.lora_down.weight": torch.randn(2, 32), f"{key}.lora_up.weight": torch.randn(32, 2),
                   f"{key}.alpha": torch.ones(3)}, str(server.base_dir / "models" / "loras" / name))
        return lora_graph(g, models, name)
    if case_id == "lora-not-a-lora":
        name = f"{unique('junk')}.safetensors"
        (server.base_dir / "models" / "loras" / name).write_bytes(b"<html>404 not found</html>")
        return lora_graph(g, models, name)
    if case_id == "lora-integer-weights":
        name = write_lora(server, f"{unique('int')}.safetensors", torch.ones(2, 32, dtype=torch.int64),
                          torch.ones(32, 2, dtype=torch.int64))
        return lora_graph(g, models, name)
    if case_id == "train-manifest-parent":
        return train_graph(g, models, datasets["parent"])
    if case_id == "train-lora-name-dots":
        return train_graph(g, models, datasets["good"], lora_name="..")
    if case_id == "train-latent-weight-nan":
        return train_graph(g, models, datasets["good"], latent_weight=NAN)
    if case_id == "train-attn-weight-nan":
        return train_graph(g, models, datasets["good"], attn_weight=NAN)
    raise KeyError(case_id)


HELD_OUT = ["sampler-denoise-nan", "sampler-release-nan", "sampler-threshold-nan", "sampler-background-nan",
            "sampler-detect-at-nan", "sampler-attention-blocks-out-of-range", "sampler-mask-two-frames",
            "sampler-latent-of-fewer-frames", "decode-odd-width-video-latent", "incontext-first-frame-of-another-size",
            "incontext-length-nan", "lora-vector-alpha", "lora-not-a-lora", "lora-integer-weights",
            "train-manifest-parent", "train-lora-name-dots", "train-latent-weight-nan", "train-attn-weight-nan"]


@pytest.fixture(scope="module")
def parent_dataset(comfyui_server):
    """A dataset folder in input/ whose manifest reaches into its parent folder."""
    name = unique("parent")
    folder = comfyui_server.input_dir / name
    folder.mkdir()
    row = {"source": "../a.mp4", "target": "b.mp4", "instruction": "leave the folder"}
    (folder / "manifest.jsonl").write_text(json.dumps(row) + "\n")
    return name


@pytest.mark.parametrize("case_id", HELD_OUT)
def test_held_out_bad_node_input_never_ends_in_a_traceback(comfy, tiny_models, comfyui_server, good_dataset,
                                                           parent_dataset, case_id):
    g = Graph()
    prompt = held_out(case_id, g, tiny_models, comfyui_server, {"good": good_dataset, "parent": parent_dataset})
    try:
        entry = comfy.run_prompt(prompt, timeout=300, check=False)
    except PromptValidationError as error:
        print(f"{case_id}: validation: {error}")
        return  # ComfyUI refused the value itself, naming the input
    failures = status_messages(entry, "execution_error")
    if not failures:
        assert entry["status"]["status_str"] == "success", entry.get("status")
        print(f"{case_id}: ran")
        return  # handled: a valid input after all
    kind, message = failures[0]["exception_type"], failures[0]["exception_message"]
    assert kind.endswith(CLEAR_ERRORS), f"{case_id}: {kind}: {message}"
    assert ": " in message and message.rstrip().endswith("."), f"{case_id}: no input and fix in {message!r}"
    print(f"{case_id}: {kind}: {message}")
