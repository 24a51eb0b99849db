import os

import imageio_ffmpeg
import numpy as np
import pytest
import torch
from PIL import Image

from reco_core import video
from reco_core.errors import ReCoInputError
from reco_core.frames import from_uint8, to_uint8
from reco_core.video import (
    probe_video,
    read_mask_video,
    read_video,
    write_image,
    write_mask_video,
    write_video,
)

BACKGROUND = (0.8, 0.3, 0.1)
SQUARE = (0.1, 0.4, 0.9)


def moving_square_clip(num_frames: int = 9, height: int = 48, width: int = 64) -> torch.Tensor:
    """Flat orange frames with a blue 16x16 square moving right by 2 px a frame."""
    frames = torch.tensor(BACKGROUND).repeat(num_frames, height, width, 1)
    for t in range(num_frames):
        frames[t, 8:24, 2 * t : 2 * t + 16] = torch.tensor(SQUARE)
    return frames


def ffmpeg_metadata(path) -> dict:
    reader = imageio_ffmpeg.read_frames(str(path))
    try:
        return next(reader)
    finally:
        reader.close()


def only_entries(folder) -> list[str]:
    return sorted(os.listdir(folder))


# ---------------------------------------------------------------------------------------------------------------------
# video files
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fps", [16, 24, 30000 / 1001])
def test_mp4_round_trip_keeps_count_fps_size_and_colours(tmp_path, fps):
    clip = moving_square_clip()
    path = write_video(tmp_path / "clip.mp4", clip, fps)
    assert path == tmp_path / "clip.mp4" and only_entries(tmp_path) == ["clip.mp4"]

    loaded = read_video(path)
    assert loaded.frames.shape == clip.shape
    assert (loaded.num_frames, loaded.height, loaded.width) == (9, 48, 64)
    assert loaded.fps == pytest.approx(fps, abs=0.01)
    assert (loaded.frames - clip).abs().mean() < 0.02
    assert (loaded.frames[:, 40:, 40:] - torch.tensor(BACKGROUND)).abs().max() < 0.03  # flat area, far from the square
    assert probe_video(path) == video.VideoInfo(9, loaded.fps, 64, 48)


def test_mp4_is_h264_yuv420p_with_faststart(tmp_path):
    path = write_video(tmp_path / "clip.mp4", moving_square_clip(), 16)
    meta = ffmpeg_metadata(path)
    assert meta["codec"] == "h264"
    assert meta["pix_fmt"].startswith("yuv420p")
    data = path.read_bytes()
    assert data.index(b"moov") < data.index(b"mdat")  # index first: plays while downloading


@pytest.mark.parametrize("suffix", [".mov", ".mkv", ".webm", ".gif"])
def test_other_containers_round_trip(tmp_path, suffix):
    clip = moving_square_clip(num_frames=5)
    path = write_video(tmp_path / f"clip{suffix}", clip, 16)
    loaded = read_video(path)
    assert loaded.frames.shape == clip.shape
    assert (loaded.frames - clip).abs().mean() < 0.03
    # GIF stores delays in 1/100 s: 16 fps becomes 6 cs, i.e. 16.67 fps.
    assert loaded.fps == pytest.approx(16, abs=0.7)
    assert probe_video(path) == video.VideoInfo(5, loaded.fps, 64, 48)


def test_odd_size_is_padded_by_one_replicated_pixel(tmp_path):
    clip = moving_square_clip(num_frames=3, height=17, width=33)
    loaded = read_video(write_video(tmp_path / "odd.mp4", clip, 16))
    assert (loaded.height, loaded.width) == (18, 34)
    assert (loaded.frames[:, :17, :33] - clip).abs().mean() < 0.03
    assert (loaded.frames[:, :, 33] - loaded.frames[:, :, 32]).abs().mean() < 0.03


def test_read_video_max_frames_and_fps_override(tmp_path):
    path = write_video(tmp_path / "clip.mp4", moving_square_clip(), 16)
    loaded = read_video(path, max_frames=4, fps=8)
    assert loaded.num_frames == 4 and loaded.fps == 8
    assert (loaded.frames - moving_square_clip()[:4]).abs().mean() < 0.02


# ---------------------------------------------------------------------------------------------------------------------
# image folders and images
# ---------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["frames", "frames/"])
def test_png_folder_round_trip_is_exact(tmp_path, name):
    clip = from_uint8(np.random.default_rng(0).integers(0, 256, (4, 7, 9, 3), dtype=np.uint8))
    folder = write_video(os.path.join(tmp_path, name), clip, 16)
    assert folder == tmp_path / "frames"
    assert only_entries(folder) == [f"frame_0000{i}.png" for i in range(4)]
    assert only_entries(tmp_path) == ["frames"]
    loaded = read_video(folder, fps=12)
    assert torch.equal(loaded.frames, clip) and loaded.fps == 12
    assert read_video(folder).fps == video.DEFAULT_FPS
    assert probe_video(folder) == video.VideoInfo(4, 16.0, 9, 7)
    assert read_video(folder, max_frames=2).num_frames == 2


def test_png_folder_replaces_an_old_sequence_but_not_other_files(tmp_path):
    folder = tmp_path / "out"
    write_video(folder, torch.rand(5, 4, 4, 3), 16)
    write_video(folder, torch.rand(2, 4, 4, 3), 16)
    assert only_entries(folder) == ["frame_00000.png", "frame_00001.png"]
    assert only_entries(tmp_path) == ["out"]

    (folder / "notes.txt").write_text("mine")
    with pytest.raises(ReCoInputError, match="notes|other files"):
        write_video(folder, torch.rand(3, 4, 4, 3), 16)
    assert only_entries(folder) == ["frame_00000.png", "frame_00001.png", "notes.txt"]
    assert only_entries(tmp_path) == ["out"]


def test_folder_frames_sort_naturally_and_skip_other_files(tmp_path):
    for index, name in enumerate(["frame1.png", "frame2.png", "frame10.png", "frame11.jpg"]):
        Image.new("RGB", (4, 4), (index * 60, 0, 0)).save(tmp_path / name, quality=100)
    Image.new("RGB", (4, 4), (255, 255, 255)).save(tmp_path / "._frame3.png")  # macOS resource fork
    (tmp_path / "fps.txt").write_text("16")
    loaded = read_video(tmp_path)
    reds = to_uint8(loaded.frames[:, 0, 0, 0]).tolist()
    assert loaded.num_frames == 4
    assert reds[:3] == [0, 60, 120] and abs(reds[3] - 180) <= 3  # jpg is lossy


def test_folder_with_mixed_sizes_names_the_odd_frame(tmp_path):
    Image.new("RGB", (4, 4)).save(tmp_path / "a1.png")
    Image.new("RGB", (6, 4)).save(tmp_path / "a2.png")
    for read in (read_video, probe_video):
        with pytest.raises(ReCoInputError, match="a2.png is 6x4 but a1.png is 4x4"):
            read(tmp_path)


def test_single_images_become_rgb_frames(tmp_path):
    rgba = np.zeros((5, 6, 4), dtype=np.uint8)
    rgba[..., 0], rgba[..., 3] = 200, 10
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(np.full((5, 6), 77, dtype=np.uint8), "L").save(tmp_path / "grey.png")
    Image.fromarray(np.full((5, 6), 65535, dtype=np.uint16)).save(tmp_path / "deep.png")

    rgba_video = read_video(tmp_path / "rgba.png")
    assert rgba_video.frames.shape == (1, 5, 6, 3) and rgba_video.fps == video.DEFAULT_FPS
    assert to_uint8(rgba_video.frames[0, 0, 0]).tolist() == [200, 0, 0]
    assert to_uint8(read_video(tmp_path / "grey.png").frames[0, 0, 0]).tolist() == [77, 77, 77]
    assert torch.all(read_video(tmp_path / "deep.png").frames == 1.0)
    assert probe_video(tmp_path / "grey.png") == video.VideoInfo(1, 16.0, 6, 5)


def test_animated_webp_reads_all_frames(tmp_path):
    images = [Image.new("RGB", (8, 6), (i * 50, 0, 0)) for i in range(3)]
    images[0].save(tmp_path / "anim.webp", save_all=True, append_images=images[1:], duration=125, lossless=True)
    loaded = read_video(tmp_path / "anim.webp")
    assert loaded.num_frames == 3 and loaded.fps == pytest.approx(8.0)
    assert probe_video(tmp_path / "anim.webp") == video.VideoInfo(3, 8.0, 8, 6)


def test_write_image_round_trip(tmp_path):
    image = from_uint8(np.random.default_rng(1).integers(0, 256, (5, 7, 3), dtype=np.uint8))
    path = write_image(tmp_path / "sheet.png", image)
    assert torch.equal(read_video(path).frames[0], image)
    assert only_entries(tmp_path) == ["sheet.png"]
    with pytest.raises(ReCoInputError, match="png"):
        write_image(tmp_path / "sheet.bmp", image)


# ---------------------------------------------------------------------------------------------------------------------
# masks
# ---------------------------------------------------------------------------------------------------------------------


def test_mask_png_round_trip_is_exact(tmp_path):
    masks = (torch.rand(3, 8, 10) > 0.5).float()
    folder = write_mask_video(tmp_path / "masks", masks, 16)
    assert Image.open(folder / "frame_00000.png").mode == "L"
    loaded = read_mask_video(folder)
    assert loaded.frames.shape == (3, 8, 10) and torch.equal(loaded.frames, masks)


def test_mask_mp4_round_trip_is_close(tmp_path):
    masks = torch.zeros(5, 32, 32)
    masks[:, 8:24, 8:24] = 1.0
    loaded = read_mask_video(write_mask_video(tmp_path / "mask.mp4", masks, 16))
    assert loaded.frames.shape == (5, 32, 32)
    assert ((loaded.frames > 0.5) == (masks > 0.5)).float().mean() > 0.99


# ---------------------------------------------------------------------------------------------------------------------
# bad inputs
# ---------------------------------------------------------------------------------------------------------------------


def test_missing_path_names_it(tmp_path):
    missing = tmp_path / "nope.mp4"
    for read in (read_video, probe_video, read_mask_video):
        with pytest.raises(ReCoInputError, match="nope.mp4.*does not exist"):
            read(missing)


def test_empty_folder_names_it(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ReCoInputError, match="empty.*no image frames") as raised:
        read_video(tmp_path / "empty", input_name="source")
    assert raised.value.input_name == "source"
    with pytest.raises(ReCoInputError, match="empty"):
        probe_video(tmp_path / "empty")


def test_text_file_renamed_mp4_is_rejected(tmp_path):
    fake = tmp_path / "fake.mp4"
    fake.write_text("this is not a video")
    for read in (read_video, probe_video):
        with pytest.raises(ReCoInputError, match="fake.mp4") as raised:
            read(fake)
        assert ".mp4" in raised.value.fix and "folder" in raised.value.fix


def test_corrupt_image_is_rejected(tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    for read in (read_video, probe_video):
        with pytest.raises(ReCoInputError, match="broken.png"):
            read(broken)


def test_unknown_output_suffix_is_rejected(tmp_path):
    with pytest.raises(ReCoInputError, match="suffix"):
        write_video(tmp_path / "clip.xyz", moving_square_clip(1), 16)
    assert only_entries(tmp_path) == []


# ---------------------------------------------------------------------------------------------------------------------
# atomic writes
# ---------------------------------------------------------------------------------------------------------------------


def _fail_after_two_frames(frames):
    for index, frame in enumerate(frames):
        if index == 2:
            raise RuntimeError("disk on fire")
        yield to_uint8(frame[..., :3])


@pytest.mark.parametrize("name", ["clip.mp4", "clip.gif", "frames"])
def test_failed_write_leaves_nothing_behind(tmp_path, monkeypatch, name):
    monkeypatch.setattr(video.writing, "_iter_uint8_frames", _fail_after_two_frames)
    with pytest.raises(RuntimeError, match="disk on fire"):
        write_video(tmp_path / name, moving_square_clip(num_frames=5), 16)
    assert only_entries(tmp_path) == []


def test_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = write_video(tmp_path / "clip.mp4", moving_square_clip(num_frames=3), 16)
    before = path.read_bytes()
    monkeypatch.setattr(video.writing, "_iter_uint8_frames", _fail_after_two_frames)
    with pytest.raises(RuntimeError):
        write_video(path, moving_square_clip(num_frames=5), 16)
    assert path.read_bytes() == before and only_entries(tmp_path) == ["clip.mp4"]


def test_ffmpeg_failure_is_reported_and_cleaned_up(tmp_path, monkeypatch):
    monkeypatch.setattr(video.writing, "_H264_ARGS", ["-c:v", "no_such_encoder"])
    with pytest.raises(RuntimeError, match="ffmpeg failed.*no_such_encoder"):
        write_video(tmp_path / "clip.mp4", moving_square_clip(num_frames=3), 16)
    assert only_entries(tmp_path) == []
