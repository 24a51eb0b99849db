"""Names a user picks from in CLI flags, training config fields and ComfyUI node inputs: one definition each.

No torch here, so the CLI's `--help` stays fast; `torch_dtype` imports it when a name is used.
"""

from __future__ import annotations

DTYPE_NAMES = ("bf16", "fp16", "fp32")
#: How a source of another size is fitted to the model's size (reco_core.frames.resize_frames).
RESIZE_MODES = ("crop", "stretch", "pad", "nearest")
#: How a clip shorter than the model's length is handled (reco_core.lengths.plan_clip).
SHORT_CLIP_MODES = ("pad", "shorten")
#: Region-constrained sampling (reco_core.region.RegionOptions.mode): none, found from the model, or given.
REGION_MODES = ("off", "auto", "mask")
#: What edit-region queries may not attend to (reco_core.region.RegionOptions.attention).
ATTENTION_MODES = ("off", "region", "source")


def torch_dtype(name: str):
    """The torch dtype of a name in DTYPE_NAMES."""
    import torch

    return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[name]
