import itertools
import logging
import os

import pytest
import torch

from reco_core import lora as lora_lib
from reco_core.errors import ReCoLoRAError
from reco_core.lora import names

FORMATS = list(lora_lib.FORMATS)
BLOCK_TARGETS = ["self_attn.q", "self_attn.k", "self_attn.v", "self_attn.o", "cross_attn.q", "cross_attn.k",
                 "cross_attn.v", "cross_attn.o", "ffn.0", "ffn.2"]


def tiny_lora(model, rank=4, alpha=None, seed=0, blocks=("blocks", "vace_blocks")):
    """A random LoRA on every targeted linear of `model` (canonical names)."""
    generator = torch.Generator().manual_seed(seed)
    linears = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    modules = {}
    for kind in blocks:
        for index in range(len(getattr(model, kind))):
            for target in BLOCK_TARGETS:
                canonical = f"{kind}.{index}.{target}"
                layer = linears[names.canonical_to_diffusers(canonical)]
                down = torch.randn(rank, layer.in_features, generator=generator) * 0.3
                up = torch.randn(layer.out_features, rank, generator=generator) * 0.3
                modules[canonical] = lora_lib.LoRAModule(down, up, alpha)
    return lora_lib.LoRA(modules)


def deltas(lora):
    return {name: module.delta() for name, module in lora.modules.items()}


def assert_same_deltas(a, b, atol=1e-6):
    da, db = deltas(a), deltas(b)
    assert da.keys() == db.keys()
    for name in da:
        torch.testing.assert_close(da[name], db[name], atol=atol, rtol=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_each_format_is_recognised(tiny_vace, fmt):
    lora = tiny_lora(tiny_vace)
    parsed = lora_lib.parse_state_dict(lora_lib.to_state_dict(lora, fmt))
    assert parsed.source_format == fmt
    assert parsed.modules.keys() == lora.modules.keys()
    assert parsed.by_kind() == {"dit": 20, "vace": 20, "other": 0}


@pytest.mark.parametrize("src,dst", list(itertools.permutations(FORMATS, 2)))
def test_every_format_converts_to_every_other_and_back_unchanged(tiny_vace, src, dst):
    lora = tiny_lora(tiny_vace)
    original = lora_lib.to_state_dict(lora, src)
    there = lora_lib.parse_state_dict(original)
    back = lora_lib.to_state_dict(lora_lib.convert(there, dst), src)
    assert back.keys() == original.keys()
    for key in original:
        assert torch.equal(back[key], original[key]), key


@pytest.mark.parametrize("dst", FORMATS)
def test_alpha_survives_every_conversion_as_the_same_update(tiny_vace, dst):
    lora = tiny_lora(tiny_vace, rank=4, alpha=8.0)
    converted = lora_lib.convert(lora_lib.convert(lora, dst), "comfy")
    assert_same_deltas(lora, converted)


def test_release_style_keys_include_vace_blocks(tiny_vace):
    state_dict = lora_lib.to_state_dict(tiny_lora(tiny_vace), "reco")
    assert "blocks.0.self_attn.q.lora_A.default.weight" in state_dict
    assert "vace_blocks.1.ffn.2.lora_B.default.weight" in state_dict
    comfy = lora_lib.to_state_dict(tiny_lora(tiny_vace), "comfy")
    assert "diffusion_model.vace_blocks.0.cross_attn.o.lora_down.weight" in comfy
    assert "diffusion_model.blocks.1.ffn.0.alpha" in comfy
    kohya = lora_lib.to_state_dict(tiny_lora(tiny_vace), "kohya")
    assert "lora_unet_vace_blocks_0_self_attn_q.lora_up.weight" in kohya
    diffusers = lora_lib.to_state_dict(tiny_lora(tiny_vace), "diffusers")
    assert "transformer.vace_blocks.1.attn1.to_out.0.lora_A.weight" in diffusers
    assert "transformer.blocks.0.ffn.net.0.proj.lora_B.weight" in diffusers


@pytest.mark.parametrize("wrap", [
    lambda sd: {f"state_dict.{k}": v for k, v in sd.items()},
    lambda sd: {f"module.{k}": v for k, v in sd.items()},
    lambda sd: {f"_forward_module.{k}": v for k, v in sd.items()},
    lambda sd: {(f"pipe.vace.{k}" if k.startswith("vace") else f"pipe.dit.{k}"): v for k, v in sd.items()},
])
def test_wrapper_prefixes_are_stripped(tiny_vace, wrap):
    lora = tiny_lora(tiny_vace)
    parsed = lora_lib.parse_state_dict(wrap(lora_lib.to_state_dict(lora, "reco")))
    assert parsed.source_format == "reco" and parsed.wrappers
    assert_same_deltas(lora, parsed, atol=0)


def test_model_diffusion_model_prefix_reads_as_comfy(tiny_vace):
    lora = tiny_lora(tiny_vace)
    sd = {f"model.{k}": v for k, v in lora_lib.to_state_dict(lora, "comfy").items()}
    assert lora_lib.parse_state_dict(sd).source_format == "comfy"


def test_wan_fun_double_underscore_kohya_keys(tiny_vace):
    lora = tiny_lora(tiny_vace, blocks=("blocks",))
    sd = {k.replace("lora_unet_", "lora_unet__"): v for k, v in lora_lib.to_state_dict(lora, "kohya").items()}
    assert_same_deltas(lora, lora_lib.parse_state_dict(sd), atol=0)


def test_comfy_lora_a_b_spelling_is_read(tiny_vace):
    lora = tiny_lora(tiny_vace)
    sd = {k.replace("lora_down", "lora_A").replace("lora_up", "lora_B"): v
          for k, v in lora_lib.to_state_dict(lora, "comfy").items()}
    assert_same_deltas(lora, lora_lib.parse_state_dict(sd), atol=0)


def _output(model, inputs):
    with torch.no_grad():
        return model(**inputs, return_dict=False)[0]


def _save(lora, fmt, path):
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in lora_lib.to_state_dict(lora, fmt).items()}, str(path))
    return path


def test_lora_in_each_format_gives_identical_outputs(tiny_vace, tiny_vace_inputs, tmp_path):
    from reco_core.lora.apply import merge_lora_into_weights

    lora = tiny_lora(tiny_vace, alpha=2.0)
    base_state = {k: v.clone() for k, v in tiny_vace.state_dict().items()}
    base = _output(tiny_vace, tiny_vace_inputs)
    merge_lora_into_weights(tiny_vace, lora)
    expected = _output(tiny_vace, tiny_vace_inputs)
    assert (expected - base).abs().max() > 1e-3, "the LoRA must change the output"
    for fmt in FORMATS:
        tiny_vace.load_state_dict(base_state)
        model = type(tiny_vace).from_config(tiny_vace.config).eval()
        model.load_state_dict(base_state)
        loaded = lora_lib.load_lora(_save(lora, fmt, tmp_path / f"{fmt}.safetensors"))
        match = lora_lib.apply_lora(model, loaded)
        assert len(match.matched) == 40 and not match.unmatched
        torch.testing.assert_close(_output(model, tiny_vace_inputs), expected, atol=1e-5, rtol=1e-4)


def test_strength_zero_restores_the_base(tiny_vace, tiny_vace_inputs):
    base = _output(tiny_vace, tiny_vace_inputs)
    lora_lib.apply_lora(tiny_vace, tiny_lora(tiny_vace), strength=0.0, adapter_name="a")
    torch.testing.assert_close(_output(tiny_vace, tiny_vace_inputs), base)
    lora_lib.set_lora_strength(tiny_vace, "a", 1.0)
    assert (_output(tiny_vace, tiny_vace_inputs) - base).abs().max() > 1e-3


def test_a_lora_that_matches_nothing_is_an_error_naming_file_and_formats(tiny_vace, tmp_path):
    module = lora_lib.LoRAModule(torch.zeros(4, 32), torch.zeros(32, 4))
    stray = lora_lib.LoRA({"blocks.7.self_attn.q": module})
    path = _save(stray, "comfy", tmp_path / "other_model.safetensors")
    with pytest.raises(ReCoLoRAError) as error:
        lora_lib.apply_lora(tiny_vace, lora_lib.load_lora(path))
    message = str(error.value)
    assert "other_model.safetensors" in message and "applies nothing" in message
    assert all(fmt in message for fmt in FORMATS)


def test_a_lora_for_another_width_is_an_error(tiny_vace, tmp_path):
    module = lora_lib.LoRAModule(torch.zeros(4, 1536), torch.zeros(1536, 4))
    path = _save(lora_lib.LoRA({"blocks.0.self_attn.q": module}), "reco", tmp_path / "big.safetensors")
    with pytest.raises(ReCoLoRAError, match="other shapes"):
        lora_lib.apply_lora(tiny_vace, lora_lib.load_lora(path))


def test_partial_match_is_reported_with_counts(tiny_vace, caplog):
    lora = tiny_lora(tiny_vace)
    lora.modules["blocks.9.self_attn.q"] = lora.modules["blocks.0.self_attn.q"]
    with caplog.at_level(logging.WARNING):
        match = lora_lib.apply_lora(tiny_vace, lora)
    assert len(match.matched) == 40 and match.unmatched == ["blocks.9.self_attn.q"]
    assert "40 of 41 LoRA modules applied" in caplog.text


def test_release_checkpoint_pickle_loads_with_weights_only(tiny_vace, tmp_path):
    lora = tiny_lora(tiny_vace)
    path = tmp_path / "ReCo_ori_rank4.ckpt"
    torch.save(lora_lib.to_state_dict(lora, "reco"), path)
    loaded = lora_lib.load_lora(path)
    assert loaded.source_format == "reco"
    assert_same_deltas(lora, loaded, atol=0)


def test_lightning_style_nested_checkpoint(tiny_vace, tmp_path):
    lora = tiny_lora(tiny_vace)
    path = tmp_path / "nested.ckpt"
    torch.save({"state_dict": lora_lib.to_state_dict(lora, "reco"), "epoch": 3}, path)
    assert_same_deltas(lora, lora_lib.load_lora(path), atol=0)


class _RunsCode:
    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    path = tmp_path / "evil.ckpt"
    torch.save({"blocks.0.self_attn.q.lora_A.default.weight": torch.zeros(1), "x": _RunsCode()}, path)
    with pytest.raises(ReCoLoRAError, match="would run code") as error:
        lora_lib.load_lora(path)
    assert "evil.ckpt" in str(error.value)


@pytest.mark.parametrize("content", [os.urandom(4096)[:1] + b"\x00" + os.urandom(4000), b""])
def test_random_bytes_named_ckpt_are_called_what_they_are_not_a_pickle(tmp_path, content):
    path = tmp_path / "download.ckpt"
    path.write_bytes(b"\x13" + content if content else content)
    with pytest.raises(ReCoLoRAError) as error:
        lora_lib.load_lora(path)
    message = str(error.value)
    assert "neither safetensors nor a torch checkpoint" in message and "would run code" not in message
    assert ("is empty" if not content else "starts with the bytes 13") in message


@pytest.mark.parametrize("content,match", [(b"hello world", "neither safetensors"), (None, "does not exist")])
def test_unreadable_or_missing_files(tmp_path, content, match):
    path = tmp_path / "x.safetensors"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ReCoLoRAError, match=match):
        lora_lib.load_lora(path)


def test_keys_of_another_model_family_are_reported():
    sd = {"lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight": torch.zeros(4, 8),
          "lora_unet_down_blocks_0_attentions_0_proj_in.lora_up.weight": torch.zeros(8, 4)}
    with pytest.raises(ReCoLoRAError, match="Formats tried"):
        lora_lib.parse_state_dict(sd, source="sdxl.safetensors")


def test_non_lora_tensors_and_mixed_formats_are_errors(tiny_vace):
    with pytest.raises(ReCoLoRAError, match="not a LoRA weight"):
        lora_lib.parse_state_dict({"blocks.0.self_attn.q.weight": torch.zeros(2, 2)})
    with pytest.raises(ReCoLoRAError, match="not a plain LoRA"):
        lora_lib.parse_state_dict({"diffusion_model.blocks.0.self_attn.q.dora_scale": torch.zeros(2)})
    lora = tiny_lora(tiny_vace)
    mixed = {**lora_lib.to_state_dict(lora, "comfy"), **lora_lib.to_state_dict(lora, "reco")}
    with pytest.raises(ReCoLoRAError, match="mixes"):
        lora_lib.parse_state_dict(mixed)


def test_incomplete_module_is_an_error():
    with pytest.raises(ReCoLoRAError, match="no up"):
        lora_lib.parse_state_dict({"blocks.0.self_attn.q.lora_A.weight": torch.zeros(4, 8)})


def test_save_lora_always_writes_safetensors(tiny_vace, tmp_path):
    lora = tiny_lora(tiny_vace)
    with pytest.raises(ReCoLoRAError, match="safetensors"):
        lora_lib.save_lora(lora, tmp_path / "out.ckpt")
    path = lora_lib.save_lora(lora, tmp_path / "out.safetensors", fmt="kohya")
    loaded = lora_lib.load_lora(path)
    assert loaded.source_format == "kohya" and loaded.metadata["reco_lora_format"] == "kohya"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_describe_guesses_the_base_from_shapes():
    module = lora_lib.LoRAModule(torch.zeros(128, 1536), torch.zeros(1536, 128))
    lora = lora_lib.LoRA({"blocks.0.self_attn.q": module, "blocks.29.self_attn.q": module,
                          "vace_blocks.14.self_attn.q": module})
    info = lora_lib.describe(lora)
    assert info["rank"] == [128] and info["dit_blocks"] == [0, 29] and info["vace_blocks"] == [14]
    assert "1.3B" in info["base"] and "VACE" in info["base"]
    assert "fits:" in lora_lib.describe_text(lora)
