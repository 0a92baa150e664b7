"""A small threaded TCP proxy on 127.0.0.1 that the fault tests put between a child and its
parent: it forwards bytes both ways and, when armed, cuts a connection after N bytes of the
request or of the answer, or holds a whole answer until the test decides what happens next.

A fault is armed for the next connection only; every later connection passes through, so
the retry after the fault is a clean exchange. Every wait is bounded.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from dataclasses import dataclass, field

IO_SECONDS = 120.0


class Relay:
    """Listens on a free port of 127.0.0.1 and, for each connection it accepts, opens one to
    ``target_port`` there and hands both to :meth:`_serve` (the fault proxy below and the
    bench's counting, pacing proxy differ only in what they do with the bytes). Call
    :meth:`_start` once the subclass is ready; :meth:`close` stops it and both sockets of
    every connection."""

    def __init__(self, target_port: int, *, name: str, io_seconds: float) -> None:
        self.target_port = target_port
        self.io_seconds = io_seconds
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._listener.settimeout(0.2)
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, name=f"{name}-accept",
                                        daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stopping.set()
        self._thread.join(timeout=5)
        self._listener.close()
        for sock in list(self._sockets):
            close_socket(sock)

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=10)
            except OSError:
                close_socket(client)
                continue
            self._sockets = [s for s in self._sockets if s.fileno() != -1]
            for sock in (client, upstream):
                sock.settimeout(self.io_seconds)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self._sockets.append(sock)
            self._serve(client, upstream)

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        raise NotImplementedError


@dataclass
class Fault:
    """What to do to the next connection: cut after ``request_bytes`` sent up or
    ``answer_bytes`` sent down, or ``hold`` the answer (see :meth:`TcpProxy.release`)."""

    request_bytes: int | None = None
    answer_bytes: int | None = None
    hold: bool = False


@dataclass
class _Held:
    complete: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    forward: bool = False


class TcpProxy(Relay):
    """Forwards to ``target_port`` on 127.0.0.1, doing to the next connection what
    :meth:`arm` says."""

    def __init__(self, target_port: int) -> None:
        super().__init__(target_port, name="fault-proxy", io_seconds=IO_SECONDS)
        self.connections = 0
        self.fired: list[str] = []
        self.request_seen = threading.Event()
        self._armed: Fault | None = None
        self._held: _Held | None = None
        self._lock = threading.Lock()
        self._start()

    def arm(self, fault: Fault) -> None:
        """Apply ``fault`` to the next connection."""
        with self._lock:
            self._armed = fault
            self._held = _Held() if fault.hold else None
            self.request_seen.clear()

    def wait_answer_held(self, timeout: float) -> bool:
        """True once the parent's whole answer sits in the proxy, not yet forwarded."""
        held = self._held
        return held is not None and held.complete.wait(timeout)

    def release(self, *, forward: bool) -> None:
        """Forward the held answer, or drop it and close the connection."""
        held = self._held
        if held is not None:
            held.forward = forward
            held.release.set()

    def _serve(self, client: socket.socket, upstream: socket.socket) -> None:
        with self._lock:
            fault, self._armed = self._armed, None
            held = self._held if fault is not None and fault.hold else None
            self.connections += 1
        fault = fault or Fault()
        threading.Thread(target=self._pump_up, args=(client, upstream, fault),
                         daemon=True).start()
        threading.Thread(target=self._pump_down, args=(upstream, client, fault, held),
                         daemon=True).start()

    def _pump_up(self, src: socket.socket, dst: socket.socket, fault: Fault) -> None:
        sent = 0
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    dst.shutdown(socket.SHUT_WR)
                    return
                self.request_seen.set()
                if fault.request_bytes is not None and sent + len(data) >= fault.request_bytes:
                    dst.sendall(data[: max(0, fault.request_bytes - sent)])
                    self.fired.append("request_cut")
                    close_socket(src)
                    close_socket(dst)
                    return
                dst.sendall(data)
                sent += len(data)
        except OSError:
            close_socket(src)
            close_socket(dst)

    def _pump_down(self, src: socket.socket, dst: socket.socket, fault: Fault,
                   held: _Held | None) -> None:
        sent = 0
        buffer = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if held is not None:
                    buffer += data
                    if _answer_complete(buffer):
                        held.complete.set()
                        held.release.wait(IO_SECONDS)
                        if not held.forward:
                            self.fired.append("answer_dropped")
                            break
                        dst.sendall(buffer)
                        held = None
                        buffer = b""
                    continue
                if fault.answer_bytes is not None and sent + len(data) >= fault.answer_bytes:
                    dst.sendall(data[: max(0, fault.answer_bytes - sent)])
                    self.fired.append("answer_cut")
                    break
                dst.sendall(data)
                sent += len(data)
        except OSError:
            pass
        close_socket(src)
        close_socket(dst)


def _answer_complete(buffer: bytes) -> bool:
    """An HTTP/1.1 answer with ``Content-Length`` wholly in ``buffer``."""
    head, sep, body = buffer.partition(b"\r\n\r\n")
    if not sep:
        return False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return len(body) >= int(value.strip())
    return False


def close_socket(sock: socket.socket) -> None:
    """Shut down first: a plain close does not wake the other thread's ``recv``."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        sock.close()
