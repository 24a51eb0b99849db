"""Writing files so that nothing on disk is ever half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it over `path` only if the block succeeds.

    The temporary file keeps the target's suffix so writers that look at the extension
    (imageio, PIL, safetensors) behave as for the final name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def save_safetensors(tensors: dict, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> None:
    """Save a flat tensor dict as safetensors, atomically. Tensors are made contiguous, and copied
    where two entries share memory (safetensors refuses shared storage)."""
    from safetensors.torch import save_file

    flat, seen = {}, set()
    for key, value in tensors.items():
        value = value.detach().contiguous().cpu()
        pointer = value.untyped_storage().data_ptr()
        flat[key] = value.clone() if pointer in seen else value
        seen.add(pointer)
    with atomic_path(path) as tmp:
        save_file(flat, str(tmp), metadata=metadata)
