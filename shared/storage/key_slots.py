"""The data key wrapped once per agent, under a key derived from that agent's password.

A village PC is easy to carry away. With the data key in ``keys/data.key`` beside the data,
a powered-off PC reveals everything; with the key only in *slots* (``keys/slots.json``,
mode 0600), each slot the data keys (the current one first, then the retired ones)
sealed with AES-256-GCM under a key derived from one agent's password with argon2id, a
powered-off PC reveals nothing to whoever lacks an agent's password.

Each slot has its own random salt and stores its argon2id parameters (so they can be raised
later without breaking older slots); the associated data binds it to its username, the
site's code, the parameters and the ids of the keys inside, so a slot copied to another
agent's name or another site does not open. The file is replaced atomically (a temporary
file, fsync, rename), so a power cut leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from shared.storage.private_files import fsync_dir, replace_private
from shared.storage.sealing import (
    DATA_KEY_FILE,
    NONCE_BYTES,
    RETIRED_KEY_GLOB,
    DataKeys,
    key_id_of,
)

SLOTS_FILE = "slots.json"
FORMAT = 1
KEY_BYTES = 32
SALT_BYTES = 16
KDF = "argon2id"


class SlotError(Exception):
    """A slot does not open: wrong password, another agent's or site's slot, or tampered."""


@dataclass(frozen=True, slots=True)
class SlotParams:
    """argon2id's cost for one slot: the library's (RFC 9106 low-memory) parameters, the
    ones the sign-in's password hash uses, so opening a slot costs about one sign-in."""

    time_cost: int = 3
    memory_kib: int = 64 * 1024
    parallelism: int = 4


DEFAULT_PARAMS = SlotParams()


@dataclass(frozen=True, slots=True)
class KeySlot:
    """One agent's wrapped copy of the data keys (nothing in it is secret without the
    password: the salt, nonce and key ids are public by design)."""

    params: SlotParams
    salt: bytes
    nonce: bytes
    wrapped: bytes
    key_ids: tuple[str, ...]
    """Hex ids of the keys inside, current first: tells a stale slot without opening it."""
    account: str
    """A mark of the account's password hash: a new password makes the slot stale."""

    def to_json(self) -> dict[str, object]:
        return {"kdf": KDF, "time_cost": self.params.time_cost,
                "memory_kib": self.params.memory_kib, "parallelism": self.params.parallelism,
                "salt": self.salt.hex(), "nonce": self.nonce.hex(),
                "wrapped": self.wrapped.hex(), "key_ids": list(self.key_ids),
                "account": self.account}

    @classmethod
    def from_json(cls, data: object) -> KeySlot:
        try:
            assert isinstance(data, dict) and data["kdf"] == KDF
            params = SlotParams(int(data["time_cost"]), int(data["memory_kib"]),
                                int(data["parallelism"]))
            return cls(params, bytes.fromhex(data["salt"]), bytes.fromhex(data["nonce"]),
                       bytes.fromhex(data["wrapped"]),
                       tuple(str(k) for k in data["key_ids"]), str(data["account"]))
        except (AssertionError, KeyError, TypeError, ValueError):
            raise SlotError("a key slot that is not one") from None


def account_mark(password_hash: str) -> str:
    """What a slot remembers of the account it was made for (a hash of the argon2 hash
    kept in the node's database anyway: it reveals nothing more)."""
    return hashlib.sha256(b"sanji.key-slot.account:" + password_hash.encode()).hexdigest()[:32]


def _ids(keys: DataKeys) -> tuple[str, ...]:
    return tuple(key_id_of(k).hex() for k in (keys.current, *keys.retired))


def _derive(password: str, salt: bytes, params: SlotParams) -> bytes:
    return hash_secret_raw(password.encode("utf-8"), salt, time_cost=params.time_cost,
                           memory_cost=params.memory_kib, parallelism=params.parallelism,
                           hash_len=KEY_BYTES, type=Type.ID)


def _aad(site: str, username: str, params: SlotParams, key_ids: tuple[str, ...]) -> bytes:
    bound = ["sanji.key-slot.v1", site, username, params.time_cost, params.memory_kib,
             params.parallelism, list(key_ids)]
    return json.dumps(bound, separators=(",", ":")).encode("utf-8")


def wrap_keys(keys: DataKeys, *, site: str, username: str, password: str, account: str,
              params: SlotParams = DEFAULT_PARAMS) -> KeySlot:
    """A new slot holding ``keys`` for ``username`` at ``site`` (one argon2id derivation)."""
    salt, nonce = secrets.token_bytes(SALT_BYTES), secrets.token_bytes(NONCE_BYTES)
    key_ids = _ids(keys)
    plain = b"".join((keys.current, *keys.retired))
    wrapped = AESGCM(_derive(password, salt, params)).encrypt(
        nonce, plain, _aad(site, username, params, key_ids))
    return KeySlot(params, salt, nonce, wrapped, key_ids, account)


def unwrap_keys(slot: KeySlot, *, site: str, username: str, password: str) -> DataKeys:
    """The data keys in ``slot``; :class:`SlotError` for a wrong password, another agent's
    or site's slot, or a tampered one."""
    aead = AESGCM(_derive(password, slot.salt, slot.params))
    try:
        plain = aead.decrypt(slot.nonce, slot.wrapped,
                             _aad(site, username, slot.params, slot.key_ids))
    except InvalidTag:
        raise SlotError(f"the key slot of {username} does not open with this password") \
            from None
    if not plain or len(plain) % KEY_BYTES:
        raise SlotError("a key slot holding no whole key")
    keys = [plain[i:i + KEY_BYTES] for i in range(0, len(plain), KEY_BYTES)]
    return DataKeys(keys[0], tuple(keys[1:]))


def slot_is_current(slot: KeySlot, keys: DataKeys, account: str,
                    params: SlotParams = DEFAULT_PARAMS) -> bool:
    """Whether ``slot`` holds exactly ``keys`` for the account's present password, at the
    present cost (else it is made again at the agent's next sign-in)."""
    return slot.key_ids == _ids(keys) and slot.account == account and slot.params == params


def read_slots(key_dir: Path, site: str) -> dict[str, KeySlot]:
    """The slots in ``key_dir`` by username (none when there is no slots file)."""
    path = key_dir / SLOTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise SlotError(f"cannot read {path}: {exc.__class__.__name__}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT \
            or not isinstance(data.get("slots"), dict):
        raise SlotError(f"{path} is not a slots file")
    if data.get("site") != site:
        raise SlotError(f"{path} belongs to site {data.get('site')}, not {site}")
    return {str(name): KeySlot.from_json(slot) for name, slot in data["slots"].items()}


def write_slots(key_dir: Path, site: str, slots: dict[str, KeySlot]) -> Path:
    """Replace the slots file atomically (temporary file, fsync, rename, directory fsync);
    mode 0600."""
    path = key_dir / SLOTS_FILE
    body = json.dumps({"format": FORMAT, "site": site,
                       "slots": {name: slots[name].to_json() for name in sorted(slots)}},
                      indent=1).encode("utf-8")
    replace_private(path, body)
    return path


def key_files(key_dir: Path) -> list[Path]:
    """The data key files in ``key_dir``: ``data.key`` and the retired ``data-*.key``."""
    found = [key_dir / DATA_KEY_FILE] if (key_dir / DATA_KEY_FILE).exists() else []
    return found + sorted(key_dir.glob(RETIRED_KEY_GLOB))


def remove_key_files(key_dir: Path) -> int:
    """Overwrite every data key file with zeros (fsynced), then unlink it: once slots hold
    the keys, no key stays on the disk in clear. Returns how many were removed. (The file
    system may still keep old blocks; full-disk encryption covers those.)"""
    removed = 0
    for path in key_files(key_dir):
        size = path.stat().st_size
        with path.open("r+b") as handle:
            handle.write(b"\0" * size)
            handle.flush()
            os.fsync(handle.fileno())
        path.unlink()
        removed += 1
    if removed:
        fsync_dir(key_dir)
    return removed
