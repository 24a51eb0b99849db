import json
import subprocess
import sys

import pytest
import torch

from reco_core import lora as lora_lib
from reco_core.cli import main
from reco_core.video import probe_video, read_video, write_image, write_video


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Tiny random models saved the way users keep them, plus a short source clip."""
    from reco_core.models.saving import save_transformer, save_vae
    from reco_core.models.tiny import build_tiny_text_encoder, build_tiny_transformer, build_tiny_vae

    root = tmp_path_factory.mktemp("cli")
    save_transformer(build_tiny_transformer(), root / "model.safetensors")
    save_vae(build_tiny_vae(), root / "vae.safetensors")
    build_tiny_text_encoder().save(root / "text_encoder")
    frames = torch.rand(9, 24, 40, 3, generator=torch.Generator().manual_seed(0))
    write_video(root / "source.mp4", frames, fps=12)
    write_image(root / "first.png", frames[0])
    return root


def edit_args(files, out, *extra):
    return ["edit", "--source", str(files / "source.mp4"), "--instruction", "add a red hat", "--out", str(out),
            "--model", str(files / "model.safetensors"), "--vae", str(files / "vae.safetensors"),
            "--text-encoder", str(files / "text_encoder"), "--size", "32x32", "--steps", "2", "--quiet", *extra]


def test_edit_writes_a_playable_mp4_with_the_right_frames_fps_and_size(files, tmp_path, capsys):
    out = tmp_path / "edit.mp4"
    assert main(edit_args(files, out, "--frames", "5")) == 0
    info = probe_video(out)
    assert (info.num_frames, info.width, info.height) == (9, 32, 32)  # every frame: in windows of 5
    assert info.fps == pytest.approx(12, rel=1e-3)
    assert read_video(out).frames.shape == (9, 32, 32, 3)
    assert "wrote" in capsys.readouterr().out


def test_side_by_side_lora_keep_source_and_first_frame(files, tmp_path):
    from reco_core.models.loading import load_transformer

    model = load_transformer(files / "model.safetensors", dtype=torch.float32)
    modules = {}
    for name, layer in model.named_modules():
        if name.endswith("attn1.to_q"):
            canonical = lora_lib.names.diffusers_to_canonical(name)
            modules[canonical] = lora_lib.LoRAModule(torch.randn(2, layer.in_features), torch.randn(layer.out_features, 2))
    lora_path = lora_lib.save_lora(lora_lib.LoRA(modules), tmp_path / "lora.safetensors", fmt="kohya")
    out = tmp_path / "pair.mp4"
    code = main(edit_args(files, out, "--side-by-side", "--keep-source", "--lora", f"{lora_path}:0.5",
                          "--first-frame", str(files / "first.png"), "--sampler", "unipc", "--fps", "8",
                          "--frames", "9"))
    assert code == 0
    info = probe_video(out)
    assert (info.width, info.height) == (64, 32) and info.fps == pytest.approx(8, rel=1e-3)
    assert info.num_frames == 6  # 9 frames at 12 fps are 6 at 8 fps: padded to 9 for the model, trimmed back


def test_a_short_clip_is_padded_to_the_model_length_and_the_note_says_so(files, tmp_path, capsys):
    out = tmp_path / "edit.mp4"
    assert main(edit_args(files, out, "--frames", "13")) == 0
    assert probe_video(out).num_frames == 9, "every source frame, none of the padding"
    error = capsys.readouterr().err
    assert "note: --source has 9 frames, fewer than the 13 sampled: padded with 4 copies of its last frame" in error


def test_short_clip_shorten_and_target_decode(files, tmp_path, capsys):
    out = tmp_path / "edit.mp4"
    assert main(edit_args(files, out, "--frames", "13", "--short-clip", "shorten", "--decode", "target")) == 0
    assert probe_video(out).num_frames == 9  # the longest 4n+1 in 9 frames is 9 itself
    assert main(edit_args(files, tmp_path / "seven.mp4", "--frames", "13", "--short-clip", "shorten", "--fps", "8")) == 0
    assert probe_video(tmp_path / "seven.mp4").num_frames == 5
    assert "the last 1 are left out" in capsys.readouterr().err


def test_reference_image_runs_reco_ref(files, tmp_path):
    write_image(tmp_path / "hat.png", torch.rand(40, 20, 3, generator=torch.Generator().manual_seed(1)))
    plain, referenced = tmp_path / "plain", tmp_path / "ref"
    assert main(edit_args(files, plain, "--frames", "5", "--seed", "3")) == 0
    assert main(edit_args(files, referenced, "--frames", "5", "--seed", "3", "--reference", str(tmp_path / "hat.png"))) == 0
    a, b = read_video(plain).frames, read_video(referenced).frames
    assert a.shape == b.shape == (9, 32, 32, 3) and (a - b).abs().max() > 1 / 255  # every window has the reference


@pytest.mark.parametrize("change,name,fragment", [
    (["--size", "30x32"], "--size width", "Use 16 or 32"),
    (["--frames", "8"], "--frames", "Use 5 or 9"),
    (["--instruction", "   "], "--instruction", "is empty"),
    (["--reference", "hat.png", "--region", "auto"], "--region", "--reference"),
    (["--reference", "missing.png"], "--reference", "missing.png"),
    (["--source", "missing.mp4"], "--source", "missing.mp4"),
    (["--model", "nowhere.safetensors"], "--model", "does not exist"),
    (["--lora", "nope.safetensors"], "--lora", "does not exist"),
    (["--out", "edit.txt"], "--out", ".txt"),
])
def test_bad_inputs_are_named_with_a_fix_before_any_model_loads(files, tmp_path, capsys, change, name, fragment):
    args = edit_args(files, tmp_path / "x.mp4")
    flag = change[0]
    if flag in args:
        index = args.index(flag)
        args[index + 1] = change[1]
    else:
        args += change
    assert main(args) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {name}") and fragment in error
    assert not (tmp_path / "x.mp4").exists()


def test_an_unreadable_lora_is_reported(files, tmp_path, capsys):
    bad = tmp_path / "broken.safetensors"
    bad.write_bytes(b"not a lora")
    assert main(edit_args(files, tmp_path / "x.mp4", "--lora", str(bad))) == 2
    assert "broken.safetensors" in capsys.readouterr().err


def _random_lora():
    generator = torch.Generator().manual_seed(0)
    module = lora_lib.LoRAModule(torch.randn(4, 32, generator=generator), torch.randn(32, 4, generator=generator), 8.0)
    return lora_lib.LoRA({"blocks.0.self_attn.q": module, "vace_blocks.1.ffn.2": module})


@pytest.mark.parametrize("fmt", ["comfy", "diffusers", "peft"])
def test_lora_convert_output_loads_back_identically(tmp_path, fmt, capsys):
    source = tmp_path / "in.ckpt"
    torch.save(lora_lib.to_state_dict(_random_lora(), "reco"), source)
    out = tmp_path / f"out_{fmt}.safetensors"
    assert main(["lora", "convert", str(source), str(out), "--to", fmt]) == 0
    converted = lora_lib.load_lora(out)
    original = lora_lib.load_lora(source)
    assert converted.source_format == fmt
    for name, module in original.modules.items():
        assert torch.equal(converted.modules[name].delta(), module.delta())


def test_lora_convert_refuses_other_suffixes(tmp_path, capsys):
    lora_lib.save_lora(_random_lora(), tmp_path / "in.safetensors")
    assert main(["lora", "convert", str(tmp_path / "in.safetensors"), str(tmp_path / "out.pt"), "--to", "comfy"]) == 2
    assert ".safetensors" in capsys.readouterr().err


def test_lora_info_text_and_json(tmp_path, capsys):
    path = lora_lib.save_lora(_random_lora(), tmp_path / "in.safetensors", fmt="kohya")
    assert main(["lora", "info", str(path)]) == 0
    text = capsys.readouterr().out
    assert "kohya" in text and "rank:       4" in text and "VACE blocks" in text
    assert main(["lora", "info", str(path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["alpha"] == [8.0] and info["dit_blocks"] == [0] and info["vace_blocks"] == [1]


def test_module_entry_point_help_explains_every_flag():
    result = subprocess.run([sys.executable, "-m", "reco_core", "edit", "--help"], capture_output=True, text=True,
                            check=True)
    for flag in ("--source", "--instruction", "--out", "--model", "--vae", "--text-encoder", "--lora", "--size",
                 "--frames", "--steps", "--cfg", "--shift", "--seed", "--side-by-side", "--keep-source",
                 "--first-frame", "--reference", "--short-clip", "--decode"):
        assert flag in result.stdout
    text = " ".join(result.stdout.split())
    assert "--model shapes has its own defaults" in text and "Euler, 50 steps, shift 5, cfg 5" in text


def test_a_closed_pipe_ends_quietly(tmp_path):
    path = lora_lib.save_lora(_random_lora(), tmp_path / "in.safetensors")
    process = subprocess.Popen([sys.executable, "-m", "reco_core", "lora", "info", str(path), "--json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    process.stdout.close()  # like `| head` that has read what it wanted
    _, stderr = process.communicate(timeout=120)
    assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr
    assert process.returncode == 1


def test_region_auto_writes_the_region_as_a_mask_video_next_to_the_edit(files, tmp_path):
    out = tmp_path / "edit.mp4"
    assert main(edit_args(files, out, "--frames", "5", "--region", "auto", "--background", "0.5")) == 0
    region = tmp_path / "edit_region.mp4"
    info = probe_video(region)
    assert (info.num_frames, info.width, info.height) == (9, 32, 32)  # the windows' regions over every frame


def test_region_mask_mode_reads_the_mask(files, tmp_path):
    mask = torch.zeros(9, 24, 40, 3)
    mask[:, 4:16, 10:30] = 1
    write_video(tmp_path / "mask.mp4", mask, fps=12)
    out = tmp_path / "edit.mp4"
    assert main(edit_args(files, out, "--region", "mask", "--mask", str(tmp_path / "mask.mp4"), "--frames", "9")) == 0
    assert (tmp_path / "edit_region.mp4").is_file()


@pytest.mark.parametrize("extra,name,fragment", [
    (["--region", "mask"], "--mask", "--region auto"),
    (["--region", "mask", "--mask", "SMALL"], "--mask", "is 16x16 but --source is 40x24"),
    (["--region", "auto", "--background", "2"], "--background", "between 0 and 1"),
])
def test_region_inputs_are_checked(files, tmp_path, capsys, extra, name, fragment):
    if "SMALL" in extra:
        write_video(tmp_path / "small.mp4", torch.ones(9, 16, 16, 3), fps=12)
        extra = [e if e != "SMALL" else str(tmp_path / "small.mp4") for e in extra]
    assert main(edit_args(files, tmp_path / "x.mp4", *extra)) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"error: {name}") and fragment in error


def test_the_reco_command_is_installed_by_pip_install():
    """README: `pip install -e .` gives the `reco` command (and python -m reco_core from any folder)."""
    import tomllib
    from pathlib import Path

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["reco"] == "reco_core.cli:main"
    assert "reco_core*" in project["tool"]["setuptools"]["packages"]["find"]["include"]
    package_data = project["tool"]["setuptools"]["package-data"]["reco_core"]
    assert {"models/configs/*.json", "shapes/weights/*", "shapes/demo_clips/**/*"} <= set(package_data)


def test_the_help_states_the_miniatures_own_defaults():
    from reco_core.cli import SHAPES_DEFAULTS_NOTE
    from reco_core.shapes.model import SHAPES_EDIT_DEFAULTS as defaults, SHAPES_LORA_STRENGTH

    for said in (f"{defaults['steps']} {defaults['sampler'].capitalize()} steps", f"shift {defaults['shift']:g}",
                 f"cfg {defaults['cfg']:g}", f"LoRA strength {SHAPES_LORA_STRENGTH:g}"):
        assert said in SHAPES_DEFAULTS_NOTE
