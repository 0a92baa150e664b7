"""bench/link_proxy.py: counts what crossed, delays without serialising, paces to a rate."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from bench.link_proxy import HttpCounter, LinkProxy


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[ThreadingHTTPServer]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Echo)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def _proxy(server: ThreadingHTTPServer, **shape: float | None) -> LinkProxy:
    return LinkProxy(server.server_address[1], **shape)  # type: ignore[arg-type]


def test_counts_bytes_requests_and_connections(server: ThreadingHTTPServer) -> None:
    proxy = _proxy(server, delay=0.0)
    try:
        with requests.Session() as http:
            for size in (10, 5_000, 200_000):
                answer = http.post(f"{proxy.url}/x", data=b"a" * size, timeout=10)
                assert answer.content == b"a" * size
        requests.post(f"{proxy.url}/y", data=b"b", timeout=10)
        counts = proxy.snapshot()
        assert counts.requests == 4 and counts.responses == 4
        assert counts.connections == 2
        bodies = 10 + 5_000 + 200_000 + 1
        assert counts.bytes_up - counts.head_bytes_up == bodies
        assert counts.bytes_down - counts.head_bytes_down == bodies
        assert 4 * 50 < counts.head_bytes_up < 4 * 400
        proxy.reset()
        assert proxy.snapshot().total == 0
    finally:
        proxy.close()


def test_delay_is_added_once_per_direction_not_per_chunk(server: ThreadingHTTPServer) -> None:
    proxy = _proxy(server, delay=0.1)
    try:
        started = time.monotonic()
        requests.post(f"{proxy.url}/x", data=b"z" * 2_000_000, timeout=30)
        took = time.monotonic() - started
        assert 0.2 <= took < 1.5  # 2 MB in many chunks, still about one round trip
        assert 0.2 <= proxy.snapshot().span < 1.5
    finally:
        proxy.close()


def test_pacing_holds_bytes_to_the_rate(server: ThreadingHTTPServer) -> None:
    proxy = _proxy(server, delay=0.0, rate=800_000)  # 100 kB/s each way
    try:
        started = time.monotonic()
        requests.post(f"{proxy.url}/x", data=b"p" * 50_000, timeout=30)
        took = time.monotonic() - started
        assert 0.95 <= took < 1.6  # 50 kB up then 50 kB back: 1 s of line time
    finally:
        proxy.close()


def test_chunked_and_split_heads() -> None:
    counter = HttpCounter(requests=False)
    stream = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n0\r\n\r\n"
              b"HTTP/1.1 204 No Content\r\n\r\n"
              b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc")
    for i in range(len(stream)):
        counter.feed(stream[i:i + 1])
    assert counter.messages == 3
    assert counter.head_bytes == len(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                                      b"HTTP/1.1 204 No Content\r\n\r\n"
                                      b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n")
