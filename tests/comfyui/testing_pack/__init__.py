"""Test-only ComfyUI V3 pack for the ReCo integration tests (never shipped, never imported by the pack).

The test harness symlinks this folder into the scratch ComfyUI's custom_nodes/. Node ids start with
`ReCoTest`. Files are written under `<output>/reco_test/`.
"""
import hashlib
import math
import os
import re
import time

import torch
from typing_extensions import override

import comfy.model_management
import comfy.utils
import folder_paths
from comfy_api.latest import ComfyExtension, io, ui

SUBFOLDER = "reco_test"
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_name(name):
    if not name or not _NAME_RE.match(name) or name.startswith("."):
        return f"name {name!r} must be non-empty and use only letters, digits, '_', '-', '.'"
    return True


def _output_file(name, suffix):
    folder = os.path.join(folder_paths.get_output_directory(), SUBFOLDER)
    os.makedirs(folder, exist_ok=True)
    filename = name if name.endswith(suffix) else name + suffix
    return os.path.join(folder, filename), filename


def _seed_from(seed, text):
    if not text:
        return seed
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return (seed ^ int.from_bytes(digest[:7], "little")) & (2**63 - 1)


class ReCoTestConditioning(io.ComfyNode):
    """Stands in for the UMT5 text encoder: CONDITIONING [[randn(1, tokens, 4096), {}]]."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTestConditioning",
            display_name="ReCo Test Conditioning",
            category="ReCo/testing",
            description="Seeded random text context (1, tokens, 4096); a non-empty text is hashed into the seed.",
            inputs=[
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1),
                io.Int.Input("tokens", default=16, min=1, max=512),
                io.String.Input("text", default="", optional=True),
                io.Float.Input("scale", default=1.0, min=0.0, max=100.0, step=0.01, optional=True),
            ],
            outputs=[io.Conditioning.Output()],
        )

    @classmethod
    def execute(cls, seed, tokens, text="", scale=1.0):
        g = torch.Generator().manual_seed(_seed_from(seed, text))
        context = torch.randn(1, tokens, 4096, generator=g) * scale
        return io.NodeOutput([[context, {}]])


class ReCoTestSaveTensors(io.ComfyNode):
    """Saves LATENT / IMAGE / MASK / CONDITIONING tensors to <output>/reco_test/<name>.safetensors.

    Keys: latent.samples, latent.noise_mask, latent.<key> (other tensor or number entries, numbers as 0-d tensors),
    image, mask, sigmas, conditioning.<i>.cross_attn, conditioning.<i>.<key>[.<j>] (tensor values, or lists of
    tensors, in the conditioning dict).
    ui: {"text": [relative path], "tensors": [{"filename", "subfolder", "type": "output"}], "keys": [...]}.
    """

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTestSaveTensors",
            display_name="ReCo Test Save Tensors",
            category="ReCo/testing",
            inputs=[
                io.String.Input("name", default="tensors"),
                io.Latent.Input("latent", optional=True),
                io.Image.Input("image", optional=True),
                io.Mask.Input("mask", optional=True),
                io.Conditioning.Input("conditioning", optional=True),
                io.Sigmas.Input("sigmas", optional=True),
            ],
            outputs=[],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, name):
        return _check_name(name)

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        return float("nan")  # always write the file, even when the upstream outputs are cached

    @classmethod
    def execute(cls, name, latent=None, image=None, mask=None, conditioning=None, sigmas=None):
        tensors = {}
        if latent is not None:
            for key, value in latent.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"latent.{key}"] = value
                elif isinstance(value, (int, float)) and not isinstance(value, bool):
                    tensors[f"latent.{key}"] = torch.tensor(value)
        if sigmas is not None:
            tensors["sigmas"] = sigmas
        if image is not None:
            tensors["image"] = image
        if mask is not None:
            tensors["mask"] = mask
        for i, (context, extra) in enumerate(conditioning or []):
            tensors[f"conditioning.{i}.cross_attn"] = context
            for key, value in extra.items():
                if isinstance(value, torch.Tensor):
                    tensors[f"conditioning.{i}.{key}"] = value
                elif isinstance(value, (list, tuple)):
                    for j, item in enumerate(value):
                        if isinstance(item, torch.Tensor):
                            tensors[f"conditioning.{i}.{key}.{j}"] = item
        from safetensors.torch import save_file

        path, filename = _output_file(name, ".safetensors")
        save_file({k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}, path + ".tmp")
        os.replace(path + ".tmp", path)
        saved = ui.SavedResult(filename, SUBFOLDER, io.FolderType.output)
        return io.NodeOutput(ui={"text": [f"{SUBFOLDER}/{filename}"], "tensors": [saved], "keys": sorted(tensors)})


class ReCoTestVideoFrames(io.ComfyNode):
    """Deterministic synthetic video: coloured squares moving over a coloured background.

    Outputs IMAGE [frames, height, width, 3] in 0..1 and MASK [frames, height, width] of the first square.
    """

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTestVideoFrames",
            display_name="ReCo Test Video Frames",
            category="ReCo/testing",
            inputs=[
                io.Int.Input("width", default=64, min=8, max=4096, step=8),
                io.Int.Input("height", default=32, min=8, max=4096, step=8),
                io.Int.Input("frames", default=5, min=1, max=1024),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1),
                io.Int.Input("squares", default=3, min=1, max=32, optional=True),
            ],
            outputs=[io.Image.Output("images"), io.Mask.Output("mask")],
        )

    @classmethod
    def execute(cls, width, height, frames, seed, squares=3):
        images, mask = synthetic_video(width, height, frames, seed, squares)
        return io.NodeOutput(images, mask)


def synthetic_video(width, height, frames, seed, squares=3):
    g = torch.Generator().manual_seed(seed)
    background = torch.rand(3, generator=g) * 0.5
    images = background.expand(frames, height, width, 3).clone()
    mask = torch.zeros(frames, height, width)
    ys = torch.arange(height).view(height, 1)
    xs = torch.arange(width).view(1, width)
    for k in range(squares):
        colour = 0.5 + 0.5 * torch.rand(3, generator=g)
        size = max(2, int(min(width, height) * (0.2 + 0.2 * torch.rand(1, generator=g).item())))
        x0, y0 = (torch.rand(2, generator=g) * torch.tensor([width, height])).tolist()
        vx, vy = ((torch.rand(2, generator=g) - 0.5) * 8).tolist()
        for t in range(frames):
            x = int(x0 + vx * t) % max(1, width - size)
            y = int(y0 + vy * t) % max(1, height - size)
            inside = (ys >= y) & (ys < y + size) & (xs >= x) & (xs < x + size)
            images[t][inside] = colour
            if k == 0:
                mask[t][inside] = 1.0
    return images, mask


class ReCoTestSlowNode(io.ComfyNode):
    """Sleeps `seconds` in small steps; each step is an interrupt point. Writes <marker>.started when it begins."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTestSlowNode",
            display_name="ReCo Test Slow Node",
            category="ReCo/testing",
            inputs=[
                io.Float.Input("seconds", default=30.0, min=0.0, max=3600.0),
                io.String.Input("marker", default="slow"),
                io.AnyType.Input("anything", optional=True),
            ],
            outputs=[io.String.Output("text")],
            is_output_node=True,
        )

    @classmethod
    def validate_inputs(cls, marker):
        return _check_name(marker)

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        return float("nan")

    @classmethod
    def execute(cls, seconds, marker, anything=None):
        path, _ = _output_file(marker, ".started")
        with open(path, "w") as f:
            f.write(str(time.time()))
        step = 0.05
        steps = max(1, math.ceil(seconds / step))
        pbar = comfy.utils.ProgressBar(steps)
        for _ in range(steps):
            comfy.model_management.throw_exception_if_processing_interrupted()
            time.sleep(step)
            pbar.update(1)
        text = f"slept {seconds}s"
        return io.NodeOutput(text, ui={"text": [text]})


class ReCoTestStepCounter(io.ComfyNode):
    """Clones MODEL with a unet-function wrapper that appends one line per model call to
    <output>/reco_test/<name>.steps: "<sigma> <cond_or_uncond list>". Optional per-call delay (slow sampling).

    A sampling step makes one call per cond batch (cond and uncond are usually batched together), so
    the number of steps is the number of distinct sigmas in the file.
    """

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTestStepCounter",
            display_name="ReCo Test Step Counter",
            category="ReCo/testing",
            inputs=[
                io.Model.Input("model"),
                io.String.Input("name", default="steps"),
                io.Float.Input("delay", default=0.0, min=0.0, max=60.0, step=0.001),
            ],
            outputs=[io.Model.Output()],
        )

    @classmethod
    def validate_inputs(cls, name):
        return _check_name(name)

    @classmethod
    def fingerprint_inputs(cls, **kwargs):
        return float("nan")  # a fresh log file for every prompt

    @classmethod
    def execute(cls, model, name, delay=0.0):
        path, _ = _output_file(name, ".steps")
        open(path, "w").close()
        previous = model.model_options.get("model_function_wrapper")

        def count_calls(apply_model, args):
            sigma = float(args["timestep"].flatten()[0])
            with open(path, "a") as f:
                f.write(f"{sigma!r} {list(args['cond_or_uncond'])}\n")
            if delay > 0:
                end = time.monotonic() + delay
                while time.monotonic() < end:
                    comfy.model_management.throw_exception_if_processing_interrupted()
                    time.sleep(min(0.01, delay))
            if previous is not None:
                return previous(apply_model, args)
            return apply_model(args["input"], args["timestep"], **args["c"])

        patched = model.clone()
        patched.set_model_unet_function_wrapper(count_calls)
        return io.NodeOutput(patched)


class ReCoTestModelForward(io.ComfyNode):
    """Runs the MODEL's Wan-VACE network once on seeded inputs and saves the velocity it predicts.

    Lets a test compare core's model (with its LoRA patches applied) against another implementation
    on exactly the same x, timestep, text context and VACE context (all seeded, saved alongside).
    """

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTestModelForward",
            display_name="ReCo Test Model Forward",
            category="ReCo/testing",
            is_output_node=True,
            not_idempotent=True,
            inputs=[
                io.Model.Input("model"),
                io.String.Input("name", default="forward"),
                io.Int.Input("seed", default=0, min=0, max=2**31 - 1),
                io.Int.Input("frames", default=2, min=1, max=8),
                io.Int.Input("height", default=4, min=2, max=32),
                io.Int.Input("width", default=8, min=2, max=64),
                io.Float.Input("sigma", default=0.6, min=0.0, max=1.0),
            ],
            outputs=[],
        )

    @classmethod
    def execute(cls, model, name, seed, frames, height, width, sigma):
        from safetensors.torch import save_file

        gen = torch.Generator().manual_seed(seed)
        x = torch.randn(1, 16, frames, height, width, generator=gen)
        context = torch.randn(1, 8, 4096, generator=gen)
        vace_context = torch.randn(1, 1, 96, frames, height, width, generator=gen)
        timestep = torch.tensor([sigma * 1000.0])
        comfy.model_management.load_models_gpu([model], force_full_load=True)
        network = model.model.diffusion_model
        device = comfy.model_management.get_torch_device()
        with torch.no_grad():
            out = network(x.to(device), timestep.to(device), context.to(device),
                          vace_context=vace_context.to(device), vace_strength=[1.0])
        path, filename = _output_file(name, ".safetensors")
        save_file({"x": x, "context": context, "vace_context": vace_context, "timestep": timestep,
                   "velocity": out.float().cpu().contiguous()}, path)
        return io.NodeOutput(ui={"text": [path], "tensors": [{"filename": filename, "subfolder": SUBFOLDER,
                                                              "type": "output"}]})


class _FakeClip:
    """Stands in for core's CLIP object: tokenize() keeps the text, encode_from_tokens() returns seeded
    random embeddings [1, 8, 4096] derived from the text, so equal texts give equal embeddings."""

    def __init__(self, seed):
        self.seed = seed
        self.cond_stage_model = torch.nn.Linear(4, 4)

    def tokenize(self, text):
        return text

    def encode_from_tokens(self, tokens, return_pooled=False):
        gen = torch.Generator().manual_seed(_seed_from(self.seed, tokens or "<empty>"))
        return torch.randn(1, 8, 4096, generator=gen)


class ReCoTestCLIP(io.ComfyNode):
    """A CLIP stand-in for nodes that encode text themselves (e.g. ReCoTrainLoRA)."""

    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="ReCoTestCLIP",
            display_name="ReCo Test CLIP",
            category="ReCo/testing",
            inputs=[io.Int.Input("seed", default=0, min=0, max=2**31 - 1)],
            outputs=[io.Clip.Output()],
        )

    @classmethod
    def execute(cls, seed):
        return io.NodeOutput(_FakeClip(seed))


class ReCoTestingExtension(ComfyExtension):
    @override
    async def get_node_list(self):
        return [ReCoTestConditioning, ReCoTestSaveTensors, ReCoTestVideoFrames, ReCoTestSlowNode, ReCoTestStepCounter,
                ReCoTestModelForward, ReCoTestCLIP]


async def comfy_entrypoint():
    return ReCoTestingExtension()
