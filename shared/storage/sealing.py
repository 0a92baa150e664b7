"""A site's data key, and what it seals at rest: event payloads (at the hub) and scans (at
every site).

The key is 32 random bytes in ``<key dir>/data.key`` (mode 0600), made by ``sanji hub init``
and ``sanji node init`` (and the demo), never by a running app: a missing key is an error, so
a wrong key directory cannot silently start a second, empty key. Every sealed value names
the key that sealed it by an 8-byte key id (a hash of the key), so a rotated key can be
added beside the current one: ``data.key`` seals, every ``data-*.key`` beside it still opens
what it sealed.

Purposes never share a key: payloads and scans are sealed under keys derived from the data
key (HKDF-SHA256 with the purpose as ``info``), and the associated data of every AES-GCM
seal names the purpose and what the value is bound to (an event's origin, epoch and seq; a
scan's SHA-256 and the chunk's place), so a sealed value moved elsewhere does not open.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import struct
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.storage.private_files import replace_private, write_private

DATA_KEY_FILE = "data.key"
RETIRED_KEY_GLOB = "data-*.key"
"""Earlier data keys kept beside the current one, to open what they sealed."""
KEY_ID_BYTES = 8
NONCE_BYTES = 12
TAG_BYTES = 16
MAX_RETIRED_KEYS = 64
ROW_FORMAT = b"\x02"
"""The first byte of a sealed payload (a payload kept in clear is JSON: it starts with ``{``)."""
_HEADER = 1 + KEY_ID_BYTES + NONCE_BYTES


class SealError(Exception):
    """A sealed value does not open here (unknown key, wrong row, or tampered)."""


def key_id_of(key: bytes) -> bytes:
    """The 8 bytes that name ``key`` in what it seals (no secret: a hash of the key)."""
    return hashlib.sha256(b"sanji.data-key.id:" + key).digest()[:KEY_ID_BYTES]


def _derive(key: bytes, purpose: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"sanji.{purpose}.v1".encode()).derive(key)


class DataKeys:
    """The current data key (which seals) and the earlier ones (which only open)."""

    def __init__(self, current: bytes, retired: tuple[bytes, ...] = ()) -> None:
        for key in (current, *retired):
            if len(key) != 32:
                raise ValueError("a data key must be 32 bytes")
        self.current = current
        self.current_id = key_id_of(current)
        self.retired = tuple(k for k in retired if k != current)
        self._by_id: dict[bytes, bytes] = {key_id_of(k): k for k in retired}
        self._by_id[self.current_id] = current

    def holds(self, key_id: bytes) -> bool:
        return key_id in self._by_id

    def by_id(self, key_id: bytes) -> bytes:
        try:
            return self._by_id[key_id]
        except KeyError:
            raise SealError(f"no data key with id {key_id.hex()} here") from None

    def aead(self, purpose: str, key_id: bytes | None = None) -> AESGCM:
        """AES-256-GCM under the ``purpose`` key derived from the key ``key_id`` (current)."""
        key = self.current if key_id is None else self.by_id(key_id)
        return AESGCM(_derive(key, purpose))


class DataLocked(Exception):
    """The data key is not in memory: a village keeping it only in its agents' slots has
    restarted and no agent has signed in since (see :mod:`shared.storage.key_slots`)."""


class DataKeyHolder:
    """The one place a process keeps its data keys; every sealer asks it at each use, so a
    sealer built before the keys are known (a locked village) works once they are filled
    in, and nothing seals or opens while they are not."""

    def __init__(self, keys: DataKeys | None = None) -> None:
        self._keys = keys

    @property
    def held(self) -> bool:
        return self._keys is not None

    def fill(self, keys: DataKeys) -> None:
        self._keys = keys

    def keys(self) -> DataKeys:
        """The keys; :class:`DataLocked` while they are not known."""
        if self._keys is None:
            raise DataLocked("the data key is locked until an agent signs in")
        return self._keys


KeySource = DataKeys | DataKeyHolder
"""What a sealer is given: the keys themselves, or the holder that will have them."""


def holder_of(source: KeySource) -> DataKeyHolder:
    return source if isinstance(source, DataKeyHolder) else DataKeyHolder(source)


class _Aeads:
    """AES-GCM objects per purpose and key id, derived on first use from the holder's keys
    (never before: a locked holder raises :class:`DataLocked`)."""

    def __init__(self, source: KeySource, purpose: str) -> None:
        self._holder = holder_of(source)
        self._purpose = purpose
        self._cache: dict[bytes, AESGCM] = {}

    def current_id(self) -> bytes:
        return self._holder.keys().current_id

    def get(self, key_id: bytes | None = None) -> AESGCM:
        keys = self._holder.keys()
        wanted = keys.current_id if key_id is None else key_id
        found = self._cache.get(wanted)
        if found is None:
            found = self._cache[wanted] = keys.aead(self._purpose, wanted)
        return found


def create_data_key(key_dir: Path) -> Path:
    """Write a new random data key (mode 0600) unless one exists; return its path."""
    key_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(key_dir, 0o700)
    path = key_dir / DATA_KEY_FILE
    if path.exists():
        return path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(32))
        handle.flush()
        os.fsync(handle.fileno())
    return path


def load_data_keys(key_dir: Path) -> DataKeys:
    """The keys in ``key_dir``; a missing ``data.key`` is an error, never regenerated."""
    path = key_dir / DATA_KEY_FILE
    try:
        current = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} is missing: run 'sanji hub init' or "
                                "'sanji node init' first") from None
    retired = sorted(key_dir.glob(RETIRED_KEY_GLOB))[:MAX_RETIRED_KEYS]
    return DataKeys(current, tuple(p.read_bytes() for p in retired))


def rotate_data_key_file(key_dir: Path) -> tuple[DataKeys, DataKeys]:
    """Make a new ``data.key`` current and keep the old one as ``data-<n>.key``, so what it
    sealed still opens; the keys before and after. The old key is written first and the new
    one swapped in atomically: a power cut at any point leaves a ``data.key`` that opens
    everything sealed so far. Run with every process of the site stopped."""
    before = load_data_keys(key_dir)
    if len(before.retired) >= MAX_RETIRED_KEYS:
        raise ValueError(f"{MAX_RETIRED_KEYS} earlier data keys are kept already")
    taken = {p.name for p in key_dir.glob(RETIRED_KEY_GLOB)}
    n = next(i for i in range(1, 10_000) if f"data-{i}.key" not in taken)
    write_private(key_dir / f"data-{n}.key", before.current, exclusive=True)
    replace_private(key_dir / DATA_KEY_FILE, secrets.token_bytes(32))
    return before, load_data_keys(key_dir)


class SealedPayloads:
    """Event payloads sealed at rest (a :class:`~shared.storage.sync_store.PayloadSealer`).

    Stored form: ``0x02 | key id (8) | nonce (12) | AES-GCM(JSON)``, the associated data
    binding it to the event's row. A payload an earlier release kept in clear (JSON) still
    opens, until the start-up step (:func:`shared.storage.sync_store.seal_clear_payloads`)
    has sealed it.
    """

    _PURPOSE = "payload"

    def __init__(self, keys: KeySource) -> None:
        self._aeads = _Aeads(keys, self._PURPOSE)

    def seal(self, value: Any, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        plain = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        return (ROW_FORMAT + self._aeads.current_id() + nonce
                + self._aeads.get().encrypt(nonce, plain, _row_context(context)))

    def open(self, sealed: bytes, context: str) -> Any:
        sealed = bytes(sealed)
        if not is_sealed_payload(sealed):
            return json.loads(sealed)  # kept in clear by an earlier release
        if len(sealed) < _HEADER + TAG_BYTES:
            raise SealError("a sealed payload too short to be one")
        key_id = sealed[1:1 + KEY_ID_BYTES]
        nonce, body = sealed[1 + KEY_ID_BYTES:_HEADER], sealed[_HEADER:]
        aead = self._aeads.get(key_id)
        try:
            plain = aead.decrypt(nonce, body, _row_context(context))
        except InvalidTag:
            raise SealError("the sealed payload does not open with this key and row") from None
        return json.loads(plain.decode("utf-8"))


RECORD_MAGIC = b"SNJREC\x01"
"""The first bytes of a sealed sync record (a record kept in clear is CBOR or empty)."""


class SealedRecords:
    """Bytes the sync layer keeps beside the events and that carry them too (the link's
    compression history, the items of a downward stream, events parked for a case not held
    yet), sealed at rest: ``magic | key id (8) | nonce (12) | AES-GCM(bytes)``, bound to the
    record's name. A record kept in clear by an earlier release still opens as it is."""

    _PURPOSE = "record"

    def __init__(self, keys: KeySource) -> None:
        self._aeads = _Aeads(keys, self._PURPOSE)

    def seal(self, data: bytes, context: str) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return (RECORD_MAGIC + self._aeads.current_id() + nonce
                + self._aeads.get().encrypt(nonce, data, _record_context(context)))

    def open(self, stored: bytes, context: str) -> bytes:
        stored = bytes(stored)
        if not stored.startswith(RECORD_MAGIC):
            return stored  # kept in clear by an earlier release
        start = len(RECORD_MAGIC)
        key_id = stored[start:start + KEY_ID_BYTES]
        nonce = stored[start + KEY_ID_BYTES:start + KEY_ID_BYTES + NONCE_BYTES]
        body = stored[start + KEY_ID_BYTES + NONCE_BYTES:]
        aead = self._aeads.get(key_id)
        try:
            return aead.decrypt(nonce, body, _record_context(context))
        except InvalidTag:
            raise SealError(f"the sealed record {context} does not open here") from None


def _record_context(context: str) -> bytes:
    return b"sanji.record.v1:" + context.encode("utf-8")


def payload_key_id(stored: bytes) -> bytes:
    """The id of the key that sealed a payload (``is_sealed_payload`` must hold)."""
    return bytes(stored[1:1 + KEY_ID_BYTES])


def is_sealed_payload(stored: bytes) -> bool:
    return stored[:1] == ROW_FORMAT


def _row_context(context: str) -> bytes:
    return b"sanji.payload.v1:" + context.encode("utf-8")


# -- scans ---------------------------------------------------------------------------------------

SCAN_MAGIC = b"SNJSCAN\x01"
"""The first bytes of a sealed scan (no accepted scan type starts so)."""
PART_MAGIC = b"SNJPART\x01"
"""The first bytes of a sealed transfer in progress."""
SCAN_CHUNK = 64 * 1024
"""Plaintext bytes per sealed chunk of a whole scan."""
_SCAN_HEADER = struct.Struct(">8s8sIQ")  # magic, key id, chunk size, plaintext size
_PART_HEADER = struct.Struct(">8s8s")  # magic, key id
_RECORD = struct.Struct(">I")  # plaintext length of one appended record


class ScanSealer:
    """Seals scans chunk by chunk (AES-256-GCM under the scan key derived from the data
    key): the associated data names the scan's SHA-256, the chunk's index (or, for a
    transfer in progress, the plaintext offset of the record) and, for a whole scan, its
    plaintext size, so chunks cannot be reordered, moved to another scan or cut off."""

    _PURPOSE = "scan"

    def __init__(self, keys: KeySource) -> None:
        self._aeads = _Aeads(keys, self._PURPOSE)

    @property
    def key_id(self) -> bytes:
        return self._aeads.current_id()

    def _aead(self, key_id: bytes) -> AESGCM:
        return self._aeads.get(key_id)

    # whole scans
    def scan_header(self, plain_size: int) -> bytes:
        return _SCAN_HEADER.pack(SCAN_MAGIC, self.key_id, SCAN_CHUNK, plain_size)

    def seal_chunk(self, sha256: str, index: int, plain_size: int, plain: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        aad = _chunk_aad(sha256, index, plain_size)
        return nonce + self._aead(self.key_id).encrypt(nonce, plain, aad)

    def open_chunk(self, key_id: bytes, sha256: str, index: int, plain_size: int,
                   sealed: bytes) -> bytes:
        try:
            return self._aead(key_id).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                              _chunk_aad(sha256, index, plain_size))
        except InvalidTag:
            raise SealError(f"chunk {index} of scan {sha256} does not open") from None

    # transfers in progress
    def part_header(self) -> bytes:
        return _PART_HEADER.pack(PART_MAGIC, self.key_id)

    def seal_record(self, sha256: str, offset: int, plain: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        body = self._aead(self.key_id).encrypt(nonce, plain, _record_aad(sha256, offset))
        return _RECORD.pack(len(plain)) + nonce + body

    def open_record(self, key_id: bytes, sha256: str, offset: int, sealed: bytes) -> bytes:
        try:
            return self._aead(key_id).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:],
                                              _record_aad(sha256, offset))
        except InvalidTag:
            raise SealError(f"the record at {offset} of scan {sha256} does not open") from None


def _chunk_aad(sha256: str, index: int, plain_size: int) -> bytes:
    return b"sanji.scan.v1:" + bytes.fromhex(sha256) + struct.pack(">QQ", index, plain_size)


def _record_aad(sha256: str, offset: int) -> bytes:
    return b"sanji.scan-part.v1:" + bytes.fromhex(sha256) + struct.pack(">Q", offset)


def parse_scan_header(head: bytes) -> tuple[bytes, int, int] | None:
    """(key id, chunk size, plaintext size) of a sealed scan, ``None`` for a clear one."""
    if len(head) < _SCAN_HEADER.size or head[:len(SCAN_MAGIC)] != SCAN_MAGIC:
        return None
    _magic, key_id, chunk, size = _SCAN_HEADER.unpack(head[:_SCAN_HEADER.size])
    if chunk <= 0:
        raise SealError("a sealed scan with no chunk size")
    return key_id, chunk, size


SCAN_HEADER_BYTES = _SCAN_HEADER.size
PART_HEADER_BYTES = _PART_HEADER.size
RECORD_HEADER_BYTES = _RECORD.size


def parse_part_header(head: bytes) -> bytes | None:
    """The key id of a sealed transfer in progress, ``None`` for a clear one."""
    if len(head) < _PART_HEADER.size or head[:len(PART_MAGIC)] != PART_MAGIC:
        return None
    return bytes(_PART_HEADER.unpack(head[:_PART_HEADER.size])[1])


def record_length(head: bytes) -> int:
    return int(_RECORD.unpack(head)[0])

