#!/usr/bin/env python3
"""Generate the example workflows in workflows/ (ComfyUI UI format, LiteGraph "version": 0.4).

Each workflow is described compactly below (nodes, the links between them, widget values, groups). The
node definitions saved in workflows/node_definitions/object_info.json give every node's input slots,
output slots and widget order, so the files match what frontend 1.27.10 itself saves (widget inputs after
socket inputs, the extra control_after_generate widget after seed INTs, the upload widget of file pickers).

    python scripts/make_workflows.py                  # regenerate workflows/*.json from the saved definitions
    python scripts/make_workflows.py --check          # exit 1 if a file is out of date
    python scripts/make_workflows.py --server URL     # refresh the saved definitions from a running ComfyUI
                                                      # that has this pack, then regenerate
    python scripts/make_workflows.py --server URL --thumbnails [--screenshots docs/images]
        # also render workflows/<name>.jpg (and DIR/workflow_<name>.png) in the real front end with headless
        # Chromium (tests/comfyui/frontend.py); CHROME_PATH picks the browser

Output is deterministic: ids, positions and the workflow UUID depend only on this file and the saved
definitions. Standard library plus this project's reco_core, for the miniature's default LoRA strength and the
authors' negative prompt (thumbnails also need a Chromium binary).
"""
from __future__ import annotations

import argparse
import difflib
import json
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from reco_core.engine.options import RECO_NEGATIVE_PROMPT  # noqa: E402  (the authors' negative prompt)
from reco_core.shapes.model import (  # noqa: E402  (the miniature's own defaults)
    FRAMES as SHAPES_FRAMES, SHAPES_EDIT_DEFAULTS, SHAPES_LORA_STRENGTH)

WORKFLOWS_DIR = REPO_ROOT / "workflows"
# Not directly in workflows/: ComfyUI lists every workflows/*.json as a template.
OBJECT_INFO_PATH = WORKFLOWS_DIR / "node_definitions" / "object_info.json"
PACK_CNR_ID = "reco-video-edit"
CORE_CNR_ID = "comfy-core"

#: Node types that exist only in the front end (no /object_info entry, not part of the API prompt).
FRONTEND_NODES = {"MarkdownNote": ["text"], "Note": ["text"]}
#: Combo inputs whose options are the user's files: their option lists are not saved (they differ per install).
FILE_INPUTS = {
    "UNETLoader": ("unet_name",),
    "CLIPLoader": ("clip_name",),
    "VAELoader": ("vae_name",),
    "ReCoLoRALoader": ("lora_name",),
    "LoadVideo": ("file",),
    "LoadImage": ("image",),
    "ReCoTrainLoRA": ("dataset", "base_model"),
}
WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}
UPLOAD_FLAGS = ("image_upload", "video_upload", "animated_image_upload")
TITLE_HEIGHT = 30          # LiteGraph.NODE_TITLE_HEIGHT: the title bar sits above a node's pos
GROUP_TITLE_HEIGHT = 34    # a group's title bar (font size 24)
GROUP_PADDING = 10
NODE_GAP = 30              # vertical space between stacked nodes (below the next node's title bar)
COLUMN_GAP = 60            # horizontal space between columns of groups
GROUP_GAP = 40             # vertical space between groups stacked in one column
COLORS = {                 # (color, bgcolor), the palette core templates use
    "green": ("#232", "#353"),
    "red": ("#322", "#533"),
    "note": ("#432", "#653"),
    "blue": ("#223", "#335"),
}
GROUP_COLOR = "#3f789e"

# --------------------------------------------------------------------------------------------------
# Model files
# --------------------------------------------------------------------------------------------------
REPACKAGED = "https://huggingface.co/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"


@dataclass(frozen=True)
class Model:
    name: str          # the bare file name, also the widget value
    url: str
    directory: str     # the models/ folder key

    def entry(self):
        return {"name": self.name, "url": self.url, "directory": self.directory}


VACE_1_3B = Model("wan2.1_vace_1.3B_fp16.safetensors",
                  f"{REPACKAGED}/diffusion_models/wan2.1_vace_1.3B_fp16.safetensors", "diffusion_models")
UMT5 = Model("umt5_xxl_fp8_e4m3fn_scaled.safetensors",
             f"{REPACKAGED}/text_encoders/umt5_xxl_fp8_e4m3fn_scaled.safetensors", "text_encoders")
WAN21_VAE = Model("wan_2.1_vae.safetensors", f"{REPACKAGED}/vae/wan_2.1_vae.safetensors", "vae")
RECO_LORA = Model("ReCo_ori_rank128-2025_m12_version.ckpt",
                  "https://huggingface.co/HiDream-ai/ReCo/resolve/main/ReCo_ori_rank128-2025_m12_version.ckpt",
                  "loras")
RECO_REF_LORA = Model("ReCo_ref_rank256-2026_m4_version.ckpt",
                      "https://huggingface.co/HiDream-ai/ReCo/resolve/main/ReCo_ref_rank256-2026_m4_version.ckpt",
                      "loras")

#: The authors' settings (inference_reco_single.py): flow-matching Euler, 50 steps, shift 5, cfg 5, seed 1 (with
#: KSampler's CPU noise that is their noise, bit for bit, for an 81-frame clip without a reference image).
AUTHORS_SAMPLING = dict(seed=1, control_after_generate="fixed", steps=50, cfg=5.0, sampler_name="euler",
                        scheduler="simple", denoise=1.0)


# --------------------------------------------------------------------------------------------------
# The compact description: nodes, links (an input given an Out), widget values, groups and columns
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Out:
    """Output `name` of node `node`: the value of an input that is linked. A linked widget input still stores
    a value in widgets_values (shown greyed out): `widget_value`, or the input's default."""
    node: "Node"
    name: str
    widget_value: object = None


@dataclass(eq=False)
class Node:
    type: str
    size: tuple[int, int]
    values: dict                      # input name -> widget value, or Out for a link
    title: str | None = None
    color: str | None = None
    models: tuple[Model, ...] = ()
    id: int = 0
    pos: tuple[int, int] = (0, 0)

    def out(self, name, widget_value=None):
        return Out(self, name, widget_value)


@dataclass
class Group:
    title: str
    nodes: list[Node] = field(default_factory=list)

    def add(self, type_, size, title=None, color=None, models=(), **values):
        node = Node(type_, size, values, title, color, tuple(models))
        self.nodes.append(node)
        return node


@dataclass
class Workflow:
    name: str
    columns: list[list[Group]] = field(default_factory=list)   # left to right; groups stack top to bottom
    notes: list[Node] = field(default_factory=list)            # free nodes, left of the first column
    scale: float = 0.6                                         # initial zoom (extra.ds)
    thumbnail_groups: tuple[str, ...] = ()                     # what the thumbnail shows (default: all)


def add_video_saver(group, what, images, fps, prefix, width, height):
    """Create Video + Save Video (H.264 mp4) of `images` at `fps`, titled by `what`."""
    video = group.add("CreateVideo", (width, 78), title=f"Create Video ({what})", images=images, fps=fps)
    group.add("SaveVideo", (width, height), title=f"Save Video ({what})", video=video.out("VIDEO"),
              filename_prefix=prefix, format="mp4", codec="h264")


def markdown_note(text, size, title=None):
    return Node("MarkdownNote", size, {"text": text}, title, "note")


SETTINGS_NOTE = """### The authors' settings (the defaults here)
Euler (`euler`, scheduler `simple`) with ModelSamplingSD3 shift 5: exactly the authors' 50 sigmas. cfg 5, their
negative prompt, 832x480 per half, 81 frames (5 s at 16 fps; give a 16 fps clip), seed 1 (their noise).
ReCo Decode decodes the whole canvas and crops the edit, as they do. Faster: `uni_pc` with 30 steps (close to
their diffusers conversion, which they say may lose quality), or ReCo Decode's `decode` = target.

### Clip length
A clip longer than `length` gives its first `length` frames. A shorter one is padded with copies of its last
frame up to `length`, as the authors do, and ReCo Decode trims those frames again; both nodes say so in a note
under them. `short_clip` = shorten samples the longest 4n+1 length the clip holds instead (faster)."""


RECO_NOTE = f"""## ReCo: edit a video by typing what to change

ReCo puts your clip and a blank copy side by side, **[source | target]**, and Wan2.1-VACE-1.3B with the ReCo LoRA
paints the target half as the edited clip. No mask to draw: the instruction says what changes.

### Model files (file -> ComfyUI folder)
- [{VACE_1_3B.name}]({VACE_1_3B.url}) -> `models/diffusion_models`
- [{UMT5.name}]({UMT5.url}) -> `models/text_encoders`
- [{WAN21_VAE.name}]({WAN21_VAE.url}) -> `models/vae`
- [{RECO_LORA.name}]({RECO_LORA.url}) -> `models/loras`

The LoRA is released as a `.ckpt`; ReCo LoRA Loader reads only its weights (code inside is refused). The
missing-models dialog offers downloads for `.safetensors` files only, so fetch the LoRA with the link above.

### Inputs
- **Load Video**: the clip to edit (put it in `ComfyUI/input` or upload it). Frames come out of
  Get Video Components; the saved videos keep its frame rate.
- **Instruction**: what to change, e.g. "remove the man on the left", "make it snow", "turn the car red".
- **Negative prompt**: the authors' (Wan's standard one without "style, works, paintings", which would
  push against style edits).
- **ReCo In-Context Edit**: `width` x `height` is the size of *each half* (the canvas is twice as wide);
  `length` is the number of frames (4n+1); `strength` is the VACE strength; `keep_source` and the optional
  `first_frame` are explained below; `resize_mode` fits a source of another size (crop, pad, stretch, or
  nearest, the authors' exact resize).
- **ReCo Decode**: `edited` is the right half, the result; `comparison` shows source | edit.

{SETTINGS_NOTE}

### Tips
- `keep_source` on holds the source half at the re-noised source at every step: the edit can stay closer
  to the source. Off (default) reproduces the paper.
- `first_frame`: connect your own edit of the first frame (an image, e.g. from an image editor; it is fitted
  like the source) and ReCo carries that edit through the clip.
- To add an object from a picture, use the ReCo_ref template ("edit with a reference image").
- The canvas doubles the width, so memory and time are about those of a 1664x480 video. Fewer frames
  (`length` 49 or 33) or a smaller size make a quick test.
"""


REF_NOTE = f"""## ReCo_ref: add what a picture shows

The same edit graph with the **ReCo_ref** LoRA (rank 256) and a **reference image**: "add the hat in the
picture to the man", "replace the car with the one in the image", "put the background of the picture
behind her". ReCo In-Context Edit fits the picture on white, lays it as [white | picture] and puts it in front
of the clip as one more frame (22 latent frames for 81); ReCo Decode drops that frame again. Without a
reference image ReCo_ref edits from the instruction alone.

### Model files (file -> ComfyUI folder)
- [{VACE_1_3B.name}]({VACE_1_3B.url}) -> `models/diffusion_models`
- [{UMT5.name}]({UMT5.url}) -> `models/text_encoders`
- [{WAN21_VAE.name}]({WAN21_VAE.url}) -> `models/vae`
- [{RECO_REF_LORA.name}]({RECO_REF_LORA.url}) -> `models/loras` (fetch it with this link: the
  missing-models dialog offers downloads for `.safetensors` files only)

### Inputs
- **Load Video**: the clip to edit. **Load Image**: the reference picture (any size: it is fitted whole,
  centred on white, as the authors do).
- **Instruction**: say what to do with the picture's content.

{SETTINGS_NOTE}

Region-constrained sampling (ReCo Sampler's region auto or mask) cannot be combined with a reference yet.
"""


def reco_edit_groups(lora_file, instruction_text, prefix, reference=None):
    """The groups of the edit graph on Wan2.1-VACE-1.3B: models (with `lora_file`), instruction, source, edit and
    save; `reference`, a node with an IMAGE output, goes to ReCo In-Context Edit's reference (ReCo_ref)."""
    models = Group("Load models")
    unet = models.add("UNETLoader", (400, 82), title="Load Diffusion Model (Wan2.1 VACE 1.3B)", color="red",
                      models=[VACE_1_3B], unet_name=VACE_1_3B.name, weight_dtype="default")
    sampling = models.add("ModelSamplingSD3", (400, 58), model=unet.out("MODEL"), shift=5.0)
    lora = models.add("ReCoLoRALoader", (400, 82), color="red", models=[lora_file], model=sampling.out("MODEL"),
                      lora_name=lora_file.name, strength=1.0)
    clip = models.add("CLIPLoader", (400, 106), color="red", models=[UMT5], clip_name=UMT5.name, type="wan",
                      device="default")
    vae = models.add("VAELoader", (400, 58), color="red", models=[WAN21_VAE], vae_name=WAN21_VAE.name)

    source = Group("Source clip")
    video = source.add("LoadVideo", (420, 330), color="red", file="source_clip.mp4")   # room for the preview
    components = source.add("GetVideoComponents", (420, 66), video=video.out("VIDEO"))

    instruction = Group("Instruction")
    positive = instruction.add("CLIPTextEncode", (420, 130), title="Instruction (positive prompt)", color="green",
                               clip=clip.out("CLIP"), text=instruction_text)
    negative = instruction.add("CLIPTextEncode", (420, 200), title="Negative prompt", color="red",
                               clip=clip.out("CLIP"), text=RECO_NEGATIVE_PROMPT)

    edit = Group("ReCo edit")
    in_context = edit.add("ReCoInContext", (340, 306), color="blue", positive=positive.out("CONDITIONING"),
                          negative=negative.out("CONDITIONING"), vae=vae.out("VAE"),
                          source=components.out("images"), width=832, height=480, length=81, strength=1.0,
                          keep_source=False, resize_mode="crop", short_clip="pad",
                          **({"reference": reference.out("IMAGE")} if reference is not None else {}))
    sampler = edit.add("KSampler", (340, 262), model=lora.out("MODEL"), positive=in_context.out("positive"),
                       negative=in_context.out("negative"), latent_image=in_context.out("latent"),
                       **AUTHORS_SAMPLING)
    decode = edit.add("ReCoDecode", (340, 100), color="blue", vae=vae.out("VAE"), samples=sampler.out("LATENT"),
                      source=components.out("images"), decode="canvas")

    save = Group("Save")
    fps = components.out("fps", widget_value=16.0)
    add_video_saver(save, "edit", decode.out("edited"), fps, f"video/{prefix}_edit", width=400, height=340)
    add_video_saver(save, "comparison", decode.out("comparison"), fps, f"video/{prefix}_comparison", width=400,
                    height=240)
    return models, instruction, source, edit, save


def reco_wan21_vace_edit():
    """ReCo on Wan2.1-VACE-1.3B with core loaders, core KSampler and the pack's three nodes."""
    models, instruction, source, edit, save = reco_edit_groups(RECO_LORA, "remove the man on the left", "ReCo")
    note = markdown_note(RECO_NOTE, (560, 660), title="Read me: ReCo video edit")
    return Workflow("reco_wan21_vace_edit", columns=[[models], [instruction, source], [edit], [save]],
                    notes=[note], thumbnail_groups=("Instruction", "Source clip", "ReCo edit", "Save"))


def reco_wan21_vace_ref_edit():
    """ReCo_ref: the same graph with the ReCo_ref LoRA and a reference image (Load Image -> reference)."""
    reference = Group("Reference image")
    image = reference.add("LoadImage", (420, 330), color="red", image="reference.png")
    models, instruction, source, edit, save = reco_edit_groups(RECO_REF_LORA, "add the hat in the picture to the man",
                                                               "ReCo_ref", reference=image)
    note = markdown_note(REF_NOTE, (560, 480), title="Read me: ReCo_ref, edit with a reference image")
    return Workflow("reco_wan21_vace_ref_edit", columns=[[models], [instruction, source], [reference, edit], [save]],
                    notes=[note], thumbnail_groups=("Instruction", "Source clip", "Reference image", "ReCo edit"))


SHAPES_NOTE = f"""## ReCo-Shapes: the whole ReCo graph, no download

The pack ships a miniature of ReCo (a tiny Wan2.1-VACE model with its ReCo LoRA, VAE and text encoder) trained
on a world of coloured shapes. This graph is the real edit graph on it and runs on a CPU in seconds.

1. **ReCo-Shapes Demo Clip** picks a bundled clip (add, remove, replace, style) and its instruction.
2. The instruction goes into CLIP Text Encode: type your own there instead, e.g. "add a white square to the
   left of the red circle" (add names where), "remove the green circle", "replace the red triangle with a
   blue circle", "make it black and white".
3. **ReCo In-Context Edit** builds the [source | target] canvas at {SHAPES_EDIT_DEFAULTS["width"]}x{SHAPES_EDIT_DEFAULTS["height"]} per half, {SHAPES_FRAMES} frames.
4. **ReCo Sampler** denoises both halves with {SHAPES_EDIT_DEFAULTS["steps"]} Euler steps, the miniature's own settings. Its region
   mode is off here: set it to auto to see where the edit happens, read from the model's own
   estimates (a region overlay on its preview); docs/region.md says what it changes on this model.
5. **ReCo Decode** shows a before/after wipe: drag it, step frames, play.

The miniature knows only this world: real footage gives meaningless edits. For real videos open
"ReCo: edit a video (Wan2.1 VACE 1.3B)".
"""


def reco_shapes_edit():
    """The same graph on the bundled miniature: no files to download."""
    models = Group("Load the bundled miniature")
    loader = models.add("ReCoShapesLoader", (340, 106), color="blue", lora_strength=SHAPES_LORA_STRENGTH)
    sampling = models.add("ModelSamplingSD3", (340, 58), model=loader.out("model"), shift=SHAPES_EDIT_DEFAULTS["shift"])

    source = Group("Source clip")
    clip = source.add("ReCoShapesClip", (340, 106), color="blue", clip="add")

    instruction = Group("Instruction")
    positive = instruction.add("CLIPTextEncode", (400, 130), title="Instruction (positive prompt)", color="green",
                               clip=loader.out("clip"),
                               text=clip.out("instruction", widget_value="add a red triangle to the right of the green square"))
    negative = instruction.add("CLIPTextEncode", (400, 100), title="Negative prompt", color="red",
                               clip=loader.out("clip"), text="")

    edit = Group("ReCo edit")
    in_context = edit.add("ReCoInContext", (340, 306), color="blue", positive=positive.out("CONDITIONING"),
                          negative=negative.out("CONDITIONING"), vae=loader.out("vae"), source=clip.out("images"),
                          width=SHAPES_EDIT_DEFAULTS["width"], height=SHAPES_EDIT_DEFAULTS["height"], length=SHAPES_FRAMES,
                          strength=1.0, keep_source=False, resize_mode="crop")
    sampler = edit.add("ReCoSampler", (340, 460), color="blue", model=sampling.out("MODEL"),
                       positive=in_context.out("positive"), negative=in_context.out("negative"),
                       latent_image=in_context.out("latent"), seed=0, control_after_generate="fixed",
                       steps=SHAPES_EDIT_DEFAULTS["steps"], cfg=SHAPES_EDIT_DEFAULTS["cfg"],
                       sampler_name=SHAPES_EDIT_DEFAULTS["sampler"], scheduler="simple", region="off", background=0.8,
                       attention="region")
    decode = edit.add("ReCoDecode", (400, 420), color="blue", vae=loader.out("vae"), samples=sampler.out("latent"),
                      source=clip.out("images"))

    save = Group("Save")
    add_video_saver(save, "edit", decode.out("edited"), clip.out("fps", widget_value=8.0), "video/ReCo_shapes_edit",
                    width=340, height=300)

    note = markdown_note(SHAPES_NOTE, (460, 520), title="Read me: ReCo-Shapes")
    return Workflow("reco_shapes_edit", columns=[[models, source, instruction], [edit], [save]], notes=[note],
                    thumbnail_groups=("ReCo edit",))


TRAIN_NOTE = f"""## Train your own ReCo LoRA

**ReCo Train LoRA** trains a LoRA with the paper's recipe (flow matching on the [source | target] canvas,
L_latent and L_attn region losses) and writes it to `models/loras`, where ReCo LoRA Loader finds it.

### The dataset
A folder in `ComfyUI/input` with either a `manifest.jsonl` (one pair per line: `source`, `target`,
`instruction`, optional `mask` and `task`, paths relative to the folder) or one sub-folder per pair
(`source.mp4`, `target.mp4`, `instruction.txt`, optional `mask.mp4` and `task.txt`). Without a mask the edit
region is derived from where the target differs from the source; style edits use the whole frame.

### Model files (file -> ComfyUI folder)
- [{VACE_1_3B.name}]({VACE_1_3B.url}) -> `models/diffusion_models` (train on fp16/bf16 weights, not fp8 or GGUF)
- [{UMT5.name}]({UMT5.url}) -> `models/text_encoders`
- [{WAN21_VAE.name}]({WAN21_VAE.url}) -> `models/vae`

### Settings
The defaults are the released recipe (rank 128, lr 5e-5, lambda 1e-3 for both region losses). Clips and
instructions are encoded once into a cache in `output/reco_runs/<lora name>`; checkpoints go there too.
**Cancel** keeps the last step; queue again with `resume` on to continue. Training 1.3B at 480x832x81 needs a
large GPU: start with a smaller size and length to check your data. Watch the loss curve in the preview.

Command line, same trainer: `python -m reco_core train --config run.toml --out runs/my_lora`.
"""


def reco_train_lora():
    """Train a ReCo LoRA in ComfyUI on a folder of pairs, with core VAE and text-encoder loaders."""
    models = Group("Load models")
    clip = models.add("CLIPLoader", (400, 106), color="red", models=[UMT5], clip_name=UMT5.name, type="wan",
                      device="default")
    vae = models.add("VAELoader", (400, 58), color="red", models=[WAN21_VAE], vae_name=WAN21_VAE.name)

    train = Group("Train")
    trainer = train.add("ReCoTrainLoRA", (420, 520), color="blue", models=[VACE_1_3B], dataset="reco_pairs",
                        base_model=VACE_1_3B.name, vae=vae.out("VAE"), clip=clip.out("CLIP"),
                        lora_name="my_reco_lora", steps=1000, rank=128, learning_rate=5e-5, width=832, height=480,
                        length=81, resume=True, latent_weight=1e-3, attn_weight=1e-3, gradient_accumulation=2,
                        save_every=250, seed=0, control_after_generate="fixed")
    train.add("PreviewImage", (420, 320), title="Loss curve", images=trainer.out("loss_curve"))

    note = markdown_note(TRAIN_NOTE, (520, 560), title="Read me: train a ReCo LoRA")
    return Workflow("reco_train_lora", columns=[[models], [train]], notes=[note], thumbnail_groups=("Train",))


LONG_CLIP_NOTE = f"""## ReCo: edit a whole shot, not only its first 81 frames

ReCo was trained on 81-frame clips (5 s at 16 fps). **ReCo Long Clip Edit** edits a clip of any length: it cuts
it into windows of `length` frames that share `overlap` frames, edits each window with ReCo, and blends the
shared frames. Each window after the first starts from the edit's frame where it begins, shown to the model as
ReCo's edited first frame (the first-frame mode the authors trained), so what was added keeps its look and what
was removed stays away. Every frame comes back: save it at the clip's own fps (wired here from Get Video
Components). One window is sampled at a time, so memory is that of one 81-frame edit; time grows with the
number of windows. The progress bar runs over all windows; cancel stops within a step.

### Model files (file -> ComfyUI folder)
- [{VACE_1_3B.name}]({VACE_1_3B.url}) -> `models/diffusion_models`
- [{UMT5.name}]({UMT5.url}) -> `models/text_encoders`
- [{WAN21_VAE.name}]({WAN21_VAE.url}) -> `models/vae`
- [{RECO_LORA.name}]({RECO_LORA.url}) -> `models/loras` (fetch it with this link: the missing-models dialog
  offers downloads for `.safetensors` files only)

### Settings
- `length` 81 and `overlap` 5 (a window every 76 frames); the sampler settings are the authors' (Euler,
  `simple`, 50 steps, cfg 5, ModelSamplingSD3 shift 5, seed 1 for every window).
- `region` off is plain ReCo; auto finds the region in each window; mask takes a MASK of the source's size,
  one per frame (sliced per window) or a still one.
- Expert: `windows` independent edits each window on its own (for comparison); `first_frame` is your own
  edit of the clip's first frame, handed on from window to window.

A clip no longer than `length` is one window, padded with its last frame as the authors do and trimmed back:
the same result as the three-node graph of the "edit a video" template. docs/long-clips.md has the measurements.
"""


def reco_long_clip_edit():
    """ReCo on a clip of any length: the pack's long-clip node with core loaders, Load Video and Save Video."""
    models = Group("Load models")
    unet = models.add("UNETLoader", (400, 82), title="Load Diffusion Model (Wan2.1 VACE 1.3B)", color="red",
                      models=[VACE_1_3B], unet_name=VACE_1_3B.name, weight_dtype="default")
    sampling = models.add("ModelSamplingSD3", (400, 58), model=unet.out("MODEL"), shift=5.0)
    lora = models.add("ReCoLoRALoader", (400, 82), color="red", models=[RECO_LORA], model=sampling.out("MODEL"),
                      lora_name=RECO_LORA.name, strength=1.0)
    clip = models.add("CLIPLoader", (400, 106), color="red", models=[UMT5], clip_name=UMT5.name, type="wan",
                      device="default")
    vae = models.add("VAELoader", (400, 58), color="red", models=[WAN21_VAE], vae_name=WAN21_VAE.name)

    source = Group("Source clip (any length)")
    video = source.add("LoadVideo", (420, 330), color="red", file="source_clip.mp4")
    components = source.add("GetVideoComponents", (420, 66), video=video.out("VIDEO"))

    instruction = Group("Instruction")
    positive = instruction.add("CLIPTextEncode", (420, 130), title="Instruction (positive prompt)", color="green",
                               clip=clip.out("CLIP"), text="remove the man on the left")
    negative = instruction.add("CLIPTextEncode", (420, 200), title="Negative prompt", color="red",
                               clip=clip.out("CLIP"), text=RECO_NEGATIVE_PROMPT)

    edit = Group("ReCo long clip edit")
    sampler = {key: value for key, value in AUTHORS_SAMPLING.items() if key != "denoise"}
    long_edit = edit.add("ReCoLongClipEdit", (360, 640), color="blue", model=lora.out("MODEL"),
                         positive=positive.out("CONDITIONING"), negative=negative.out("CONDITIONING"),
                         vae=vae.out("VAE"), source=components.out("images"), width=832, height=480, length=81,
                         overlap=5, strength=1.0, region="off", windows="chain", **sampler)

    save = Group("Save")
    fps = components.out("fps", widget_value=16.0)
    add_video_saver(save, "edit", long_edit.out("edited"), fps, "video/ReCo_long_edit", width=400, height=340)
    add_video_saver(save, "comparison", long_edit.out("comparison"), fps, "video/ReCo_long_comparison", width=400,
                    height=240)
    note = markdown_note(LONG_CLIP_NOTE, (560, 640), title="Read me: ReCo on a whole shot")
    return Workflow("reco_long_clip_edit", columns=[[models], [instruction, source], [edit], [save]], notes=[note],
                    thumbnail_groups=("Instruction", "Source clip (any length)", "ReCo long clip edit", "Save"))


WORKFLOWS = [reco_wan21_vace_edit, reco_wan21_vace_ref_edit, reco_shapes_edit, reco_train_lora, reco_long_clip_edit]


# --------------------------------------------------------------------------------------------------
# Node definitions: the saved copy of /object_info
# --------------------------------------------------------------------------------------------------
def used_node_types(workflows=None):
    types = set()
    for make in workflows or WORKFLOWS:
        wf = make()
        types.update(node.type for node in all_nodes(wf))
    return sorted(types - set(FRONTEND_NODES))


def trim_node_info(node_type, info):
    """The parts of one /object_info entry that shape a workflow, without tooltips, descriptions and the
    per-install file lists of FILE_INPUTS."""
    keep = ("name", "display_name", "category", "python_module", "output_node", "input_order", "output",
            "output_name", "output_is_list")
    trimmed = {key: info[key] for key in keep if key in info}
    trimmed["input"] = {}
    for section, inputs in info.get("input", {}).items():
        trimmed["input"][section] = {}
        for name, spec in inputs.items():
            spec = json.loads(json.dumps(spec))
            options = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else None
            if options is not None:
                options.pop("tooltip", None)
            if name in FILE_INPUTS.get(node_type, ()):
                if isinstance(spec[0], list):
                    spec[0] = []
                if options is not None and "options" in options:
                    options["options"] = []
            trimmed["input"][section][name] = spec
    return trimmed


def fetch_object_info(server, node_types):
    """{"_meta": {...}, node type: trimmed info} from a running ComfyUI."""
    server = server.rstrip("/")
    with urllib.request.urlopen(f"{server}/system_stats", timeout=30) as resp:
        stats = json.load(resp)["system"]
    saved = {"_meta": {"comfyui_version": stats.get("comfyui_version"),
                       "frontend_version": stats.get("required_frontend_version"),
                       "note": "written by scripts/make_workflows.py --server; node definitions used by workflows/"}}
    for node_type in node_types:
        with urllib.request.urlopen(f"{server}/object_info/{node_type}", timeout=30) as resp:
            info = json.load(resp).get(node_type)
        if info is None:
            raise SystemExit(f"{server} has no node {node_type} (is the pack installed and importing?)")
        saved[node_type] = trim_node_info(node_type, info)
    return saved


def load_object_info(path=OBJECT_INFO_PATH):
    return json.loads(Path(path).read_text(encoding="utf-8"))


def input_specs(info):
    """[(name, spec, optional)] in the node's input order (required, then optional)."""
    specs = []
    order = info.get("input_order") or {s: list(v) for s, v in info["input"].items()}
    for section in ("required", "optional"):
        for name in order.get(section, []):
            specs.append((name, info["input"][section][name], section == "optional"))
    return specs


def input_type(spec):
    """"INT", "COMBO", "IMAGE", ... (a V1 combo is a list of options)."""
    return "COMBO" if isinstance(spec[0], list) else spec[0]


def spec_options(spec):
    return spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}


def is_widget(spec):
    return input_type(spec) in WIDGET_TYPES and not spec_options(spec).get("forceInput")


def combo_values(spec):
    return spec[0] if isinstance(spec[0], list) else spec_options(spec).get("options", [])


def widget_layout(node_type, info):
    """The front end's widgets of a node type, in order: [(widget name, input name or None, kind)] where kind
    is "input" (a widget for an input), "control" (control_after_generate) or "upload" (the file button)."""
    if node_type in FRONTEND_NODES:
        return [(name, name, "input") for name in FRONTEND_NODES[node_type]]
    layout = []
    for name, spec, _optional in input_specs(info):
        if not is_widget(spec):
            continue
        layout.append((name, name, "input"))
        options = spec_options(spec)
        kind = input_type(spec)
        if kind in ("INT", "FLOAT") and (options.get("control_after_generate") or name in ("seed", "noise_seed")):
            layout.append(("control_after_generate", None, "control"))
        elif kind == "COMBO" and options.get("control_after_generate"):
            raise NotImplementedError(f"{node_type}.{name}: combo with control_after_generate")
        if kind == "COMBO" and any(options.get(flag) for flag in UPLOAD_FLAGS):
            layout.append(("upload", None, "upload"))
    return layout


# --------------------------------------------------------------------------------------------------
# Building the UI JSON
# --------------------------------------------------------------------------------------------------
def all_nodes(wf):
    return [*wf.notes, *(node for column in wf.columns for group in column for node in group.nodes)]


def check_widget_value(node, name, spec, value):
    kind = input_type(spec)
    options = spec_options(spec)
    where = f"{node.type}.{name} = {value!r}"
    if kind == "COMBO":
        values = combo_values(spec)
        if name in FILE_INPUTS.get(node.type, ()):
            if not isinstance(value, str) or "/" in value or "\\" in value:
                raise ValueError(f"{where}: file widgets take a bare file name")
        elif value not in values:
            raise ValueError(f"{where}: not one of {values}")
    elif kind == "BOOLEAN":
        if not isinstance(value, bool):
            raise ValueError(f"{where}: not a boolean")
    elif kind in ("INT", "FLOAT"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "INT" and value != int(value)):
            raise ValueError(f"{where}: not an {kind}")
        if "min" in options and value < options["min"] or "max" in options and value > options["max"]:
            raise ValueError(f"{where}: outside [{options.get('min')}, {options.get('max')}]")
    elif kind == "STRING" and not isinstance(value, str):
        raise ValueError(f"{where}: not a string")


def default_value(spec):
    options = spec_options(spec)
    if "default" in options:
        return options["default"]
    if input_type(spec) == "COMBO":
        values = combo_values(spec)
        return values[0] if values else None
    return {"INT": 0, "FLOAT": 0.0, "STRING": "", "BOOLEAN": False}.get(input_type(spec))


def node_widgets_values(node, info):
    """widgets_values in widget order (a linked widget input keeps its Out's widget_value or its default)."""
    values = []
    layout = widget_layout(node.type, info)
    specs = {name: spec for name, spec, _ in input_specs(info)} if info else {}
    known = {entry[1] for entry in layout if entry[1]} | {"control_after_generate"}
    extra = set(node.values) - known - {n for n, s in specs.items() if not is_widget(s)}
    if extra:
        raise ValueError(f"{node.type}: unknown inputs {sorted(extra)}")
    for widget, input_name, kind in layout:
        if kind == "upload":
            values.append("image")      # what the front end stores for its upload button
        elif kind == "control":
            values.append(node.values.get("control_after_generate", "randomize"))
        elif node.type in FRONTEND_NODES:
            values.append(node.values[input_name])
        else:
            value = node.values.get(input_name)
            if isinstance(value, Out):
                value = default_value(specs[input_name]) if value.widget_value is None else value.widget_value
            elif input_name not in node.values:
                value = default_value(specs[input_name])
            check_widget_value(node, input_name, specs[input_name], value)
            values.append(value)
    return values


def layout_workflow(wf):
    """Give every node an id and a position; return the groups' bounding boxes [(title, [x, y, w, h])]."""
    next_id = 1
    for node in all_nodes(wf):
        node.id = next_id
        next_id += 1
    top = 0
    x = 0
    for note in wf.notes:
        note.pos = (x, top + TITLE_HEIGHT)
        x += note.size[0] + COLUMN_GAP
    bounds = []
    for column in wf.columns:
        width = max(node.size[0] for group in column for node in group.nodes)
        y = top
        for group in column:
            node_y = y + GROUP_TITLE_HEIGHT + GROUP_PADDING + TITLE_HEIGHT
            for node in group.nodes:
                node.pos = (x + GROUP_PADDING, node_y)
                node_y += node.size[1] + NODE_GAP + TITLE_HEIGHT
            height = node_y - NODE_GAP - TITLE_HEIGHT + GROUP_PADDING - y
            bounds.append((group.title, [x, y, width + 2 * GROUP_PADDING, height]))
            y += height + GROUP_GAP
        x += width + 2 * GROUP_PADDING + COLUMN_GAP
    return bounds


def execution_order(nodes, links):
    """LiteGraph's "order": a topological order, ties broken by node id."""
    incoming = {node.id: set() for node in nodes}
    for _, origin, _, target, _, _ in links:
        incoming[target].add(origin)
    order, done = {}, set()
    while len(done) < len(nodes):
        ready = sorted(nid for nid, deps in incoming.items() if nid not in done and deps <= done)
        if not ready:
            raise ValueError("the workflow has a cycle")
        for nid in ready:
            order[nid] = len(order)
            done.add(nid)
    return order


def build_workflow(wf, object_info):
    """The UI-format JSON (a dict) of one described workflow."""
    group_bounds = layout_workflow(wf)
    nodes = all_nodes(wf)
    infos = {node.id: object_info.get(node.type) for node in nodes}
    for node in nodes:
        if node.type not in FRONTEND_NODES and infos[node.id] is None:
            raise ValueError(f"{node.type}: not in {OBJECT_INFO_PATH.name}; refresh it with --server")

    # Links, in node order then input order.
    links, link_of = [], {}
    for node in nodes:
        info = infos[node.id]
        if info is None:
            continue
        for name, spec, _ in input_specs(info):
            value = node.values.get(name)
            if not isinstance(value, Out):
                continue
            origin_info = infos[value.node.id]
            slot = origin_info["output_name"].index(value.name)
            out_type = origin_info["output"][slot]
            in_type = input_type(spec)
            if in_type != out_type and "*" not in (in_type, out_type):
                raise ValueError(f"{node.type}.{name} ({in_type}) cannot take "
                                 f"{value.node.type}.{value.name} ({out_type})")
            link_id = len(links) + 1
            link_of[(node.id, name)] = link_id
            links.append([link_id, value.node.id, slot, node.id, None, out_type])   # target slot set below
    order = execution_order(nodes, links)

    node_dicts = []
    for node in nodes:
        info = infos[node.id]
        inputs, outputs = [], []
        if info is not None:
            sockets = [(n, s, o) for n, s, o in input_specs(info) if not is_widget(s)]
            widgets = [(n, s, o) for n, s, o in input_specs(info) if is_widget(s)]
            for name, spec, optional in [*sockets, *widgets]:        # the front end's slot order
                entry = {"localized_name": name, "name": name}
                if optional:
                    entry["shape"] = 7
                entry["type"] = input_type(spec)
                if is_widget(spec):
                    entry["widget"] = {"name": name}
                entry["link"] = link_of.get((node.id, name))
                if entry["link"] is not None:
                    links[entry["link"] - 1][4] = len(inputs)
                elif not is_widget(spec) and not optional:
                    raise ValueError(f"{node.type}: required input {name} is not connected")
                inputs.append(entry)
                if is_widget(spec) and any(spec_options(spec).get(flag) for flag in UPLOAD_FLAGS):
                    inputs.append({"localized_name": "choose file to upload", "name": "upload", "type": "IMAGEUPLOAD",
                                   "widget": {"name": "upload"}, "link": None})   # the upload button's slot
            for slot, (name, out_type) in enumerate(zip(info["output_name"], info["output"])):
                targets = [link[0] for link in links if link[1] == node.id and link[2] == slot]
                outputs.append({"localized_name": name, "name": name, "type": out_type, "links": targets or None})
        properties = {}
        if info is not None:
            properties["Node name for S&R"] = node.type
            pack = info.get("python_module", "").startswith("custom_nodes.")
            properties["cnr_id"] = PACK_CNR_ID if pack else CORE_CNR_ID
            if not pack and object_info.get("_meta", {}).get("comfyui_version"):
                properties["ver"] = object_info["_meta"]["comfyui_version"]
        if node.models:
            properties["models"] = [model.entry() for model in node.models]
        entry = {"id": node.id, "type": node.type, "pos": list(node.pos), "size": list(node.size), "flags": {},
                 "order": order[node.id], "mode": 0, "inputs": inputs, "outputs": outputs}
        if node.title:
            entry["title"] = node.title
        entry["properties"] = properties
        entry["widgets_values"] = node_widgets_values(node, info)
        if node.color:
            entry["color"], entry["bgcolor"] = COLORS[node.color]
        node_dicts.append(entry)

    groups = [{"id": index + 1, "title": title, "bounding": box, "color": GROUP_COLOR, "font_size": 24,
               "flags": {}} for index, (title, box) in enumerate(group_bounds)]
    left = min(node.pos[0] for node in nodes)
    top = min(node.pos[1] - TITLE_HEIGHT for node in nodes)
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"https://github.com/reco-pack/comfyui-reco/workflows/{wf.name}")),
        "revision": 0,
        "last_node_id": max(node.id for node in nodes),
        "last_link_id": len(links),
        "nodes": node_dicts,
        "links": links,
        "groups": groups,
        "config": {},
        "extra": {"ds": {"scale": wf.scale, "offset": [round(40 / wf.scale - left), round(60 / wf.scale - top)]},
                  "frontendVersion": object_info.get("_meta", {}).get("frontend_version")},
        "version": 0.4,
    }


def dumps(workflow):
    return json.dumps(workflow, indent=2, ensure_ascii=False) + "\n"


def build_all(object_info=None):
    """{file name: JSON text} for every workflow."""
    object_info = object_info if object_info is not None else load_object_info()
    return {f"{make.__name__}.json": dumps(build_workflow(make(), object_info)) for make in WORKFLOWS}


# --------------------------------------------------------------------------------------------------
# UI JSON -> API prompt (what the front end's graphToPrompt sends), for checks
# --------------------------------------------------------------------------------------------------
def to_api_prompt(workflow, object_info):
    """{node id: {"class_type", "inputs"}} for the executable nodes of a UI-format workflow."""
    links = {link[0]: link for link in workflow["links"]}
    prompt = {}
    for node in workflow["nodes"]:
        if node["type"] in FRONTEND_NODES or node.get("mode", 0) in (2, 4):
            continue
        info = object_info[node["type"]]
        linked = {slot["name"]: links[slot["link"]] for slot in node.get("inputs", []) if slot.get("link") is not None}
        values = dict(zip([w[1] for w in widget_layout(node["type"], info)], node["widgets_values"]))
        inputs = {}
        for name, spec, _ in input_specs(info):
            if name in linked:
                inputs[name] = [str(linked[name][1]), linked[name][2]]
            elif is_widget(spec) and name in values:
                inputs[name] = values[name]
        prompt[str(node["id"])] = {"inputs": inputs, "class_type": node["type"]}
    return prompt


# --------------------------------------------------------------------------------------------------
# Thumbnails and screenshots in the real front end
# --------------------------------------------------------------------------------------------------
def load_frontend_module():
    sys.path.insert(0, str(REPO_ROOT / "tests" / "comfyui"))
    try:
        import frontend
    finally:
        sys.path.pop(0)
    return frontend


def render_workflows(server, names, thumbnails=True, screenshot_dir=None):
    focus = {make.__name__: make().thumbnail_groups for make in WORKFLOWS}
    frontend = load_frontend_module()
    binary = frontend.find_chromium()
    if not binary:
        raise SystemExit("no Chromium found: install chromium or set CHROME_PATH")
    with frontend.Browser.launch(binary, timeout=60) as browser:
        page = browser.new_page(width=2600, height=1500)
        open_frontend(page, server)
        for name in names:
            workflow = json.loads((WORKFLOWS_DIR / f"{name}.json").read_text(encoding="utf-8"))
            show_workflow(page, workflow)
            if screenshot_dir:
                path = Path(screenshot_dir) / f"workflow_{name}.png"
                path.parent.mkdir(parents=True, exist_ok=True)
                capture(page, path, scale=1.0, fmt="png")
                print(f"wrote {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
            if thumbnails:
                path = WORKFLOWS_DIR / f"{name}.jpg"
                capture(page, path, scale=0.75, fmt="jpeg", aspect=4 / 3, width=640, groups=focus.get(name))
                print(f"wrote {path.relative_to(REPO_ROOT)}")


#: Front-end settings that keep overlays (minimap, canvas menu, dialogs) out of the pictures.
CLEAN_SETTINGS = {"Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasMenu": False,
                  "Comfy.Workflow.ShowMissingModelsWarning": False, "Comfy.Workflow.ShowMissingNodesWarning": False,
                  "Comfy.TutorialCompleted": True}   # a first visit opens the template browser over the graph


def open_frontend(page, server):
    page.navigate(server.rstrip("/") + "/")
    page.wait_for("!!(window.app && window.app.graph && window.app.canvas && window.LiteGraph && "
                  "Object.keys(LiteGraph.registered_node_types || {}).length > 50)", timeout=90)
    page.evaluate(f"""(async () => {{
        const settings = {json.dumps(CLEAN_SETTINGS)};
        for (const [id, value] of Object.entries(settings)) {{
            try {{ await app.extensionManager.setting.set(id, value); }} catch (e) {{}}
        }}
    }})()""")
    page.evaluate("""document.querySelectorAll('[role=dialog] .p-dialog-close-button, [role=dialog] button[aria-label=Close]')
        .forEach(button => button.click())""")


def show_workflow(page, workflow):
    page.evaluate(f"""(async () => {{
        await app.loadGraphData({json.dumps(workflow)}, true, true, null,
                                {{showMissingNodesDialog: false, showMissingModelsDialog: false}});
    }})()""")
    time.sleep(1.5)   # DOM widgets (notes, text boxes) settle


def graph_bounds_js(groups=()):
    """[x, y, w, h] around the loaded graph, or around the named groups only."""
    return f"""(() => {{
        const only = {json.dumps(list(groups or []))};
        let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
        const add = (x, y, w, h) => {{
            x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w); y1 = Math.max(y1, y + h);
        }};
        if (!only.length) for (const n of app.graph.nodes)
            add(n.pos[0], n.pos[1] - LiteGraph.NODE_TITLE_HEIGHT, n.size[0], n.size[1] + LiteGraph.NODE_TITLE_HEIGHT);
        for (const g of app.graph.groups || [])
            if (!only.length || only.includes(g.title)) add(g.pos[0], g.pos[1], g.size[0], g.size[1]);
        return [x0, y0, x1 - x0, y1 - y0];
    }})()"""


def capture(page, path, scale, fmt, aspect=None, width=None, groups=()):
    """Zoom the canvas to `scale`, frame the whole graph or the named `groups` (padded to `aspect` when
    given) and capture it; `width` sets the picture's width in pixels."""
    margin, pad = 30, 40
    x, y, w, h = page.evaluate(graph_bounds_js(groups))
    frame_w, frame_h = w + 2 * margin, h + 2 * margin
    if aspect:
        if frame_w / frame_h > aspect:
            frame_h = frame_w / aspect
        else:
            frame_w = frame_h * aspect
    frame_x, frame_y = x - (frame_w - w) / 2, y - (frame_h - h) / 2
    # The canvas sits right of the side bar and below the menu bar: make the window large enough for the
    # frame plus those, then place the frame `pad` pixels inside the canvas.
    view_w, view_h = int(frame_w * scale) + 300, int(frame_h * scale) + 300
    page.set_viewport(view_w, view_h)
    page.wait_for(f"window.innerWidth === {view_w} && window.innerHeight === {view_h}", timeout=10)
    time.sleep(0.5)
    left, top = page.evaluate(f"""(() => {{
        app.canvas.resize();
        app.canvas.ds.scale = {scale};
        app.canvas.ds.offset = [{pad / scale - frame_x}, {pad / scale - frame_y}];
        app.canvas.setDirty(true, true); app.canvas.draw(true, true);
        const r = app.canvas.canvas.getBoundingClientRect();
        return [r.left + {pad}, r.top + {pad}];
    }})()""")
    time.sleep(1.0)   # DOM widgets follow the canvas on the next frames
    out_scale = (width / (frame_w * scale)) if width else 1.0
    data = page.screenshot(clip=(left, top, frame_w * scale, frame_h * scale, out_scale), fmt=fmt,
                           quality=80 if fmt == "jpeg" else None)
    Path(path).write_bytes(data)


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--server", help="a running ComfyUI with this pack: refresh the saved node definitions")
    parser.add_argument("--check", action="store_true", help="only check that workflows/*.json are up to date")
    parser.add_argument("--thumbnails", action="store_true", help="render workflows/<name>.jpg (needs --server)")
    parser.add_argument("--screenshots", metavar="DIR", help="also write DIR/workflow_<name>.png (needs --server)")
    args = parser.parse_args(argv)

    if args.server and not args.check:
        saved = fetch_object_info(args.server, used_node_types())
        OBJECT_INFO_PATH.write_text(json.dumps(saved, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {OBJECT_INFO_PATH.relative_to(REPO_ROOT)} ({len(saved) - 1} node types)")
    files = build_all()
    stale = []
    for name, text in files.items():
        path = WORKFLOWS_DIR / name
        old = path.read_text(encoding="utf-8") if path.exists() else ""
        if old == text:
            continue
        if args.check:
            stale.append(name)
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), text.splitlines(True),
                                                       f"a/workflows/{name}", f"b/workflows/{name}", n=1))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote workflows/{name}")
    if stale:
        print(f"out of date: {', '.join(stale)}; run python scripts/make_workflows.py", file=sys.stderr)
        return 1
    if args.thumbnails or args.screenshots:
        if not args.server:
            parser.error("--thumbnails/--screenshots need --server")
        render_workflows(args.server, [Path(n).stem for n in files], args.thumbnails, args.screenshots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
