"""`python -m reco_core bench shapes`: edit held-out ReCo-Shapes pairs and score them per task.

Pairs come from the test split (never trained on), `count` per task, the same every run. Each pair is
edited by `edit_pair` and scored by `reco_core.shapes.metrics`; the table is printed and, with `out`,
written as JSON together with the "return the source unchanged" baseline.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

import torch

from ..engine.options import EditOptions
from ..errors import ReCoInputError
from ..fsutil import atomic_write_text
from ..region import RegionOptions, region_iou
from .metrics import aggregate, format_table, score_pair
from .model import FPS, SHAPES_EDIT_DEFAULTS, SHAPES_LORA_STRENGTH, ShapesFiles, load_shapes_model, read_benchmark
from .tasks import TASKS, EditPair, make_pair, split_seeds
from .world import WorldConfig

DEFAULT_COUNT = 8
#: Benchmark pair k of task i uses test seed BENCH_SEED_START + i * TASK_STRIDE + k.
BENCH_SEED_START = 0
TASK_STRIDE = 100_000
REGION_MODES = ("off", "auto")


def benchmark_pairs(count: int, tasks: tuple[str, ...] = TASKS, config: WorldConfig | None = None,
                    split: str = "test", start: int = BENCH_SEED_START) -> list[EditPair]:
    """`count` pairs per task of `split` (held-out test pairs by default), in task order; deterministic.

    Pair k of task i uses the split's seed `start + i * TASK_STRIDE + k`.
    """
    config = config or WorldConfig(width=SHAPES_EDIT_DEFAULTS["width"], height=SHAPES_EDIT_DEFAULTS["height"],
                                   num_frames=SHAPES_EDIT_DEFAULTS["max_frames"], fps=FPS)
    pairs = []
    for task in tasks:
        first = start + TASKS.index(task) * TASK_STRIDE
        pairs += [make_pair(seed, task, config) for seed in split_seeds(split, count, start=first)]
    return pairs


def edit_options(**changes) -> EditOptions:
    """The miniature's default edit settings (`SHAPES_EDIT_DEFAULTS`), with `changes`."""
    return replace(EditOptions(**SHAPES_EDIT_DEFAULTS, fps=FPS), **changes).validate()


def check_region(region: str) -> None:
    if region not in REGION_MODES:
        raise ReCoInputError("--region", f"{region!r} is not a benchmark region mode",
                             f"Use one of: {', '.join(REGION_MODES)}.")


def edit_pair(pipeline, pair: EditPair, options: EditOptions, region: str = "off"):
    """Edit one pair's source by its instruction with region mode `region`; returns the EditResult.

    The one place a benchmark edit happens (the default region options of `RegionOptions`).
    """
    check_region(region)
    return pipeline(pair.source, pair.instruction, options=options, region=RegionOptions(mode=region))


def pair_region_iou(region: torch.Tensor | None, pair: EditPair) -> float | None:
    """IoU of the region the sampler used with the ground-truth edit mask (None without a region)."""
    return None if region is None else region_iou(region, pair.mask.to(region.device))


def unchanged_results(pairs: list[EditPair]) -> dict:
    """Scores of returning every source unchanged (the floor any edit model must beat)."""
    return aggregate((pair.task, score_pair(pair.source, pair)) for pair in pairs)


def score_edits(pipeline, pairs: list[EditPair], options: EditOptions, region: str = "off",
                echo: Callable[[str], None] = print) -> list[dict]:
    """Edit and score every pair; one row per pair (task, seed, instruction, seconds, scores)."""
    rows = []
    for index, pair in enumerate(pairs):
        started = time.time()
        result = edit_pair(pipeline, pair, options, region)
        scores = score_pair(result.frames, pair)
        rows.append({"task": pair.task, "seed": pair.info["seed"], "instruction": pair.instruction,
                     "seconds": round(time.time() - started, 2), "scores": scores,
                     "region_iou": pair_region_iou(result.region, pair)})
        echo(f"[bench] {index + 1}/{len(pairs)} {pair.task:8s} edit acc {scores['edit_accuracy']:.3f}  "
             f"bg PSNR {scores['background_psnr'] or float('nan'):.1f}  {pair.instruction}")
    return rows


def default_count() -> int:
    """Pairs per task: what the shipped model card was measured with, else DEFAULT_COUNT."""
    shipped = read_benchmark()
    return int(shipped["count"]) if shipped else DEFAULT_COUNT


def check_count(count: int | None, default: int | None = None) -> int:
    """`count` pairs per task, checked; None takes `default`, else what the shipped card used (`default_count`)."""
    if count is None:
        count = default_count() if default is None else default
    count = int(count)
    if count < 1:
        raise ReCoInputError("--count", f"{count} is not a positive number of pairs", "Use 1 or more.")
    return count


def shapes_pipeline(lora: str | Path | None = None, files: ShapesFiles | None = None,
                    strength: float = SHAPES_LORA_STRENGTH):
    """The engine pipeline on the miniature (with the shipped LoRA, or `lora`, at `strength`) on the CPU."""
    from ..engine.pipeline import ReCoPipeline

    if lora is not None and not Path(lora).is_file():
        raise ReCoInputError("--lora", f"{lora} does not exist", "Give the path of a LoRA file.")
    transformer, vae, text_encoder = load_shapes_model(torch.float32, "cpu", lora=lora, files=files, strength=strength)
    return ReCoPipeline(transformer, vae, text_encoder, device="cpu")


def benchmark_report(pipeline, pairs: list[EditPair], options: EditOptions, region: str,
                     echo: Callable[[str], None] = print) -> dict:
    """Edit and score `pairs`: {"region", "options", "results", "unchanged", "pairs", "seconds"}."""
    started = time.time()
    rows = score_edits(pipeline, pairs, options, region, echo)
    results = aggregate((row["task"], row["scores"]) for row in rows)
    report = {
        "region": region, "options": {k: v for k, v in asdict(options).items() if k != "extra"},
        "results": results, "unchanged": unchanged_results(pairs), "pairs": rows,
        "seconds": round(time.time() - started, 1),
    }
    echo(format_table(results))
    echo(f"[bench] {len(pairs)} edits in {report['seconds']:.0f} s (region {region})")
    return report


def run_benchmark(out: str | Path | None = None, count: int | None = None, lora: str | Path | None = None,
                  region: str = "off", *, files: ShapesFiles | None = None, options: EditOptions | None = None,
                  strength: float = SHAPES_LORA_STRENGTH, echo: Callable[[str], None] = print) -> dict:
    """Benchmark the miniature (the shipped LoRA, or `lora`, merged at `strength`) on `count` test pairs per task.

    Returns {"count", "lora", "lora_strength", "region", "options", "results", "unchanged", "pairs", "seconds"} and
    writes it to `out` as JSON when given.
    """
    check_region(region)
    count = check_count(count)
    pipeline = shapes_pipeline(lora, files, strength)
    report = {"count": count, "lora": str(lora) if lora else "shipped", "lora_strength": strength,
              **benchmark_report(pipeline, benchmark_pairs(count), options or edit_options(), region, echo)}
    if out is not None:
        atomic_write_text(out, json.dumps(report, indent=2))
        echo(f"[bench] wrote {out}")
    return report
