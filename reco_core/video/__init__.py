"""Reading and writing videos, image folders and images as frames `[T, H, W, C]` in `0..1`.

Video files go through the ffmpeg binary that ships with `imageio-ffmpeg` (nothing is downloaded);
images go through Pillow. Every file is written atomically (see `reco_core.fsutil`).
"""

from __future__ import annotations

from .common import DEFAULT_FPS, FRAME_PATTERN, H264_SUFFIXES, IMAGE_SUFFIXES, VIDEO_SUFFIXES, Video, VideoInfo
from .reading import MAX_IMAGE_PIXELS, list_image_files, probe_video, read_mask_video, read_video
from .writing import pipe_to_ffmpeg, write_image, write_mask_video, write_video

__all__ = ["DEFAULT_FPS", "FRAME_PATTERN", "H264_SUFFIXES", "IMAGE_SUFFIXES", "MAX_IMAGE_PIXELS", "VIDEO_SUFFIXES",
           "Video", "VideoInfo", "list_image_files", "pipe_to_ffmpeg", "probe_video", "read_mask_video", "read_video",
           "write_image", "write_mask_video", "write_video"]
