"""The ReCo nodes (ComfyUI V3 schema). Node ids are stable: saved workflows refer to them."""

import logging

from comfy_api.latest import ComfyExtension, io

from .decode import ReCoDecode
from .in_context import ReCoInContext
from .lora_loader import ReCoLoRALoader
from .long_clip import ReCoLongClipEdit
from .sampler import ReCoSampler

NODES: list[type[io.ComfyNode]] = [ReCoLoRALoader, ReCoInContext, ReCoSampler, ReCoDecode, ReCoLongClipEdit]

try:  # training and the bundled miniature need diffusers and peft; the edit nodes above need neither
    from .shapes_loader import ReCoShapesClip, ReCoShapesLoader
    from .train_lora import ReCoTrainLoRA

    NODES += [ReCoShapesLoader, ReCoShapesClip, ReCoTrainLoRA]
except ImportError as error:
    logging.getLogger(__name__).warning("ReCo: ReCoShapesLoader, ReCoShapesClip and ReCoTrainLoRA are unavailable (%s); install the "
                                        "pack's requirements: pip install -r requirements.txt", error)


class ReCoExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
