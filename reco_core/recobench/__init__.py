"""ReCo-Bench: the authors' judge protocol (their step 1 and step 2) with any judge.

- `protocol`: tasks, instruction lists, edit names, the judge prompt (read from the user's ReCo-Bench folder)
- `frames`: the images a judge sees, made as step 1 makes them
- `answers`: reading an answer as step 1 does, with a clear reason when it is malformed
- `judges`: the judge interface and the OpenAI-compatible chat judge; `local_judge`: a transformers
  vision-language model; `metrics_judge`: ground truth in the ReCo-Shapes world
- `benchmarks`: where pairs, sources and ground truth come from; `editing`: making the edits
- `results`: the resumable per-task results; `aggregate`: step 2's scores and the table
- `runner`: judging a whole benchmark (`judge_benchmark`); `cli`: `python -m reco_core bench reco`

This package imports only the light modules; the others load torch, video and model code when used.
"""

from .aggregate import format_table, geometric_mean, step2_scores, task_scores
from .answers import read_answer
from .protocol import CATEGORIES, INDICATORS, TASKS, BenchItem, compose_prompt, edit_name

__all__ = [
    "CATEGORIES",
    "INDICATORS",
    "TASKS",
    "BenchItem",
    "compose_prompt",
    "edit_name",
    "format_table",
    "geometric_mean",
    "read_answer",
    "step2_scores",
    "task_scores",
]
