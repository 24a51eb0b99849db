"""Where a run's pairs come from: the authors' ReCo-Bench folder, or the ReCo-Shapes world.

Both give, per task, the list of `BenchItem`s and, per item, its source clip; the shapes world also gives
the ground-truth pair, which `--judge metrics` scores against. Clips are found by name in a folder: the
exact file, or the same stem as another video file or as a folder of frames.
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..errors import ReCoInputError
from ..video import IMAGE_SUFFIXES, VIDEO_SUFFIXES, read_video
from .protocol import BenchItem, check_task, read_instructions

MODEL_SOURCES_DIR = "model_sources"
SHAPES_SOURCES_DIR = "shapes_sources"


def find_clip(folder: str | Path | None, name: str) -> Path | None:
    """`folder/name`, else `folder/<stem>.<any video suffix>`, else the frame folder `folder/<stem>/`."""
    if not folder:
        return None
    folder = Path(folder)
    if (folder / name).is_file():
        return folder / name
    stem = Path(name).stem
    for suffix in VIDEO_SUFFIXES:
        if (folder / f"{stem}{suffix}").is_file():
            return folder / f"{stem}{suffix}"
    frames = folder / stem
    if frames.is_dir() and any(p.suffix.lower() in IMAGE_SUFFIXES for p in frames.iterdir()):
        return frames
    return None


def read_clip(path: Path, what: str) -> torch.Tensor:
    return read_video(path, input_name=what).frames


class ReCoBench:
    """The authors' benchmark: instructions from `bench_dir/configs/<task>.txt`, sources from `sources`.

    A source the edit model saw (written to `<edits>/model_sources/` when this tool made the edits) is
    preferred, since step 1 needs source and edit of the same frame count and height.
    """

    name = "reco-bench"

    def __init__(self, bench_dir: str | Path, sources: str | Path | None, edits: str | Path):
        self.bench_dir, self.sources, self.edits = bench_dir, sources, Path(edits)

    def items(self, task: str) -> list[BenchItem]:
        return read_instructions(self.bench_dir, task)

    def truth(self, item: BenchItem):
        return None

    def source_path(self, item: BenchItem) -> Path | None:
        return find_clip(self.edits / MODEL_SOURCES_DIR, item.source) or find_clip(self.sources, item.source)

    def source_clip(self, item: BenchItem) -> torch.Tensor:
        path = self.source_path(item)
        if path is None:
            raise ReCoInputError("--sources", f"has no source video {item.source}",
                                 "Give the folder of the benchmark's source videos (ori_videos of ReCo-Bench).")
        return read_clip(path, "source")

    def raw_source_path(self, item: BenchItem) -> Path | None:
        """The source to edit from (never a model_sources/ copy)."""
        return find_clip(self.sources, item.source)


class ShapesBench:
    """ReCo-Shapes held-out test pairs, `count` per task, in the benchmark's layout (`bench shapes`'s pairs).

    The source of pair `shapes_<task>_<seed>.mp4` is rendered, not read; `write_sources` puts it on disk
    losslessly (a folder of PNG frames) for the edit command.
    """

    name = "reco-shapes"

    def __init__(self, count: int | None = None):
        from ..shapes.bench import check_count

        self.count = check_count(count)
        self._pairs: dict[str, dict[str, object]] = {}

    def _task_pairs(self, task: str) -> dict[str, object]:
        if task not in self._pairs:
            from ..shapes.bench import benchmark_pairs

            pairs = benchmark_pairs(self.count, tasks=(check_task(task),))
            self._pairs[task] = {f"shapes_{task}_{pair.info['seed']}.mp4": pair for pair in pairs}
        return self._pairs[task]

    def items(self, task: str) -> list[BenchItem]:
        return [BenchItem(task, name, pair.instruction, index + 1)
                for index, (name, pair) in enumerate(self._task_pairs(task).items())]

    def truth(self, item: BenchItem):
        return self._task_pairs(item.task)[item.source]

    def source_clip(self, item: BenchItem) -> torch.Tensor:
        return self.truth(item).source

    def raw_source_path(self, item: BenchItem) -> Path | None:
        return None

    def write_source(self, item: BenchItem, folder: Path) -> Path:
        """The item's rendered source as PNG frames in `folder/<stem>/` (kept if already there)."""
        from ..video import write_video

        path = folder / Path(item.source).stem
        if not path.is_dir():
            write_video(path, self.source_clip(item))
        return path
