"""The hub's exchange endpoint (``POST /api/v1/sync/exchange``) sent hostile frames: cut,
oversized, not frames at all, signed by a key nobody enrolled (whose body the hub opens to
look for credentials before it can check the signature), carrying hostile CBOR, and zstd
bombs. Each is refused — the protocol's refusal frame or the JSON error shape, with a 4xx —
and the hub's database is unchanged."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import zstandard

from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH
from sync_protocol.canonical import encode
from sync_protocol.compression import Codec
from sync_protocol.framing import MAX_FRAME, Kind, encode_frame, uvarint
from sync_protocol.keys import generate_key
from tests.hostile.sites import Site, assert_error_shape, hub_site, site_engine, snapshot

STRANGER = generate_key("431002001299")


def _request(**changes: object) -> dict[int, object]:
    body: dict[int, object] = {0: "431002001299", 1: "431000", 2: 1_772_416_800_000,
                               3: b"\x01" * 16, 4: 1, 5: 0, 6: [1, 0], 11: {}, 12: [0, 1, 2]}
    body.update({int(k.removeprefix("k")): v for k, v in changes.items()})
    return body


def _raw_frame(body: bytes, declared: int, codec: Codec = Codec.ZSTD) -> bytes:
    """A frame around an already compressed ``body`` declaring ``declared`` bytes, signed by
    the stranger (the signature is right; the key is unknown to the hub)."""
    signed = (b"SJ\x01" + bytes([int(Kind.REQUEST), int(codec)]) + uvarint(declared)
              + STRANGER.key_id + body)
    return signed + STRANGER.sign(b"sanji/frame/1\x00" + signed).value


BOMB = zstandard.ZstdCompressor().compress(b"\x00" * (64 << 20))

FRAMES: dict[str, bytes] = {
    "empty": b"",
    "not a frame": b"GET / HTTP/1.1\r\n\r\n",
    "magic only": b"SJ",
    "cut header": encode_frame(Kind.REQUEST, encode(_request()), STRANGER)[:20],
    "cut signature": encode_frame(Kind.REQUEST, encode(_request()), STRANGER)[:-10],
    "unknown version": b"SJ\x09" + b"\x00" * 100,
    "unknown codec": b"SJ\x01\x01\x09" + b"\x00" * 100,
    "varint too long": b"SJ\x01\x01\x00" + b"\xff" * 20 + b"\x00" * 80,
    "declares 2^40 bytes": _raw_frame(BOMB, 1 << 40),
    "small frame expanding to 64 MiB": _raw_frame(BOMB, 32 << 20),
    "declares less than it holds": _raw_frame(BOMB, 100),
    "gzip not gzip": _raw_frame(b"\x00" * 100, 100, Codec.GZIP),
    "a stranger's well-formed request": encode_frame(Kind.REQUEST, encode(_request()),
                                                     STRANGER),
    "a stranger's deep nesting": encode_frame(Kind.REQUEST, b"\x81" * 5000 + b"\x00",
                                              STRANGER),
    "a stranger's indefinite lengths": encode_frame(Kind.REQUEST, b"\x9f" * 5000, STRANGER),
    "a stranger's duplicate keys": encode_frame(Kind.REQUEST, b"\xa2\x00\x61a\x00\x61b",
                                                STRANGER),
    "a stranger's bignum": encode_frame(Kind.REQUEST, b"\xc2\x59\x10\x00" + b"\xff" * 4096,
                                        STRANGER),
    "a stranger's tags": encode_frame(Kind.REQUEST, encode(_request()).replace(
        b"\x03\x50", b"\x03\xd8\x25\x50", 1), STRANGER),
    "a stranger's hostile credentials": encode_frame(
        Kind.REQUEST, encode(_request(k8=[[1, 2, 3], "x", {"a": None}, [b"\x00" * 40] * 9])),
        STRANGER),
    "a stranger's huge integers": encode_frame(
        Kind.REQUEST, encode(_request(k2=2**64 - 1, k4=2**63, k6=[2**64 - 1, 2**64 - 1])),
        STRANGER),
    "a refusal sent up": encode_frame(Kind.REFUSAL, encode({0: "x"}), STRANGER),
}


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from hub_site(tmp_path_factory.mktemp("exchange") / "hub")


def test_hostile_frames_are_refused_and_change_nothing(hub: Site) -> None:
    engine = site_engine(hub)
    before = snapshot(engine)
    client = hub.app.test_client()
    for name, frame in FRAMES.items():
        for content_type in (CONTENT_TYPE, "application/json"):
            response = client.post(EXCHANGE_PATH, data=frame,
                                   headers={"Content-Type": content_type})
            assert 400 <= response.status_code < 500, (name, response.status_code,
                                                       response.get_data()[:200])
            if response.mimetype != CONTENT_TYPE:
                assert_error_shape(response, name)
            else:
                assert response.get_data()[:2] == b"SJ", name  # a signed refusal frame
    assert snapshot(engine) == before
    engine.dispose()


def test_a_frame_over_the_limit_is_refused_before_it_is_read(hub: Site) -> None:
    client = hub.app.test_client()
    response = client.post(EXCHANGE_PATH, data=b"SJ" + b"\x00" * MAX_FRAME,
                           headers={"Content-Type": CONTENT_TYPE})
    assert response.status_code == 413
    assert json.loads(response.get_data())["error"]["code"] == "too_large"


CBOR_BODIES: dict[str, bytes] = {
    "deep arrays": b"\x81" * 100_000 + b"\x00",
    "indefinite arrays": b"\x9f" * 50_000,
    "array claiming 2^60 items": b"\x9b\x10" + b"\x00" * 7,
    "bytes claiming 2 GiB": b"\x5a\x80\x00\x00\x00abc",
    "bignum": b"\xc2\x59\x10\x00" + b"\xff" * 4096,
    "duplicate keys": b"\xa2\x00\x61a\x00\x61b",
    "cyclic shared reference": b"\xd8\x1c\x81\xd8\x1d\x00",
    "regex tag": b"\xd8\x23\x63(a+",
    "wrong shape": encode([1, 2, 3]),
    "hostile strings": encode({0: "../../etc/passwd", 1: "<script>", 2: "=1+1", 3: "\u202e"}),
}


def test_hostile_enrolments_are_refused_and_change_nothing(hub: Site) -> None:
    """``POST /api/v1/enrol`` reads a CBOR body before anything is signed-in: hostile CBOR
    and hostile frames are 4xx in the error shape."""
    engine = site_engine(hub)
    before = snapshot(engine)
    client = hub.app.test_client()
    for name, body in {**CBOR_BODIES, **FRAMES}.items():
        response = client.post("/api/v1/enrol", data=body,
                               headers={"Content-Type": "application/cbor"})
        assert_error_shape(response, name)
    assert snapshot(engine) == before
    engine.dispose()
