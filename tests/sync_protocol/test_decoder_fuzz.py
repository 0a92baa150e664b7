"""Fuzzing the protocol's decoders: whatever bytes or values arrive, decoding returns a value
or raises the protocol's own :class:`~sync_protocol.errors.ProtocolError` — never another
exception, and never more memory than the frame limits allow.

The targets are the layers a hostile peer reaches, outermost first: the frame header
(:func:`peek_frame`), the bounded decompression, the CBOR decoder, and the readers of a
request, a response, a refusal, an upward batch, a down batch, a credential, a release and
an enrolment. Values are drawn three ways: random bytes, a real signed frame mutated (bytes
flipped, cut, appended), and CBOR-shaped values (maps with small integer keys, as messages
have). Derandomised and bounded here; ``bench/fuzz_decoder.py`` runs the same targets for
minutes.
"""

from __future__ import annotations

import contextlib
import tracemalloc
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cbor2
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync_protocol.canonical import decode, encode
from sync_protocol.columns import decode_batch
from sync_protocol.compression import Codec, decompress
from sync_protocol.credentials import credential_from_wire, enrolment_from_wire
from sync_protocol.down_batch import decode_down_batch
from sync_protocol.errors import KeyUnknown, ProtocolError
from sync_protocol.framing import MAX_BODY, Kind, decode_frame, encode_frame, peek_frame
from sync_protocol.keys import generate_key
from sync_protocol.messages import decode_refusal, decode_request, decode_response_head
from sync_protocol.releases import release_from_wire

KEY = generate_key("431002001201")
MEMORY_CEILING = 64 << 20
"""What one decoding may allocate at most: the largest body is 32 MiB, decoded once."""

STRUCTURE_READERS: dict[str, Callable[[object], object]] = {
    "request": decode_request,
    "response": decode_response_head,
    "refusal": decode_refusal,
    "batch": decode_batch,
    "down_batch": decode_down_batch,
    "credential": credential_from_wire,
    "release": release_from_wire,
    "enrolment": enrolment_from_wire,
}


def _unknown_key(key_id: bytes) -> Any:
    raise KeyUnknown("frame.key", "not known here")


def _known_key(key_id: bytes) -> Any:
    return KEY.private.public_key() if key_id == KEY.key_id else _unknown_key(key_id)


def decode_bytes(data: bytes) -> None:
    """Every byte-level target on ``data``; only a ProtocolError may leave."""
    actions: list[Callable[[], object]] = [
        lambda: peek_frame(data, dictionaries={}).open(),
        lambda: decode_frame(data, _known_key, dictionaries={}),
        lambda: decode_frame(data, _unknown_key, dictionaries={}, introduce=_ignore),
        lambda: decode(data, field="fuzz", max_size=MAX_BODY),
        lambda: decompress(data, Codec.ZSTD, declared=1 << 16, limit=1 << 20, dictionaries={}),
        lambda: decompress(data, Codec.GZIP, declared=1 << 16, limit=1 << 20, dictionaries={}),
    ]
    for action in actions:
        with contextlib.suppress(ProtocolError):
            action()


def _ignore(body: object) -> None:
    """An ``introduce`` that adopts nothing: the key stays unknown."""


def decode_value(value: object) -> None:
    """Every structure reader on ``value``; only a ProtocolError may leave."""
    for reader in STRUCTURE_READERS.values():
        with contextlib.suppress(ProtocolError):
            reader(value)


def _sample_request() -> bytes:
    body = {0: "431002001201", 1: "431002001", 2: 1_700_000_000_000, 3: b"\x01" * 16,
            4: 1, 5: 1, 6: [1, 0], 11: {"catalogue": 3}, 12: [0, 1, 2]}
    return encode(body)


SAMPLE_FRAME = encode_frame(Kind.REQUEST, _sample_request(), KEY)

leaves = (st.integers(min_value=-(2**70), max_value=2**70) | st.binary(max_size=40)
          | st.text(max_size=20) | st.none() | st.booleans()
          | st.floats(allow_nan=True, allow_infinity=True))
cbor_values = st.recursive(
    leaves,
    lambda inner: (st.lists(inner, max_size=6)
                   | st.dictionaries(st.integers(min_value=-1, max_value=16) | st.text(max_size=8),
                                     inner, max_size=6)),
    max_leaves=40,
)


@st.composite
def mutated_frames(draw: st.DrawFn) -> bytes:
    """The sample frame with bytes flipped, a cut, or bytes appended."""
    data = bytearray(SAMPLE_FRAME)
    for _ in range(draw(st.integers(min_value=0, max_value=4))):
        at = draw(st.integers(min_value=0, max_value=len(data) - 1))
        data[at] = draw(st.integers(min_value=0, max_value=255))
    cut = draw(st.integers(min_value=0, max_value=len(data)))
    tail = draw(st.binary(max_size=16))
    return bytes(data[:cut]) + tail if draw(st.booleans()) else bytes(data) + tail


FUZZ = settings(max_examples=200, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(st.binary(max_size=512))
def test_random_bytes_raise_only_protocol_errors(data: bytes) -> None:
    decode_bytes(data)
    decode_bytes(b"SJ\x01\x01\x01" + data)  # past the magic, into the header


@FUZZ
@given(mutated_frames())
def test_mutated_frames_raise_only_protocol_errors(data: bytes) -> None:
    decode_bytes(data)


@FUZZ
@given(cbor_values)
def test_message_shaped_values_raise_only_protocol_errors(value: object) -> None:
    decode_value(value)
    try:
        data = cbor2.dumps(value, canonical=True)
    except (cbor2.CBOREncodeError, ValueError, OverflowError):
        return
    decode_bytes(data)


def _frame_with(body: bytes, declared: int) -> bytes:
    """A frame whose header declares ``declared`` body bytes around ``body`` (zstd)."""
    head = bytes(b"SJ\x01\x01" + bytes([int(Codec.ZSTD)]))
    varint = bytearray()
    n = declared
    while True:
        byte = n & 0x7F
        n >>= 7
        varint.append(byte | (0x80 if n else 0))
        if not n:
            break
    signed = head + bytes(varint) + KEY.key_id + body
    return signed + b"\x00" * 64


def test_hostile_cbor_and_bombs_are_refused_with_bounded_memory() -> None:
    """Named hostile bodies: each is refused, and decoding it allocates little."""
    bomb = zstandard.ZstdCompressor().compress(b"\x00" * (64 << 20))
    cases = {
        "deep arrays": b"\x81" * 100_000 + b"\x00",
        "indefinite arrays": b"\x9f" * 50_000,
        "indefinite text": b"\x7f\x61a\xff",
        "array claiming 2^60 items": b"\x9b\x10" + b"\x00" * 7,
        "bytes claiming 2 GiB": b"\x5a\x80\x00\x00\x00abc",
        "bignum of a MiB": b"\xc2\x5a\x00\x10\x00\x00" + b"\xff" * (1 << 20),
        "decimal with a huge exponent": b"\xc4\x82\x1b\x7f\xff\xff\xff\xff\xff\xff\xff\x01",
        "regex tag": b"\xd8\x23\x63(a+",
        "cyclic shared reference": b"\xd8\x1c\x81\xd8\x1d\x00",
        "set tag": b"\xd9\x01\x02\x81\x01",
        "duplicate map keys": b"\xa2\x01\x01\x01\x02",
        "non-shortest integer": b"\x18\x01",
        "undefined": b"\xf7",
        "datetime tag": b"\xc0\x74" + b"2026-01-01T00:00:00Z",
    }
    for name, data in cases.items():
        tracemalloc.start()
        try:
            decode(data, field=name, max_size=MAX_BODY)
        except ProtocolError:
            pass
        else:
            raise AssertionError(f"{name} was decoded")
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak < MEMORY_CEILING, (name, peak)
    frames = {
        "a frame declaring 2^40 bytes": _frame_with(bomb, 1 << 40),
        "a small frame expanding to 64 MiB": _frame_with(bomb, MAX_BODY),
        "a frame declaring less than it holds": _frame_with(bomb, 1000),
    }
    for name, frame in frames.items():
        assert len(frame) < 64 << 10, (name, len(frame))
        tracemalloc.start()
        try:
            peek_frame(frame, dictionaries={}).open()
        except ProtocolError:
            pass
        else:
            raise AssertionError(f"{name} was opened")
        finally:
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
        assert peak < MEMORY_CEILING, (name, peak)


def test_the_sample_frame_itself_decodes() -> None:
    """The mutations start from a frame the decoders accept."""
    frame = decode_frame(SAMPLE_FRAME, _known_key, dictionaries={})
    assert decode_request(frame.body).sender == "431002001201"
    assert datetime.now(UTC).year >= 2025
