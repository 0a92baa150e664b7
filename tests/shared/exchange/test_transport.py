"""HTTP to the parent (:mod:`shared.exchange.transport`) against a real HTTP server on
127.0.0.1: frames come back byte for byte whatever their status, a JSON error and an
unreachable or silent parent become ``TransportError``; ``post_bytes`` returns any answer as
it came."""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from flask import Flask, Response, request
from werkzeug.serving import make_server

from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH
from shared.exchange.transport import TransportError, frame_session, http_transport, post_bytes

FRAME = b"SJ\x01\x02" + bytes(range(256)) * 3 + b"{\x00\xff"
"""Binary that must not be touched on the way: every byte value, a brace, a NUL."""


@dataclass
class Parent:
    """What the server answers next, and what it was sent."""

    url: str
    status: int = 200
    body: bytes = FRAME
    content_type: str = CONTENT_TYPE
    headers: dict[str, str] = field(default_factory=dict)
    received: list[tuple[str, str, bytes]] = field(default_factory=list)


@pytest.fixture
def parent() -> Iterator[Parent]:
    """A real HTTP server in a thread, answering every POST as told."""
    app = Flask(__name__)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    state = Parent(f"http://127.0.0.1:{server.server_port}")

    @app.post("/<path:path>")
    def answer(path: str) -> Response:
        state.received.append((request.path, request.content_type or "", request.get_data()))
        return Response(state.body, status=state.status, content_type=state.content_type,
                        headers=state.headers)

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield state
    server.shutdown()
    thread.join(timeout=10)


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_a_frame_goes_to_the_exchange_path_and_comes_back_unchanged(parent: Parent) -> None:
    request_frame = FRAME[::-1]

    answer = http_transport()(parent.url + "/", request_frame)  # a trailing slash is fine

    assert answer == FRAME
    assert parent.received == [(EXCHANGE_PATH, CONTENT_TYPE, request_frame)]


def test_a_refusal_frame_comes_back_with_its_error_status(parent: Parent) -> None:
    """A signed refusal (409, 401, ...) is a frame the child must read: not an error here."""
    parent.status = 409

    assert http_transport()(parent.url, b"request") == FRAME


def test_a_json_error_becomes_a_transport_error(parent: Parent) -> None:
    parent.status = 503
    parent.body = b'{"error": {"code": "not_enrolled", "message": "not enrolled yet"}}'
    parent.content_type = "application/json"

    with pytest.raises(TransportError, match=r"^HTTP 503: .*not_enrolled") as raised:
        http_transport()(parent.url, b"request")
    assert raised.value.retry_after is None


@pytest.mark.parametrize(("header", "seconds"), [("30", 30.0), (" 5 ", 5.0),
                                                  ("99999999", 3600.0), ("soon", None)])
def test_a_parents_retry_after_travels_with_the_error(parent: Parent, header: str,
                                                      seconds: float | None) -> None:
    """A hub whose database is out of reach answers 503 with ``Retry-After``: the node
    learns how long to wait (capped at an hour; a value it cannot read is no value)."""
    parent.status = 503
    parent.body = b'{"error": {"code": "unavailable", "message": "retry soon"}}'
    parent.content_type = "application/json"
    parent.headers = {"Retry-After": header}

    with pytest.raises(TransportError) as raised:
        http_transport()(parent.url, b"request")
    assert raised.value.retry_after == seconds


def test_an_unreachable_parent_becomes_a_transport_error(closed_port: int) -> None:
    with pytest.raises(TransportError):
        http_transport(timeout=5)(f"http://127.0.0.1:{closed_port}", b"request")


def test_a_parent_that_never_answers_becomes_a_transport_error() -> None:
    """Connected (the kernel accepts into the backlog) but never answered: the timeout."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        with pytest.raises(TransportError):
            http_transport(timeout=0.2)(f"http://127.0.0.1:{port}", b"request")


def test_an_html_error_page_from_a_proxy_becomes_a_transport_error(parent: Parent) -> None:
    """A proxy's own 502 page means the parent was not reached: the node says offline and
    retries, instead of reporting a refusal by a parent it never spoke to."""
    parent.status = 502
    parent.body = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    parent.content_type = "text/html"

    with pytest.raises(TransportError):
        http_transport()(parent.url, b"request")


def test_post_bytes_returns_any_answer_as_it_came(parent: Parent) -> None:
    url = parent.url + "/api/v1/enrol"
    granted = post_bytes(url, b"\x00enrol\xff", "application/cbor", timeout=5)
    parent.status, parent.body = 409, b'{"error": {"code": "conflict"}}'
    parent.content_type = "application/json"
    with requests.Session() as kept:
        refused = post_bytes(url, b"again", "application/cbor", timeout=5, http=kept)

    assert (granted.status, granted.data, granted.content_type) == (200, FRAME, CONTENT_TYPE)
    assert (refused.status, refused.data, refused.content_type) == (
        409, b'{"error": {"code": "conflict"}}', "application/json")
    assert parent.received == [("/api/v1/enrol", "application/cbor", b"\x00enrol\xff"),
                               ("/api/v1/enrol", "application/cbor", b"again")]


def test_post_bytes_to_an_unreachable_parent_raises_the_request_error(closed_port: int) -> None:
    with pytest.raises(requests.ConnectionError):
        post_bytes(f"http://127.0.0.1:{closed_port}/api/v1/enrol", b"x", "application/cbor",
                   timeout=5)


def test_the_exchanges_of_one_sync_share_one_connection_with_a_lean_head() -> None:
    """Every exchange after the first skips the TCP (and, deployed, TLS) set-up, and the
    request head carries only what HTTP/1.1 and the parent need."""
    from waitress.server import create_server

    app = Flask(__name__)
    seen: list[tuple[object, list[str]]] = []

    @app.post("/<path:path>")
    def answer(path: str) -> Response:
        request.get_data()
        seen.append((request.environ.get("REMOTE_PORT"), sorted(request.headers.keys())))
        return Response(FRAME, content_type=CONTENT_TYPE)

    server = create_server(app, host="127.0.0.1", port=0)  # the server sanji runs
    stop = threading.Event()

    def serve() -> None:  # waitress's own loop, one pass at a time, so it can end cleanly
        while not stop.is_set():
            server.asyncore.loop(timeout=0.05, map=server._map, count=1)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    http = frame_session()
    try:
        post = http_transport(timeout=5, http=http)
        for _ in range(3):
            assert post(f"http://127.0.0.1:{server.effective_port}", b"request") == FRAME
    finally:
        http.close()
        stop.set()
        thread.join(timeout=10)
        server.close()  # after its loop ended: no select on a closed socket
    assert len(seen) == 3
    assert len({port for port, _ in seen}) == 1, "each exchange opened a new connection"
    assert seen[0][1] == ["Content-Length", "Content-Type", "Host", "User-Agent"]


@pytest.fixture
def tls_parent(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A real HTTPS parent whose certificate a throwaway CA signed; yields its URL and the
    CA's certificate."""
    from bench.nginx_tls import throwaway_pki

    ca, cert, key = throwaway_pki(tmp_path / "pki")
    app = Flask(__name__)

    @app.post("/<path:path>")
    def answer(path: str) -> Response:
        return Response(FRAME, content_type=CONTENT_TYPE)

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, app, threaded=True, ssl_context=context)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_port}", ca
    server.shutdown()
    thread.join(timeout=10)


def test_a_parent_over_tls_is_trusted_only_through_the_configured_ca(
    tls_parent: tuple[str, Path], tmp_path: Path,
) -> None:
    """``parent_ca_file``: the parent's certificate must chain to it. Without it the
    environment's trust store does not know a government CA; another CA is refused."""
    from bench.nginx_tls import throwaway_pki

    url, ca = tls_parent
    with frame_session(str(ca)) as http:
        assert http_transport(http=http)(url, b"frame") == FRAME
    with frame_session() as http, pytest.raises(TransportError, match="CERTIFICATE_VERIFY"):
        http_transport(http=http)(url, b"frame")
    stranger_ca, _, _ = throwaway_pki(tmp_path / "stranger")
    with (frame_session(str(stranger_ca)) as http,
          pytest.raises(TransportError, match="CERTIFICATE_VERIFY")):
        http_transport(http=http)(url, b"frame")
