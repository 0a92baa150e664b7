"""Personal data sealed at rest: names, ID numbers, phones and forms are AES-GCM encrypted.

A village PC is easy to carry away. The data key lives in ``DATA_DIR/keys/data.key``
(readable by the service user only) or, at a village, only in its agents' key slots
(:mod:`shared.storage.key_slots`), apart from the database, so a copied database file alone
reveals no applicant. Each sealed value carries its own random nonce; the associated data
ties a value to its row, so a sealed value moved to another row fails to open.

The sealer takes the key from the process's :class:`~shared.storage.sealing.DataKeyHolder`
at each use (a locked village raises :class:`~shared.storage.sealing.DataLocked`). Values
name no key, so one sealed before a data key was retired is opened by trying the current
key, then the retired ones (AES-GCM's tag tells a wrong key at once).
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.storage.sealing import DataKeyHolder, DataKeys

KEY_FILE = "data.key"
_NONCE_BYTES = 12
_VERSION = b"\x01"


class SealError(Exception):
    """A sealed value does not open with this key (wrong key, wrong row, or tampered)."""


class DataSealer:
    """Seals and opens JSON values with the data key (AES-256-GCM under the raw key)."""

    def __init__(self, key: bytes | DataKeyHolder) -> None:
        if isinstance(key, bytes):
            if len(key) != 32:
                raise ValueError("the data key must be 32 bytes")
            key = DataKeyHolder(DataKeys(key))
        self._holder = key
        self._aeads: dict[bytes, AESGCM] = {}

    def _aead(self, key: bytes) -> AESGCM:
        found = self._aeads.get(key)
        if found is None:
            found = self._aeads[key] = AESGCM(key)
        return found

    def seal(self, value: Any, context: str) -> bytes:
        """``value`` as JSON, encrypted; ``context`` (e.g. the case id) must match on open."""
        aead = self._aead(self._holder.keys().current)
        nonce = secrets.token_bytes(_NONCE_BYTES)
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return _VERSION + nonce + aead.encrypt(nonce, plain, context.encode("utf-8"))

    def open(self, sealed: bytes, context: str) -> Any:
        """The JSON value sealed under ``context``; :class:`SealError` otherwise."""
        if len(sealed) < 1 + _NONCE_BYTES or sealed[:1] != _VERSION:
            raise SealError("not a sealed value")
        nonce, body = sealed[1 : 1 + _NONCE_BYTES], sealed[1 + _NONCE_BYTES :]
        keys = self._holder.keys()
        for key in (keys.current, *keys.retired):
            try:
                plain = self._aead(key).decrypt(nonce, body, context.encode("utf-8"))
            except InvalidTag:
                continue
            return json.loads(plain.decode("utf-8"))
        raise SealError("the sealed value does not open with this key and context")


def load_sealer(key_dir: Path) -> DataSealer:
    """The sealer for the key in ``key_dir``; a missing key is an error, never regenerated."""
    path = key_dir / KEY_FILE
    try:
        return DataSealer(path.read_bytes())
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: run 'sanji node init' first")
