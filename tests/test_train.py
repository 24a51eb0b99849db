import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from reco_core import lora as lora_lib
from reco_core.errors import ReCoInputError
from reco_core.bundled import trainer as bundled_trainer
from reco_core.train import Models, Trainer, config_from_dict, load_config

REPO = Path(__file__).resolve().parents[1]


def tiny_config(**sections):
    base = {
        "model": {"transformer": "tiny", "dtype": "fp32"},
        "lora": {"rank": 4, "alpha": 4},
        "data": {"generate_shapes": 4, "width": 32, "height": 32, "frames": 5, "fps": 8},
        "loss": {"latent_weight": 0.1, "attn_weight": 0.1},
        "optim": {"steps": 4, "learning_rate": 1e-3, "gradient_accumulation": 2, "mixed_precision": "no"},
        "output": {"save_every": 2, "sample_every": 0},
    }
    for name, values in sections.items():
        base.setdefault(name, {}).update(values)
    return base


def tiny_models(seed=0):
    from reco_core.models.tiny import build_tiny_text_encoder, build_tiny_transformer, build_tiny_vae
    from reco_core.shapes.tasks import instruction_vocabulary

    return Models(build_tiny_transformer(seed), build_tiny_vae(seed),
                  build_tiny_text_encoder(seed, vocabulary=instruction_vocabulary()))


def test_config_rejects_unknown_keys_with_a_suggestion():
    with pytest.raises(ReCoInputError) as error:
        config_from_dict(tiny_config(optim={"learnig_rate": 1e-4}))
    assert error.value.input_name == "optim.learnig_rate" and "optim.learning_rate" in str(error.value)
    with pytest.raises(ReCoInputError, match=r"\[los\]"):
        config_from_dict({**tiny_config(), "los": {}})


@pytest.mark.parametrize("section,values,name", [
    ("data", {"frames": 8}, "data.frames"), ("data", {"width": 20}, "data.width"),
    ("lora", {"rank": 0}, "lora.rank"), ("loss", {"latent_form": "ratio"}, "loss.latent_form"),
    ("optim", {"mixed_precision": "tf32"}, "optim.mixed_precision"), ("output", {"name": "../x"}, "output.name"),
    ("lora", {"targets": ["q", "qkv"]}, "lora.targets"),
    ("optim", {"lr_schedule": "linear"}, "optim.lr_schedule"),
    ("optim", {"final_learning_rate": 1.0}, "optim.final_learning_rate"),
    ("output", {"dtype": "fp8"}, "output.dtype"),
])
def test_config_values_are_checked(section, values, name):
    with pytest.raises(ReCoInputError) as error:
        config_from_dict(tiny_config(**{section: values}))
    assert error.value.input_name == name


def test_shipped_tiny_cpu_config_is_valid():
    config = load_config(REPO / "configs" / "tiny-cpu.toml")
    assert config.model.transformer == "shapes" and config.optim.steps > 0


def _write_pair(folder, name, source_frames, target_frames, instruction="remove the red circle"):
    from reco_core.video import write_video

    pair = folder / name
    generator = torch.Generator().manual_seed(len(name))
    write_video(pair / "source.mp4", torch.rand(source_frames, 32, 32, 3, generator=generator), fps=8)
    write_video(pair / "target.mp4", torch.rand(target_frames, 32, 32, 3, generator=generator), fps=8)
    (pair / "instruction.txt").write_text(instruction)
    return pair


def test_bad_pairs_are_reported_with_their_files_before_any_model_loads(tmp_path):
    pairs = tmp_path / "pairs"
    _write_pair(pairs, "good", 5, 5)
    _write_pair(pairs, "short_target", 9, 5)
    broken = _write_pair(pairs, "unreadable", 5, 5)
    (broken / "target.mp4").write_bytes(b"garbage")
    missing = _write_pair(pairs, "missing", 5, 5)
    (missing / "source.mp4").unlink()
    config = config_from_dict(tiny_config(data={"generate_shapes": 0, "folder": str(pairs)}))

    class NoModels(Trainer):
        def load_models(self):
            raise AssertionError("models must not load before the data is checked")

    with pytest.raises(ReCoInputError) as error:
        NoModels(config, tmp_path / "run").train()
    message = str(error.value)
    assert "has no source.*" in message and "missing" in message
    config = config_from_dict(tiny_config(data={"generate_shapes": 0, "folder": str(pairs)}))
    (missing / "source.mp4").write_bytes((pairs / "good" / "source.mp4").read_bytes())
    with pytest.raises(ReCoInputError) as error:
        NoModels(config, tmp_path / "run").train()
    message = str(error.value)
    assert "2 of 4 pairs cannot be used" in message
    assert "short_target/target.mp4 has 5 frames" in message and "unreadable/target.mp4" in message


def test_a_manifest_with_a_bad_line_names_the_line(tmp_path):
    manifest = tmp_path / "pairs.jsonl"
    manifest.write_text('{"source": "a.mp4", "target": "b.mp4", "instruction": "x"}\n{"source": "a.mp4"}\n')
    config = config_from_dict(tiny_config(data={"generate_shapes": 0, "manifest": str(manifest)}))
    with pytest.raises(ReCoInputError, match=r"pairs.jsonl:2 has no target, instruction"):
        bundled_trainer(config, tmp_path / "run").train()


def test_frame_folders_keep_every_frame_at_the_training_rate(tmp_path):
    """PNG folders carry no frame rate: they are taken to be at data.fps, never resampled away."""
    from reco_core.shapes.dataset import export_dataset
    from reco_core.shapes.world import WorldConfig
    from reco_core.train.data import load_clips, plan_pairs, read_manifest

    export_dataset(tmp_path, "train", 2, WorldConfig(width=32, height=32, num_frames=17, fps=8))
    config = config_from_dict({"model": {"transformer": "tiny"}, "data": {"manifest": str(tmp_path / "train.jsonl"),
                               "width": 32, "height": 32, "frames": 17, "fps": 8}}).data
    plans = plan_pairs(read_manifest(tmp_path / "train.jsonl"), config)
    assert [plan.frames for plan in plans] == [17, 17]
    clips = load_clips(plans[0], config)
    assert clips.source.shape[0] == clips.target.shape[0] == clips.mask.shape[0] == 17


def test_training_a_tiny_model_lowers_its_loss(tmp_path):
    config = config_from_dict(tiny_config(optim={"steps": 30, "learning_rate": 3e-3, "gradient_accumulation": 1},
                                          output={"save_every": 0}))
    trainer = bundled_trainer(config, tmp_path / "run", models=tiny_models())
    trainer.prepare()
    before = trainer.evaluate(trainer.model)
    trainer.train()
    after = trainer.evaluate(trainer.model)
    assert after["loss"] < 0.9 * before["loss"], (before, after)
    assert (tmp_path / "run" / "loss.png").is_file()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(1, 31))


def test_cache_progress_counts_every_pair_before_the_first_step(tmp_path):
    calls, steps = [], []
    config = config_from_dict(tiny_config(optim={"steps": 1, "gradient_accumulation": 1}, output={"save_every": 0}))
    trainer = bundled_trainer(config, tmp_path / "run", models=tiny_models(), cache_progress=lambda *a: calls.append(a),
                      progress=lambda step, total, terms: steps.append(len(calls)))
    trainer.train()
    assert calls == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert steps == [4]


def test_cosine_schedule_warms_up_then_decays_to_the_final_rate(tmp_path):
    config = config_from_dict(tiny_config(optim={"steps": 6, "gradient_accumulation": 1, "learning_rate": 1e-3,
                                                 "lr_schedule": "cosine", "warmup_steps": 2,
                                                 "final_learning_rate": 1e-4}, output={"save_every": 0}))
    trainer = bundled_trainer(config, tmp_path / "run", models=tiny_models())
    trainer.train()
    rows = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    rates = [row["lr"] for row in rows]
    assert rates[:3] == pytest.approx([5e-4, 1e-3, 1e-3])  # warm-up, then the cosine from its peak
    assert all(a > b for a, b in zip(rates[2:], rates[3:])) and rates[-1] > 1e-4
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(rates[-1])


def test_saved_lora_is_comfy_format_with_alpha_and_round_trips(tmp_path):
    config = config_from_dict(tiny_config(lora={"rank": 4, "alpha": 8}))
    path = bundled_trainer(config, tmp_path / "run", models=tiny_models()).train()
    lora = lora_lib.load_lora(path)
    assert lora.source_format == "comfy" and lora.alphas == [8.0]
    keys = set(lora_lib.read_tensors(path)[0])
    assert "diffusion_model.blocks.0.self_attn.q.alpha" in keys
    assert "diffusion_model.vace_blocks.1.ffn.2.lora_down.weight" in keys
    assert lora.by_kind()["dit"] == 20 and lora.by_kind()["vace"] == 20  # q,k,v,o x2, ffn x2 per block
    for fmt in lora_lib.FORMATS:
        back = lora_lib.convert(lora_lib.convert(lora, fmt), "comfy")
        for name, module in lora.modules.items():
            torch.testing.assert_close(back.modules[name].delta(), module.delta())


def test_lora_is_saved_in_the_output_dtype_with_the_trained_values(tmp_path):
    config = config_from_dict(tiny_config(lora={"rank": 4, "alpha": 4}, optim={"steps": 2}, output={"dtype": "fp16"}))
    trainer = bundled_trainer(config, tmp_path / "run", models=tiny_models())
    lora = lora_lib.load_lora(trainer.train())
    assert {m.down.dtype for m in lora.modules.values()} == {torch.float16}
    trained = trainer.as_lora(trainer.lora_state_dict(trainer.model))
    for name, module in lora.modules.items():
        torch.testing.assert_close(module.delta(), trained.modules[name].delta(), rtol=2e-3, atol=1e-4)


def test_sample_edits_are_rendered(tmp_path):
    config = config_from_dict(tiny_config(optim={"steps": 2}, output={"sample_every": 2, "sample_steps": 2,
                                                                       "sample_count": 1}))
    bundled_trainer(config, tmp_path / "run", models=tiny_models()).train()
    (video,) = (tmp_path / "run" / "samples" / "step-000002").glob("*.mp4")
    from reco_core.video import probe_video

    assert probe_video(video).width == 64  # source | edit
    assert ":" not in video.name, "pair names like train.jsonl:1 make file names Windows and zip tools refuse"


def test_a_folder_that_holds_a_run_is_never_trained_over(tmp_path):
    config = config_from_dict(tiny_config(optim={"steps": 2}))
    out = tmp_path / "run"
    bundled_trainer(config, out, models=tiny_models()).train()
    before = {path: path.read_bytes() for path in out.rglob("*") if path.is_file()}
    with pytest.raises(ReCoInputError) as error:
        bundled_trainer(config, out, models=tiny_models()).check_run_folder(resume=False)
    assert error.value.input_name == "--out" and "step 2" in str(error.value) and "--resume" in str(error.value)
    bundled_trainer(config, out, models=tiny_models()).check_run_folder(resume=True)  # continuing it is fine
    bundled_trainer(config, tmp_path / "new", models=tiny_models()).check_run_folder(resume=False)
    assert {path: path.read_bytes() for path in out.rglob("*") if path.is_file()} == before


def test_train_into_a_finished_run_folder_is_refused_before_anything_is_written(tmp_path, model_files):
    config = write_config(tmp_path / "run.toml", model_files, steps=1)
    out = tmp_path / "run"
    subprocess.run(train_command(config, out), env=run_env(), check=True, capture_output=True)
    before = {path: path.stat().st_mtime_ns for path in out.rglob("*")}
    result = subprocess.run(train_command(config, out), env=run_env(), capture_output=True, text=True)
    assert result.returncode == 2 and "already holds a training run" in result.stderr
    assert {path: path.stat().st_mtime_ns for path in out.rglob("*")} == before


def test_resume_with_nothing_to_resume_says_so_and_starts_at_step_0(tmp_path, caplog):
    config = config_from_dict(tiny_config(optim={"steps": 1}))
    with caplog.at_level("WARNING", logger="reco_core.train.trainer"):
        trainer = bundled_trainer(config, tmp_path / "fresh", models=tiny_models())
        trainer.train(resume=True)
    assert trainer.step == 1
    assert any("no checkpoint" in record.getMessage() for record in caplog.records)


def test_the_command_line_shows_each_stage_and_times_steps_from_the_first_one(monkeypatch):
    from reco_core.cli import TrainProgress

    bars = TrainProgress()
    bars.pairs(2, 4)
    assert list(bars.bars) == ["making pairs"]
    bars.cache(1, 4)
    assert list(bars.bars) == ["caching latents"], "a stage's bar closes when the next one starts"
    time.sleep(0.05)
    before_step = time.time()
    bars.step(5, 20, {"loss": 0.5, "lr": 1.0})  # resumed at step 4: the bar starts at 4 and counts from now
    training = bars.bars["training"]
    assert training.n == 5 and training.start_t >= before_step
    assert training.format_dict["initial"] == 4
    bars.close()


# --------------------------------------------------------------------------------------- subprocess runs


@pytest.fixture(scope="module")
def model_files(tmp_path_factory):
    from reco_core.models.saving import save_transformer, save_vae

    root = tmp_path_factory.mktemp("models")
    models = tiny_models()
    save_transformer(models.transformer, root / "model.safetensors")
    save_vae(models.vae, root / "vae.safetensors")
    models.text_encoder.save(root / "text_encoder")
    return root


def write_config(path, model_files, steps, save_every=1, extra=""):
    path.write_text(f"""
[model]
transformer = "{model_files / 'model.safetensors'}"
vae = "{model_files / 'vae.safetensors'}"
text_encoder = "{model_files / 'text_encoder'}"
dtype = "fp32"
[lora]
rank = 4
alpha = 4
[data]
generate_shapes = 4
width = 32
height = 32
frames = 5
fps = 8
cache_dir = "{path.parent / 'cache'}"
[loss]
latent_weight = 0.1
attn_weight = 0.1
[optim]
steps = {steps}
learning_rate = 1e-3
gradient_accumulation = 2
mixed_precision = "no"
[output]
save_every = {save_every}
sample_every = 0
{extra}
""")
    return path


def train_command(config, out, *extra):
    return [sys.executable, "-m", "reco_core", "train", "--config", str(config), "--out", str(out), *extra]


def run_env():
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def wait_for(predicate, timeout, process):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_run_killed_and_resumed_ends_with_the_same_lora(tmp_path, model_files):
    config = write_config(tmp_path / "run.toml", model_files, steps=8)
    subprocess.run(train_command(config, tmp_path / "straight"), env=run_env(), check=True, capture_output=True)

    killed = tmp_path / "killed"
    process = subprocess.Popen(train_command(config, killed), env=run_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (killed / "checkpoints" / "step-000003").is_dir(), 300, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "reco_lora.safetensors").exists()
    subprocess.run(train_command(config, killed, "--resume"), env=run_env(), check=True, capture_output=True)

    straight = lora_lib.read_tensors(tmp_path / "straight" / "reco_lora.safetensors")[0]
    resumed = lora_lib.read_tensors(killed / "reco_lora.safetensors")[0]
    assert straight.keys() == resumed.keys()
    for key in straight:
        assert torch.equal(straight[key], resumed[key]), key


def test_ctrl_c_saves_a_checkpoint_first(tmp_path, model_files):
    config = write_config(tmp_path / "run.toml", model_files, steps=100000, save_every=0)
    out = tmp_path / "run"
    process = subprocess.Popen(train_command(config, out), env=run_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    wait_for(lambda: (out / "metrics.jsonl").is_file() and (out / "metrics.jsonl").read_text().count("\n") >= 2,
             300, process)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, "a stopped run is not a finished one"
    (checkpoint,) = (out / "checkpoints").iterdir()
    step = json.loads((checkpoint / "state.json").read_text())["step"]
    assert step >= 2 and (out / "reco_lora.safetensors").is_file()
    assert f"stopped at step {step} of 100000" in stderr and "--resume" in stderr


def test_two_processes_finish_with_identical_weights(tmp_path, model_files):
    config = write_config(tmp_path / "run.toml", model_files, steps=3, save_every=0)
    out = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port",
               str(29500 + os.getpid() % 1000), "-m", "reco_core", "train", "--config", str(config), "--out", str(out)]
    result = subprocess.run(command, env=run_env(), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    report = json.loads((out / "distributed.json").read_text())
    assert report["world_size"] == 2 and report["in_sync"]
    assert (out / "reco_lora.safetensors").is_file()


def test_a_trainer_without_the_bundle_refuses_what_only_the_bundle_provides(tmp_path):
    config = config_from_dict(tiny_config())  # data.generate_shapes = 4
    with pytest.raises(ReCoInputError) as error:
        Trainer(config, tmp_path / "run", models=tiny_models()).train()
    assert str(error.value).startswith("data.generate_shapes") and "reco_core.bundled.trainer" in str(error.value)
    assert not (tmp_path / "run" / "generated_pairs").exists()
    config = config_from_dict(tiny_config(model={"transformer": "shapes", "dtype": "fp32"}))
    with pytest.raises(ReCoInputError, match=r"^model\.transformer: names the bundled shapes miniature"):
        Trainer(config, tmp_path / "run").load_models()
