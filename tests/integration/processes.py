"""Real processes for the integration tests: ``sanji`` commands on 127.0.0.1 free ports.

Each site runs as its own OS process, exactly as ``sanji demo`` or systemd would start it;
tests talk to it over real HTTP. Start-up waits are bounded; output goes to a log file per
process so a failure can show what the site said.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

START_SECONDS = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def sanji(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> str:
    """Run a ``sanji`` command to completion; its output, or an assertion naming it."""
    done = subprocess.run(
        [sys.executable, "-m", "sanji_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, (
        f"sanji {' '.join(args)}: {done.stdout[-1000:]}{done.stderr[-3000:]}"
    )
    return done.stdout


@dataclass
class Site:
    """One running site process."""

    name: str
    args: list[str]
    port: int
    log: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Site:
        handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "sanji_cli", *self.args, "--port", str(self.port)],
            stdout=handle,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
        )
        handle.close()
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited: {self.log.read_text()[-2000:]}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise AssertionError(f"{self.name} did not answer: {self.log.read_text()[-2000:]}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def kill(self) -> None:
        """kill -9: the power cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
