"""Private files of a site: its signing key and other secrets, readable by the service user
only (mode 0600 in a 0700 directory), written durably (flushed and fsynced) so a power cut
never leaves half a key."""

from __future__ import annotations

import os
from pathlib import Path

from sync_protocol import SiteKey, dump_key, generate_key, load_key


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` with mode 0600, flushed to disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o600)


def signing_key(key_dir: Path, filename: str, site: str) -> SiteKey:
    """The site's Ed25519 key in ``key_dir/filename``, made there on first use."""
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    path = key_dir / filename
    if path.exists():
        return load_key(site, path.read_bytes())
    key = generate_key(site)
    write_private(path, dump_key(key))
    return key
