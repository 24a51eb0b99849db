"""The example workflows, described compactly: nodes, the links between them, widget values, groups, notes.

`scripts/make_workflows.py` turns each into the UI JSON of workflows/<name>.json (`workflow_rendering`).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
from reco_core.engine.options import RECO_NEGATIVE_PROMPT  # noqa: E402  (the authors' negative prompt)
from reco_core.shapes.model import (  # noqa: E402  (the miniature's own defaults)
    FRAMES as SHAPES_FRAMES, SHAPES_EDIT_DEFAULTS, SHAPES_LORA_STRENGTH)

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
    clip = source.add("ReCoShapesClip", (340, 106), color="blue", clip="remove")

    instruction = Group("Instruction")
    positive = instruction.add("CLIPTextEncode", (400, 130), title="Instruction (positive prompt)", color="green",
                               clip=loader.out("clip"),
                               text=clip.out("instruction", widget_value="erase the red triangle from the video"))
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
                       attention="off")
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
