"""The four-LoRA ablation's arithmetic and data: paired effects, verdicts, and the build's pairs reused."""

import math
from pathlib import Path

import pytest

from shapes_lab import ablation
from reco_core.shapes.model import ShapesFiles


def _report(task_scores: dict[str, list[float]]) -> dict:
    scores = lambda value: {score: value for score in ablation.SCORES}  # noqa: E731
    pairs = [{"task": task, "scores": scores(value)} for task, values in task_scores.items() for value in values]
    return {"pairs": pairs, "results": {"per_task": {task: {} for task in task_scores}}}


def test_paired_effect_is_the_mean_difference_with_its_standard_error():
    with_it, without_it = _report({"add": [0.5, 0.7, 0.9]}), _report({"add": [0.4, 0.4, 0.4]})
    mean, stderr, n = ablation.paired_effect(with_it, without_it, "add", "edit_accuracy")
    assert n == 3 and mean == pytest.approx(0.3)
    assert stderr == pytest.approx(math.sqrt(((-0.2) ** 2 + 0 + 0.2 ** 2) / 2) / math.sqrt(3))
    assert ablation.paired_effect(with_it, without_it, "remove", "edit_accuracy") is None


def test_verdict_needs_two_standard_errors():
    assert ablation.verdict(0.3, 0.1) == "helps"
    assert ablation.verdict(-0.3, 0.1) == "hurts"
    assert ablation.verdict(0.15, 0.1) == "no clear effect"
    assert ablation.verdict(0.0, 0.0) == "no clear effect"


def test_each_constraint_is_measured_with_and_without_the_other():
    reports = {
        "full ReCo": _report({"add": [0.9, 0.8]}),
        "without L_latent": _report({"add": [0.5, 0.4]}),
        "without L_attn": _report({"add": [0.9, 0.8]}),
        "without both": _report({"add": [0.5, 0.4]}),
    }
    effects = ablation.constraint_effects(reports)
    assert effects["L_latent"]["add"]["edit_accuracy"]["mean"] == pytest.approx(0.4)
    assert effects["L_attn"]["add"]["edit_accuracy"]["mean"] == pytest.approx(0.0)


def test_variants_train_on_the_builds_own_pairs_and_cache_when_the_build_folder_has_them(tmp_path):
    run = tmp_path / "build" / "lora_run"
    (run / "generated_pairs").mkdir(parents=True)
    (run / "generated_pairs" / "train.jsonl").write_text("")
    (run / "cache").mkdir()
    manifest, cache = ablation.shared_data(ShapesFiles(tmp_path / "build"), tmp_path / "ablation")
    assert manifest == run / "generated_pairs" / "train.jsonl" and cache == run / "cache"
    assert not (tmp_path / "ablation" / "data").exists(), "nothing exported a second time"


def test_a_build_folder_given_relative_to_the_working_directory_gives_absolute_data_paths(tmp_path, monkeypatch):
    # The trainer resolves relative manifest paths against the config's folder (configs/), not the working
    # directory, so `ablation --base runs/shapes` failed to find the build's pairs.
    run = tmp_path / "build" / "lora_run"
    (run / "generated_pairs").mkdir(parents=True)
    (run / "generated_pairs" / "train.jsonl").write_text("")
    (run / "cache").mkdir()
    monkeypatch.chdir(tmp_path)
    manifest, cache = ablation.shared_data(ShapesFiles(Path("build")), Path("ablation"))
    assert manifest.is_absolute() and cache.is_absolute()
    assert manifest == run / "generated_pairs" / "train.jsonl"
