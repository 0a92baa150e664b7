"""Bodies over their kind's limit are refused with 413 before anything parses them, and the
client's address is taken from ``X-Forwarded-For`` only behind a trusted proxy."""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask, jsonify, request
from flask.testing import FlaskClient

from shared.exchange.site import EXCHANGE_PATH
from shared.web import error_responses, request_limits
from shared.web.request_limits import JSON_BODY_BYTES, UPLOAD_REQUEST_BYTES
from sync_protocol.framing import MAX_FRAME


class CountingApp:
    """A small app with the limits installed; counts every JSON parse and every body read."""

    def __init__(self, trusted_proxies: int = 0) -> None:
        self.parsed = 0
        self.app = Flask(__name__)
        self.app.config.update(TESTING=True)
        request_limits.trust_proxies(self.app, trusted_proxies)
        request_limits.limit_bodies(self.app)
        error_responses.init_app(self.app)
        loads = self.app.json.loads

        def counting_loads(text: Any, **kwargs: Any) -> Any:
            self.parsed += 1
            return loads(text, **kwargs)

        self.app.json.loads = counting_loads  # type: ignore[method-assign]

        @self.app.post("/api/v1/things")
        def things() -> Any:
            body = request.get_json(silent=True)
            return jsonify({"keys": sorted(body) if isinstance(body, dict) else None})

        @self.app.post("/api/v1/upload")
        def upload() -> Any:
            sizes = {name: len(f.read()) for name, f in request.files.items()}
            return jsonify(sizes)

        @self.app.post(EXCHANGE_PATH)
        def exchange() -> Any:
            return jsonify({"size": len(request.get_data())})

        @self.app.get("/whoami")
        def whoami() -> Any:
            return jsonify({"address": request.remote_addr, "scheme": request.scheme})

    @property
    def client(self) -> FlaskClient:
        return self.app.test_client()


def _json_of_size(size: int) -> bytes:
    prefix, suffix = b'{"pad": "', b'"}'
    return prefix + b"x" * (size - len(prefix) - len(suffix)) + suffix


def _error_code(response: Any) -> str:
    body = response.get_json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "fields"}
    code: str = body["error"]["code"]
    return code


def test_a_json_body_within_a_mebibyte_is_parsed() -> None:
    site = CountingApp()
    response = site.client.post("/api/v1/things", data=_json_of_size(JSON_BODY_BYTES),
                                content_type="application/json")
    assert site.parsed == 1  # counted before the test reads the answer (a parse too)
    assert response.status_code == 200 and response.get_json() == {"keys": ["pad"]}


def test_a_declared_length_over_a_mebibyte_is_413_and_never_parsed() -> None:
    site = CountingApp()
    response = site.client.post("/api/v1/things", data=_json_of_size(JSON_BODY_BYTES + 1),
                                content_type="application/json")
    assert site.parsed == 0
    assert response.status_code == 413 and _error_code(response) == "too_large"


def test_a_30_mb_registration_is_413_not_a_400_after_parsing() -> None:
    site = CountingApp()
    response = site.client.post("/api/v1/things", data=_json_of_size(30_000_000),
                                content_type="application/json")
    assert response.status_code == 413 and site.parsed == 0


def test_a_streamed_body_without_a_length_is_cut_off_at_the_limit() -> None:
    site = CountingApp()
    stream = io.BytesIO(_json_of_size(2 * JSON_BODY_BYTES))
    response = site.client.post(
        "/api/v1/things", input_stream=stream, content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.request.content_length is None  # nothing said how long it is
    assert site.parsed == 0
    assert response.status_code == 413 and _error_code(response) == "too_large"
    assert stream.tell() <= JSON_BODY_BYTES + 64 * 1024  # read no further than the limit


def test_a_streamed_body_within_the_limit_is_parsed() -> None:
    site = CountingApp()
    response = site.client.post(
        "/api/v1/things", input_stream=io.BytesIO(b'{"a": 1}'),
        content_type="application/json", headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input_terminated": True})
    assert response.status_code == 200 and site.parsed == 1


def test_an_upload_has_its_own_larger_limit() -> None:
    site = CountingApp()
    scan = io.BytesIO(b"%PDF" + b"0" * (5 * JSON_BODY_BYTES))
    response = site.client.post("/api/v1/upload", data={"file": (scan, "scan.pdf")},
                                content_type="multipart/form-data")
    assert response.status_code == 200
    assert response.get_json() == {"file": 5 * JSON_BODY_BYTES + 4}


def test_an_upload_over_the_request_limit_is_413() -> None:
    site = CountingApp()
    response = site.client.post("/api/v1/upload", content_type="multipart/form-data",
                                data=b"-" * (UPLOAD_REQUEST_BYTES + 1))
    assert response.status_code == 413


@pytest.mark.parametrize(("size", "status"), [(MAX_FRAME, 200), (MAX_FRAME + 1, 413)])
def test_the_exchange_keeps_its_frame_limit(size: int, status: int) -> None:
    site = CountingApp()
    response = site.client.post(EXCHANGE_PATH, data=b"\0" * size,
                                content_type="application/vnd.sanji.frame")
    assert response.status_code == status


def test_an_untrusted_forwarded_for_header_is_ignored() -> None:
    site = CountingApp(trusted_proxies=0)
    response = site.client.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9",
                                                   "X-Forwarded-Proto": "https"})
    assert response.get_json() == {"address": "127.0.0.1", "scheme": "http"}


def test_behind_one_trusted_proxy_the_address_it_saw_is_the_client() -> None:
    site = CountingApp(trusted_proxies=1)
    # the client sent a forged first entry; the proxy appended the address it saw
    response = site.client.get("/whoami", headers={
        "X-Forwarded-For": "198.51.100.1, 203.0.113.9", "X-Forwarded-Proto": "https"})
    assert response.get_json() == {"address": "203.0.113.9", "scheme": "https"}


def test_the_number_of_trusted_proxies_is_bounded() -> None:
    with pytest.raises(ValueError, match="0-5"):
        request_limits.trust_proxies(Flask(__name__), 6)
