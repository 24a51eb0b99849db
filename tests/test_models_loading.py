"""Shipped configs, key layouts, recognition, and offline load/save round trips of the Wan models."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import copy
import functools
import json
import warnings

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from reco_core.errors import ReCoInputError
from reco_core.fsutil import save_safetensors
from reco_core.models import configs, keys, latents, loading, saving, tiny

TRANSFORMER_NAMES = configs.TRANSFORMER_CONFIG_NAMES
PREFIXES = ("", "model.diffusion_model.", "diffusion_model.", "model.")
DTYPES = (torch.float32, torch.bfloat16, torch.float16)


# ----------------------------------------------------------------------------------------------
# Helpers
# ----------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def meta_model(name: str):
    """A full-size model of a shipped config, on the meta device (no memory allocated)."""
    import accelerate
    from diffusers import AutoencoderKLWan

    config = configs.load_shipped_config(name)
    model_class = AutoencoderKLWan if name.endswith("vae") else loading.transformer_class(config)
    with accelerate.init_empty_weights():
        return model_class.from_config(config)


@functools.lru_cache(maxsize=None)
def tiny_model(vace: bool):
    return tiny.build_tiny_transformer(seed=1, vace=vace)


@functools.lru_cache(maxsize=None)
def tiny_vae():
    return tiny.build_tiny_vae(seed=2)


def transformer_inputs(model, dtype):
    generator = torch.Generator().manual_seed(0)
    inputs = dict(
        hidden_states=torch.randn(1, 16, 2, 4, 6, generator=generator).to(dtype),
        timestep=torch.tensor([700.0]),
        encoder_hidden_states=torch.randn(1, 512, 32, generator=generator).to(dtype),
        return_dict=False,
    )
    if hasattr(model, "vace_blocks"):
        inputs["control_hidden_states"] = torch.randn(1, 96, 2, 4, 6, generator=generator).to(dtype)
    return inputs


@torch.no_grad()
def run_transformer(model, dtype):
    return model(**transformer_inputs(model, dtype))[0]


def reference(model, dtype, file_dtype=None):
    """`model` as the loader gives it back from a file written in `file_dtype`, asked for `dtype`."""
    model = copy.deepcopy(model)
    for param in model.parameters():
        param.data = param.data.to(file_dtype or param.dtype)  # not model.to(): RoPE tables stay fp32
    return loading.cast_model(model, dtype)


def assert_same_weights(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        assert torch.equal(sa[key], sb[key]), key


def comfy_file(model, path, prefix="", with_config=True, dtype=None):
    """Write `model` in the original layout under `prefix`, optionally without the reco_config."""
    state_dict = keys.to_comfy_transformer_state_dict(model.state_dict(), prefix=prefix)
    if dtype is not None:
        state_dict = loading.cast_state_dict(state_dict, dtype)
    metadata = {"reco_config": json.dumps(saving.model_config_dict(model))} if with_config else None
    save_safetensors(state_dict, path, metadata)
    return path


def expect_error(match, fn, *args, **kwargs):
    with pytest.raises(ReCoInputError) as info:
        fn(*args, **kwargs)
    message = str(info.value)
    for part in [match] if isinstance(match, str) else match:
        assert part in message, message
    return message


@pytest.fixture(autouse=True)
def _quiet_comfy_warnings():
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="head size")
        yield


# ----------------------------------------------------------------------------------------------
# Shipped configs and recognition of the real sizes (meta device: shapes only)
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, billions",
    [("wan2.1-t2v-1.3b", 1.419), ("wan2.1-t2v-14b", 14.288), ("wan2.1-vace-1.3b", 2.154), ("wan2.1-vace-14b", 17.338)],
)
def test_shipped_transformer_configs_have_the_real_sizes(name, billions):
    model = meta_model(name)
    assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(billions, abs=0.001)
    assert model.config.attention_head_dim == 128


def test_shipped_vace_layers_are_evenly_spaced():
    assert configs.load_shipped_config("wan2.1-vace-1.3b")["vace_layers"] == list(range(0, 30, 2))
    assert configs.load_shipped_config("wan2.1-vace-14b")["vace_layers"] == list(range(0, 40, 5))


def test_shipped_vae_and_text_configs():
    vae = meta_model("wan2.1-vae")
    assert sum(p.numel() for p in vae.parameters()) / 1e6 == pytest.approx(126.9, abs=0.1)
    assert len(vae.config.latents_mean) == len(vae.config.latents_std) == 16
    umt5 = configs.load_shipped_config("umt5-xxl-encoder")
    assert (umt5["d_model"], umt5["num_layers"], umt5["vocab_size"]) == (4096, 24, 256384)
    expect_error("no shipped config", configs.load_shipped_config, "wan9-xl")


@pytest.mark.parametrize("name", TRANSFORMER_NAMES)
@pytest.mark.parametrize("prefix", PREFIXES)
def test_recognise_real_transformers_from_original_keys(name, prefix):
    original = keys.convert_transformer_to_original(meta_model(name).state_dict())
    found, config = configs.recognise_transformer({prefix + k: v for k, v in original.items()})
    assert found == name
    shipped = configs.load_shipped_config(name)
    assert {k: config[k] for k in shipped if not k.startswith("_")} == {
        k: v for k, v in shipped.items() if not k.startswith("_")
    }
    assert config["_class_name"] == shipped["_class_name"]


@pytest.mark.parametrize("name", TRANSFORMER_NAMES)
def test_recognise_real_transformers_from_diffusers_keys(name):
    assert configs.recognise_transformer(meta_model(name).state_dict())[0] == name


@pytest.mark.parametrize("name", TRANSFORMER_NAMES)
def test_original_names_are_what_diffusers_single_file_converter_reads(name):
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    diffusers_sd = meta_model(name).state_dict()
    original = keys.convert_transformer_to_original(diffusers_sd)
    assert {"head.modulation", "patch_embedding.weight", "blocks.0.norm3.weight"} <= set(original)
    converted = convert_wan_transformer_to_diffusers(dict(original))
    assert converted.keys() == diffusers_sd.keys()
    assert all(converted[k] is diffusers_sd[k] for k in diffusers_sd)
    assert keys.convert_transformer_to_diffusers(original).keys() == diffusers_sd.keys()


def test_recognise_real_vae_in_both_layouts():
    diffusers_sd = meta_model("wan2.1-vae").state_dict()
    original = keys.convert_vae_to_original(diffusers_sd)
    assert "decoder.upsamples.4.shortcut.weight" in original and "conv2.weight" in original
    for state_dict in (diffusers_sd, original, {"first_stage_model." + k: v for k, v in original.items()}):
        name, config = configs.recognise_vae(state_dict)
        assert name == "wan2.1-vae"
        assert config["latents_std"] == configs.load_shipped_config("wan2.1-vae")["latents_std"]


def test_vae_original_names_match_diffusers_converter_tensor_for_tensor():
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    diffusers_sd = tiny_vae().state_dict()
    original = keys.convert_vae_to_original(diffusers_sd)
    assert len(original) == len(diffusers_sd)
    converted = convert_wan_vae_to_diffusers(original)
    assert converted.keys() == diffusers_sd.keys()
    assert all(converted[k] is diffusers_sd[k] for k in diffusers_sd)


def test_vae_key_conversion_handles_other_block_layouts():
    import accelerate
    from diffusers import AutoencoderKLWan

    with accelerate.init_empty_weights():
        vae = AutoencoderKLWan(base_dim=8, dim_mult=[1, 2, 2], num_res_blocks=1, temperal_downsample=[True, False])
    state_dict = vae.state_dict()
    original = keys.convert_vae_to_original(state_dict)
    assert keys.convert_vae_to_diffusers(original).keys() == state_dict.keys()
    name, config = configs.recognise_vae(original)
    assert name == "custom-vae"
    assert config["dim_mult"] == [1, 2, 2] and config["num_res_blocks"] == 1
    assert config["temperal_downsample"] == [True, False]


# ----------------------------------------------------------------------------------------------
# Key layouts and prefixes
# ----------------------------------------------------------------------------------------------


def test_transformer_key_conversion_is_a_lossless_rename():
    state_dict = tiny_model(True).state_dict()
    original = keys.convert_transformer_to_original(state_dict)
    assert len(original) == len(state_dict)
    assert set(map(id, original.values())) == set(map(id, state_dict.values()))
    back = keys.convert_transformer_to_diffusers(original)
    assert back.keys() == state_dict.keys() and all(back[k] is state_dict[k] for k in state_dict)


def test_comfy_state_dict_has_what_comfyui_detects():
    comfy = keys.to_comfy_transformer_state_dict(tiny_model(True).state_dict())
    for key in ("head.modulation", "head.head.weight", "patch_embedding.weight", "vace_patch_embedding.weight",
                "blocks.0.self_attn.q.weight", "blocks.1.cross_attn.o.bias", "blocks.0.norm3.weight",
                "blocks.0.modulation", "blocks.0.ffn.0.weight", "vace_blocks.0.before_proj.weight",
                "vace_blocks.1.after_proj.bias", "time_projection.1.weight", "text_embedding.2.weight"):
        assert key in comfy, key
    assert not any(".norm2." in k or "attn1" in k or "scale_shift_table" in k for k in comfy)
    prefixed = keys.to_comfy_transformer_state_dict(tiny_model(True).state_dict(), prefix="model.diffusion_model.")
    assert "model.diffusion_model.head.modulation" in prefixed


@pytest.mark.parametrize("prefix", PREFIXES + ("transformer.",))
def test_prefixes_are_stripped(prefix):
    state_dict = tiny_model(False).state_dict()
    wrapped = {prefix + k: v for k, v in keys.convert_transformer_to_original(state_dict).items()}
    assert keys.convert_transformer_to_diffusers(wrapped).keys() == state_dict.keys()


def test_all_in_one_checkpoint_splits_into_components():
    transformer = keys.to_comfy_transformer_state_dict(tiny_model(True).state_dict(), "model.diffusion_model.")
    vae = {"first_stage_model." + k: v for k, v in keys.to_comfy_vae_state_dict(tiny_vae().state_dict()).items()}
    bundle = {**transformer, **vae, "cond_stage_model.shared.weight": torch.zeros(2, 2)}
    assert keys.select_transformer_keys(bundle).keys() == keys.convert_transformer_to_original(
        tiny_model(True).state_dict()).keys()
    assert keys.select_vae_keys(bundle).keys() == keys.convert_vae_to_original(tiny_vae().state_dict()).keys()


def test_identify_checkpoint_kinds():
    assert keys.identify_checkpoint(keys.to_comfy_transformer_state_dict(tiny_model(False).state_dict())) == (
        "wan transformer")
    assert keys.identify_checkpoint(tiny_vae().state_dict()) == "wan vae"
    assert keys.identify_checkpoint({"diffusion_model.blocks.0.self_attn.q.lora_A.weight": 0}) == "lora"
    assert keys.identify_checkpoint({"encoder.block.0.layer.0.SelfAttention.q.weight": 0}) == "text encoder"
    assert keys.identify_checkpoint({"decoder.upsamples.0.upsamples.0.residual.2.weight": 0,
                                     "encoder.conv1.weight": 0}) == "wan2.2 vae"
    assert keys.identify_checkpoint({"encoder.conv_in.weight": torch.zeros(8, 3, 3, 3)}) == "other vae"
    assert keys.identify_checkpoint({"foo.weight": 0}) == "unknown"


# ----------------------------------------------------------------------------------------------
# Tiny models: reproducible builders
# ----------------------------------------------------------------------------------------------


def test_tiny_builders_are_seeded_and_leave_global_rng_alone():
    state = torch.random.get_rng_state()
    assert_same_weights(tiny.build_tiny_transformer(seed=5), tiny.build_tiny_transformer(seed=5))
    assert_same_weights(tiny.build_tiny_vae(seed=5), tiny.build_tiny_vae(seed=5))
    assert torch.equal(torch.random.get_rng_state(), state)
    a, b = tiny.build_tiny_transformer(seed=5), tiny.build_tiny_transformer(seed=6)
    assert not torch.equal(a.proj_out.weight, b.proj_out.weight)


def test_tiny_configs():
    vace = tiny.tiny_transformer_config()
    sizes = (vace["num_attention_heads"], vace["attention_head_dim"], vace["text_dim"], vace["ffn_dim"])
    assert sizes == (2, 16, 32, 64)
    assert vace["vace_layers"] == [0, 1] and "vace_layers" not in tiny.tiny_transformer_config(vace=False)
    assert tiny.tiny_transformer_config(num_layers=3)["num_layers"] == 3
    vae = tiny.tiny_vae_config()
    assert (vae["dim_mult"], vae["num_res_blocks"]) == ([1, 2, 4, 4], 2)


# ----------------------------------------------------------------------------------------------
# Transformer round trips
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("vace", [True, False], ids=["vace", "t2v"])
@pytest.mark.parametrize("prefix", PREFIXES)
@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_original_layout_round_trip(tmp_path, vace, prefix, dtype):
    model = tiny_model(vace)
    path = comfy_file(model, tmp_path / "wan.safetensors", prefix=prefix, dtype=dtype)
    loaded = loading.load_transformer(path, dtype=dtype)
    assert type(loaded) is type(model)
    expected = reference(model, dtype, file_dtype=dtype)
    assert_same_weights(loaded, expected)
    assert torch.equal(run_transformer(loaded, dtype), run_transformer(expected, dtype))


@pytest.mark.parametrize("vace", [True, False], ids=["vace", "t2v"])
@pytest.mark.parametrize("layout", ["comfy", "diffusers"])
def test_save_transformer_round_trip_fp32_is_exact(tmp_path, vace, layout):
    model = tiny_model(vace)
    saving.save_transformer(model, tmp_path / "m.safetensors", layout=layout)
    loaded = loading.load_transformer(tmp_path / "m.safetensors", dtype=torch.float32)
    assert saving.model_config_dict(loaded) == saving.model_config_dict(model)
    assert torch.equal(run_transformer(loaded, torch.float32), run_transformer(model, torch.float32))


def test_save_transformer_casts_and_stores_metadata(tmp_path):
    saving.save_transformer(tiny_model(True), tmp_path / "m.safetensors", metadata={"note": "x", "step": 3},
                             dtype=torch.bfloat16)
    with safe_open(str(tmp_path / "m.safetensors"), framework="pt") as handle:
        metadata = handle.metadata()
        assert handle.get_slice("head.modulation").get_dtype() == "BF16"
    assert metadata["note"] == "x" and metadata["step"] == "3" and metadata["reco_layout"] == "comfy"
    assert json.loads(metadata["reco_config"])["vace_layers"] == [0, 1]


@pytest.mark.parametrize("vace", [True, False], ids=["vace", "t2v"])
def test_diffusers_folder_and_snapshot_round_trip(tmp_path, vace):
    model = tiny_model(vace)
    model.save_pretrained(tmp_path / "snapshot" / "transformer")
    for path in (tmp_path / "snapshot" / "transformer", tmp_path / "snapshot"):
        loaded = loading.load_transformer(path, dtype=torch.float32)
        assert torch.equal(run_transformer(loaded, torch.float32), run_transformer(model, torch.float32))


def test_sharded_diffusers_folder(tmp_path):
    model = tiny_model(True)
    model.save_pretrained(tmp_path / "sharded", max_shard_size="20KB")
    assert len(list((tmp_path / "sharded").glob("*.safetensors"))) > 1
    loaded = loading.load_transformer(tmp_path / "sharded", dtype=torch.float32)
    assert_same_weights(loaded, model)


def test_bf16_file_loads_as_fp32_and_fp32_file_as_bf16(tmp_path):
    model = tiny_model(True)
    comfy_file(model, tmp_path / "bf16.safetensors", dtype=torch.bfloat16)
    loaded = loading.load_transformer(tmp_path / "bf16.safetensors", dtype=torch.float32)
    assert_same_weights(loaded, reference(model, torch.float32, file_dtype=torch.bfloat16))
    comfy_file(model, tmp_path / "fp32.safetensors")
    loaded = loading.load_transformer(tmp_path / "fp32.safetensors")
    assert loaded.proj_out.weight.dtype == torch.bfloat16


def test_fp16_keeps_diffusers_fp32_modules():
    loaded = reference(tiny_model(True), torch.float16)
    assert loaded.scale_shift_table.dtype == torch.float32
    assert loaded.condition_embedder.time_embedder.linear_1.weight.dtype == torch.float32
    assert loaded.blocks[0].attn1.to_q.weight.dtype == torch.float16


def test_legacy_pickle_loads_with_weights_only(tmp_path):
    model = tiny_model(False)
    state_dict = keys.to_comfy_transformer_state_dict(model.state_dict())
    torch.save({"state_dict": state_dict, "epoch": 3}, tmp_path / "wan.pth")
    config = saving.model_config_dict(model)
    loaded = loading.load_transformer(tmp_path / "wan.pth", dtype=torch.float32, config=config)
    assert_same_weights(loaded, model)


def test_real_head_size_custom_model_needs_no_config(tmp_path):
    model = tiny.build_tiny_transformer(seed=3, num_attention_heads=1, attention_head_dim=128, ffn_dim=32)
    path = comfy_file(model, tmp_path / "m.safetensors", with_config=False)
    name, config = configs.recognise_transformer(load_file(str(path)))
    assert name == "custom-vace" and config["num_attention_heads"] == 1
    loaded = loading.load_transformer(path, dtype=torch.float32)
    assert torch.equal(run_transformer(loaded, torch.float32), run_transformer(model, torch.float32))


def test_head_count_comes_from_explicit_config(tmp_path):
    model = tiny_model(True)
    path = comfy_file(model, tmp_path / "m.safetensors", with_config=False)
    expect_error(["not a multiple of 128", "num_attention_heads", str(path)], loading.load_transformer, path)
    loaded = loading.load_transformer(path, dtype=torch.float32, config={"num_attention_heads": 2})
    assert_same_weights(loaded, model)
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(saving.model_config_dict(model)))
    assert_same_weights(loading.load_transformer(path, dtype=torch.float32, config=config_file), model)


def test_uneven_vace_layers_survive_through_reco_config(tmp_path):
    model = tiny.build_tiny_transformer(seed=4, num_layers=3, vace_layers=[0, 2])
    with pytest.warns(UserWarning, match="not evenly spaced"):
        saving.save_transformer(model, tmp_path / "m.safetensors")
    loaded = loading.load_transformer(tmp_path / "m.safetensors", dtype=torch.float32)
    assert loaded.config.vace_layers == [0, 2]
    assert torch.equal(run_transformer(loaded, torch.float32), run_transformer(model, torch.float32))


def test_comfy_file_loads_with_diffusers_own_converter(tmp_path):
    from diffusers.loaders.single_file_utils import convert_wan_transformer_to_diffusers

    model = tiny_model(True)
    saving.save_transformer(model, tmp_path / "m.safetensors")
    fresh = loading.transformer_class(model.config).from_config(model.config)
    fresh.load_state_dict(convert_wan_transformer_to_diffusers(load_file(str(tmp_path / "m.safetensors"))))
    assert_same_weights(fresh.eval(), model)


# ----------------------------------------------------------------------------------------------
# VAE round trips and latent statistics
# ----------------------------------------------------------------------------------------------


@torch.no_grad()
def encode_decode(vae):
    pixels = torch.rand(1, 3, 5, 16, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    latents = vae.encode(pixels).latent_dist.mode()
    return latents, vae.decode(latents).sample


def assert_same_vae(loaded, vae):
    assert_same_weights(loaded, vae)
    for a, b in zip(encode_decode(loaded), encode_decode(vae)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("layout", ["comfy", "diffusers"])
def test_vae_round_trip(tmp_path, layout):
    saving.save_vae(tiny_vae(), tmp_path / "vae.safetensors", layout=layout)
    assert_same_vae(loading.load_vae(tmp_path / "vae.safetensors"), tiny_vae())


def test_vae_without_metadata_and_from_pth(tmp_path):
    original = keys.to_comfy_vae_state_dict(tiny_vae().state_dict())
    save_file({k: v.contiguous() for k, v in original.items()}, str(tmp_path / "wan_2.1_vae.safetensors"))
    assert_same_vae(loading.load_vae(tmp_path / "wan_2.1_vae.safetensors"), tiny_vae())
    torch.save(original, tmp_path / "Wan2.1_VAE.pth")
    loaded = loading.load_vae(tmp_path / "Wan2.1_VAE.pth")
    assert_same_weights(loaded, tiny_vae())


def test_vae_from_diffusers_snapshot(tmp_path):
    tiny_vae().save_pretrained(tmp_path / "snapshot" / "vae")
    assert_same_weights(loading.load_vae(tmp_path / "snapshot"), tiny_vae())


def test_vae_comfy_file_loads_with_diffusers_own_converter(tmp_path):
    from diffusers import AutoencoderKLWan
    from diffusers.loaders.single_file_utils import convert_wan_vae_to_diffusers

    saving.save_vae(tiny_vae(), tmp_path / "vae.safetensors")
    fresh = AutoencoderKLWan.from_config(tiny_vae().config)
    fresh.load_state_dict(convert_wan_vae_to_diffusers(load_file(str(tmp_path / "vae.safetensors"))))
    assert_same_weights(fresh, tiny_vae())


def test_all_in_one_file_loads_both_components(tmp_path):
    model, vae = tiny_model(True), tiny_vae()
    bundle = {**keys.to_comfy_transformer_state_dict(model.state_dict(), "model.diffusion_model."),
              **{"first_stage_model." + k: v for k, v in keys.to_comfy_vae_state_dict(vae.state_dict()).items()}}
    save_safetensors(bundle, tmp_path / "all.safetensors")
    loaded = loading.load_transformer(tmp_path / "all.safetensors", dtype=torch.float32,
                                      config=saving.model_config_dict(model))
    assert_same_weights(loaded, model)
    assert_same_weights(loading.load_vae(tmp_path / "all.safetensors"), vae)


def test_latent_stats_and_normalisation_match_diffusers_pipelines():
    vae = tiny_vae()
    mean, std = latents.vae_latent_stats(vae)
    assert mean.shape == std.shape == (1, 16, 1, 1, 1)
    assert mean.flatten().tolist() == pytest.approx(vae.config.latents_mean)
    raw = torch.randn(1, 16, 2, 3, 4)
    normalised = latents.normalize_latents(raw, vae)
    # diffusers' WanPipeline / VACE pipeline arithmetic
    inverse_std = 1.0 / torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
    latents_mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
    assert torch.equal(normalised, (raw - latents_mean) * inverse_std)
    assert torch.equal(latents.denormalize_latents(normalised, vae), normalised / inverse_std + latents_mean)
    assert torch.allclose(latents.denormalize_latents(normalised, vae), raw, atol=1e-6)
    assert latents.normalize_latents(raw.bfloat16(), vae.config).dtype == torch.bfloat16


# ----------------------------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------------------------


def test_missing_file(tmp_path):
    expect_error(["model", "file not found", "nope.safetensors"], loading.load_transformer,
                 tmp_path / "nope.safetensors")
    expect_error(["vae", "file not found"], loading.load_vae, tmp_path / "nope.safetensors")


def test_vae_passed_as_model_and_model_as_vae(tmp_path):
    saving.save_vae(tiny_vae(), tmp_path / "vae.safetensors")
    expect_error(["vae.safetensors", "Wan2.1 VAE", "not a Wan diffusion transformer", "load_vae"],
                 loading.load_transformer, tmp_path / "vae.safetensors")
    saving.save_transformer(tiny_model(True), tmp_path / "wan.safetensors")
    expect_error(["wan.safetensors", "diffusion transformer", "not the Wan2.1 VAE", "load_transformer"],
                 loading.load_vae, tmp_path / "wan.safetensors")


def test_lora_and_unknown_files(tmp_path):
    save_file({"diffusion_model.blocks.0.self_attn.q.lora_A.weight": torch.zeros(4, 32)},
              str(tmp_path / "lora.safetensors"))
    expect_error(["a LoRA", "LoRA loader"], loading.load_transformer, tmp_path / "lora.safetensors")
    save_file({"conv_in.weight": torch.zeros(2)}, str(tmp_path / "sd.safetensors"))
    expect_error(["not a Wan checkpoint", "conv_in.weight"], loading.load_transformer, tmp_path / "sd.safetensors")


class _Payload:
    def __reduce__(self):
        return (print, ("this would run",))


def test_pickle_that_runs_code_is_refused(tmp_path):
    torch.save({"x": _Payload()}, tmp_path / "evil.ckpt")
    expect_error(["evil.ckpt", "would run code", "convert it to safetensors"], loading.load_transformer,
                 tmp_path / "evil.ckpt")


def test_damaged_and_unsupported_files(tmp_path):
    (tmp_path / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    expect_error(["broken.safetensors", "could not be read"], loading.load_transformer,
                 tmp_path / "broken.safetensors")
    (tmp_path / "model.gguf").write_bytes(b"GGUF")
    expect_error(["unsupported file type", ".safetensors"], loading.load_transformer, tmp_path / "model.gguf")
    (tmp_path / "empty").mkdir()
    expect_error(["holds no weights"], loading.load_transformer, tmp_path / "empty")


def test_image_to_video_transformer_is_not_supported():
    state_dict = keys.to_comfy_transformer_state_dict(tiny_model(False).state_dict())
    state_dict["img_emb.proj.1.weight"] = torch.zeros(32, 16)
    expect_error(["image-to-video", "not support"], configs.recognise_transformer, state_dict,
                 {"num_attention_heads": 2})
    state_dict = keys.to_comfy_transformer_state_dict(tiny_model(False).state_dict())
    state_dict["patch_embedding.weight"] = torch.zeros(32, 36, 1, 2, 2)
    expect_error(["36 latent channels"], configs.recognise_transformer, state_dict, {"num_attention_heads": 2})


def test_scaled_fp8_checkpoint_is_refused():
    state_dict = keys.to_comfy_transformer_state_dict(tiny_model(False).state_dict())
    state_dict["scaled_fp8"] = torch.zeros(2)
    expect_error(["scaled fp8", "fp16 or bf16"], configs.recognise_transformer, state_dict,
                 {"num_attention_heads": 2})


def test_head_count_must_divide_the_width():
    state_dict = tiny_model(False).state_dict()
    expect_error(["x attention_head_dim", "width is 32"], configs.recognise_transformer, state_dict,
                 {"num_attention_heads": 3})


def test_incomplete_checkpoint_names_the_missing_keys(tmp_path):
    state_dict = keys.to_comfy_transformer_state_dict(tiny_model(True).state_dict())
    del state_dict["blocks.1.cross_attn.k.weight"]
    save_safetensors(state_dict, tmp_path / "cut.safetensors",
                     {"reco_config": json.dumps(saving.model_config_dict(tiny_model(True)))})
    expect_error(["cut.safetensors", "missing", "blocks.1.attn2.to_k.weight"], loading.load_transformer,
                 tmp_path / "cut.safetensors")


def test_wrong_explicit_config_reports_shapes(tmp_path):
    path = comfy_file(tiny_model(True), tmp_path / "m.safetensors")
    expect_error(["heads x head_dim"], loading.load_transformer, path,
                 config={"num_attention_heads": 3, "attention_head_dim": 16})
    expect_error(["neither a shipped config name nor a config.json"], loading.load_transformer, path,
                 config="wan3-huge")


def test_bad_save_layout(tmp_path):
    expect_error(["unknown layout"], saving.save_transformer, tiny_model(True), tmp_path / "m.safetensors",
                 layout="kohya")
