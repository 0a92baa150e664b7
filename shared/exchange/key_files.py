"""Private files of a site: its signing key and other secrets, readable by the service user
only (mode 0600 in a 0700 directory), written durably (flushed and fsynced) so a power cut
never leaves half a key."""

from __future__ import annotations

import os
from pathlib import Path

from shared.storage.private_files import write_private
from sync_protocol import SiteKey, dump_key, generate_key, load_key


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
