"""LoRA files for Wan / Wan-VACE in every common format, and applying them."""

from .apply import LoRAMatch, apply_lora, diffusers_linear_shapes, match_lora, merge_lora_into_weights, require_match, set_lora_strength
from .formats import FORMATS, LoRA, LoRAModule, convert, parse_state_dict, to_state_dict
from .io import describe, describe_text, guess_base, load_lora, read_tensors, save_lora

__all__ = [
    "FORMATS", "LoRA", "LoRAModule", "LoRAMatch", "apply_lora", "diffusers_linear_shapes", "convert", "describe", "describe_text",
    "guess_base", "load_lora", "match_lora", "merge_lora_into_weights", "parse_state_dict", "read_tensors",
    "require_match", "save_lora", "set_lora_strength", "to_state_dict",
]
