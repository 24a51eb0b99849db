"""Writing files so that nothing on disk is ever half-written, lost, or left behind.

- Every file is written to a hidden temporary name next to its target and renamed over it when complete.
- Temporary names carry the writer's process id (`.NAME.reco-PID-XXXX`): one left by a process that was
  killed (SIGKILL, power loss) is removed by the next write into that folder, once the process is gone.
- Files and folders get the mode a new file gets (0666 / 0777 less the umask), not mkstemp's private 0600.
- Output paths are checked before any work: no NUL, no name longer than the file system allows, no folder
  where a file is wanted.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser, from PyPI (a dependency there)
    import tomli as tomllib

from .errors import ReCoInputError

#: The longest file name (one path component, in bytes) the usual file systems take (ext4, NTFS, APFS).
MAX_NAME_BYTES = 255
TEMP_MARK = ".reco-"
#: A temporary entry of a dead process is removed only once it has not changed for this long, so a writer on
#: another machine sharing the folder (whose process id means nothing here) is never disturbed mid-write.
STALE_AFTER_SECONDS = 60.0
_TEMP_NAME = re.compile(r"^\..*\.reco-(?P<pid>\d+)-[A-Za-z0-9_]+(\.[^/]*)?$")


# ================================================================================================ checking paths


def check_path_text(path: str | os.PathLike, input_name: str) -> Path:
    """`path` as a Path, refused (naming `input_name`) when no file system could hold it: a NUL byte, or a
    folder or file name longer than `MAX_NAME_BYTES` bytes."""
    text = os.fspath(path)
    if isinstance(text, bytes):
        text = os.fsdecode(text)
    if "\0" in text:
        shown = text.replace("\0", "\\0")
        raise ReCoInputError(input_name, f"{shown} holds a NUL byte",
                             "File names cannot hold NUL; give a plain path.")
    for part in Path(text).parts:
        size = len(part.encode("utf-8", "surrogateescape"))
        if size > MAX_NAME_BYTES:
            raise ReCoInputError(input_name, f"has a name of {size} bytes ({part[:40]}...)",
                                 f"File and folder names can be at most {MAX_NAME_BYTES} bytes; use a shorter name.")
    return Path(text)


def check_output_file(path: str | os.PathLike, input_name: str, *, fix: str | None = None) -> Path:
    """Check, before any work, that a file can be written at `path`: a sane name, not an existing folder, and no
    file standing where one of its folders should be."""
    path = check_path_text(path, input_name)
    if path.is_dir() or os.fspath(path).endswith(("/", os.sep)):
        raise ReCoInputError(input_name, f"{path} is a folder", fix or "Give a file name inside it.")
    _check_parents(path, input_name)
    return path


def check_output_folder(path: str | os.PathLike, input_name: str) -> Path:
    """Check, before any work, that `path` can be (or is) a folder to write into."""
    path = check_path_text(path, input_name)
    if path.exists() and not path.is_dir():
        raise ReCoInputError(input_name, f"{path} is a file, not a folder", "Give a folder (new or existing).")
    _check_parents(path, input_name)
    return path


def _check_parents(path: Path, input_name: str) -> None:
    for parent in path.expanduser().absolute().parents:
        if parent.exists():
            if not parent.is_dir():
                raise ReCoInputError(input_name, f"{parent} is a file, so {path} cannot be created in it",
                                     "Give a path whose folders are folders.")
            return


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when two paths name one file or folder (through links, `..` and case-insensitive file systems)."""
    a, b = Path(a).expanduser(), Path(b).expanduser()
    try:
        if a.exists() and b.exists():
            return os.path.samefile(a, b)
        return a.resolve() == b.resolve()
    except (OSError, ValueError):
        return False


# ================================================================================================ temporary names


def _temp_prefix(name: str) -> str:
    return f".{name}{TEMP_MARK}{os.getpid()}-"


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's live process
    return True


def clean_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Remove the temporary files and folders that killed writers left in `folder`; returns what was removed.

    Only entries named by this module whose process is gone and that have not changed for
    `STALE_AFTER_SECONDS` are touched."""
    removed = []
    try:
        entries = list(Path(folder).iterdir())
    except OSError:
        return removed
    now = time.time()
    for entry in entries:
        match = _TEMP_NAME.match(entry.name)
        if not match or _pid_alive(int(match["pid"])):
            continue
        try:
            if now - entry.lstat().st_mtime < STALE_AFTER_SECONDS:
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
            removed.append(entry)
        except OSError:
            continue
    return removed


def make_temp_dir(parent: str | os.PathLike, name: str, suffix: str = "") -> Path:
    """A new hidden folder next to `parent/name` for staging it (cleaned by `clean_stale_temporaries` if we die)."""
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(parent)
    return Path(tempfile.mkdtemp(prefix=_temp_prefix(name), suffix=suffix, dir=parent))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to `path`; rename it over `path` only if the block succeeds.

    The temporary file keeps the target's suffix so writers that look at the extension
    (imageio, PIL, safetensors) behave as for the final name.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temporaries(target.parent)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.stem), suffix=target.suffix, dir=target.parent)
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


# ================================================================================================ replacing folders


def exchange_paths(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Atomically swap two existing paths (Linux renameat2 RENAME_EXCHANGE). False where the system or the file
    system cannot; then nothing changed."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    result = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if result == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.EPERM):
        return False
    raise OSError(code, os.strerror(code), os.fspath(a), None, os.fspath(b))


def replace_folder(staging: Path, folder: Path) -> None:
    """Put the complete folder `staging` in place of `folder` so that a crash at any moment leaves either the old
    or the new folder at `folder` (never none).

    Where the file system can swap atomically, it does; elsewhere the old folder is renamed aside to a
    temporary name first, and `recover_folder` puts it back if we die before the new one is in place."""
    if not folder.exists():
        os.replace(staging, folder)
        return
    if exchange_paths(staging, folder):
        shutil.rmtree(staging, ignore_errors=True)  # it now holds the old folder
        return
    retired = Path(tempfile.mkdtemp(prefix=_temp_prefix(folder.name), suffix=".old", dir=folder.parent))
    retired.rmdir()
    os.replace(folder, retired)  # renaming onto a folder fails on Windows: the old one goes aside first
    try:
        os.replace(staging, folder)
    except BaseException:
        os.replace(retired, folder)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def recover_folder(folder: Path) -> bool:
    """If a writer died between the two renames of `replace_folder`'s fallback, `folder` is missing and its old
    contents sit in a `.NAME.reco-PID-XXXX.old` folder of a dead process: rename them back. True if it did."""
    if folder.exists() or not folder.parent.is_dir():
        return False
    prefix = f".{folder.name}{TEMP_MARK}"
    candidates = []
    for entry in folder.parent.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if entry.name.startswith(prefix) and entry.name.endswith(".old") and match and entry.is_dir() \
                and not _pid_alive(int(match["pid"])):
            candidates.append(entry)
    if not candidates:
        return False
    newest = max(candidates, key=lambda entry: entry.stat().st_mtime)
    os.replace(newest, folder)
    return True


# ================================================================================================ writers


def safe_file_name(text: str) -> str:
    """`text` as a file name that works everywhere: anything but letters, digits, '.', '_' and '-' becomes '_'."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", text).strip(".") or "_"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


#: File name endings of safetensors weights (".sft" is what some ComfyUI model folders use).
SAFETENSORS_SUFFIXES = (".safetensors", ".sft")


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
