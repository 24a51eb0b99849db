"""What a new user runs first on the bundled miniature: the README's Python example, --lora and --quiet."""

import re
from pathlib import Path

import pytest
import torch

from reco_core.cli import main
from reco_core.shapes import model as shapes_model
from reco_core.shapes.model import shipped_files
from reco_core.video import read_video, write_video

README = Path(__file__).resolve().parents[1] / "README.md"
needs_weights = pytest.mark.skipif(bool(shipped_files().missing()),
                                   reason="the shipped ReCo-Shapes weights are not built yet")
INSTRUCTION = "add a red circle"


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    from reco_core.shapes.demo import load_demo_clips

    folder = tmp_path_factory.mktemp("shapes_clip")
    write_video(folder / "clip.mp4", load_demo_clips()[0].source, fps=8)
    return folder / "clip.mp4"


def cli_edit(clip, out, *extra):
    return main(["edit", "--model", "shapes", "--source", str(clip), "--instruction", INSTRUCTION, "--out", str(out),
                 *extra])


@pytest.fixture(scope="module")
def cli_result(clip, tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "edit.mp4"
    assert cli_edit(clip, out, "--quiet") == 0
    return read_video(out).frames


def readme_python_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("## Python and the command line"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@needs_weights
def test_the_readme_python_example_gives_what_the_command_line_gives(clip, cli_result, tmp_path, monkeypatch, capsys):
    code = readme_python_example()
    assert '"clip.mp4"' in code and '"edit.mp4"' in code and INSTRUCTION in code
    (tmp_path / "clip.mp4").write_bytes(clip.read_bytes())
    monkeypatch.chdir(tmp_path)
    exec(compile(code, "README.md", "exec"), {})
    steps = shapes_model.SHAPES_EDIT_DEFAULTS["steps"]
    assert f"step {steps}/{steps}" in capsys.readouterr().out, "the example shows its progress"
    torch.testing.assert_close(read_video(tmp_path / "edit.mp4").frames, cli_result, atol=0, rtol=0)


@needs_weights
def test_the_shipped_lora_given_again_replaces_the_bundled_one_instead_of_doubling_it(clip, cli_result, tmp_path,
                                                                                     capsys):
    out = tmp_path / "again.mp4"
    assert cli_edit(clip, out, "--quiet", "--lora", str(shipped_files().lora)) == 0
    assert "your LoRA replaces the bundled ReCo-Shapes LoRA (strength 0.9)" in capsys.readouterr().err
    torch.testing.assert_close(read_video(out).frames, cli_result, atol=0, rtol=0)
    stronger = tmp_path / "stronger.mp4"
    assert cli_edit(clip, stronger, "--quiet", "--lora", f"{shipped_files().lora}:1.0") == 0
    assert (read_video(stronger).frames - cli_result).abs().max() > 0


@needs_weights
def test_quiet_silences_the_libraries_loading_bars_too(clip, tmp_path, capfd):
    assert cli_edit(clip, tmp_path / "quiet.mp4", "--quiet") == 0
    captured = capfd.readouterr()
    assert "Loading" not in captured.err and "%|" not in captured.err
    assert "wrote" in captured.out
