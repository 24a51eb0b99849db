"""The ReCo-Shapes miniature: the fast build, the shipped files, the demo and the benchmark (CPU, offline)."""

import json

import pytest
import torch
from safetensors import safe_open

from reco_core.shapes import model as shapes_model
from reco_core.shapes.tasks import TASKS, make_pair, seed_split
from reco_core.shapes.world import WorldConfig

FILES = shapes_model.shipped_files()
needs_weights = pytest.mark.skipif(bool(FILES.missing()), reason="the shipped ReCo-Shapes weights are not built yet")


@pytest.fixture(scope="module")
def shipped_pipeline():
    from reco_core.engine.pipeline import ReCoPipeline

    return ReCoPipeline(*shapes_model.load_shapes_model(torch.float32, "cpu"), device="cpu")


# ------------------------------------------------------------------------------------------------ the build


def test_fast_build_runs_every_stage_and_its_parts_load(tmp_path):
    from shapes_lab.build import BUILD_LOG, STAGES, build

    lines = []
    build(tmp_path, fast=True, echo=lines.append)
    files = shapes_model.ShapesFiles(tmp_path)
    assert not files.missing() and files.model_card.is_file() and files.benchmark.is_file()
    record = json.loads((tmp_path / BUILD_LOG).read_text())
    assert set(record["stages"]) == set(STAGES)
    transformer, vae, text_encoder = shapes_model.load_shapes_model(files=files)
    assert transformer.config.num_attention_heads * transformer.config.attention_head_dim == 128
    assert vae.config.latents_mean == shapes_model_wan_stats()[0]
    assert text_encoder.encode(["add a red circle"]).shape == (1, 512, 4096)
    assert any("[lora]" in line for line in lines)
    assert_trainer_forward_is_wans(files, tmp_path / "trainer")


def assert_trainer_forward_is_wans(files, out):
    """The build's trainer feeds the model compact text: its forward must equal the model's on Wan's 512 rows.
    (Its processors once fell away when a dropped context manager was garbage-collected, and the LoRA then
    learnt on text that inference never gives.)"""
    import gc

    from shapes_lab.build import BuildPlan, lora_config, make_trainer
    from reco_core.train import Trainer

    trainer = make_trainer(lora_config(files, BuildPlan.fast().lora_overrides), out)
    trainer.prepare()
    gc.collect()
    batch = trainer.load_batch([0], torch.Generator().manual_seed(0), "cpu")
    x_t, sigma = torch.randn(batch.latent.shape, generator=torch.Generator().manual_seed(1)), torch.tensor([0.6])
    with torch.no_grad():
        fast = trainer.call_model(trainer.model, x_t, sigma, batch)
        full = Trainer.call_model(trainer, trainer.model, x_t, sigma, batch)
    assert batch.text.shape[1] == 512
    torch.testing.assert_close(fast, full, atol=1e-4, rtol=1e-4)


def shapes_model_wan_stats():
    from reco_core.models.configs import load_shipped_config

    config = load_shipped_config("wan2.1-vae")
    return config["latents_mean"], config["latents_std"]


def test_vae_reparametrisation_keeps_normalised_latents_and_decodes():
    from reco_core.engine.codec import decode_latents, encode_frames
    from shapes_lab.vae_init import build_vae
    from shapes_lab.vae_training import latent_statistics, match_wan_statistics

    vae = build_vae(0).eval()
    clip = make_pair(0, "add", WorldConfig(width=32, height=32, num_frames=5)).source
    mean, std = latent_statistics(vae, [clip])
    before = (vae.encode(clip.permute(3, 0, 1, 2)[None] * 2 - 1).latent_dist.mode() - mean.view(1, -1, 1, 1, 1)) \
        / std.view(1, -1, 1, 1, 1)
    decoded_before = vae.decode(vae.encode(clip.permute(3, 0, 1, 2)[None] * 2 - 1).latent_dist.mode()).sample
    match_wan_statistics(vae, mean, std)
    after = encode_frames(vae, clip)
    assert torch.allclose(before, after, atol=1e-4)
    assert torch.allclose(decode_latents(vae, after), ((decoded_before[0].clamp(-1, 1) + 1) / 2).permute(1, 2, 3, 0),
                          atol=1e-4)


def test_vae_starts_as_a_per_frame_codec_that_holds_each_latent_frame():
    from shapes_lab.vae_init import build_vae, start_as_frame_codec

    vae = build_vae(0).eval()
    with torch.no_grad():  # a VAE with random weights everywhere (as if trained), then the temporal start
        for parameter in vae.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    start_as_frame_codec(vae)
    clip = make_pair(3, "add", WorldConfig(width=32, height=32, num_frames=5)).source.permute(3, 0, 1, 2)[None] * 2 - 1
    with torch.no_grad():
        latents = vae.encode(clip).latent_dist.mode()
        last_alone = vae.encode(clip[:, :, 4:5]).latent_dist.mode()
        decoded = vae.decode(latents).sample
        held = vae.decode(latents[:, :, 1:2]).sample
    assert latents.shape[2] == 2
    assert torch.allclose(latents[:, :, 1], last_alone[:, :, 0], atol=1e-5)  # newest frame of the window, alone
    for frame in range(1, 5):  # each latent frame is shown for its four frames
        assert torch.allclose(decoded[:, :, frame], held[:, :, 0], atol=1e-5)
    assert not torch.allclose(decoded[:, :, 0], held[:, :, 0], atol=1e-3)


def test_vae_starts_as_a_colour_codec_that_sees_flat_colours():
    from shapes_lab.vae_init import build_vae
    from shapes_lab.vae_training import psnr, reconstruct
    from reco_core.shapes.world import BACKGROUND_PALETTE

    vae = build_vae(0).eval()  # untrained
    for name, colour in BACKGROUND_PALETTE.items():
        flat = torch.tensor(colour).view(1, 1, 1, 3).expand(5, 32, 32, 3).contiguous()
        assert (reconstruct(vae, flat) - flat).abs().max() < 0.05, name
    scene = make_pair(3, "add", WorldConfig(width=32, height=32, num_frames=5)).source
    assert psnr(reconstruct(vae, scene), scene) > 20  # an 8x8 block average, before any step

    def latent(colour):
        video = torch.tensor(colour).view(1, 3, 1, 1, 1).expand(1, 3, 1, 32, 32) * 2 - 1
        with torch.no_grad():
            return vae.encode(video).latent_dist.mode().mean(dim=(0, 2, 3, 4))

    moved = latent([0.45, 0.42, 0.46]) - latent([0.45, 0.42, 0.38])  # blue only (a random start moves it ~0.002)
    assert moved[2] > 0.1 and moved[:2].abs().max() < 0.02 and moved[3:].abs().max() < 0.02


def test_text_encoder_keeps_word_order():
    from shapes_lab.text_encoder import build_text_encoder

    encoder = build_text_encoder(0)
    a, b = encoder.encode(["replace the red circle with a blue square", "replace the blue circle with a red square"])
    assert not torch.allclose(a[2:8].sort(dim=0).values, b[2:8].sort(dim=0).values, atol=1e-2)
    known = "put a white triangle to the right of the red circle"
    assert encoder.tokenizer.unk_token_id not in encoder.tokenize([known])[0]



def test_edit_pretraining_batches_mix_edits_copies_and_first_frames():
    from reco_core.layout import split_latent
    from shapes_lab.edit_pretrain import EditPool, EditPretrainConfig, sample_edit_batch

    generator = torch.Generator().manual_seed(0)
    count = 6
    latents = torch.randn(count, 16, 2, 2, 4, generator=generator)
    controls, first = torch.randn(count, 96, 2, 2, 4), torch.randn(count, 96, 2, 2, 4)
    pool = EditPool(latents, controls, first, torch.ones(count, 1, 2, 2, 2),
                    [torch.full((3, 8), float(i + 1)) for i in range(count)], torch.zeros(1, 8))
    config = EditPretrainConfig(batch_size=64, identity_share=0.3, first_frame_share=0.3)
    batch = sample_edit_batch(pool, config, generator)
    source, target = split_latent(batch.latent)
    copies = (source == target).flatten(1).all(dim=1)
    assert 0 < copies.sum() < 64, "some copies, some edits"
    assert (batch.mask[copies] == 0).all() and (batch.mask[~copies] == 1).all()
    assert (batch.text.text[copies, 0] == 0).all() and (batch.text.text[~copies, 0] != 0).all()
    shown_first = torch.tensor([any(torch.equal(c, f) for f in first) for c in batch.control])
    assert shown_first.any() and not (shown_first & copies).any(), "a copy never shows an edited first frame"

# ------------------------------------------------------------------------------------------------ shipped files


@needs_weights
def test_shipped_transformer_has_the_shapes_comfyui_reads():
    from reco_core.models.configs import even_vace_layers

    with safe_open(str(FILES.transformer), framework="pt") as handle:
        keys = set(handle.keys())
        shape = {key: tuple(handle.get_slice(key).get_shape()) for key in keys}
        config = json.loads(handle.metadata()["reco_config"])
    dim = shape["patch_embedding.weight"][0]
    assert dim % 128 == 0 and "head.modulation" in keys and "vace_patch_embedding.weight" in keys
    assert shape["text_embedding.0.weight"] == (dim, 4096)
    assert shape["time_embedding.0.weight"] == (dim, 256)
    num_layers = len({k.split(".")[1] for k in keys if k.startswith("blocks.")})
    vace_count = len({k.split(".")[1] for k in keys if k.startswith("vace_blocks.")})
    assert config["vace_layers"] == even_vace_layers(num_layers, vace_count) and config["vace_layers"][0] == 0
    total = sum(p.stat().st_size for p in FILES.folder.rglob("*.safetensors"))
    assert total <= 30e6


@needs_weights
def test_shipped_vae_has_the_wan21_latent_statistics():
    from reco_core.models.loading import load_vae

    vae = load_vae(FILES.vae, dtype=torch.float32)
    mean, std = shapes_model_wan_stats()
    assert vae.config.latents_mean == mean and vae.config.latents_std == std
    assert vae.config.z_dim == 16


@needs_weights
def test_edit_command_fits_any_clip_to_the_model(tmp_path):
    from reco_core.cli import main
    from reco_core.video import probe_video, write_video

    source = tmp_path / "clip.mp4"
    write_video(source, torch.rand(23, 72, 100, 3), fps=12)
    out = tmp_path / "edit.mp4"
    assert main(["edit", "--model", "shapes", "--source", str(source), "--instruction", "make it sepia",
                 "--out", str(out), "--steps", "2", "--quiet"]) == 0
    info = probe_video(out)
    # The default output size is the source's: the edit is put back at 100x72; the model edits 17 frames at a
    # time, so the 23 frames are edited in two overlapping windows and every one comes back, at the clip's rate.
    assert (info.width, info.height, info.num_frames, info.fps) == (100, 72, 23, 12)


# ------------------------------------------------------------------------------------------------ demo, benchmark


@needs_weights
def test_demo_clips_come_from_the_test_split():
    from reco_core.shapes.demo import load_demo_clips

    clips = load_demo_clips()
    assert [clip.task for clip in clips] == list(TASKS)
    for clip in clips:
        assert seed_split(clip.info["seed"]) == "test"
        again = make_pair(clip.info["seed"], clip.task, shapes_model.model_world())
        assert torch.equal(again.source, clip.source) and again.instruction == clip.instruction


@needs_weights
def test_demo_writes_videos_grid_and_metrics(tmp_path):
    from PIL import Image

    from reco_core.shapes.demo import run_demo
    from reco_core.video import probe_video

    metrics = run_demo(tmp_path, echo=lambda line: None)
    for task in TASKS:
        info = probe_video(tmp_path / f"{task}.mp4")
        assert (info.width, info.height, info.num_frames) == (3 * shapes_model.WIDTH, shapes_model.HEIGHT, 17)
    assert Image.open(tmp_path / "grid.png").size[1] > 4 * shapes_model.HEIGHT
    saved = json.loads((tmp_path / "metrics.json").read_text())
    assert [clip["task"] for clip in saved["clips"]] == list(TASKS) == [c["task"] for c in metrics["clips"]]
    assert all(0 <= clip["scores"]["edit_accuracy"] <= 1 for clip in saved["clips"])


@needs_weights
def test_benchmark_scores_a_pair_per_task_against_the_unchanged_source(tmp_path):
    from reco_core.shapes.bench import run_benchmark

    report = run_benchmark(out=tmp_path / "bench.json", count=1, echo=lambda line: None)
    saved = json.loads((tmp_path / "bench.json").read_text())
    assert saved["count"] == 1 and [row["task"] for row in saved["pairs"]] == list(TASKS)
    for task in TASKS:
        ours, unchanged = report["results"]["per_task"][task], report["unchanged"]["per_task"][task]
        assert ours["count"] == unchanged["count"] == 1
        assert 0 <= ours["edit_accuracy"] <= 1 and ours["edit_accuracy"] != unchanged["edit_accuracy"], task
    # The committed benchmark holds the same first pair of every task: the shipped weights reproduce it.
    committed = {(row["task"], row["seed"]): row["scores"] for row in shapes_model.read_benchmark()["pairs"]}
    for row in report["pairs"]:
        expected = committed[(row["task"], row["seed"])]
        assert row["scores"]["edit_accuracy"] == pytest.approx(expected["edit_accuracy"], abs=0.02), row["task"]
        if expected["background_psnr"] is not None:
            assert row["scores"]["background_psnr"] == pytest.approx(expected["background_psnr"], abs=0.1), row["task"]


@needs_weights
def test_committed_benchmark_beats_the_unchanged_source_and_the_card_says_where_the_bar_stands():
    from shapes_lab.model_card import acceptance, meets_bar

    benchmark = shapes_model.read_benchmark()
    assert acceptance(benchmark)["beats_source"] == list(TASKS)
    status = "meets" if meets_bar(benchmark) else "does **not** meet"
    assert f"Status: this build {status} the project's bar" in FILES.model_card.read_text()


@needs_weights
def test_committed_benchmark_stays_under_its_codec_ceiling_and_the_card_says_where_the_ceiling_misses_the_bar():
    from shapes_lab.model_card import ceiling_lines

    benchmark = shapes_model.read_benchmark()
    ours, ceiling = benchmark["results"]["per_task"], benchmark["codec_ceiling"]["per_task"]
    for task in TASKS:
        assert ours[task]["edit_accuracy"] <= ceiling[task]["edit_accuracy"], task
    card = FILES.model_card.read_text()
    assert ceiling_lines(benchmark) and all(line in card for line in ceiling_lines(benchmark))


def test_ceiling_lines_name_the_tasks_whose_ceiling_misses_the_bar():
    from shapes_lab.model_card import MIN_BACKGROUND_PSNR, MIN_EDIT_ACCURACY, ceiling_lines

    def benchmark(accuracy: dict, psnr: float) -> dict:
        per_task = {task: {"edit_accuracy": value, "background_psnr": None if task == "style" else psnr}
                    for task, value in accuracy.items()}
        return {"codec_ceiling": {"per_task": per_task}}

    high = dict.fromkeys(TASKS, MIN_EDIT_ACCURACY + 0.1)
    assert ceiling_lines({}) == []
    assert "meets the bar on every task" in " ".join(ceiling_lines(benchmark(high, MIN_BACKGROUND_PSNR + 1)))
    text = " ".join(ceiling_lines(benchmark({**high, "replace": 0.5}, MIN_BACKGROUND_PSNR - 1)))
    assert "edit accuracy on replace (0.50)" in text and "background PSNR on add" in text and "style" not in text


@needs_weights
def test_the_instruction_steers_the_shipped_model(shipped_pipeline):
    from reco_core.shapes.bench import benchmark_pairs, edit_options, instruction_steering

    steering = instruction_steering(shipped_pipeline, benchmark_pairs(1, tasks=("remove",)), edit_options(),
                                    echo=lambda line: None)
    # The 64x64 build gave 0.2/255 here: one output whatever the instruction.
    assert steering["smallest"] > 1.0 and steering["mean"] > 4.0, steering


def test_unknown_benchmark_region_mode_is_refused_before_loading():
    from reco_core.errors import ReCoInputError
    from reco_core.shapes.bench import run_benchmark

    with pytest.raises(ReCoInputError, match="--region.*off, auto, mask"):
        run_benchmark(count=1, region="everywhere")


def test_region_iou_against_the_ground_truth_mask():
    from reco_core.shapes.bench import pair_region_iou as region_iou

    from reco_core.masks import latent_to_pixel_mask, pixel_to_latent_mask

    pair = make_pair(5, "add", WorldConfig(width=64, height=64, num_frames=5))
    cells = pixel_to_latent_mask(pair.mask)  # [2, 8, 8]: the grid the region lives on
    assert region_iou(None, pair) is None
    assert region_iou(latent_to_pixel_mask(cells, 5), pair) == 1.0
    assert region_iou(pair.mask.clone(), pair) == 1.0, "any pixel of a cell marks the cell"
    assert region_iou(torch.zeros_like(pair.mask), pair) == 0.0
    half = cells.clone()
    half[..., :4] = 0
    expected = cells[..., 4:].sum().item() / cells.sum().item()
    assert 0 < expected < 1
    assert region_iou(latent_to_pixel_mask(half, 5), pair) == pytest.approx(expected)


@needs_weights
def test_region_comparison_edits_the_same_pairs_both_ways(tmp_path):
    from shapes_lab.region_bench import comparison_table, run_region_comparison

    summary = run_region_comparison(tmp_path, count=1, write_docs=False, echo=lambda line: None)
    saved = json.loads((tmp_path / "region.json").read_text())
    off, auto, mask = saved["reports"]["off"], saved["reports"]["auto"], saved["reports"]["mask"]
    assert [r["seed"] for r in off["pairs"]] == [r["seed"] for r in auto["pairs"]] == [r["seed"] for r in mask["pairs"]]
    assert all(r["region_iou"] is None for r in off["pairs"])
    assert all(0 <= r["region_iou"] <= 1 for r in auto["pairs"])
    assert all(r["region_iou"] == pytest.approx(1.0) for r in mask["pairs"])  # given the true mask, it is the region
    assert [row["task"] for row in summary["rows"]] == list(TASKS)
    assert comparison_table(summary["rows"]).count("\n") == 1 + 3 * len(TASKS)
    # With the default options, region auto finds the removed shape and keeps the background at least as well
    # as plain sampling (the attention constraint and the dilation they dropped lost 5 dB and IoU 0.2 here).
    removal = next(row for row in summary["rows"] if row["task"] == "remove")
    assert removal["region_iou"] >= 0.5, removal
    assert removal["background_psnr"]["auto"] >= removal["background_psnr"]["off"], removal


@needs_weights
def test_edit_settings_are_chosen_on_validation_pairs_not_test_pairs(tmp_path):
    from reco_core.shapes.bench import benchmark_pairs
    from shapes_lab.edit_settings import Candidate, run_settings, validation_pairs

    validation = validation_pairs(1)
    assert [pair.task for pair in validation] == list(TASKS)
    assert {seed_split(pair.info["seed"]) for pair in validation} == {"train"}
    assert not {p.info["seed"] for p in validation} & {p.info["seed"] for p in benchmark_pairs(1)}
    candidates = (Candidate("ReCo", 1.0, {"steps": 2}), Candidate("one step", 1.0, {"steps": 1}))
    summary = run_settings(tmp_path, count=1, candidates=candidates, docs=tmp_path / "settings.md", echo=lambda s: None)
    results = summary["results"]
    assert set(results) == {"ReCo", "one step"} and all(set(r) >= set(TASKS) for r in results.values())
    assert results["ReCo"] != results["one step"], "each candidate is edited with its own settings"
    assert json.loads((tmp_path / "settings.json").read_text())["results"] == results
    assert "| one step |" in (tmp_path / "settings.md").read_text()


def test_compact_text_cross_attention_equals_attention_on_all_512_rows():
    from shapes_lab.compact_text import compact_cross_attention, compact_text
    from shapes_lab.transformer import build_transformer

    model = build_transformer(0).eval()
    generator = torch.Generator().manual_seed(0)
    latents, control = torch.randn(2, 16, 2, 8, 8, generator=generator), torch.randn(2, 96, 2, 8, 8, generator=generator)
    text = torch.zeros(2, 512, 4096)
    text[0, :5], text[1, :9] = torch.randn(5, 4096, generator=generator), torch.randn(9, 4096, generator=generator)
    inputs = dict(hidden_states=latents, timestep=torch.tensor([500.0, 200.0]), control_hidden_states=control,
                  return_dict=False)
    with torch.no_grad():
        full = model(encoder_hidden_states=text, **inputs)[0]
        compact = compact_text(text)
        with compact_cross_attention(model) as state:
            state["bias"] = compact.bias
            fast = model(encoder_hidden_states=compact.text, **inputs)[0]
    assert compact.text.shape[1] == 10  # the longest text's rows and one padding row
    torch.testing.assert_close(fast, full, atol=1e-4, rtol=1e-4)
