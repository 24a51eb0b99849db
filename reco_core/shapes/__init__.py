"""ReCo-Shapes: a procedural world of paired shape edits, the demo and benchmark of the tiny ReCo."""

from .dataset import export_dataset, load_pair, read_manifest, write_pair
from .metrics import aggregate, format_table, score_pair
from .tasks import (
    STYLES,
    TASKS,
    EditPair,
    apply_style,
    choose_task,
    instruction_vocabulary,
    instruction_words,
    make_pair,
    seed_split,
    split_seeds,
)
from .world import SHAPE_COLORS, SHAPE_KINDS, RenderedScene, Scene, Shape, WorldConfig, render_scene, sample_scene

__all__ = [
    "EditPair",
    "RenderedScene",
    "SHAPE_COLORS",
    "SHAPE_KINDS",
    "STYLES",
    "Scene",
    "Shape",
    "TASKS",
    "WorldConfig",
    "aggregate",
    "apply_style",
    "choose_task",
    "export_dataset",
    "format_table",
    "instruction_vocabulary",
    "instruction_words",
    "load_pair",
    "make_pair",
    "read_manifest",
    "render_scene",
    "sample_scene",
    "score_pair",
    "seed_split",
    "split_seeds",
    "write_pair",
]
