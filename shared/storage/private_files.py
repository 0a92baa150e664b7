"""Files only the service user may read (keys, key slots, archives, catalogues), written so
that a power cut leaves either the old file or the new one whole.

One way to do it for every module that keeps such a file: :func:`write_private` writes and
flushes a 0600 file; :func:`replace_private` writes the new content beside the target under
a name of its own and renames it over the target, then makes the rename durable
(:func:`fsync_dir`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


def write_private(path: Path, data: bytes, *, exclusive: bool = False) -> None:
    """Write ``data`` to ``path`` with mode 0600, flushed to disk; ``exclusive``: refuse to
    overwrite a file already there (``FileExistsError``)."""
    flags = os.O_WRONLY | os.O_CREAT | (os.O_EXCL if exclusive else os.O_TRUNC)
    fd = os.open(path, flags, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)


def replace_private(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` in one step (mode 0600): written whole beside it first, then
    renamed over it; the temporary file is removed if anything fails before the rename."""
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    try:
        write_private(temp, data, exclusive=True)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make a rename or a new name in ``directory`` survive a power cut (skipped where a
    directory cannot be opened: Windows journals its renames)."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
