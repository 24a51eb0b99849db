"""`python -m shapes_lab region`: region-constrained sampling against plain ReCo on the miniature.

The shipped model edits the same held-out pairs with the same noise three times: region mode off, auto
(default `RegionOptions`: background lock 0.8 released at 70%, no attention constraint, no dilation) and
mask, given each pair's ground-truth edit mask (the ceiling of auto: it tells finding the region apart
from editing inside it). Differences are paired per clip. Writes `region.json` and `docs/region.md`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from reco_core.fsutil import atomic_write_text
from .ablation import paired_effect, verdict
from reco_core.choices import REGION_MODES
from reco_core.shapes.bench import benchmark_pairs, benchmark_report, check_count, edit_options, shapes_pipeline
from .build import REPO_ROOT
from reco_core.shapes.model import ShapesFiles

DOCS = REPO_ROOT / "docs" / "region.md"
CONSTRAINED = tuple(mode for mode in REGION_MODES if mode != "off")
SCORES = (("background_psnr", "bg PSNR (dB)", ".2f"), ("temporal_stability", "stability", ".3f"),
          ("edit_accuracy", "edit accuracy", ".3f"))


def mean_region_iou(report: dict, task: str) -> float | None:
    values = [row["region_iou"] for row in report["pairs"] if row["task"] == task and row.get("region_iou") is not None]
    return sum(values) / len(values) if values else None


def seconds_per_edit(report: dict) -> float:
    return sum(row["seconds"] for row in report["pairs"]) / max(1, len(report["pairs"]))


def comparison_rows(reports: dict[str, dict]) -> list[dict]:
    """Per task: each score with region off and each region mode, with the paired difference (mode - off), and
    the auto region's IoU with the true mask."""
    off = reports["off"]
    rows = []
    for task in off["results"]["per_task"]:
        row = {"task": task, "region_iou": mean_region_iou(reports["auto"], task)}
        for key, _, _ in SCORES:
            row[key] = {"off": off["results"]["per_task"][task][key]}
            for mode in CONSTRAINED:
                effect = paired_effect(reports[mode], off, task, key)
                row[key][mode] = reports[mode]["results"]["per_task"][task][key]
                row[key][f"{mode} - off"] = None if effect is None else {"mean": effect[0], "stderr": effect[1]}
        rows.append(row)
    return rows


def _cell(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _with_difference(value: float | None, difference: dict | None, spec: str) -> str:
    """"27.33 (+0.30 ± 0.11, helps)": a mode's score and its paired difference from off."""
    if value is None:
        return "-"
    if difference is None:
        return _cell(value, spec)
    mean, stderr = difference["mean"], difference["stderr"]
    return f"{value:{spec}} ({mean:+{spec}} ± {stderr:{spec}}, {verdict(mean, stderr)})"


def comparison_table(rows: list[dict]) -> str:
    """Markdown: per task and score, off, each region mode with its paired difference from off; the auto IoU."""
    header = ["task", "score", "off"] + [f"{mode} ({mode} - off)" for mode in CONSTRAINED] + ["auto region IoU"]
    lines = ["| " + " | ".join(header) + " |", "|:---|:---" + "|---:" * (len(header) - 2) + "|"]
    for row in rows:
        for index, (key, title, spec) in enumerate(SCORES):
            entry = row[key]
            cells = [row["task"] if index == 0 else "", title, _cell(entry["off"], spec)]
            cells += [_with_difference(entry[mode], entry[f"{mode} - off"], spec) for mode in CONSTRAINED]
            cells.append(_cell(row["region_iou"], ".2f") if index == 0 else "")
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def region_markdown(summary: dict) -> str:
    options = summary["options"]
    return "\n".join([
        "# Region-constrained sampling on ReCo-Shapes",
        "",
        f"The shipped miniature edits {summary['count']} held-out pairs per task three times with the same noise:",
        "plain ReCo (`--region off`), region-constrained sampling (`--region auto`, default options: the region",
        "read from the model's own x0 estimates at 20% of the schedule, not dilated, background lock 0.8",
        "released at 70%, attention left alone) and the same sampling given each pair's true edit mask",
        "(`--region mask`: what a user who paints the region exactly gets, and the most auto could reach).",
        "Differences are paired per clip;",
        "'helps'/'hurts' means more than two standard errors from zero. Region IoU compares the automatic",
        "region with the ground-truth edit mask (style edits change every pixel, so their mask is the frame).",
        f"Sampling: {options.get('sampler')}, {options.get('steps')} steps, cfg {options.get('cfg')}, "
        f"shift {options.get('shift')}.",
        "",
        comparison_table(summary["rows"]),
        "",
        "Time per edit on the CPU: " + ", ".join(f"{seconds:.2f} s {mode}" for mode, seconds in
                                                 summary["seconds_per_edit"].items()) + ".",
        "",
        "Reproduce: `python -m shapes_lab region --out runs/region`.",
        "",
    ])


def run_region_comparison(out: Path, count: int | None = None, files: ShapesFiles | None = None,
                          write_docs: bool = True, echo: Callable[[str], None] = print) -> dict:
    """Benchmark region off, auto and mask on the same pairs; write region.json (and docs/region.md)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    count = check_count(count)
    started = time.time()
    pipeline = shapes_pipeline(files=files)
    pairs, options = benchmark_pairs(count), edit_options()
    reports = {mode: benchmark_report(pipeline, pairs, options, mode, echo) for mode in REGION_MODES}
    summary = {"count": count, "options": reports["off"]["options"], "rows": comparison_rows(reports),
               "seconds_per_edit": {mode: seconds_per_edit(report) for mode, report in reports.items()},
               "reports": reports, "seconds": round(time.time() - started, 1)}
    atomic_write_text(out / "region.json", json.dumps(summary, indent=2))
    echo(comparison_table(summary["rows"]))
    if write_docs:
        atomic_write_text(DOCS, region_markdown(summary))
        echo(f"[region] wrote {DOCS}")
    return summary
