"""What a request may be: whose address it comes from, and how large its body.

**Client address.** Behind nginx every request comes from 127.0.0.1; the client's address is
in ``X-Forwarded-For``, which anyone can also send. :func:`trust_proxies` believes that header
only as far as the number of proxies the site says are its own (Werkzeug's ``ProxyFix``): 0,
the default, believes none, and ``request.remote_addr`` stays the peer's address.

**Body size.** A request's body is refused with 413 before anything reads it when it is
larger than its kind allows (:func:`body_limit`):

- JSON and form posts: :data:`JSON_BODY_BYTES` (1 MiB, the public contract);
- multipart uploads (scans, materials, catalogue files): :data:`UPLOAD_REQUEST_BYTES` for the
  whole request, and each view checks its own per-file limit as it reads;
- the exchange: the protocol's frame limit (its view says so in the frame's own terms).

The limit is set on the request before the view runs: a declared ``Content-Length`` over it
is answered at once; a streamed body without one (chunked, which the WSGI server dechunks) is
read through :class:`_BoundedBody`, which raises 413 as soon as one byte more than the limit
arrives. (Werkzeug alone would cut such a body off at the limit without a word, and the
parser would see a truncated document.) Either way no parser sees a body over the limit.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Flask, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.exchange.site import EXCHANGE_PATH
from sync_protocol.framing import MAX_FRAME

JSON_BODY_BYTES = 1 << 20
UPLOAD_REQUEST_BYTES = 60 * 1024 * 1024
"""The most a multipart request may carry (several scans of one registration)."""
MAX_REQUEST_BYTES = max(JSON_BODY_BYTES, UPLOAD_REQUEST_BYTES, MAX_FRAME)
"""The app-wide ceiling (``MAX_CONTENT_LENGTH``); each kind of body has its own, lower one."""
MAX_TRUSTED_PROXIES = 5


def trust_proxies(app: Flask, count: int) -> None:
    """Take the client's address (and scheme) from the last ``count`` proxies' headers; 0
    trusts none."""
    if not 0 <= count <= MAX_TRUSTED_PROXIES:
        raise ValueError(f"trusted proxies must be 0-{MAX_TRUSTED_PROXIES}")
    if count:
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=0, x_port=0, x_prefix=0)


def body_limit(path: str, mimetype: str) -> int:
    """The most a request to ``path`` with a body of ``mimetype`` may carry."""
    if path == EXCHANGE_PATH:
        return MAX_FRAME
    if mimetype == "multipart/form-data":
        return UPLOAD_REQUEST_BYTES
    return JSON_BODY_BYTES


class _BoundedBody(io.RawIOBase):
    """A request body without a declared length, refused once it passes ``limit`` bytes."""

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        super().__init__()
        self._stream = stream
        self._limit = limit
        self._read = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        wanted = min(len(buffer), self._limit + 1 - self._read)
        data = self._stream.read(wanted) if wanted > 0 else b""
        count = len(data)
        buffer[:count] = data
        self._read += count
        if self._read > self._limit:
            raise RequestEntityTooLarge(f"the body is larger than {self._limit} bytes")
        return count


def limit_bodies(app: Flask) -> None:
    """Refuse bodies over their kind's limit (see the module's text) before they are read."""
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES

    @app.before_request
    def _refuse_large_bodies() -> ResponseReturnValue | None:
        limit = body_limit(request.path, request.mimetype)
        length = request.content_length
        if length is not None and length > limit:
            raise RequestEntityTooLarge(f"the body is larger than {limit} bytes")
        request.max_content_length = limit
        if length is None and request.environ.get("wsgi.input_terminated"):
            # Let one byte past the limit through Werkzeug's own cap, so ours can see it.
            request.environ["wsgi.input"] = _BoundedBody(request.environ["wsgi.input"], limit)
            request.max_content_length = limit + 1
        return None
