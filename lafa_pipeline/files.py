"""Atomic writes: a file, or a whole folder (a LAFA repo or index), written aside and then moved into place.

A crash or a full disk never leaves a half-written file under the final name, nor a folder that
mixes an old bundle's files with a new one's. Written files and folders get the usual modes
(0666 / 0777 less the umask), not the private ones temporary files are created with.

Example:
    >>> import tempfile, os
    >>> d = tempfile.mkdtemp()
    >>> atomic_write_text(os.path.join(d, "a.txt"), "hi")
    >>> open(os.path.join(d, "a.txt")).read()
    'hi'
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable, Iterator


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path next to ``path``; on success it is renamed to ``path``, else removed."""
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.close(fd)
    try:
        yield tmp
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _host() -> str:
    return "".join(c for c in os.uname().nodename if c.isalnum())[:32] if hasattr(os, "uname") else "host"


def _remove_abandoned(parent: str, name: str) -> None:
    """Remove temporary folders that earlier saves of ``name`` on this host left when they were killed
    (their process no longer exists); folders of saves still running are left alone."""
    prefix = f".{name}.{_host()}-"
    for entry in os.listdir(parent):
        if not (entry.startswith(prefix) and entry.endswith((".tmp", ".old"))):
            continue
        pid = entry[len(prefix) :].split(".", 1)[0]
        if not pid.isdigit() or _alive(int(pid)):
            continue
        shutil.rmtree(os.path.join(parent, entry), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _exchange(a: str, b: str) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where that is not available.

    Python has no call for it, hence ctypes; elsewhere ``atomic_folder`` falls back to two renames.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    return renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0


@contextlib.contextmanager
def atomic_folder(path: str | os.PathLike, replaceable: Iterable[str] = ()) -> Iterator[str]:
    """Yield an empty temporary folder beside ``path``; on success it takes ``path``'s place whole.

    An existing folder at ``path`` is replaced (its old files do not survive) in one exchange where
    the OS allows it, so ``path`` always holds either the old bundle or the new one. To protect
    unrelated data, an existing non-empty folder is replaced only if it holds one of the
    ``replaceable`` file names (the marks of a bundle); otherwise a ValueError says so. On error the
    temporary folder is removed and ``path`` is untouched.

    >>> import tempfile
    >>> d = os.path.join(tempfile.mkdtemp(), "bundle")
    >>> with atomic_folder(d) as tmp:
    ...     atomic_write_text(os.path.join(tmp, "a.txt"), "1")
    >>> with atomic_folder(d, replaceable=["a.txt"]) as tmp:
    ...     atomic_write_text(os.path.join(tmp, "b.txt"), "2")
    >>> sorted(os.listdir(d))
    ['b.txt']
    """
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    if os.path.isdir(path) and os.listdir(path) and not any(os.path.exists(os.path.join(path, n)) for n in replaceable):
        raise ValueError(
            f"{path} is a folder that holds other files, not a LAFA repo or index; save to a new or "
            "empty folder (saving replaces the whole folder)"
        )
    if os.path.exists(path) and not os.path.isdir(path):
        raise ValueError(f"{path} exists and is not a folder")
    os.makedirs(parent, exist_ok=True)
    _remove_abandoned(parent, name)
    tag = f".{name}.{_host()}-{os.getpid()}."
    tmp = tempfile.mkdtemp(prefix=tag, suffix=".tmp", dir=parent)
    try:
        yield tmp
        mask = _umask()
        for root, _dirs, files in os.walk(tmp):
            os.chmod(root, 0o777 & ~mask)
            for f in files:
                os.chmod(os.path.join(root, f), 0o666 & ~mask)
        if not os.path.isdir(path):
            os.rename(tmp, path)
        elif _exchange(tmp, path):
            pass  # tmp now holds the old bundle, removed below
        else:
            old = tempfile.mkdtemp(prefix=tag, suffix=".old", dir=parent)
            os.rename(path, os.path.join(old, name))
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)
