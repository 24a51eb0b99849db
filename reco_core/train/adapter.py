"""The trainer's LoRA: a PEFT adapter on the ReCo target modules, and its conversion to a LoRA file."""

from __future__ import annotations

from pathlib import Path

import torch

from ..lora import LoRA, LoRAModule, load_lora, parse_state_dict, to_state_dict
from .config import TrainConfig

ADAPTER = "reco"
# Our target names -> diffusers module names inside a block.
TARGET_MODULES = {"q": "to_q", "k": "to_k", "v": "to_v", "o": r"to_out\.0", "ffn.0": r"ffn\.net\.0\.proj",
                  "ffn.2": r"ffn\.net\.2"}


def lora_target_regex(config: TrainConfig) -> str:
    """A PEFT target_modules regex for the configured blocks and projections (diffusers names)."""
    kinds = {"all": "blocks|vace_blocks", "dit": "blocks", "vace": "vace_blocks"}[config.lora.blocks]
    attentions = "attn1|attn2" if config.lora.cross_attention else "attn1"
    parts = []
    for target in config.lora.targets:
        name = TARGET_MODULES[target]
        parts.append(name if target.startswith("ffn") else rf"(?:{attentions})\.{name}")
    return rf"^(?:{kinds})\.\d+\.(?:{'|'.join(parts)})$"


def add_lora_adapter(transformer: torch.nn.Module, config: TrainConfig) -> None:
    """Freeze the transformer and add a trainable fp32 LoRA adapter on the configured modules."""
    from peft import LoraConfig

    transformer.requires_grad_(False)
    transformer.add_adapter(LoraConfig(r=config.lora.rank, lora_alpha=config.lora.alpha, init_lora_weights=True,
                                       target_modules=lora_target_regex(config)), adapter_name=ADAPTER)
    for parameter in transformer.parameters():
        if parameter.requires_grad:
            parameter.data = parameter.data.float()


def adapter_state_dict(transformer) -> dict[str, torch.Tensor]:
    """The adapter's weights (PEFT keys), fp32 on the CPU."""
    from peft.utils import get_peft_model_state_dict

    return {k: v.detach().float().cpu().contiguous()
            for k, v in get_peft_model_state_dict(transformer, adapter_name=ADAPTER).items()}


def load_into_adapter(transformer, path: Path | str) -> None:
    """Set the adapter from a LoRA file in any format the reader knows."""
    from peft.utils import set_peft_model_state_dict

    set_peft_model_state_dict(transformer, to_state_dict(load_lora(path), "peft"), adapter_name=ADAPTER)


def adapter_lora(state_dict: dict[str, torch.Tensor], alpha: float) -> LoRA:
    """A PEFT state dict (which stores no alpha) as a LoRA with the training alpha."""
    lora = parse_state_dict(state_dict)
    return LoRA({k: LoRAModule(m.down, m.up, float(alpha)) for k, m in lora.modules.items()}, "peft")
