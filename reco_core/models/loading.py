"""Loading the Wan transformer and VAE, fully offline (saving them: `saving`; their latent space: `latents`).

`load_transformer` / `load_vae` take what `checkpoints.read_checkpoint` reads: a safetensors file in any
layout (with or without a wrapper prefix), a diffusers folder or pipeline snapshot, or a legacy pickle.

Models are built on the meta device and the converted tensors are assigned with
`load_state_dict(strict=True, assign=True)`, so nothing is allocated twice and nothing downloads.
"""

from __future__ import annotations

import os
from typing import Mapping

import torch

from ..errors import ReCoInputError
from . import configs
from . import keys as wan_keys
from .checkpoints import config_argument, read_checkpoint


# ----------------------------------------------------------------------------------------------
# Building models
# ----------------------------------------------------------------------------------------------


def _keeps_fp32(name: str, keep_in_fp32: tuple[str, ...]) -> bool:
    return any(module in name.split(".") for module in keep_in_fp32)


def cast_state_dict(state_dict: Mapping[str, torch.Tensor], dtype: torch.dtype,
                    keep_in_fp32: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Cast floating tensors to `dtype`, except those inside a module named in `keep_in_fp32`."""
    cast = {}
    for name, tensor in state_dict.items():
        if not torch.is_floating_point(tensor):
            cast[name] = tensor
        else:
            cast[name] = tensor.to(torch.float32 if _keeps_fp32(name, keep_in_fp32) else dtype)
    return cast


def _owned(tensor: torch.Tensor, device) -> torch.Tensor:
    """`tensor` on `device` in memory of its own.

    Tensors read from safetensors are views into the file buffer, only 8-byte aligned; CPU
    kernels then take other code paths and the outputs differ in the last bits from a model
    whose weights sit in freshly allocated (64-byte aligned) memory.
    """
    moved = tensor.to(device)
    return moved.clone() if moved.data_ptr() == tensor.data_ptr() else moved


def _fp32_modules(model_class: type, dtype: torch.dtype) -> tuple[str, ...]:
    # diffusers keeps `_keep_in_fp32_modules` in fp32 only for fp16 (not bf16); do the same.
    if dtype != torch.float16:
        return ()
    return tuple(getattr(model_class, "_keep_in_fp32_modules", None) or ())


def cast_model(model: torch.nn.Module, dtype: torch.dtype) -> torch.nn.Module:
    """Cast parameters and saved buffers the way the loaders do, in place; returns the model.

    Unlike `model.to(dtype)` (and diffusers' `from_single_file`), this leaves the RoPE tables
    (non-persistent fp32 buffers) alone, as diffusers' `from_pretrained` does, and keeps
    `_keep_in_fp32_modules` in fp32 for fp16.
    """
    keep = _fp32_modules(type(model), dtype)
    saved = set(model.state_dict())
    tensors = [*model.named_parameters(), *((n, b) for n, b in model.named_buffers() if n in saved)]
    with torch.no_grad():
        for name, tensor in tensors:
            target = torch.float32 if _keeps_fp32(name, keep) else dtype
            if tensor.is_floating_point() and tensor.dtype != target:
                tensor.data = tensor.data.to(target)
    return model


def _mismatch_report(model: torch.nn.Module, state_dict: Mapping[str, torch.Tensor]) -> str:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(expected))
    wrong_shape = sorted(
        f"{k} {tuple(state_dict[k].shape)} vs {tuple(expected[k].shape)}"
        for k in set(expected) & set(state_dict)
        if tuple(state_dict[k].shape) != tuple(expected[k].shape)
    )
    parts = []
    for title, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)):
        if items:
            shown = ", ".join(items[:5]) + (f", ... ({len(items)} in all)" if len(items) > 5 else "")
            parts.append(f"{title}: {shown}")
    return "; ".join(parts)


def build_from_state_dict(model_class: type, config: Mapping, state_dict: Mapping[str, torch.Tensor], *,
                          dtype: torch.dtype, device, label: str, input_name: str, name: str):
    """Instantiate `model_class(config)` on meta, then assign the (diffusers-layout) tensors."""
    import accelerate

    with accelerate.init_empty_weights():
        model = model_class.from_config(dict(config))
    report = _mismatch_report(model, state_dict)
    if report:
        raise ReCoInputError(
            input_name, f"{label} does not match the recognised architecture ({name}): {report}",
            "the file is incomplete or belongs to another model; for a custom model pass its config",
        )
    state_dict = cast_state_dict(state_dict, dtype, _fp32_modules(model_class, dtype))
    state_dict = {k: _owned(v, device) for k, v in state_dict.items()}
    model.load_state_dict(state_dict, strict=True, assign=True)
    return model.to(device).eval()


def _with_label(error: ReCoInputError, label: str, input_name: str) -> ReCoInputError:
    return ReCoInputError(input_name, f"{label}: {error.problem}", error.fix)


# ----------------------------------------------------------------------------------------------
# Public loaders
# ----------------------------------------------------------------------------------------------


def transformer_class(config: Mapping) -> type:
    """WanVACETransformer3DModel for VACE configs, else WanTransformer3DModel."""
    from diffusers import WanTransformer3DModel, WanVACETransformer3DModel

    return WanVACETransformer3DModel if "vace_layers" in config else WanTransformer3DModel


def load_transformer(path: str | os.PathLike, *, dtype: torch.dtype = torch.bfloat16, device="cpu",
                     config: Mapping | str | os.PathLike | None = None, input_name: str = "model"):
    """Load a Wan2.1 T2V or VACE transformer; returns a diffusers model in eval mode.

    `config` (a dict, a shipped config name, or a config.json path) overrides what the weights'
    shapes and the file's `reco_config` metadata say.
    """
    checkpoint = read_checkpoint(path, subfolder="transformer", input_name=input_name)
    overrides = {**checkpoint.config, **config_argument(config, input_name)}
    try:
        state_dict = wan_keys.select_transformer_keys(checkpoint.tensors)
        name, model_config = configs.recognise_transformer(state_dict, overrides)
    except ReCoInputError as error:
        raise _with_label(error, checkpoint.label, input_name) from None
    state_dict = wan_keys.convert_transformer_to_diffusers(state_dict)
    return build_from_state_dict(transformer_class(model_config), model_config, state_dict, dtype=dtype,
                                 device=device, label=checkpoint.label, input_name=input_name, name=name)


def load_vae(path: str | os.PathLike, *, dtype: torch.dtype = torch.float32, device="cpu",
             config: Mapping | str | os.PathLike | None = None, input_name: str = "vae"):
    """Load the Wan2.1 VAE (`Wan2.1_VAE.pth`, `wan_2.1_vae.safetensors`, a diffusers folder); eval mode."""
    from diffusers import AutoencoderKLWan

    checkpoint = read_checkpoint(path, subfolder="vae", input_name=input_name)
    overrides = {**checkpoint.config, **config_argument(config, input_name)}
    try:
        state_dict = wan_keys.select_vae_keys(checkpoint.tensors)
        name, vae_config = configs.recognise_vae(state_dict, overrides)
    except ReCoInputError as error:
        raise _with_label(error, checkpoint.label, input_name) from None
    state_dict = wan_keys.convert_vae_to_diffusers(state_dict, vae_config["num_res_blocks"])
    return build_from_state_dict(AutoencoderKLWan, vae_config, state_dict, dtype=dtype, device=device,
                                 label=checkpoint.label, input_name=input_name, name=name)
