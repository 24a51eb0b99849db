"""Files and folders written atomically get the mode any new file gets (the umask decides), temporary files of
killed writers are cleaned, a folder is replaced without a moment where it is missing, and safe names."""

import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from reco_core import fsutil
from reco_core.fsutil import atomic_write_text, safe_file_name, save_safetensors
from reco_core.video import read_video, write_video

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def umask():
    def set_mask(mask):
        os.umask(mask)

    previous = os.umask(0o022)
    yield set_mask
    os.umask(previous)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o002, 0o077])
def test_atomic_files_respect_the_umask(tmp_path, umask, mask):
    umask(mask)
    atomic_write_text(tmp_path / "a.json", "{}")
    save_safetensors({"x": torch.zeros(2)}, tmp_path / "b.safetensors")
    write_video(tmp_path / "c.mp4", torch.rand(3, 16, 16, 3), fps=8)
    write_video(tmp_path / "frames", torch.rand(2, 16, 16, 3), fps=8)
    for name in ("a.json", "b.safetensors", "c.mp4"):
        assert mode(tmp_path / name) == 0o666 & ~mask, name
    assert mode(tmp_path / "frames") == 0o777 & ~mask
    assert mode(tmp_path / "frames" / "frame_00000.png") == 0o666 & ~mask


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_checkpoint_folders_and_their_files_respect_the_umask(tmp_path, umask, mask):
    from reco_core.train.checkpoint import save_checkpoint

    umask(mask)
    checkpoint = save_checkpoint(tmp_path, 3, {"w": torch.zeros(2)}, {})
    checkpoint = save_checkpoint(tmp_path, 3, {"w": torch.ones(2)}, {})  # replacing one keeps the mode too
    assert mode(checkpoint.path) == 0o777 & ~mask
    for name in ("lora.safetensors", "training_state.pt", "state.json"):
        assert mode(checkpoint.path / name) == 0o666 & ~mask, name


def test_converted_loras_and_replaced_frame_folders_respect_the_umask(tmp_path, umask):
    from reco_core import lora as lora_lib
    from reco_core.cli import main

    umask(0o027)
    module = lora_lib.LoRAModule(torch.randn(2, 32), torch.randn(32, 2))
    lora_lib.save_lora(lora_lib.LoRA({"blocks.0.self_attn.q": module}), tmp_path / "in.safetensors")
    assert main(["lora", "convert", str(tmp_path / "in.safetensors"), str(tmp_path / "out.safetensors"),
                 "--to", "kohya"]) == 0
    write_video(tmp_path / "frames", torch.rand(2, 16, 16, 3), fps=8)
    write_video(tmp_path / "frames", torch.rand(3, 16, 16, 3), fps=8)
    assert mode(tmp_path / "out.safetensors") == 0o640
    assert mode(tmp_path / "frames") == 0o750 and mode(tmp_path / "frames" / "frame_00002.png") == 0o640


# ================================================================================================ killed writers


def run_and_kill(script: str) -> None:
    """Run `script` in a child Python that SIGKILLs itself where the script says `die()`."""
    prelude = "import os, signal, sys\nsys.path.insert(0, %r)\ndef die():\n    os.kill(os.getpid(), signal.SIGKILL)\n" % str(REPO)
    result = subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(script)], capture_output=True, timeout=300)
    assert result.returncode == -signal.SIGKILL, result.stderr.decode()


def age(path: Path, seconds: float = 3600) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


def test_a_temporary_file_left_by_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    run_and_kill(f"""
        from reco_core.fsutil import atomic_path
        with atomic_path({str(tmp_path / "edit.mp4")!r}) as tmp:
            tmp.write_bytes(b"half a video")
            die()
    """)
    (left,) = [p for p in tmp_path.iterdir() if p.name.startswith(".edit.reco-")]
    assert not (tmp_path / "edit.mp4").exists()
    atomic_write_text(tmp_path / "other.txt", "fresh")  # too recent to be touched: its writer may be elsewhere
    assert left.exists()
    age(left)
    atomic_write_text(tmp_path / "other.txt", "again")
    assert not left.exists() and (tmp_path / "other.txt").read_text() == "again"


def test_temporaries_of_live_processes_and_foreign_files_are_kept(tmp_path):
    mine = tmp_path / f".a.reco-{os.getpid()}-abcd1234.mp4"
    foreign = tmp_path / ".a.mp4.part"
    for path in (mine, foreign):
        path.write_bytes(b"x")
        age(path)
    assert fsutil.clean_stale_temporaries(tmp_path) == []
    assert mine.exists() and foreign.exists()


def test_a_checkpoint_staging_folder_of_a_killed_trainer_is_removed(tmp_path):
    run_and_kill(f"""
        import torch
        from reco_core.train import checkpoint
        checkpoint.replace_folder = lambda staging, final: die()
        checkpoint.save_checkpoint(__import__("pathlib").Path({str(tmp_path)!r}), 4, {{"w": torch.zeros(2)}}, {{}})
    """)
    (staging,) = [p for p in tmp_path.iterdir() if p.name.startswith(".step-000004.reco-")]
    age(staging)
    from reco_core.train.checkpoint import list_checkpoints, save_checkpoint

    assert list_checkpoints(tmp_path) == []
    save_checkpoint(tmp_path, 6, {"w": torch.zeros(2)}, {})
    assert not staging.exists() and [c.step for c in list_checkpoints(tmp_path)] == [6]


# ================================================================================================ replacing folders


def frames(value: float, count: int = 2) -> torch.Tensor:
    return torch.full((count, 16, 16, 3), value)


def test_replacing_a_frame_folder_never_leaves_it_missing_even_if_killed_after_the_swap(tmp_path):
    folder = tmp_path / "edit"
    write_video(folder, frames(0.2), fps=8)
    run_and_kill(f"""
        import torch, shutil
        from reco_core import fsutil
        from reco_core.video import write_video
        shutil.rmtree = lambda *a, **k: die()  # killed right after the new folder took the old one's place
        write_video({str(folder)!r}, torch.full((3, 16, 16, 3), 0.8), fps=8)
    """)
    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    if not fsutil.exchange_paths(tmp_path / "a", tmp_path / "b"):  # the fallback test below covers such systems
        pytest.skip("this file system cannot swap folders atomically")
    (tmp_path / "a").rmdir(), (tmp_path / "b").rmdir()
    assert read_video(folder).frames.shape[0] == 3, "the new frames are in place"
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".edit.reco-")]
    assert len(left) == 1 and len(list(left[0].iterdir())) == 2, "the old frames wait to be cleaned"
    age(left[0])
    write_video(tmp_path / "other", frames(0.5), fps=8)
    assert not left[0].exists()


def test_a_crash_between_the_two_renames_of_the_fallback_is_repaired_by_the_next_write(tmp_path):
    folder = tmp_path / "edit"
    write_video(folder, frames(0.2), fps=8)
    run_and_kill(f"""
        import os, torch
        from reco_core import fsutil
        from reco_core.video import write_video
        fsutil.exchange_paths = lambda a, b: False  # a file system without an atomic swap
        real_replace, calls = os.replace, []
        def replace(source, target):
            calls.append(source)
            if len(calls) == 2:  # the old folder is aside, the new one not yet in place
                die()
            real_replace(source, target)
        os.replace = replace
        write_video({str(folder)!r}, torch.full((3, 16, 16, 3), 0.8), fps=8)
    """)
    assert not folder.exists(), "the crash hit between the renames"
    assert fsutil.recover_folder(folder)
    old = read_video(folder).frames
    assert old.shape[0] == 2 and abs(float(old.mean()) - 0.2) < 0.01, "the old frames are back"
    write_video(folder, frames(0.8, 3), fps=8)  # and a write after such a crash repairs before it replaces
    assert read_video(folder).frames.shape[0] == 3


@pytest.mark.parametrize("text,expected", [("train.jsonl:12", "train.jsonl_12"), ("a/b\\c", "a_b_c"),
                                           ("ok-name_1.x", "ok-name_1.x"), ("..", "_")])
def test_safe_file_name(text, expected):
    assert safe_file_name(text) == expected
