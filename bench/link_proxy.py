"""A counting, delaying, pacing TCP proxy on 127.0.0.1 for ``bench/link.py``.

It stands where a village's (or a township's) line to its parent would be and counts, per
direction, every byte TCP carried through it (HTTP request and status lines, headers and
bodies: what the application wrote to its socket), the TCP connections it accepted and the
HTTP messages it saw (request heads on the way up, response heads on the way down; message
ends found from ``Content-Length`` or chunked framing). Head bytes are counted apart, so
"bytes on the wire minus HTTP heads" is available.

The line can be shaped per direction:

- **delay**: every chunk is delivered ``delay`` seconds after it was read (150 ms each way
  by default, 300 ms round trip). Chunks carry their read time and are delivered in order at
  read time + delay, so a steady stream still flows at full speed, only later;
- **rate** (bit/s, optional): bytes leave no faster than the rate, like a serial line. The
  line is one per direction, shared by every connection; a chunk read at ``t`` starts when
  the line is free (not before ``t``), is cut in pieces of about 10 ms of line time, and each
  piece is delivered when its last bit has crossed plus the delay.

:meth:`LinkProxy.snapshot` returns the counts since the last :meth:`LinkProxy.reset`,
including when the first byte arrived and the last byte left (the span of the traffic).
Every wait is bounded; only 127.0.0.1 is used.
"""

from __future__ import annotations

import contextlib
import queue
import socket
import threading
import time
from dataclasses import dataclass, field

from tests.integration.tcp_proxy import Relay, close_socket

IO_SECONDS = 600.0
"""How long a connection may stay silent before the proxy drops it."""
MAX_HEAD = 65_536
"""An HTTP head longer than this is not parsed any further (the stream is counted raw)."""
_END = b""


@dataclass(frozen=True)
class LinkCounts:
    """What crossed the link since the last reset."""

    bytes_up: int = 0
    bytes_down: int = 0
    head_bytes_up: int = 0
    head_bytes_down: int = 0
    requests: int = 0
    responses: int = 0
    connections: int = 0
    first_byte_at: float | None = None
    """``time.monotonic()`` when the first byte after the reset was read (either way)."""
    last_byte_at: float | None = None
    """``time.monotonic()`` when the last byte was delivered (either way)."""
    request_starts: tuple[float, ...] = ()
    """``time.monotonic()`` of each request head's first byte, in order."""

    @property
    def total(self) -> int:
        return self.bytes_up + self.bytes_down

    @property
    def heads(self) -> int:
        return self.head_bytes_up + self.head_bytes_down

    @property
    def span(self) -> float:
        """Seconds from the first byte read to the last byte delivered (0 if none)."""
        if self.first_byte_at is None or self.last_byte_at is None:
            return 0.0
        return max(0.0, self.last_byte_at - self.first_byte_at)


class HttpCounter:
    """Follows one direction of one connection: HTTP/1.1 messages and their head bytes.

    ``requests`` says which direction: request bodies without ``Content-Length`` or chunked
    framing are empty; a response without either runs until the connection closes.
    """

    def __init__(self, *, requests: bool) -> None:
        self.requests = requests
        self.messages = 0
        self.head_bytes = 0
        self.message_offsets: list[int] = []
        self._buffer = bytearray()
        self._state = "head"  # head, body, chunk_size, chunk_data, trailer, raw
        self._remaining = 0
        self._offset = 0  # stream bytes consumed

    def feed(self, data: bytes) -> None:
        """Account for ``data``, the next bytes of the stream."""
        view = memoryview(data)
        at = 0
        while at < len(view):
            state = self._state
            if state == "raw":
                self._offset += len(view) - at
                return
            if state in ("body", "chunk_data"):
                take = min(self._remaining, len(view) - at)
                at += take
                self._offset += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = "chunk_size" if state == "chunk_data" else "head"
                continue
            # head, chunk_size, trailer: line-oriented, buffered until the terminator
            if state == "head" and not self._buffer:
                self.message_offsets.append(self._offset)
            terminator = b"\r\n\r\n" if state == "head" else b"\r\n"
            start = max(0, len(self._buffer) - len(terminator) + 1)
            self._buffer += view[at:]
            found = self._buffer.find(terminator, start)
            if found < 0:
                self._offset += len(view) - at
                if len(self._buffer) > MAX_HEAD:
                    self._state = "raw"
                    self._buffer.clear()
                return
            end = found + len(terminator)
            used = end - (len(self._buffer) - (len(view) - at))  # bytes of ``data`` used
            line = bytes(self._buffer[:end])
            self._buffer.clear()
            at += used
            self._offset += used
            if state == "head":
                self._head(line)
            elif state == "chunk_size":
                self._chunk_size(line)
            elif line == b"\r\n":  # trailer: an empty line ends the message
                self._state = "head"

    def _head(self, head: bytes) -> None:
        self.messages += 1
        self.head_bytes += len(head)
        lines = head.split(b"\r\n")
        length: int | None = None
        chunked = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            key = name.strip().lower()
            if key == b"content-length":
                with contextlib.suppress(ValueError):
                    length = int(value.strip())
            elif key == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
        status = lines[0].split(b" ")
        no_body = (not self.requests and len(status) > 1
                   and (status[1].startswith(b"1") or status[1] in (b"204", b"304")))
        if no_body:
            self._state = "head"
        elif chunked:
            self._state = "chunk_size"
        elif length is not None:
            self._remaining = length
            self._state = "body" if length > 0 else "head"
        else:
            self._state = "head" if self.requests else "raw"

    def _chunk_size(self, line: bytes) -> None:
        try:
            size = int(line.split(b";")[0].strip(), 16)
        except ValueError:
            self._state = "raw"
            return
        if size == 0:
            self._state = "trailer"
        else:
            self._remaining = size + 2  # the data and its CRLF
            self._state = "chunk_data"


@dataclass
class _Line:
    """One direction of the link: when it is free again (pacing)."""

    free_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


class LinkProxy(Relay):
    """Listens on a free port of 127.0.0.1 and forwards to ``target_port`` there.

    ``delay``: seconds added to each direction; ``rate``: bit/s per direction, or None for
    no pacing. Both may be changed between phases with :meth:`shape`.
    """

    def __init__(self, target_port: int, *, delay: float = 0.150,
                 rate: float | None = None, name: str = "link") -> None:
        super().__init__(target_port, name=name, io_seconds=IO_SECONDS)
        self.name = name
        self.delay = delay
        self.rate = rate
        self._lock = threading.Lock()
        self._lines = {"up": _Line(), "down": _Line()}
        self._counts = _Mutable()
        self._threads: list[threading.Thread] = []
        self._start()

    def shape(self, *, delay: float, rate: float | None) -> None:
        with self._lock:
            self.delay = delay
            self.rate = rate

    def reset(self) -> None:
        with self._lock:
            self._counts = _Mutable()

    def snapshot(self) -> LinkCounts:
        with self._lock:
            c = self._counts
            return LinkCounts(c.bytes_up, c.bytes_down, c.head_up, c.head_down, c.requests,
                              c.responses, c.connections, c.first_at, c.last_at,
                              tuple(c.request_starts))

    def idle_for(self, seconds: float) -> bool:
        """True when nothing has been read or delivered for ``seconds``."""
        with self._lock:
            last = max(self._counts.last_at or 0.0, self._counts.last_read or 0.0)
        return time.monotonic() - last >= seconds

    def close(self) -> None:
        super().close()
        for thread in list(self._threads):
            thread.join(timeout=5)

    # -- inside

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._lock:
            self._counts.connections += 1
        self._threads = [t for t in self._threads if t.is_alive()]
        done = _Pair()
        for direction, src, dst in (("up", client, upstream), ("down", upstream, client)):
            chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()
            counter = HttpCounter(requests=direction == "up")
            for target, args in ((self._read, (direction, src, chunks, counter, done)),
                                 (self._write, (dst, chunks, done, src))):
                thread = threading.Thread(target=target, args=args,
                                          name=f"{self.name}-{direction}", daemon=True)
                thread.start()
                self._threads.append(thread)

    def _schedule(self, direction: str, now: float, data: bytes) -> list[tuple[float, bytes]]:
        """When each piece of ``data`` (read at ``now``) is to be delivered."""
        with self._lock:
            delay, rate = self.delay, self.rate
        if not rate:
            return [(now + delay, data)]
        line = self._lines[direction]
        piece = max(64, int(rate / 8 / 100))  # about 10 ms of line time
        out = []
        with line.lock:
            start = max(now, line.free_at)
            for at in range(0, len(data), piece):
                part = data[at:at + piece]
                start += len(part) * 8 / rate
                out.append((start + delay, part))
            line.free_at = start
        return out

    def _read(self, direction: str, src: socket.socket,
              chunks: queue.Queue[tuple[float, bytes]], counter: HttpCounter,
              done: _Pair) -> None:
        try:
            while not self._stopping.is_set():
                data = src.recv(65536)
                now = time.monotonic()
                if not data:
                    break
                before_messages = len(counter.message_offsets)
                before_heads = counter.head_bytes
                counter.feed(data)
                with self._lock:
                    c = self._counts
                    if c.first_at is None:
                        c.first_at = now
                    c.last_read = now
                    if direction == "up":
                        c.bytes_up += len(data)
                        c.head_up += counter.head_bytes - before_heads
                        new = len(counter.message_offsets) - before_messages
                        c.requests += new
                        c.request_starts.extend([now] * new)
                    else:
                        c.bytes_down += len(data)
                        c.head_down += counter.head_bytes - before_heads
                        c.responses += len(counter.message_offsets) - before_messages
                for item in self._schedule(direction, now, data):
                    chunks.put(item)
        except OSError:
            done.broken = True
        chunks.put((time.monotonic() + self.delay, _END))

    def _write(self, dst: socket.socket, chunks: queue.Queue[tuple[float, bytes]],
               done: _Pair, src: socket.socket) -> None:
        try:
            while True:
                due, data = chunks.get(timeout=IO_SECONDS)
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(min(wait, IO_SECONDS))
                if data is _END or not data:
                    if done.broken:
                        raise OSError("the other side broke off")
                    with contextlib.suppress(OSError):
                        dst.shutdown(socket.SHUT_WR)
                    break
                dst.sendall(data)
                with self._lock:
                    self._counts.last_at = time.monotonic()
        except (OSError, queue.Empty):
            done.broken = True
            close_socket(dst)
            close_socket(src)
            return
        with done.lock:
            done.ended += 1
            both = done.ended == 2
        if both:
            close_socket(dst)
            close_socket(src)


@dataclass
class _Mutable:
    bytes_up: int = 0
    bytes_down: int = 0
    head_up: int = 0
    head_down: int = 0
    requests: int = 0
    responses: int = 0
    connections: int = 0
    first_at: float | None = None
    last_at: float | None = None
    last_read: float | None = None
    request_starts: list[float] = field(default_factory=list)


@dataclass
class _Pair:
    """The two directions of one connection: both ended cleanly, or one broke."""

    ended: int = 0
    broken: bool = False
    lock: threading.Lock = field(default_factory=threading.Lock)
