"""The ReCo nodes (ComfyUI V3 schema). Node ids are stable: saved workflows refer to them."""

from comfy_api.latest import ComfyExtension, io

from .decode import ReCoDecode
from .in_context import ReCoInContext
from .lora_loader import ReCoLoRALoader
from .train_lora import ReCoTrainLoRA

NODES: list[type[io.ComfyNode]] = [ReCoLoRALoader, ReCoInContext, ReCoDecode, ReCoTrainLoRA]


class ReCoExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODES)
