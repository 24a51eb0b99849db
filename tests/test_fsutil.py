"""Files and folders written atomically get the mode any new file gets (the umask decides), and safe names."""

import os
import stat

import pytest
import torch

from reco_core.fsutil import atomic_write_text, safe_file_name, save_safetensors
from reco_core.video import write_video


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


def test_checkpoint_folders_respect_the_umask(tmp_path, umask):
    from reco_core.train.checkpoint import save_checkpoint

    umask(0o022)
    checkpoint = save_checkpoint(tmp_path, 3, {"w": torch.zeros(2)}, {})
    assert mode(checkpoint.path) == 0o755


@pytest.mark.parametrize("text,expected", [("train.jsonl:12", "train.jsonl_12"), ("a/b\\c", "a_b_c"),
                                           ("ok-name_1.x", "ok-name_1.x"), ("..", "_")])
def test_safe_file_name(text, expected):
    assert safe_file_name(text) == expected
