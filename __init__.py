"""ReCo for ComfyUI: instruction-based video editing by region-constrained in-context generation.

ComfyUI loads this folder as a package and calls `comfy_entrypoint()` (V3 node schema). The nodes
are imported only then, so the package (and `reco_core` inside it, which never imports ComfyUI)
can be imported outside ComfyUI too, e.g. by the test runner.
"""

WEB_DIRECTORY = "./web"


async def comfy_entrypoint():
    from .nodes import ReCoExtension

    return ReCoExtension()


__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
