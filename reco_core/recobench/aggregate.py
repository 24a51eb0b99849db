"""Scores per sub-dimension and per task, exactly as the authors' step 2 computes them.

For each pair and each of the three answer blocks, the geometric mean of its scores (0 when a score is
not a number or is negative, or the block has none). Per task:
- S_EA, S_VQ, S_VN: the mean over pairs of that block's geometric mean, rounded to 4 decimals;
- S: the weighted mean of those three rounded values (weights 1/3 each unless given), rounded to 4;
- SA ... ES: the arithmetic mean of each sub-dimension over the pairs that gave it a number, rounded to 4.
Only pairs of the task's instruction list count (stale results of other pairs are ignored).
"""

from __future__ import annotations

from typing import Iterable

from ..errors import ReCoInputError
from .protocol import CATEGORIES, CATEGORY_SYMBOLS, INDICATORS, BenchItem

MALFORMED_POLICIES = ("count", "skip")
TABLE_INDICATORS: tuple[str, ...] = ("SA", "SP", "CP", "AN", "SN", "MN", "VF", "TS", "ES")
TABLE_TOTALS: tuple[str, ...] = ("S_EA", "S_VN", "S_VQ", "S")


def geometric_mean(scores: Iterable) -> float:
    """(prod scores) ** (1/n); 0.0 when empty, when a score is not a number, or when one is negative."""
    values = []
    for score in scores:
        try:
            value = float(score)
        except (TypeError, ValueError):
            return 0.0
        if value < 0:
            return 0.0
        values.append(value)
    if not values:
        return 0.0
    product = 1.0
    for value in values:
        product *= value
    return product ** (1.0 / len(values))


def round4(value: float) -> float:
    return round(float(value), 4)


def parse_weights(text: str | None) -> dict[str, float]:
    """'edit_accuracy=0.5,video_quality=0.3,naturalness=0.2' -> weights (step 2's --weights); '' -> {}."""
    weights: dict[str, float] = {}
    for part in (text or "").split(","):
        if not part.strip():
            continue
        name, equals, value = part.partition("=")
        try:
            weight = float(value)
        except ValueError:
            weight = -1.0
        if not equals or name.strip() not in CATEGORIES or weight < 0:
            raise ReCoInputError("--weights", f"{part.strip()!r} is not CATEGORY=WEIGHT (weight >= 0)",
                                 f"Write e.g. edit_accuracy=0.5,video_quality=0.3,naturalness=0.2 ({', '.join(CATEGORIES)}).")
        weights[name.strip()] = weight
    return weights


def _scores(response, category: str) -> list:
    block = response.get(category) if isinstance(response, dict) else None
    scores = block.get("scores", []) if isinstance(block, dict) else []
    return scores if isinstance(scores, (list, tuple)) else []


def _normalised(weights: dict[str, float] | None) -> dict[str, float]:
    total = sum((weights or {}).get(category, 0.0) for category in CATEGORIES)
    if not weights or total == 0:
        return {category: 1.0 / len(CATEGORIES) for category in CATEGORIES}
    return {category: weights.get(category, 0.0) / total for category in CATEGORIES}


def step2_scores(responses: list, weights: dict[str, float] | None = None) -> dict:
    """Step 2 on the stored responses of one task: per_indicator_avg, sub_totals, weights_used, weighted_overall, count."""
    metric_sum = {category: 0.0 for category in CATEGORIES}
    indicator_sum = {label: 0.0 for labels in INDICATORS.values() for label in labels}
    indicator_count = {label: 0 for label in indicator_sum}
    for response in responses:
        for category in CATEGORIES:
            scores = _scores(response, category)
            metric_sum[category] += geometric_mean(scores)
            for label, score in zip(INDICATORS[category], scores):
                try:
                    value = float(score)
                except (TypeError, ValueError):
                    continue
                indicator_sum[label] += value
                indicator_count[label] += 1
    count = len(responses)
    sub_totals = {category: round4(metric_sum[category] / count) if count else 0.0 for category in CATEGORIES}
    used = _normalised(weights) if count else {}
    overall = round4(sum(sub_totals[category] * used[category] for category in CATEGORIES)) if count else 0.0
    per_indicator = {category: {label: round4(indicator_sum[label] / indicator_count[label])
                                if indicator_count[label] else 0.0 for label in INDICATORS[category]}
                     for category in CATEGORIES}
    return {"per_indicator_avg": per_indicator, "sub_totals": sub_totals,
            "weights_used": {category: round4(weight) for category, weight in used.items()},
            "weighted_overall": overall, "count": count}


def task_scores(items: list[BenchItem], records: dict[str, dict], malformed: str = "count",
                weights: dict[str, float] | None = None) -> dict:
    """Step 2 for one task over the stored records of its pairs, plus how many pairs were judged, malformed, failed."""
    if malformed not in MALFORMED_POLICIES:
        raise ReCoInputError("--malformed", f"{malformed!r} is not a policy", f"Use one of: {', '.join(MALFORMED_POLICIES)}.")
    counted = ("judged", "malformed") if malformed == "count" else ("judged",)
    statuses = [records.get(item.video_name, {}).get("status", "missing") for item in items]
    responses = [records[item.video_name]["response"] for item, status in zip(items, statuses) if status in counted]
    scores = step2_scores(responses, weights)
    scores["counts"] = {status: statuses.count(status) for status in ("judged", "malformed", "failed", "missing")}
    scores["counts"]["pairs"] = len(items)
    flat = {label: value for block in scores["per_indicator_avg"].values() for label, value in block.items()}
    flat.update({CATEGORY_SYMBOLS[category]: value for category, value in scores["sub_totals"].items()})
    flat["S"] = scores["weighted_overall"]
    scores["table"] = {key: flat[key] for key in TABLE_INDICATORS + TABLE_TOTALS}
    return scores


def format_table(per_task: dict[str, dict], markdown: bool = False) -> str:
    """One row per task: pairs scored, the nine sub-dimensions, S_EA S_VN S_VQ and S (2 decimals), pairs not judged."""
    header = ["task", "scored", *TABLE_INDICATORS, *TABLE_TOTALS, "not judged"]
    rows = []
    for task, scores in per_task.items():
        counts = scores["counts"]
        values = [f"{scores['table'][key]:.2f}" for key in TABLE_INDICATORS + TABLE_TOTALS]
        rows.append([task, str(scores["count"]), *values, str(counts["failed"] + counts["missing"])])
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|"]
        return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    lines = ["  ".join([cells[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(cells[1:], widths[1:])])
             for cells in [header] + rows]
    return "\n".join([lines[0], "-" * len(lines[0])] + lines[1:])
