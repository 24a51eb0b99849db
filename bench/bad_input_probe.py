"""Held-out probe: bad inputs of the bad-input table's families that no test names, run the way a user runs them.

The table in tests/bad_inputs.py is what the tests assert; this probe is a second set of inputs of the same kinds
(LoRA files, edit flags and files, training checkpoints, configs and manifests, the pure Python functions) written
without looking at the messages, to see whether the fixes generalise. Each input ends one of four ways:

  clear      the command exits 2 with "error: <input>: <problem>. <fix>", or the function raises ValueError
  usage      argparse refuses the flag (exit 2 with its usage line)
  accepted   the input is valid after all, or handled (exit 0, or the function returns)
  traceback  anything else: an exception a user would see as a Python traceback

    PYTHONPATH=. python bench/bad_input_probe.py              # the probe, against this checkout
    PYTHONPATH=. python bench/bad_input_probe.py --table      # the table's command-line and Python rows instead
    PYTHONPATH=/path/to/older/checkout:. python bench/bad_input_probe.py   # the same inputs against older code

It prints one line per input and the counts; it exits 1 if any input ended in a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import sys
import tempfile
import traceback
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def make_files(root: Path) -> None:
    """The probe's own bad files, next to the table's workspace."""
    import torch
    from safetensors.torch import save_file

    from reco_core.train import checkpoint as ckpt

    key = "diffusion_model.blocks.0.self_attn.q"
    down, up = torch.randn(2, 32), torch.randn(32, 2)
    save_file({f"{key}.lora_down.weight": torch.randn(32), f"{key}.lora_up.weight": up}, str(root / "flat.safetensors"))
    save_file({f"{key}.lora_down.weight": torch.ones(2, 32, dtype=torch.int64), f"{key}.lora_up.weight": up.long()},
              str(root / "int.safetensors"))
    save_file({f"{key}.lora_down.weight": down, f"{key}.lora_up.weight": up, f"{key}.alpha": torch.tensor(float("nan"))},
              str(root / "nan-alpha.safetensors"))
    save_file({f"{key}.lora_down.weight": down.half(), f"{key}.lora_up.weight": torch.full((32, 2), 7e4).half()},
              str(root / "fp16-inf.safetensors"))
    (root / "empty.safetensors").write_bytes(b"")
    torch.save([down, up], root / "list.ckpt")
    _deep_zip(root / "deep40.ckpt", 40)
    (root / "empty.mp4").write_bytes(b"")
    (root / "empty-folder").mkdir()
    (root / "folder.mp4").mkdir()
    (root / "text.png").write_text("not an image")
    (root / "half.png").write_bytes((root / "first.png").read_bytes()[:200])
    weights = {"blocks.0.attn1.to_q.lora_A.weight": torch.randn(4, 32),
               "blocks.0.attn1.to_q.lora_B.weight": torch.zeros(32, 4)}
    for run, damage in (("no-step", "state"), ("no-lora", "lora"), ("no-rng", "rng"), ("step-abc", "rename"),
                        ("nan-lora", "nan")):
        folder = root / "probe-runs" / run / "checkpoints"
        ckpt.save_checkpoint(folder, 2, weights, {"state": {}, "param_groups": []})
        newest = folder / "step-000002"
        if damage == "state":
            (newest / "state.json").write_text("{}")
        elif damage == "lora":
            (newest / "lora.safetensors").unlink()
        elif damage == "rng":
            torch.save({"optimizer": {"state": {}, "param_groups": []}}, newest / "training_state.pt")
        elif damage == "rename":
            newest.rename(folder / "step-abc")
        elif damage == "nan":
            save_file({k: torch.full_like(v, float("nan")) for k, v in weights.items()}, str(newest / "lora.safetensors"))
    _manifests(root)


def _deep_zip(path: Path, depth: int) -> None:
    key = b"X\x01\x00\x00\x00a"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("deep/data.pkl", b"\x80\x02" + (b"}" + key) * depth + b"}" + b"s" * depth + b".")
        archive.writestr("deep/version", "3\n")


def _manifests(root: Path) -> None:
    from bad_inputs import TRAIN_TOML, _merge_toml

    data = root / "dataset"
    good = {"source": "a.mp4", "target": "b.mp4", "instruction": "flip it"}
    rows = {"null": "null", "instruction-number": json.dumps({**good, "instruction": 5}),
            "mask-parent": json.dumps({**good, "mask": "../bomb.png"}),
            "nul-path": json.dumps({**good, "source": "a\u0000.mp4"}),
            "windows-absolute": json.dumps({**good, "source": "C:\\Windows\\win.ini"}),
            "backslash-parent": json.dumps({**good, "target": "..\\model.safetensors"})}
    for name, line in rows.items():
        (data / f"{name}.jsonl").write_text(line + "\n")
        (root / f"probe-{name}.toml").write_text(_merge_toml(
            TRAIN_TOML, f'\n[data]\ngenerate_shapes = 0\nmanifest = "dataset/{name}.jsonl"\n'))
    (data / "latin1.jsonl").write_bytes(json.dumps({**good, "instruction": "café"}).encode("latin-1").replace(
        b"caf\\u00e9", b"caf\xe9"))
    (root / "probe-latin1.toml").write_text(_merge_toml(
        TRAIN_TOML, '\n[data]\ngenerate_shapes = 0\nmanifest = "dataset/latin1.jsonl"\n'))
    pairs = root / "pairs" / "one"
    pairs.mkdir(parents=True)
    for name in ("source.mp4", "target.mp4"):
        (pairs / name).write_bytes((data / "a.mp4").read_bytes())
    (pairs / "instruction.txt").write_text("  \n")
    (root / "probe-empty-instruction.toml").write_text(_merge_toml(
        TRAIN_TOML, '\n[data]\ngenerate_shapes = 0\nfolder = "pairs"\n'))
    for name, extra in (("rank-text", '\n[lora]\nrank = "8"\n'), ("steps-float", "\n[optim]\nsteps = 1e3\n"),
                        ("bucket-one", "\n[data]\nbuckets = [[832]]\n"), ("name-blank", '\n[output]\nname = "   "\n'),
                        ("fps-inf", "\n[data]\nfps = inf\n"), ("weight-nan", "\n[loss]\nlatent_weight = nan\n")):
        (root / f"probe-{name}.toml").write_text(_merge_toml(TRAIN_TOML, extra))


def edit(*changes: str) -> tuple[str, ...]:
    from bad_inputs import edit as table_edit

    return table_edit("--size", "16x16", "--frames", "1", "--out", "{DIR}/probe-edit.mp4", *changes)


def train(config: str, run: str = "probe-new", resume: bool = False, runs: str = "probe-runs") -> tuple[str, ...]:
    return ("train", "--config", f"{{DIR}}/{config}", "--out", f"{{DIR}}/{runs}/{run}", *(("--resume",) * resume))


def python(function_path: str, *args, **kwargs):
    def call():
        import importlib

        import torch

        module, function = function_path.rsplit(".", 1)
        values = [torch.zeros(a[1:]) if isinstance(a, tuple) and a[:1] == ("zeros",) else a for a in args]
        return getattr(importlib.import_module(module), function)(*values, **kwargs)

    return call


PROBES: list[tuple[str, object]] = [
    # LoRA files
    ("lora info of a folder", ("lora", "info", "{DIR}/empty-folder")),
    ("lora info of an empty file", ("lora", "info", "{DIR}/empty.safetensors")),
    ("lora info, down weight is 1-D", ("lora", "info", "{DIR}/flat.safetensors")),
    ("lora info, integer weights", ("lora", "info", "{DIR}/int.safetensors")),
    ("lora info, alpha NaN", ("lora", "info", "{DIR}/nan-alpha.safetensors")),
    ("lora info, fp16 weights that overflow to inf", ("lora", "info", "{DIR}/fp16-inf.safetensors")),
    ("lora info of a .ckpt holding a list", ("lora", "info", "{DIR}/list.ckpt")),
    ("lora info of a .ckpt nesting 40 dicts", ("lora", "info", "{DIR}/deep40.ckpt")),
    ("lora convert into a file used as a folder",
     ("lora", "convert", "{DIR}/good.safetensors", "{DIR}/good.safetensors/x.safetensors", "--to", "comfy")),
    ("lora convert to a name with NUL", ("lora", "convert", "{DIR}/good.safetensors", "{DIR}/a\0.safetensors",
                                         "--to", "comfy")),
    ("lora convert to a 300-byte name", ("lora", "convert", "{DIR}/good.safetensors",
                                         "{DIR}/" + "y" * 288 + ".safetensors", "--to", "peft")),
    ("edit --lora a folder", edit("--lora", "{DIR}/empty-folder")),
    ("edit --lora FILE:-inf", edit("--lora", "{DIR}/good.safetensors:-inf")),
    ("edit --lora FILE:", edit("--lora", "{DIR}/good.safetensors:")),
    ("edit --lora an integer-weight LoRA", edit("--lora", "{DIR}/int.safetensors")),
    # edit flags and files
    ("--steps 0", edit("--steps", "0")),
    ("--steps 1000000000", edit("--steps", "1000000000")),
    ("--cfg -1", edit("--cfg", "-1")),
    ("--shift 0", edit("--shift", "0")),
    ("--shift 1e300", edit("--shift", "1e300")),
    ("--seed -1", edit("--seed", "-1")),
    ("--frames 0", edit("--frames", "0")),
    ("--frames 100001", edit("--frames", "100001")),
    ("--size 0x0", edit("--size", "0x0")),
    ("--size 16x99999", edit("--size", "16x99999")),
    ("--size abc", edit("--size", "abc")),
    ("--device cuda:7", edit("--device", "cuda:7")),
    ("--device meta", edit("--device", "meta")),
    ("--device mps", edit("--device", "mps")),
    ("--fps 0.5", edit("--fps", "0.5")),
    ("--fps -inf", edit("--fps", "-inf")),
    ("--background nan", edit("--region", "auto", "--background", "nan")),
    ("--release inf", edit("--region", "auto", "--release", "inf")),
    ("--threshold nan", edit("--region", "auto", "--threshold", "nan")),
    ("--detect-at -1", edit("--region", "auto", "--detect-at", "-1")),
    ("--out inside a file", edit("--out", "{DIR}/source.mp4/edit.mp4")),
    ("--out the same file as --mask", edit("--region", "mask", "--mask", "{DIR}/long.mp4", "--out", "{DIR}/long.mp4")),
    ("--out an existing folder named folder.mp4", edit("--out", "{DIR}/folder.mp4")),
    ("--first-frame a cut PNG", edit("--first-frame", "{DIR}/half.png")),
    ("--reference a text file called .png", edit("--reference", "{DIR}/text.png")),
    ("--source an empty .mp4", edit("--source", "{DIR}/empty.mp4")),
    ("--source an empty folder", edit("--source", "{DIR}/empty-folder")),
    ("--mask an empty folder", edit("--region", "mask", "--mask", "{DIR}/empty-folder")),
    ("--source with a NUL", edit("--source", "{DIR}/sou\0rce.mp4")),
    # training
    ("resume: state.json without a step", train("train.toml", "no-step", resume=True)),
    ("resume: lora.safetensors deleted", train("train.toml", "no-lora", resume=True)),
    ("resume: training_state.pt without RNG state", train("train.toml", "no-rng", resume=True)),
    ("resume: NaN weights in the checkpoint", train("train.toml", "nan-lora", resume=True)),
    ("manifest line null", train("probe-null.toml")),
    ("manifest instruction a number", train("probe-instruction-number.toml")),
    ("manifest mask ../", train("probe-mask-parent.toml")),
    ("manifest path with NUL", train("probe-nul-path.toml")),
    ("manifest Windows absolute path", train("probe-windows-absolute.toml")),
    ("manifest ..\\ path", train("probe-backslash-parent.toml")),
    ("manifest in Latin-1", train("probe-latin1.toml")),
    ("pair folder with a blank instruction.txt", train("probe-empty-instruction.toml")),
    ("config lora.rank = \"8\"", train("probe-rank-text.toml")),
    ("config optim.steps = 1e3", train("probe-steps-float.toml")),
    ("config data.buckets = [[832]]", train("probe-bucket-one.toml")),
    ("config output.name blank", train("probe-name-blank.toml")),
    ("config data.fps = inf", train("probe-fps-inf.toml")),
    ("config loss.latent_weight = nan", train("probe-weight-nan.toml")),
    ("train --out an existing file", ("train", "--config", "{DIR}/train.toml", "--out", "{DIR}/source.mp4")),
    # Python API
    ("layout.join_latent of 1-D tensors", python("reco_core.layout.join_latent", ("zeros", 4), ("zeros", 4))),
    ("masks.canvas_tokens of a 2-D mask", python("reco_core.masks.canvas_tokens", ("zeros", 4, 4))),
    ("masks.token_mask_to_latent, wrong count",
     python("reco_core.masks.token_mask_to_latent", ("zeros", 7), 1, 2, 4)),
    ("checks.check_range with low > high", python("reco_core.checks.check_range", 5, 10, 0, name="strength")),
    ("layout.half_mask of an odd width", python("reco_core.layout.half_mask", (3, 5), "target")),
    ("checks.largest_valid_length(0)", python("reco_core.checks.largest_valid_length", 0)),
    ("masks.latent_to_pixel_mask, 9 frames from 1 latent frame",
     python("reco_core.masks.latent_to_pixel_mask", ("zeros", 1, 2, 2), 9)),
    ("layout.vace_context of an empty clip", python("reco_core.layout.vace_context", ("zeros", 0, 16, 16, 3))),
]


def table_probes() -> list[tuple[str, object]]:
    from bad_inputs import CASES

    probes = []
    for case in CASES:
        if case.kind == "cli":
            probes.append((case.id, case.args))
        elif case.kind == "python":
            probes.append((case.id, case.call))
    return probes


class Hang(Exception):
    """A probe that ran past its time limit (a hang, e.g. building billions of frame indices)."""


def _alarm(signum, frame):
    raise Hang(f"still running after {TIME_LIMIT} s")


TIME_LIMIT = 120


def run_one(spec, workspace) -> tuple[str, str]:
    """(outcome, text) of one probe, stopped after TIME_LIMIT seconds (a hang counts as a traceback)."""
    import signal

    signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(TIME_LIMIT)
    try:
        return _run_one(spec, workspace)
    finally:
        signal.alarm(0)


def _run_one(spec, workspace) -> tuple[str, str]:
    from reco_core.cli import main

    if callable(spec):
        try:
            spec(workspace) if spec.__code__.co_argcount else spec()
        except ValueError as error:
            return "clear", str(error)
        except Exception as error:  # noqa: BLE001 - the point is to see it
            return "traceback", f"{type(error).__name__}: {error}"
        return "accepted", ""
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = main([workspace.path(arg) for arg in spec])
    except SystemExit as exit:
        return ("usage" if exit.code == 2 else "traceback"), " ".join(stderr.getvalue().strip().splitlines()[-1:])
    except BaseException as error:  # noqa: BLE001
        frame = traceback.extract_tb(error.__traceback__)[-1]
        return "traceback", f"{type(error).__name__}: {str(error)[:160]} ({Path(frame.filename).name}:{frame.lineno})"
    errors = [line for line in stderr.getvalue().splitlines() if line.startswith("error: ")]
    if code == 0:
        return "accepted", ""
    return ("clear" if errors else "traceback"), (errors[0] if errors else f"exit {code}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", action="store_true", help="run the table's rows instead of the held-out probe")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    from bad_inputs import make_workspace

    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as folder:
        workspace = make_workspace(Path(folder) / "ws")
        make_files(workspace.root)
        probes = table_probes() if args.table else PROBES
        for name, spec in probes:
            outcome, text = run_one(spec, workspace)
            counts[outcome] = counts.get(outcome, 0) + 1
            print(f"{outcome:9s} {name}: {workspace.normalise(str(text))[:240]}")
    print(f"\n{sum(counts.values())} inputs: " + ", ".join(f"{counts.get(k, 0)} {k}"
                                                       for k in ("clear", "usage", "accepted", "traceback")))
    return 1 if counts.get("traceback") else 0


if __name__ == "__main__":
    sys.exit(main())
