"""Enrolment: a grant only for the key that proved the one-time code, from the pinned hub."""

from __future__ import annotations

import hashlib
import hmac
import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from shared.exchange.enrolment import (
    EnrolmentRefused,
    SiteFacts,
    check_grant_code,
    decode_grant,
    enrol,
    grant,
    read_request,
    relay,
    request_bytes,
)
from sync_protocol import CertificateInvalid, Malformed, generate_key, sign_release
from sync_protocol.canonical import decode, encode
from sync_protocol.credentials import _enrolment_statement
from sync_protocol.times import to_ms

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
HUB = "431000"
VILLAGE = "431002001201"
TOWNSHIP = "431002001"
CODE = "K7Q2-M9XD-4TPL"
FACTS = SiteFacts(VILLAGE, "吉村代办点", "village", TOWNSHIP)


def issue(code: str = CODE) -> tuple[object, bytes]:
    hub_key = generate_key(HUB)
    village_key = generate_key(VILLAGE)
    release = sign_release(
        hub_key,
        kind="catalogue",
        version=1,
        content=b"{}",
        effective_from=NOW,
        expires_at=NOW + timedelta(days=365),
    )
    body = request_bytes(village_key, code, NOW)
    users = [
        {
            "username": "agent1",
            "password_hash": "$argon2id$v=19$m=65536,t=3,p=4$x$y",
            "role": "agent",
            "site": VILLAGE,
        }
    ]
    return grant(
        read_request(body),
        CODE,
        hub_key=hub_key,
        site=FACTS,
        releases=[release],
        users=users,
        now=NOW,
    )


def test_a_grant_round_trips_and_pins_the_hub_key() -> None:
    issued, data = issue()
    back = decode_grant(data)
    assert back == issued
    assert back.site == FACTS
    assert back.users[0]["username"] == "agent1"
    assert "password" not in back.users[0]
    ring = back.keyring()
    assert ring.is_hub_key(back.releases[0].signature.key_id)


def test_a_wrong_code_gets_no_certificate() -> None:
    with pytest.raises(CertificateInvalid):
        issue(code="WRONG-CODE")


def test_garbage_and_tampered_grants_are_protocol_errors() -> None:
    _, data = issue()
    with pytest.raises(Malformed):
        read_request(b"\xff" * 100)
    tampered = bytearray(data)
    tampered[-50] ^= 0x01  # inside the hub's signature (the code proof is the last 34 bytes)
    with pytest.raises(Exception) as caught:
        decode_grant(bytes(tampered))
    assert caught.type.__module__.startswith("sync_protocol")


def test_a_grant_proves_it_was_made_with_the_enrolment_code() -> None:
    """Whoever answers in the hub's place without the code cannot have its key pinned."""
    _, data = issue()
    check_grant_code(data, CODE)
    with pytest.raises(CertificateInvalid):
        check_grant_code(data, "WRONG-CODE")
    proof_flipped = bytearray(data)
    proof_flipped[-5] ^= 0x01
    decode_grant(bytes(proof_flipped))  # the hub's signature does not cover the proof ...
    with pytest.raises(CertificateInvalid):
        check_grant_code(bytes(proof_flipped), CODE)  # ... the code proof does
    outer = decode(data, field="grant", max_size=len(data))
    assert isinstance(outer, list) and len(outer) == 3
    earlier = encode(outer[:2])  # a grant stored by an earlier release
    assert decode_grant(earlier).site == FACTS
    with pytest.raises(CertificateInvalid):
        check_grant_code(earlier, CODE)


@pytest.fixture
def hub_url() -> Iterator[tuple[str, dict[str, object]]]:
    """A real HTTP hub that grants enrolments for one village with CODE."""
    hub_key = generate_key(HUB)
    state: dict[str, object] = {"hub_key": hub_key, "used": False}
    app = Flask(__name__)

    @app.post("/api/v1/enrol")
    def enrol_view() -> Response | tuple[dict[str, object], int]:
        req = read_request(request.get_data())
        if state["used"]:
            return {
                "error": {"code": "conflict", "message": "code already used", "fields": {}}
            }, 409
        try:
            if "code" in state:  # an impostor: a grant for the node's key under its own
                guess = str(state["code"])  # hub key, made with the only code it has
                statement = _enrolment_statement(req.site, req.public_raw, to_ms(req.at))
                as_if = replace(req, proof=hmac.new(guess.encode(), statement,
                                                    hashlib.sha256).digest())
                _, forged = grant(as_if, guess, hub_key=generate_key(HUB), site=FACTS,
                                  releases=[], users=[], now=NOW)
                state["used"] = True
                return Response(forged, mimetype="application/cbor")
            _, data = grant(req, CODE, hub_key=hub_key, site=FACTS, releases=[], users=[], now=NOW)
        except CertificateInvalid as exc:
            return {"error": {"code": exc.code, "message": str(exc), "fields": {}}}, 403
        state["used"] = True
        return Response(data, mimetype="application/cbor")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", state
    server.shutdown()
    thread.join(timeout=10)


def test_enrol_over_http_once_then_the_code_is_spent(
    hub_url: tuple[str, dict[str, object]],
) -> None:
    url, state = hub_url
    key = generate_key(VILLAGE)
    with pytest.raises(EnrolmentRefused) as wrong:
        enrol(url, key, "WRONG", now=NOW)
    assert wrong.value.status == 403
    hub_key = state["hub_key"]
    granted, data = enrol(url, key, CODE, now=NOW, pinned_hub_key=hub_key.public_raw)  # type: ignore[attr-defined]
    assert granted.certificate.public_raw == key.public_raw
    assert decode_grant(data) == granted
    with pytest.raises(EnrolmentRefused) as again:
        enrol(url, key, CODE, now=NOW)
    assert again.value.status == 409


def test_a_grant_from_someone_without_the_code_is_refused(
    hub_url: tuple[str, dict[str, object]],
) -> None:
    """Someone on the wire answers the enrolment with a grant of their own hub key: they
    could sign it, but not with the code, so the node pins nothing and enrols nowhere."""
    url, state = hub_url
    state["code"] = "GUESSED-CODE"
    with pytest.raises(EnrolmentRefused) as refused:
        enrol(url, generate_key(VILLAGE), CODE, now=NOW)
    assert refused.value.code == "certificate_invalid"
    assert "grant.code_proof" in refused.value.message
    assert state["used"] is True  # the impostor answered; nothing was accepted from it


def test_a_grant_from_another_hub_key_is_refused(
    hub_url: tuple[str, dict[str, object]],
) -> None:
    url, _ = hub_url
    with pytest.raises(EnrolmentRefused) as caught:
        enrol(
            url, generate_key(VILLAGE), CODE, now=NOW, pinned_hub_key=generate_key(HUB).public_raw
        )
    assert caught.value.code == "key_unknown"


def test_a_relay_forwards_the_request_unchanged(
    hub_url: tuple[str, dict[str, object]],
) -> None:
    url, _ = hub_url
    key = generate_key(VILLAGE)
    status, body, _ = relay(url, request_bytes(key, CODE, NOW))
    assert status == 200
    assert decode_grant(body).certificate.public_raw == key.public_raw
    with pytest.raises(Malformed):
        relay(url, b"not cbor at all")


def test_decode_is_stable() -> None:
    issued, data = issue()
    assert decode_grant(data) == issued
