"""The bad-input table: bad inputs a user (or a hostile caller) can give ReCo, and the message each one gets.

Every row is run by a test that asserts its message exactly: tests/test_bad_inputs.py runs the command-line
and Python rows, tests/comfyui/test_bad_input_nodes.py the ComfyUI rows (through a real server's API).
Paths under the test's scratch folder are written DIR/...; "…" in a message stands for text that depends on the
machine or a library version. docs/bad-inputs.md is rendered from this table:

    PYTHONPATH=. python tests/bad_inputs.py          # rewrite docs/bad-inputs.md
    PYTHONPATH=. python tests/bad_inputs.py --record  # run the CLI and Python rows, print their messages

and tests/test_bad_inputs.py checks that the committed document is the rendering of this table.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bad-inputs.md"
WILDCARD = "…"


@dataclass(frozen=True)
class Case:
    id: str
    family: str
    input: str  # what is given, as the document shows it
    message: str  # what the user reads (DIR/... for scratch paths, … for machine-dependent text)
    kind: str = "cli"  # "cli": python -m reco_core ARGS; "python": call(workspace); "comfyui": a node through the API
    args: tuple[str, ...] = ()
    call: Callable | None = None
    warning: bool = False  # the command succeeds and prints the message as a warning
    needs: str | None = None  # "no-cuda": only where this torch sees no CUDA device


# ====================================================================================================== workspace


@dataclass
class Workspace:
    """A scratch folder with tiny models, a source clip and one bad file of every kind the rows use."""

    root: Path
    files: dict = field(default_factory=dict)

    def path(self, text: str) -> str:
        return text.replace("{DIR}", str(self.root))

    def normalise(self, text: str) -> str:
        return text.replace(str(self.root), "DIR")


def make_workspace(root: Path) -> Workspace:
    import torch
    from safetensors.torch import save_file

    from reco_core.models.saving import save_transformer, save_vae
    from reco_core.models.tiny import build_tiny_text_encoder, build_tiny_transformer, build_tiny_vae
    from reco_core.video import write_image, write_video

    root.mkdir(parents=True, exist_ok=True)
    save_transformer(build_tiny_transformer(), root / "model.safetensors")
    save_vae(build_tiny_vae(), root / "vae.safetensors")
    build_tiny_text_encoder().save(root / "text_encoder")
    generator = torch.Generator().manual_seed(0)
    write_video(root / "source.mp4", torch.rand(9, 24, 40, 3, generator=generator), fps=12)
    write_video(root / "long.mp4", torch.rand(40, 32, 32, 3, generator=generator), fps=8)
    whole = (root / "long.mp4").read_bytes()
    (root / "cut-early.mp4").write_bytes(whole[: len(whole) // 10])
    (root / "cut-late.mp4").write_bytes(whole[: len(whole) * 9 // 10])
    write_image(root / "first.png", torch.rand(24, 40, 3, generator=generator))
    _write_bomb(root / "bomb.png")
    _write_loras(root, save_file)
    _write_deep_pickle(root / "deep.ckpt", depth=100_000)
    _write_training(root)
    return Workspace(root)


def _write_bomb(path: Path) -> None:
    """A PNG header that claims 20000x20000 pixels (400 MP): Pillow refuses it before decoding anything."""
    from PIL import Image

    Image.new("1", (20000, 20000)).save(path, optimize=True)


LORA_KEY = "diffusion_model.blocks.0.self_attn.q"


def _write_loras(root: Path, save_file) -> None:
    import torch

    def lora(name, down, up, alpha=None):
        tensors = {f"{LORA_KEY}.lora_down.weight": down, f"{LORA_KEY}.lora_up.weight": up}
        if alpha is not None:
            tensors[f"{LORA_KEY}.alpha"] = alpha
        save_file(tensors, str(root / name))

    lora("good.safetensors", torch.randn(2, 32), torch.randn(32, 2))
    lora("rank0.safetensors", torch.zeros(0, 32), torch.zeros(32, 0))
    lora("vector-alpha.safetensors", torch.randn(2, 32), torch.randn(32, 2), torch.ones(3))
    lora("nan.safetensors", torch.full((2, 32), float("nan")), torch.randn(32, 2))
    lora("inf-alpha.safetensors", torch.randn(2, 32), torch.randn(32, 2), torch.tensor(float("inf")))
    (root / "out.safetensors").mkdir()


def _write_deep_pickle(path: Path, depth: int) -> None:
    """A torch zip checkpoint whose pickle nests `depth` dicts ({"a": {"a": ...}}), written without recursion."""
    key = b"X\x01\x00\x00\x00a"
    pickle = b"\x80\x02" + (b"}" + key) * depth + b"}" + b"s" * depth + b"."
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("deep/data.pkl", pickle)
        archive.writestr("deep/version", "3\n")
        archive.writestr("deep/byteorder", "little")


TRAIN_TOML = """
[model]
transformer = "tiny"
dtype = "fp32"
[lora]
rank = 4
alpha = 4
[data]
generate_shapes = 4
width = 32
height = 32
frames = 5
fps = 8
[optim]
steps = 8
learning_rate = 1e-3
mixed_precision = "no"
[output]
save_every = 2
sample_every = 0
"""
RUNS = ("truncated-lora", "truncated-state", "damaged-json", "renamed", "foreign-pickle", "only-damaged")


def _write_training(root: Path) -> None:
    """A config, and run folders with checkpoints at steps 2 and 4 whose newest one is damaged in one way each."""
    import fractions

    import torch

    from reco_core.train import checkpoint as ckpt

    (root / "train.toml").write_text(TRAIN_TOML)
    for name, extra in (("nan-rate.toml", '\n[optim]\nlearning_rate = nan\n'),
                        ("long-name.toml", f'\n[output]\nname = "{"x" * 300}"\n'),
                        ("nul-name.toml", '\n[output]\nname = "lora\\u0000.x"\n')):
        (root / name).write_text(_merge_toml(TRAIN_TOML, extra))
    weights = {"blocks.0.attn1.to_q.lora_A.weight": torch.randn(4, 32),
               "blocks.0.attn1.to_q.lora_B.weight": torch.zeros(32, 4)}
    for run in RUNS:
        folder = root / "runs" / run / "checkpoints"
        steps = (4,) if run == "only-damaged" else (2, 4)
        for step in steps:
            ckpt.save_checkpoint(folder, step, weights, {"state": {}, "param_groups": []})
        newest = folder / "step-000004"
        if run in ("truncated-lora", "only-damaged"):
            data = (newest / "lora.safetensors").read_bytes()
            (newest / "lora.safetensors").write_bytes(data[: len(data) // 2])
        elif run == "truncated-state":
            data = (newest / "training_state.pt").read_bytes()
            (newest / "training_state.pt").write_bytes(data[: len(data) // 2])
        elif run == "damaged-json":
            (newest / "state.json").write_text('{"step": 4,')
        elif run == "renamed":
            newest.rename(folder / "step-000006")
        elif run == "foreign-pickle":
            torch.save({"optimizer": {}, "rng": {}, "note": fractions.Fraction(1, 3)}, newest / "training_state.pt")
    _write_manifests(root)


def _merge_toml(base: str, extra: str) -> str:
    """`base` with the keys of `extra` replacing its own (one level of [sections])."""
    import tomllib

    data = tomllib.loads(base)
    for section, values in tomllib.loads(extra).items():
        data.setdefault(section, {}).update(values)
    lines = []
    for section, values in data.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {json.dumps(value) if not isinstance(value, float) else _toml_float(value)}"
                  for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml_float(value: float) -> str:
    return "nan" if value != value else repr(value)


def _write_manifests(root: Path) -> None:
    import torch

    from reco_core.video import write_video

    data = root / "dataset"
    frames = torch.rand(5, 32, 32, 3, generator=torch.Generator().manual_seed(3))
    write_video(data / "a.mp4", frames, fps=8)
    write_video(data / "b.mp4", frames.flip(1), fps=8)
    good = {"source": "a.mp4", "target": "b.mp4", "instruction": "flip it"}
    rows = {
        "list": [["a.mp4", "b.mp4", "flip it"]],
        "blank": [{**good, "instruction": "   "}],
        "absolute": [{**good, "source": "/etc/passwd"}],
        "parent": [{**good, "target": "../model.safetensors"}],
        "number": [{**good, "source": 5}],
    }
    for name, lines in rows.items():
        (data / f"{name}.jsonl").write_text("\n".join(json.dumps(line) for line in lines) + "\n")
        (root / f"manifest-{name}.toml").write_text(_merge_toml(
            TRAIN_TOML, f'\n[data]\ngenerate_shapes = 0\nmanifest = "dataset/{name}.jsonl"\n'))


# ====================================================================================================== rows

EDIT = ("edit", "--source", "{DIR}/source.mp4", "--instruction", "add a red hat", "--out", "{DIR}/edit.mp4",
        "--model", "{DIR}/model.safetensors", "--vae", "{DIR}/vae.safetensors", "--text-encoder",
        "{DIR}/text_encoder", "--size", "32x32", "--frames", "5", "--steps", "1", "--quiet")


def edit(*changes: str) -> tuple[str, ...]:
    """The edit command with flags replaced or added (`--flag value` pairs)."""
    args = list(EDIT)
    for flag, value in zip(changes[::2], changes[1::2]):
        if flag in args:
            args[args.index(flag) + 1] = value
        else:
            args += [flag, value]
    return tuple(args)


def train(config: str, run: str | None = None, resume: bool = False) -> tuple[str, ...]:
    out = ("--out", f"{{DIR}}/runs/{run}") if run else ("--out", "{DIR}/runs/new")
    return ("train", "--config", f"{{DIR}}/{config}", *out, *(("--resume",) if resume else ()))


def _python(call: Callable) -> Callable:
    return call


def _pure(name: str, *args, **kwargs) -> Callable:
    def call(workspace):
        import importlib

        module, function = name.rsplit(".", 1)
        target = getattr(importlib.import_module(module), function)
        return target(*(a(workspace) if callable(a) else a for a in args), **kwargs)

    return call


def _tensor(*shape) -> Callable:
    def make(_workspace):
        import torch

        return torch.zeros(shape)

    return make


LORA = "LoRA files"
EDIT_FAMILY = "edit: flags and files"
TRAIN = "train: checkpoints, config and data"
API = "Python API: the pure layout, mask and check functions"
COMFY = "ComfyUI nodes (values sent through the API)"

CASES: list[Case] = [
    # ------------------------------------------------------------------------------------------------ LoRA files
    Case("lora-info-rank0", LORA, "`lora info` of a rank-0 LoRA (empty down/up matrices)",
         "DIR/rank0.safetensors: module blocks.0.self_attn.q has rank 0 (its down matrix (0, 32) is "
         "empty). A LoRA needs rank 1 or more; re-export it with a positive rank.",
         args=("lora", "info", "{DIR}/rank0.safetensors")),
    Case("lora-convert-rank0", LORA, "`lora convert` of a rank-0 LoRA",
         "DIR/rank0.safetensors: module blocks.0.self_attn.q has rank 0 (its down matrix (0, 32) is "
         "empty). A LoRA needs rank 1 or more; re-export it with a positive rank.",
         args=("lora", "convert", "{DIR}/rank0.safetensors", "{DIR}/x.safetensors", "--to", "comfy")),
    Case("edit-lora-rank0", LORA, "`edit --lora` a rank-0 LoRA",
         "DIR/rank0.safetensors: module blocks.0.self_attn.q has rank 0 (its down matrix (0, 32) is "
         "empty). A LoRA needs rank 1 or more; re-export it with a positive rank.",
         args=edit("--lora", "{DIR}/rank0.safetensors")),
    Case("lora-info-vector-alpha", LORA, "`lora info` of a LoRA whose alpha is a vector of 3 values",
         "DIR/vector-alpha.safetensors: module blocks.0.self_attn.q has an alpha of shape (3,), not one "
         "number. alpha is one number per module (the scale is alpha / rank); re-export the LoRA.",
         args=("lora", "info", "{DIR}/vector-alpha.safetensors")),
    Case("lora-convert-vector-alpha", LORA, "`lora convert` of a LoRA with a vector alpha",
         "DIR/vector-alpha.safetensors: module blocks.0.self_attn.q has an alpha of shape (3,), not one "
         "number. alpha is one number per module (the scale is alpha / rank); re-export the LoRA.",
         args=("lora", "convert", "{DIR}/vector-alpha.safetensors", "{DIR}/x.safetensors", "--to", "kohya")),
    Case("edit-lora-vector-alpha", LORA, "`edit --lora` a LoRA with a vector alpha",
         "DIR/vector-alpha.safetensors: module blocks.0.self_attn.q has an alpha of shape (3,), not one "
         "number. alpha is one number per module (the scale is alpha / rank); re-export the LoRA.",
         args=edit("--lora", "{DIR}/vector-alpha.safetensors")),
    Case("lora-info-nan", LORA, "`lora info` of a LoRA with NaN weights",
         "DIR/nan.safetensors: module blocks.0.self_attn.q has NaN or infinite values in its down "
         "matrix. The LoRA is broken (a training run that diverged?): it would turn every frame black. "
         "Use an earlier checkpoint or re-train.",
         args=("lora", "info", "{DIR}/nan.safetensors")),
    Case("edit-lora-nan", LORA, "`edit --lora` a LoRA with NaN weights (it would make every frame black)",
         "DIR/nan.safetensors: module blocks.0.self_attn.q has NaN or infinite values in its down "
         "matrix. The LoRA is broken (a training run that diverged?): it would turn every frame black. "
         "Use an earlier checkpoint or re-train.",
         args=edit("--lora", "{DIR}/nan.safetensors")),
    Case("lora-info-inf-alpha", LORA, "`lora info` of a LoRA whose alpha is infinite",
         "DIR/inf-alpha.safetensors: module blocks.0.self_attn.q has alpha inf. alpha must be a finite "
         "number; re-export it.",
         args=("lora", "info", "{DIR}/inf-alpha.safetensors")),
    Case("lora-convert-to-folder", LORA, "`lora convert good.safetensors out.safetensors` where out.safetensors is a "
         "folder",
         "output: DIR/out.safetensors is a folder. Give a file name for the converted LoRA, e.g. "
         "DIR/out.safetensors/my_lora.safetensors.",
         args=("lora", "convert", "{DIR}/good.safetensors", "{DIR}/out.safetensors", "--to", "comfy")),
    Case("lora-convert-onto-input", LORA, "`lora convert` whose output is its input",
         "output: DIR/good.safetensors is the input LoRA: converting would overwrite it. Write the "
         "converted LoRA to another file.",
         args=("lora", "convert", "{DIR}/good.safetensors", "{DIR}/good.safetensors", "--to", "comfy")),
    Case("lora-info-deep-pickle", LORA, "`lora info` of a torch checkpoint whose pickle nests 100,000 dicts",
         "DIR/deep.ckpt: nests dictionaries more than 32 deep. This is not a LoRA checkpoint; give a "
         ".safetensors or .ckpt LoRA file.",
         args=("lora", "info", "{DIR}/deep.ckpt")),
    Case("edit-lora-strength-nan", LORA, "`edit --lora good.safetensors:nan`",
         "--lora: DIR/good.safetensors:nan: strength nan is not a number between -10 and 10. Write "
         "FILE:STRENGTH with a strength like 1 or 0.8.",
         args=edit("--lora", "{DIR}/good.safetensors:nan")),
    Case("edit-lora-strength-huge", LORA, "`edit --lora good.safetensors:1e9`",
         "--lora: DIR/good.safetensors:1e9: strength 1000000000.0 is not a number between -10 and 10. "
         "Write FILE:STRENGTH with a strength like 1 or 0.8.",
         args=edit("--lora", "{DIR}/good.safetensors:1e9")),
    # ------------------------------------------------------------------------------------------------ edit
    Case("edit-shift-nan", EDIT_FAMILY, "`--shift nan`",
         "--shift: nan is not a positive number up to 100. Use a positive flow shift (5 is the default).",
         args=edit("--shift", "nan")),
    Case("edit-shift-inf", EDIT_FAMILY, "`--shift inf`",
         "--shift: inf is not a positive number up to 100. Use a positive flow shift (5 is the default).",
         args=edit("--shift", "inf")),
    Case("edit-cfg-nan", EDIT_FAMILY, "`--cfg nan`",
         "--cfg: nan is not a number between 0 and 100. Use 1 for no guidance, 5 is the default.",
         args=edit("--cfg", "nan")),
    Case("edit-cfg-inf", EDIT_FAMILY, "`--cfg inf`",
         "--cfg: inf is not a number between 0 and 100. Use 1 for no guidance, 5 is the default.",
         args=edit("--cfg", "inf")),
    Case("edit-cfg-minus-inf", EDIT_FAMILY, "`--cfg -inf`",
         "--cfg: -inf is not a number between 0 and 100. Use 1 for no guidance, 5 is the default.",
         args=edit("--cfg", "-inf")),
    Case("edit-fps-nan", EDIT_FAMILY, "`--fps nan`",
         "--fps: nan is outside 1..240 frames per second. ReCo was trained at 16 fps; leave --fps out to "
         "keep the source's rate.",
         args=edit("--fps", "nan")),
    Case("edit-fps-inf", EDIT_FAMILY, "`--fps inf`",
         "--fps: inf is outside 1..240 frames per second. ReCo was trained at 16 fps; leave --fps out to "
         "keep the source's rate.",
         args=edit("--fps", "inf")),
    Case("edit-fps-tiny", EDIT_FAMILY, "`--fps 1e-9`",
         "--fps: 1e-09 is outside 1..240 frames per second. ReCo was trained at 16 fps; leave --fps out "
         "to keep the source's rate.",
         args=edit("--fps", "1e-9")),
    Case("edit-fps-huge", EDIT_FAMILY, "`--fps 1e9` (would build 2e9 frame indices)",
         "--fps: 1000000000.0 is outside 1..240 frames per second. ReCo was trained at 16 fps; leave "
         "--fps out to keep the source's rate.",
         args=edit("--fps", "1e9")),
    Case("edit-seed-huge", EDIT_FAMILY, "`--seed 1180591620717411303424` (2^70)",
         "--seed: 1180591620717411303424 is not a whole number between 0 and 18446744073709551615. Use "
         "any whole number in that range (the seed of the noise).",
         args=edit("--seed", str(2**70))),
    Case("edit-device-bogus", EDIT_FAMILY, "`--device gpu0`",
         "--device: 'gpu0' is not a device. Use cpu, cuda or cuda:N (N counts from 0), or mps on a Mac.",
         args=edit("--device", "gpu0")),
    Case("edit-device-cuda", EDIT_FAMILY, "`--device cuda` on a machine without CUDA",
         "--device: cuda is not available on this machine (this torch sees no cuda device). Use --device "
         "cpu, or install a torch build for your GPU.",
         args=edit("--device", "cuda"), needs="no-cuda"),
    Case("edit-source-bomb", EDIT_FAMILY, "`--source bomb.png`: a 9 KB PNG of 20000x20000 pixels",
         "--source: DIR/bomb.png has 400,000,000 pixels, more than the 89,478,485 that are read safely "
         "(a decompression bomb?). Scale it down to the size you edit at (e.g. 832x480).",
         args=edit("--source", "{DIR}/bomb.png")),
    Case("edit-first-frame-bomb", EDIT_FAMILY, "`--first-frame bomb.png`",
         "--first-frame: DIR/bomb.png has 400,000,000 pixels, more than the 89,478,485 that are read "
         "safely (a decompression bomb?). Scale it down to the size you edit at (e.g. 832x480).",
         args=edit("--first-frame", "{DIR}/bomb.png")),
    Case("edit-size-huge", EDIT_FAMILY, "`--size 100000x16` (would reach 7 GB)",
         "--size width: 100000 is larger than 4096 (each half of the canvas at that size would not fit "
         "in memory). Use at most 4096; Wan runs at 832x480 or 1280x720.",
         args=edit("--size", "100000x16")),
    Case("edit-window-overlap-zero", EDIT_FAMILY, "`--window-overlap 0` (windows that share no frame)",
         "--window-overlap: 0 is outside 1..4 (windows are 5 frames long). Windows must share at least one frame "
         "(the next window starts from it) and each must add at least one new frame; 2 (the default) is a good "
         "choice.", args=edit("--window-overlap", "0")),
    Case("edit-window-overlap-window", EDIT_FAMILY, "`--window-overlap 5` with `--frames 5` (no window moves on)",
         "--window-overlap: 5 is outside 1..4 (windows are 5 frames long). Windows must share at least one frame "
         "(the next window starts from it) and each must add at least one new frame; 2 (the default) is a good "
         "choice.", args=edit("--window-overlap", "5")),
    Case("edit-out-is-source", EDIT_FAMILY, "`--out` the same file as `--source`",
         "--out: DIR/source.mp4 is the --source file: the edit would overwrite it. Write the edit to "
         "another file.",
         args=edit("--out", "{DIR}/source.mp4")),
    Case("edit-out-nul", EDIT_FAMILY, "`--out` with a NUL byte",
         "--out: DIR/a\\0b.mp4 holds a NUL byte. File names cannot hold NUL; give a plain path.",
         args=edit("--out", "{DIR}/a\0b.mp4")),
    Case("edit-out-too-long", EDIT_FAMILY, "`--out` with a 300-byte file name",
         "--out: has a name of 300 bytes (xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...). File and folder "
         "names can be at most 255 bytes; use a shorter name.",
         args=edit("--out", "{DIR}/" + "x" * 296 + ".mp4")),
    Case("edit-source-cut-early", EDIT_FAMILY, "`--source` an mp4 cut after its first tenth",
         "--source: DIR/cut-early.mp4 is damaged or cut short: it should hold about 40 frames (5 s at 8 "
         "fps) but only 2 decode (ffmpeg: partial file). Download or export it again. To edit the frames "
         "that remain, re-encode it first, e.g. ffmpeg -i damaged.mp4 -c:v libx264 whole.mp4",
         args=edit("--source", "{DIR}/cut-early.mp4")),
    Case("edit-source-cut-late", EDIT_FAMILY, "`--source` an mp4 missing its last tenth (the edit runs)",
         "--source: DIR/cut-late.mp4 is damaged or cut short: it should hold about 40 frames (5 s at 8 "
         "fps) but only 35 decode (ffmpeg: partial file); the 35 frames that decode are used",
         args=edit("--source", "{DIR}/cut-late.mp4", "--frames", "1", "--out", "{DIR}/cut-late-edit.mp4"), warning=True),
    # ------------------------------------------------------------------------------------------------ train
    Case("train-resume-truncated-lora", TRAIN, "`train --resume` whose newest checkpoint's lora.safetensors is cut "
         "in half",
         "DIR/runs/truncated-lora/checkpoints/step-000004/lora.safetensors: is damaged or cut short (…). "
         "To resume from step-000002 (step 2), the newest checkpoint that reads, delete "
         "DIR/runs/truncated-lora/checkpoints/step-000004 (or move it out of "
         "DIR/runs/truncated-lora/checkpoints) and resume again.",
         args=train("train.toml", "truncated-lora", resume=True)),
    Case("train-resume-truncated-state", TRAIN, "`train --resume` whose newest training_state.pt is cut in half",
         "DIR/runs/truncated-state/checkpoints/step-000004/training_state.pt: is damaged or cut short "
         "(…). To resume from step-000002 (step 2), the newest checkpoint that reads, delete "
         "DIR/runs/truncated-state/checkpoints/step-000004 (or move it out of "
         "DIR/runs/truncated-state/checkpoints) and resume again.",
         args=train("train.toml", "truncated-state", resume=True)),
    Case("train-resume-damaged-json", TRAIN, "`train --resume` whose newest state.json is not valid JSON",
         "DIR/runs/damaged-json/checkpoints/step-000004/state.json: is not readable JSON (Expecting "
         "property name enclosed in double quotes: line 1 column 12 (char 11)). To resume from "
         "step-000002 (step 2), the newest checkpoint that reads, delete "
         "DIR/runs/damaged-json/checkpoints/step-000004 (or move it out of "
         "DIR/runs/damaged-json/checkpoints) and resume again.",
         args=train("train.toml", "damaged-json", resume=True)),
    Case("train-resume-renamed", TRAIN, "`train --resume` whose newest checkpoint folder was renamed step-000004 -> "
         "step-000006",
         "DIR/runs/renamed/checkpoints/step-000006: holds step 4 (its state.json) but is named for step "
         "6: the folder was renamed. To resume from step-000002 (step 2), the newest checkpoint that "
         "reads, delete DIR/runs/renamed/checkpoints/step-000006 (or move it out of "
         "DIR/runs/renamed/checkpoints) and resume again.",
         args=train("train.toml", "renamed", resume=True)),
    Case("train-resume-foreign-pickle", TRAIN, "`train --resume` whose training_state.pt holds a pickled object that "
         "is not a tensor",
         "DIR/runs/foreign-pickle/checkpoints/step-000004/training_state.pt: holds more than plain "
         "tensors and numbers (refused: loading it could run code). To resume from step-000002 (step 2), "
         "the newest checkpoint that reads, delete DIR/runs/foreign-pickle/checkpoints/step-000004 (or "
         "move it out of DIR/runs/foreign-pickle/checkpoints) and resume again.",
         args=train("train.toml", "foreign-pickle", resume=True)),
    Case("train-resume-only-damaged", TRAIN, "`train --resume` whose only checkpoint is damaged",
         "DIR/runs/only-damaged/checkpoints/step-000004/lora.safetensors: is damaged or cut short (…). "
         "No earlier checkpoint reads: delete DIR/runs/only-damaged/checkpoints to start over, or start "
         "a new run in another folder.",
         args=train("train.toml", "only-damaged", resume=True)),
    Case("train-name-too-long", TRAIN, "`output.name` of 300 characters",
         "output.name: is 300 bytes long. Use at most 243 bytes (the file name gets .safetensors, and "
         "file names stop at 255 bytes).",
         args=train("long-name.toml")),
    Case("train-name-nul", TRAIN, "`output.name` holding a NUL",
         "output.name: 'lora\\0.x' is not a plain file name. Use a name without folders or control "
         "characters, e.g. \"my_reco_lora\".",
         args=train("nul-name.toml")),
    Case("train-learning-rate-nan", TRAIN, "`learning_rate = nan` in the TOML",
         "optim.learning_rate: nan is not a finite number. Write a plain number, e.g. the default 5e-05.",
         args=train("nan-rate.toml")),
    Case("train-out-nul", TRAIN, "`train --out` with a NUL byte",
         "--out: DIR/run\\0 holds a NUL byte. File names cannot hold NUL; give a plain path.",
         args=("train", "--config", "{DIR}/train.toml", "--out", "{DIR}/run\0")),
    Case("train-manifest-list", TRAIN, "a manifest line that is a JSON list",
         "data.manifest: line DIR/dataset/list.jsonl:1 is a list, not an object. Write each pair as "
         "{\"source\": ..., \"target\": ..., \"instruction\": ...}.",
         args=train("manifest-list.toml")),
    Case("train-manifest-blank", TRAIN, 'a manifest line with `"instruction": "   "`',
         "data.manifest: line DIR/dataset/blank.jsonl:1 has an instruction of only spaces. Say what the "
         "edit does, e.g. \"instruction\": \"remove the dog\".",
         args=train("manifest-blank.toml")),
    Case("train-manifest-absolute", TRAIN, 'a manifest line with `"source": "/etc/passwd"`',
         "data.manifest: line DIR/dataset/absolute.jsonl:1: source '/etc/passwd' leaves the dataset "
         "folder. List files by paths relative to DIR/dataset and inside it (no absolute paths, no ..); "
         "link clips kept elsewhere into the folder.",
         args=train("manifest-absolute.toml")),
    Case("train-manifest-parent", TRAIN, 'a manifest line with `"target": "../model.safetensors"`',
         "data.manifest: line DIR/dataset/parent.jsonl:1: target '../model.safetensors' leaves the "
         "dataset folder. List files by paths relative to DIR/dataset and inside it (no absolute paths, "
         "no ..); link clips kept elsewhere into the folder.",
         args=train("manifest-parent.toml")),
    Case("train-manifest-number", TRAIN, 'a manifest line with `"source": 5`',
         "data.manifest: line DIR/dataset/number.jsonl:1: 'source' is a number, not text. Write it as a "
         "string, e.g. \"source\": \"...\"",
         args=train("manifest-number.toml")),
    # ------------------------------------------------------------------------------------------------ Python API
    Case("api-split-latent-odd", API, "`layout.split_latent` of a latent 5 wide",
         "latent must have an even width, got 5",
         kind="python",
         call=_pure("reco_core.layout.split_latent", _tensor(1, 16, 1, 2, 5))),
    Case("api-build-canvas-3d", API, "`layout.build_canvas` of a 3-D tensor",
         "source must be frames [T, H, W, C], got (4, 8, 3)",
         kind="python",
         call=_pure("reco_core.layout.build_canvas", _tensor(4, 8, 3))),
    Case("api-token-grid-odd", API, "`masks.latent_to_token_grid` of a latent mask 3 cells high",
         "latent_mask 2x3x4 (F x h x w) is not a multiple of the patch 1x2x2: its last cells would be "
         "dropped",
         kind="python",
         call=_pure("reco_core.masks.latent_to_token_grid", _tensor(2, 3, 4))),
    Case("api-mask-channels-length", API, "`layout.vace_mask_channels` of a 6-frame mask",
         "mask has 6 frames, not 4n+1: give latent_frames to resample it",
         kind="python",
         call=_pure("reco_core.layout.vace_mask_channels", _tensor(6, 8, 8))),
    Case("api-latent-frames", API, "`checks.latent_frames(6)`",
         "length must be 4n+1 frames (1, 5, 9, ...), got 6",
         kind="python",
         call=_pure("reco_core.checks.latent_frames", 6)),
    Case("api-half-size-negative", API, "`checks.check_half_size(-16, 32)`",
         "width: -16 is not a multiple of 16 (each half must fill whole 16-pixel tokens: the VAE "
         "downsamples by 8 and the transformer patches 2x2). Use 16.",
         kind="python",
         call=_pure("reco_core.checks.check_half_size", -16, 32)),
    Case("api-length-nan", API, "`checks.check_length(nan)`",
         "length: nan is not a finite number. Give a plain number.",
         kind="python",
         call=_pure("reco_core.checks.check_length", float("nan"))),
    Case("api-pixel-to-latent-empty", API, "`masks.pixel_to_latent_mask` of a 0x0 mask",
         "mask must hold at least one frame and cell, got (1, 0, 0)",
         kind="python",
         call=_pure("reco_core.masks.pixel_to_latent_mask", _tensor(1, 0, 0))),
    # ------------------------------------------------------------------------------------------------ ComfyUI
    Case("comfy-incontext-width", COMFY, "ReCo In-Context Edit, width 30",
         "width: 30 is not a multiple of 16 (each half must fill whole 16-pixel tokens: the VAE "
         "downsamples by 8 and the transformer patches 2x2). Use 16 or 32.",
         kind="comfyui"),
    Case("comfy-incontext-length", COMFY, "ReCo In-Context Edit, length 8",
         "length: 8 frames is not of the form 4n+1 (the Wan VAE keeps the first frame and packs every "
         "following 4 frames into one latent frame). Use 5 or 9.",
         kind="comfyui"),
    Case("comfy-incontext-strength-nan", COMFY, "ReCo In-Context Edit, strength NaN",
         "strength: nan is not a finite number. Give a plain number.",
         kind="comfyui"),
    Case("comfy-sampler-cfg-nan", COMFY, "ReCo Sampler, cfg NaN",
         "cfg: nan is not a finite number. Give a plain number.",
         kind="comfyui"),
    Case("comfy-sampler-image-latent", COMFY, "ReCo Sampler fed an image LATENT (Empty Latent Image)",
         "latent_image: is not a video latent [batch, 16, frames, height, width] (got (1, 4, 4, 8)). "
         "Connect the LATENT of ReCo In-Context Edit (an image latent cannot hold a clip).",
         kind="comfyui"),
    Case("comfy-sampler-foreign-latent", COMFY, "ReCo Sampler, region auto, fed a video LATENT that is not a ReCo "
         "canvas (Empty HunyuanVideo Latent)",
         "latent_image: does not come from ReCo In-Context Edit (it carries no source latent). Connect "
         "ReCo In-Context Edit's latent, or set region to off.",
         kind="comfyui"),
    Case("comfy-sampler-latent-size", COMFY, "ReCo Sampler fed a video LATENT of another size than the VACE context "
         "of its conditioning (Empty HunyuanVideo Latent 128x32)",
         "latent_image: is 2x4x16 (frames x height x width) but the VACE context in positive is 2x4x8. Connect the "
         "latent, positive and negative of the same ReCo In-Context Edit node.",
         kind="comfyui"),
    Case("comfy-sampler-mask-size", COMFY, "ReCo Sampler, region mask, a 64x64 MASK for a 40x24 source",
         "mask: is 64x64 but the source is 40x24. Give a mask of the source's size (40x24); it is fitted "
         "to the model's size as the source was.",
         kind="comfyui"),
    Case("comfy-sampler-attention-blocks", COMFY, "ReCo Sampler, region auto, attention_blocks \"abc\"",
         "attention_blocks: 'abc' is not all, dit, vace or DiT block numbers 0..1. Write e.g. 0,2,4 "
         "(block numbers separated by commas) or all.",
         kind="comfyui"),
    Case("comfy-decode-image-latent", COMFY, "ReCo Decode fed an image LATENT",
         "samples: is not a video latent [batch, 16, frames, height, width] (got (1, 4, 4, 8)). Connect the "
         "LATENT that a sampler made from ReCo In-Context Edit's latent.",
         kind="comfyui"),
    Case("comfy-lora-nan", COMFY, "ReCo LoRA Loader, a LoRA with NaN weights in models/loras",
         "DIR/models/loras/nan_….safetensors: module blocks.0.self_attn.q has NaN or infinite values in "
         "its down matrix. The LoRA is broken (a training run that diverged?): it would turn every frame "
         "black. Use an earlier checkpoint or re-train.",
         kind="comfyui"),
    Case("comfy-lora-rank0", COMFY, "ReCo LoRA Loader, a rank-0 LoRA",
         "DIR/models/loras/rank0_….safetensors: module blocks.0.self_attn.q has rank 0 (its down matrix "
         "(0, 32) is empty). A LoRA needs rank 1 or more; re-export it with a positive rank.",
         kind="comfyui"),
    Case("comfy-lora-strength-nan", COMFY, "ReCo LoRA Loader, strength NaN",
         "strength: nan is not a finite number. Give a plain number.",
         kind="comfyui"),
    Case("comfy-train-manifest-outside", COMFY, "ReCo Train LoRA on a dataset in input/ whose manifest lists "
         "/etc/passwd",
         "data.manifest: line DIR/input/outside_…/manifest.jsonl:1: source '/etc/passwd' leaves the "
         "dataset folder. List files by paths relative to DIR/input/outside_… and inside it (no absolute "
         "paths, no ..); link clips kept elsewhere into the folder.",
         kind="comfyui"),
    Case("comfy-train-name-nul", COMFY, "ReCo Train LoRA, lora_name with a NUL byte",
         "lora_name: 'my\\0lora' is not a plain file name. Use a plain file name such as \"my_reco_lora\" "
         "(no folders, no \"..\").",
         kind="comfyui"),
    Case("comfy-train-name-too-long", COMFY, "ReCo Train LoRA, lora_name of 300 characters",
         "lora_name: is 300 bytes long. Use at most 243 bytes (the file name gets .safetensors, and file "
         "names stop at 255 bytes).",
         kind="comfyui"),
    Case("comfy-train-learning-rate-nan", COMFY, "ReCo Train LoRA, learning_rate NaN",
         "learning_rate: nan is not a finite number. Give a plain number.",
         kind="comfyui"),
    Case("comfy-shapes-strength-nan", COMFY, "ReCo-Shapes Loader, lora_strength NaN",
         "lora_strength: nan is not a finite number. Give a plain number.",
         kind="comfyui"),
]


# ====================================================================================================== running


def run_cli(case: Case, workspace: Workspace) -> tuple[int, str]:
    """(exit code, the error or warning line without its prefix) of a command-line row, run in this process."""
    from reco_core.cli import main

    stderr, stdout = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(stdout):
        try:
            code = main([workspace.path(arg) for arg in case.args])
        except SystemExit as exit:  # argparse
            code = exit.code
    prefix = "warning: " if case.warning else "error: "
    lines = [line[len(prefix):] for line in stderr.getvalue().splitlines() if line.startswith(prefix)]
    return code, workspace.normalise(lines[0] if lines else stderr.getvalue().strip())


def run_python(case: Case, workspace: Workspace) -> str:
    """The message of the ValueError a Python row raises (AssertionError if it raises none)."""
    try:
        case.call(workspace)
    except ValueError as error:
        return workspace.normalise(str(error))
    raise AssertionError(f"{case.id}: no ValueError")


def matches(expected: str, actual: str) -> bool:
    """`actual` equals `expected`, where each "…" in `expected` stands for any text."""
    pattern = ".*".join(re.escape(part) for part in expected.split(WILDCARD))
    return re.fullmatch(pattern, actual, flags=re.DOTALL) is not None


# ====================================================================================================== document


def render() -> str:
    lines = [
        "# Bad inputs and what they get",
        "",
        "Every input below is refused with a message that names it and says what to do, before any model loads",
        "where the input is known up front; none ends in a Python traceback. The table is generated from",
        "`tests/bad_inputs.py`, whose rows the tests run and whose messages they assert word for word",
        "(`PYTHONPATH=. python tests/bad_inputs.py` rewrites this file). `DIR/` is the folder the files are in;",
        "`…` is text that depends on the machine or a library version. The command line prints the message",
        "after `error: ` and exits with 2; ComfyUI shows it on the node; Python raises `ReCoInputError` (a",
        "`ValueError`) or, for the pure functions, `ValueError`.",
        "",
        "What is written is safe as well (tested in tests/test_fsutil.py): files and folders",
        "get the mode your umask gives; a file is written under a hidden temporary name and renamed into place,",
        "and one left by a killed process is removed by the next write into that folder; replacing a folder of",
        "PNG frames swaps it atomically where the file system can, and elsewhere a crash between its two renames",
        "is repaired by the next write (the old frames are never lost).",
    ]
    families = list(dict.fromkeys(case.family for case in CASES))
    for family in families:
        lines += ["", f"## {family}", "", "| Input | Message |", "| --- | --- |"]
        for case in (c for c in CASES if c.family == family):
            message = ("warning: " if case.warning else "") + case.message
            lines.append(f"| {_cell(case.input)} | {_cell(message)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\0", "\\0").replace("\n", " ")


def _record() -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        workspace = make_workspace(Path(folder) / "ws")
        for case in CASES:
            if case.kind == "cli":
                code, message = run_cli(case, workspace)
                print(f"{case.id} [{code}]: {message}")
            elif case.kind == "python":
                print(f"{case.id}: {run_python(case, workspace)}")


if __name__ == "__main__":
    if "--record" in sys.argv:
        _record()
    else:
        DOC.write_text(render())
        print(f"wrote {DOC}")
