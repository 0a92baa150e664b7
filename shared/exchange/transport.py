"""HTTP to the parent: the only module of ``shared`` that uses ``requests``.

The exchange posts one frame and reads one back (:func:`http_transport`); enrolment posts
its request and reads the grant (:func:`post_bytes`). Everything else in the glue takes a
:data:`Transport` callable, so tests and benchmarks can put any path in between.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import requests
from urllib3.util import SKIP_HEADER

from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH

HttpSession = requests.Session
"""A kept-alive HTTP client a caller may pass in (enrolment reuses one across retries)."""

Transport = Callable[[str, bytes], bytes]


class TransportError(Exception):
    """The parent could not be reached, or answered with something that is not a frame.

    ``retry_after``: the seconds the parent's ``Retry-After`` asked for (a 503 while its
    database is out of reach), so the sync job waits at least that long."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def _retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds (the date form is not used by the parents), capped at an
    hour so a wrong header cannot park a village for days."""
    if value is None or not value.strip().isdigit():
        return None
    return float(min(int(value.strip()), 3600))


def frame_session(verify: str | bool = True) -> HttpSession:
    """A kept-alive session whose requests carry only what HTTP/1.1 and the parent need.

    ``verify``: a PEM file the parent's TLS certificate must chain to (the node's
    ``parent_ca_file``), or True for the environment's trust store.

    Every byte of a head crosses a slow link on every exchange: ``requests`` would add
    ``Accept-Encoding``, ``Accept``, ``Connection`` and a long ``User-Agent`` (some 90
    bytes); frames are already compressed and keep-alive is HTTP/1.1's default."""
    session = requests.Session()
    session.verify = verify
    session.headers.clear()
    session.headers["User-Agent"] = "sanji"
    session.headers["Accept-Encoding"] = SKIP_HEADER  # else http.client adds "identity"
    return session


def http_transport(timeout: float = 30.0, http: HttpSession | None = None) -> Transport:
    """POST each frame on one kept-alive connection (``http``, or a session of its own), so
    the exchanges of one sync share a TCP connection (and, deployed, one TLS handshake)."""
    session = http if http is not None else frame_session()

    def post(url: str, data: bytes) -> bytes:
        try:
            # verify named on each call: requests lets REQUESTS_CA_BUNDLE override the session's
            response = session.post(url.rstrip("/") + EXCHANGE_PATH, data=data,
                                    headers={"Content-Type": CONTENT_TYPE}, timeout=timeout,
                                    verify=session.verify)
        except requests.RequestException as exc:
            raise TransportError(str(exc)) from exc
        kind = response.headers.get("Content-Type", "")
        if kind.startswith("application/json"):
            raise TransportError(f"HTTP {response.status_code}: {response.text[:300]}",
                                 _retry_after(response.headers.get("Retry-After")))
        if not kind.startswith(CONTENT_TYPE):
            # a proxy's or load balancer's own page (a 502 in HTML): the parent was not reached
            raise TransportError(f"HTTP {response.status_code}: not an exchange frame "
                                 f"({kind[:60] or 'no content type'})")
        return response.content

    return post


@dataclass(frozen=True, slots=True)
class Reply:
    """A parent's answer to :func:`post_bytes`."""

    status: int
    data: bytes
    content_type: str


def post_bytes(url: str, data: bytes, content_type: str, *, timeout: float,
               http: HttpSession | None = None) -> Reply:
    """POST ``data`` to ``url`` and return the answer whatever its status; raises
    ``requests.RequestException`` when the parent cannot be reached."""
    session = http or requests.Session()
    response = session.post(url, data=data, headers={"Content-Type": content_type},
                            timeout=timeout, verify=session.verify)
    return Reply(response.status_code, response.content,
                 response.headers.get("Content-Type", "application/octet-stream"))


@dataclass(frozen=True, slots=True)
class JsonReply:
    """A parent's answer to :func:`get_json`: its status, ``Retry-After`` and JSON body
    (None when the body is not JSON)."""

    status: int
    retry_after: float | None
    body: object


def get_json(url: str, *, params: dict[str, str], headers: dict[str, str],
             verify: str | bool, timeout: tuple[float, float]) -> JsonReply:
    """One GET to a parent's JSON API; raises :class:`TransportError` when the parent
    cannot be reached."""
    try:
        with frame_session(verify) as http:
            response = http.get(url, params=params, timeout=timeout,
                                headers={**headers, "Accept": "application/json"})
    except requests.RequestException as exc:
        raise TransportError(f"{exc.__class__.__name__}") from None
    try:
        body: object = response.json()
    except ValueError:
        body = None
    return JsonReply(response.status_code, _retry_after(response.headers.get("Retry-After")),
                     body)


def post_json(url: str, *, body: dict[str, object], headers: dict[str, str],
              verify: str | bool, timeout: tuple[float, float]) -> JsonReply:
    """One POST of a JSON body to a parent's JSON API (a personal field stays out of the
    address and its logs); raises :class:`TransportError` when the parent cannot be
    reached."""
    try:
        with frame_session(verify) as http:
            response = http.post(url, json=body, timeout=timeout,
                                 headers={**headers, "Accept": "application/json"})
    except requests.RequestException as exc:
        raise TransportError(f"{exc.__class__.__name__}") from None
    try:
        found: object = response.json()
    except ValueError:
        found = None
    return JsonReply(response.status_code, _retry_after(response.headers.get("Retry-After")),
                     found)


@dataclass(frozen=True, slots=True)
class BytesReply:
    """A parent's answer to :func:`get_bytes`: its status and body, ``None`` when the body
    ran past the limit (nothing more was read)."""

    status: int
    data: bytes | None


def get_bytes(url: str, *, params: dict[str, str], headers: dict[str, str],
              verify: str | bool, timeout: tuple[float, float], limit: int) -> BytesReply:
    """One GET of a file from a parent, read up to ``limit`` bytes; raises
    :class:`TransportError` when the parent cannot be reached or stops answering."""
    try:
        with frame_session(verify) as http, http.get(url, params=params, headers=headers,
                                                     timeout=timeout, stream=True) as response:
            data = bytearray()
            for piece in response.iter_content(64 << 10):
                data += piece
                if len(data) > limit:
                    return BytesReply(response.status_code, None)
            return BytesReply(response.status_code, bytes(data))
    except requests.RequestException as exc:
        raise TransportError(f"{exc.__class__.__name__}") from None
