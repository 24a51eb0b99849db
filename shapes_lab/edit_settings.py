"""`python -m shapes_lab settings`: how the miniature's edit settings were chosen.

The sampler, its step count and the LoRA strength the miniature edits with (`SHAPES_EDIT_DEFAULTS`,
`SHAPES_LORA_STRENGTH`) are picked on validation pairs: train-split seeds far from every seed the
build trains on, so the held-out test pairs of the benchmark never take part in the choice. Each
candidate edits the same pairs with the same noise; the table goes to `docs/edit-settings.md`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from reco_core.fsutil import atomic_write_text
from reco_core.shapes.bench import benchmark_pairs, check_count, edit_options, score_edits, shapes_pipeline
from .build import REPO_ROOT
from reco_core.shapes.metrics import aggregate
from reco_core.shapes.model import SHAPES_LORA_STRENGTH, ShapesFiles
from reco_core.shapes.tasks import TASKS, EditPair

#: Validation pairs are laid out like the benchmark's (`benchmark_pairs`), on train seeds from here on.
#: Every train seed the build uses lies below: LoRA pairs from 0, VAE clips from 10 million,
#: the base's single-frame pairs from 30 million.
VALIDATION_START = 50_000_000
DEFAULT_COUNT = 6
DOCS = REPO_ROOT / "docs" / "edit-settings.md"


@dataclass(frozen=True)
class Candidate:
    label: str
    strength: float = 1.0
    options: dict = field(default_factory=dict)


CANDIDATES: tuple[Candidate, ...] = (
    Candidate("Euler, 10 steps", options={"sampler": "euler", "steps": 10}),
    Candidate("Euler, 20 steps", options={"sampler": "euler", "steps": 20}),
    Candidate("Euler, 4 steps", options={"sampler": "euler", "steps": 4}),
    Candidate("UniPC, 10 steps", options={"sampler": "unipc", "steps": 10}),
    Candidate("Euler, 10 steps, cfg 2", options={"sampler": "euler", "steps": 10, "cfg": 2.0}),
    Candidate("Euler, 10 steps, LoRA 0.9", 0.9, {"sampler": "euler", "steps": 10}),
)


def validation_pairs(count: int) -> list[EditPair]:
    """`count` validation pairs per task, in task order; deterministic and disjoint from the test split."""
    return benchmark_pairs(count, split="train", start=VALIDATION_START)


def is_default(candidate: Candidate) -> bool:
    """Whether the candidate is exactly what the miniature edits with."""
    return candidate.strength == SHAPES_LORA_STRENGTH and edit_options(**candidate.options) == edit_options()


def score_candidates(candidates: tuple[Candidate, ...], count: int, files: ShapesFiles | None = None,
                     echo: Callable[[str], None] = print) -> dict[str, dict]:
    """{label: per-task results} for every candidate on the same validation pairs and noise."""
    pairs, results, pipelines = validation_pairs(count), {}, {}
    for candidate in candidates:
        if candidate.strength not in pipelines:
            pipelines[candidate.strength] = shapes_pipeline(files=files, strength=candidate.strength)
        rows = score_edits(pipelines[candidate.strength], pairs, edit_options(**candidate.options),
                           echo=lambda line: None)
        results[candidate.label] = aggregate((row["task"], row["scores"]) for row in rows)["per_task"]
        echo(f"[settings] {candidate.label}: " + "  ".join(
            f"{task} {cell(results[candidate.label][task])}" for task in TASKS))
    return results


def cell(scores: dict) -> str:
    psnr = scores.get("background_psnr")
    return f"{scores['edit_accuracy']:.3f}" + ("" if psnr is None else f" / {psnr:.2f}")


def settings_markdown(results: dict[str, dict], candidates: tuple[Candidate, ...], count: int) -> str:
    header = "| settings | " + " | ".join(TASKS) + " |"
    rows = [header, "|:---|" + "---:|" * len(TASKS)]
    for candidate in candidates:
        label = f"**{candidate.label} (default)**" if is_default(candidate) else candidate.label
        rows.append(f"| {label} | " + " | ".join(cell(results[candidate.label][task]) for task in TASKS) + " |")
    return "\n".join([
        "# How the miniature's edit settings were chosen",
        "",
        f"The shipped ReCo-Shapes model edits {count} validation pairs per task with each candidate, the same",
        "noise for all. Validation pairs are train-split seeds never trained on; the benchmark's held-out",
        "test pairs take no part. Each cell is edit accuracy / background PSNR in dB (style edits change the",
        "whole frame, so they have no background). cfg 1, shift 3, seed 0 throughout.",
        "",
        *rows,
        "",
        "The default is in bold. Read the table as what each change gains or costs on pairs the benchmark",
        "never scores; a lower LoRA strength keeps more of the source everywhere, the edit included.",
        "",
        "Reproduce: `python -m shapes_lab settings --out runs/settings`.",
        "",
    ])


def run_settings(out: Path, count: int | None = None, candidates: tuple[Candidate, ...] = CANDIDATES,
                 files: ShapesFiles | None = None, docs: Path | None = DOCS,
                 echo: Callable[[str], None] = print) -> dict:
    """Score every candidate on `count` (default 6) pairs per task; write settings.json to `out` (and the table
    to `docs`)."""
    count = check_count(count, DEFAULT_COUNT)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results = score_candidates(candidates, count, files, echo)
    summary = {"count": count, "validation_start": VALIDATION_START,
               "candidates": [{"label": c.label, "strength": c.strength, "options": c.options} for c in candidates],
               "results": results, "seconds": round(time.time() - started, 1)}
    atomic_write_text(out / "settings.json", json.dumps(summary, indent=2))
    if docs is not None:
        atomic_write_text(docs, settings_markdown(results, candidates, count))
        echo(f"[settings] wrote {docs}")
    return summary
