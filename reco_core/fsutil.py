"""Writing files so that nothing on disk is ever half-written."""

from __future__ import annotations

import contextlib
import os
import re
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
        give_default_mode(tmp_path)
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def give_default_mode(path: str | os.PathLike) -> None:
    """mkstemp and mkdtemp make private files (0600) and folders (0700); before one is renamed into place it gets
    the mode a new file or folder gets (0666 or 0777 less the umask)."""
    os.chmod(path, (0o777 if Path(path).is_dir() else 0o666) & ~current_umask())


def safe_file_name(text: str) -> str:
    """`text` as a file name that works everywhere: anything but letters, digits, '.', '_' and '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip(".") or "_"


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
