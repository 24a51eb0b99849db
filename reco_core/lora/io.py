"""Reading and writing LoRA files.

Safetensors is read directly. A legacy torch pickle (.ckpt/.pt/.pth/.bin, like the ReCo release) is
read only with `torch.load(weights_only=True)`, which refuses any file that would run code.
Whatever comes in, files are written as safetensors.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from ..errors import ReCoLoRAError
from ..fsutil import SAFETENSORS_SUFFIXES, check_output_file, save_safetensors
from . import names
from .formats import FORMATS, LoRA, parse_state_dict, to_state_dict



def _is_safetensors(path: Path) -> bool:
    """Safetensors files start with an 8-byte header length followed by a JSON object."""
    with open(path, "rb") as handle:
        head = handle.read(9)
    return len(head) == 9 and head[8:9] == b"{"


ZIP_MAGIC = b"PK\x03\x04"   # torch.save's default format is a zip archive
PICKLE_PROTOCOL = b"\x80"     # a legacy torch.save file is a pickle: protocol 2+ starts with 0x80


def _torch_file_kind(path: Path) -> str | None:
    """"zip" or "pickle" for a file torch.save could have written, None for anything else (first bytes only)."""
    with open(path, "rb") as handle:
        head = handle.read(4)
    if head == ZIP_MAGIC:
        return "zip"
    if head[:1] == PICKLE_PROTOCOL and len(head) > 1 and 2 <= head[1] <= 5:
        return "pickle"
    return None


def _not_a_checkpoint(path: Path) -> ReCoLoRAError:
    with open(path, "rb") as handle:
        head = handle.read(8)
    what = "is empty" if not head else f"starts with the bytes {head.hex(' ')}"
    return ReCoLoRAError(str(path), f"is not a LoRA file: neither safetensors nor a torch checkpoint (it {what})",
                         "Download it again (it may be damaged or an HTML error page), or give a .safetensors or "
                         ".ckpt/.pt LoRA file.")


#: How deep nested dicts of a torch checkpoint may go ({"state_dict": {"model": {...}}} is 3).
MAX_NESTING = 32


def _flatten_tensors(obj: Any, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """Flatten nested dicts of tensors ({"state_dict": {...}}) into dotted keys; other leaves are dropped.

    Walked without recursion; nesting deeper than `MAX_NESTING` is refused (no real LoRA nests that deep)."""
    flat: dict[str, torch.Tensor] = {}
    pending = [(obj, "", 0)]
    while pending:
        value, prefix, depth = pending.pop()
        if isinstance(value, torch.Tensor):
            flat[prefix.rstrip(".")] = value
        elif isinstance(value, dict):
            if depth >= MAX_NESTING:
                raise ReCoLoRAError(source, f"nests dictionaries more than {MAX_NESTING} deep",
                                    "This is not a LoRA checkpoint; give a .safetensors or .ckpt LoRA file.")
            pending.extend((item, f"{prefix}{key}.", depth + 1) for key, item in value.items())
    return flat


def read_tensors(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Read every tensor of a LoRA file: (flat state dict, safetensors metadata or {})."""
    path = Path(path)
    if path.is_dir():
        raise ReCoLoRAError(str(path), "is a folder, not a LoRA file", "Give the LoRA file itself (*.safetensors, "
                            "or a .ckpt/.pt read safely).")
    if not path.is_file():
        raise ReCoLoRAError(str(path), "does not exist", "Check the path (ComfyUI keeps LoRAs in models/loras).")
    if _is_safetensors(path):
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                return {k: handle.get_tensor(k) for k in handle.keys()}, dict(handle.metadata() or {})
        except Exception as error:  # safetensors raises several types for damaged files
            raise ReCoLoRAError(str(path), f"is not a readable safetensors file ({error})",
                                "Download it again; the file may be truncated.") from error
    if _torch_file_kind(path) is None:
        raise _not_a_checkpoint(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        if "weights only" not in str(error).lower():
            raise ReCoLoRAError(str(path), f"is neither safetensors nor a torch checkpoint ({error})",
                                "Give a .safetensors or .ckpt/.pt LoRA file.") from error
        raise ReCoLoRAError(
            str(path),
            "was refused: it is a pickle that would run code when loaded (only plain tensors are allowed)",
            "Get a .safetensors version of this LoRA, or convert it with a tool you trust.",
        ) from error
    except RecursionError as error:
        raise ReCoLoRAError(str(path), "nests its contents too deep to be read", "This is not a LoRA checkpoint; "
                            "give a .safetensors or .ckpt/.pt LoRA file.") from error
    except Exception as error:
        raise ReCoLoRAError(str(path), f"is neither safetensors nor a torch checkpoint ({_first_line(error)})",
                            "Give a .safetensors or .ckpt/.pt LoRA file.") from error
    return _flatten_tensors(obj, str(path)), {}


def _first_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]


def load_lora(path: str | os.PathLike) -> LoRA:
    """Read a LoRA file in any supported format and return it in canonical form."""
    tensors, metadata = read_tensors(path)
    lora = parse_state_dict(tensors, source=str(path))
    lora.metadata = metadata
    return lora


def save_lora(lora: LoRA, path: str | os.PathLike, fmt: str = "comfy", metadata: dict[str, str] | None = None) -> Path:
    """Write `lora` as safetensors in format `fmt` (atomically). Returns the path written."""
    path = Path(path)
    check_output_file(path, str(path), fix="Give a file name for the LoRA, e.g. my_lora.safetensors.")
    if path.suffix.lower() not in SAFETENSORS_SUFFIXES:
        raise ReCoLoRAError(str(path), "does not end in .safetensors",
                            "LoRAs are always written as safetensors; name the output *.safetensors.")
    info = {"format": "pt", "reco_lora_format": fmt, **(metadata or {})}
    save_safetensors(to_state_dict(lora, fmt), path, metadata=info)
    return path


def guess_base(lora: LoRA) -> str:
    """Which Wan base a LoRA was made for, from its shapes and block indices."""
    dims = {m.down.shape[1] for n, m in lora.modules.items() if n.endswith("self_attn.q")}
    dit_blocks = {names.block_index(n) for n in lora.modules if n.startswith("blocks.")}
    vace_blocks = {names.block_index(n) for n in lora.modules if n.startswith("vace_blocks.")}
    family = {1536: "Wan2.1 1.3B", 5120: "Wan2.1 14B"}
    dim = next(iter(dims)) if len(dims) == 1 else None
    base = family.get(dim, f"a custom Wan (width {dim})" if dim else "an unknown Wan")
    if vace_blocks:
        base += f" VACE (needs at least {max(vace_blocks) + 1} VACE blocks)"
    if dit_blocks:
        base += f", {max(dit_blocks) + 1}+ blocks"
    return base


def describe(lora: LoRA) -> dict[str, Any]:
    """A summary of a LoRA for `lora info`: format, rank, alpha, blocks and the base it fits."""
    targets = sorted({n.split(".", 2)[2] if names.block_index(n) is not None else n for n in lora.modules})
    dit = sorted({names.block_index(n) for n in lora.modules if n.startswith("blocks.")})
    vace = sorted({names.block_index(n) for n in lora.modules if n.startswith("vace_blocks.")})
    dtypes = sorted({str(m.down.dtype).replace("torch.", "") for m in lora.modules.values()})
    alphas = ["rank (scale 1)" if a is None else a for a in lora.alphas]
    return {
        "file": lora.describe_source(),
        "format": lora.source_format,
        "format_description": FORMATS[lora.source_format],
        "wrappers_stripped": lora.wrappers,
        "modules": len(lora),
        "rank": lora.ranks,
        "alpha": alphas,
        "dit_blocks": dit,
        "vace_blocks": vace,
        "targets": targets,
        "dtype": dtypes,
        "parameters": sum(m.down.numel() + m.up.numel() for m in lora.modules.values()),
        "base": guess_base(lora),
        "metadata": {k: v for k, v in lora.metadata.items() if len(v) < 200},
    }


def describe_text(lora: LoRA) -> str:
    info = describe(lora)

    def span(indices: list[int]) -> str:
        return f"{len(indices)} ({indices[0]}..{indices[-1]})" if indices else "none"

    lines = [
        f"file:       {info['file']}",
        f"format:     {info['format']} - {info['format_description']}",
        f"modules:    {info['modules']} ({info['parameters']:,} parameters, {', '.join(info['dtype'])})",
        f"rank:       {', '.join(map(str, info['rank']))}",
        f"alpha:      {', '.join(map(str, info['alpha']))}",
        f"DiT blocks: {span(info['dit_blocks'])}",
        f"VACE blocks:{' ' if info['vace_blocks'] else ' '}{span(info['vace_blocks'])}",
        f"targets:    {', '.join(info['targets'])}",
        f"fits:       {info['base']}",
    ]
    if info["wrappers_stripped"]:
        lines.append(f"wrappers:   {', '.join(info['wrappers_stripped'])} (stripped)")
    return "\n".join(lines)
