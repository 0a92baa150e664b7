"""A PostgreSQL cluster of the test's own, which it may stop and start: the machine's shared
server is never touched. ``initdb`` and ``pg_ctl`` run as the ``postgres`` OS user (through
``runuser`` when the tests run as root) on a free 127.0.0.1 port, in a temporary directory
that :meth:`PrivateCluster.destroy` removes.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.integration.processes import free_port

BIN = Path("/usr/lib/postgresql/15/bin")
DATABASE = "sanji"
CTL_SECONDS = 60


def missing_reason() -> str | None:
    """Why no private cluster can be made here, or None."""
    if not (BIN / "initdb").exists():
        return f"no {BIN / 'initdb'}: install postgresql-15 to run the database outage test"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: cannot start PostgreSQL as postgres"
    return None


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


@dataclass
class PrivateCluster:
    """One cluster in ``root`` on ``port``; :meth:`stop` and :meth:`start` are the outage."""

    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{DATABASE}"

    @classmethod
    def create(cls) -> PrivateCluster:
        """A new cluster, running. Its directory is its own under the system's temporary
        directory: the ``postgres`` user must reach it, and a test's tmp_path is 0700."""
        root = Path(tempfile.mkdtemp(prefix="sanji-pg-"))
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        cluster = cls(root, free_port())
        subprocess.run(_as_postgres(str(BIN / "initdb"), "-D", str(cluster.data), "-A", "trust",
                                    "-U", "postgres", "--no-sync"),
                       check=True, capture_output=True, timeout=CTL_SECONDS)
        cluster.start()
        with psycopg.connect(f"host=127.0.0.1 port={cluster.port} user=postgres "
                             "dbname=postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(f"CREATE DATABASE {DATABASE}")
        return cluster

    def _ctl(self, *args: str) -> None:
        done = subprocess.run(_as_postgres(str(BIN / "pg_ctl"), "-D", str(self.data), "-w",
                                           "-t", str(CTL_SECONDS), *args),
                              capture_output=True, text=True, timeout=CTL_SECONDS + 10)
        assert done.returncode == 0, f"pg_ctl {args[-1]}: {done.stdout}{done.stderr}"

    def start(self) -> None:
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"
        self._ctl("-o", options, "-l", str(self.root / "server.log"), "start")

    def stop(self) -> None:
        """A fast shutdown: sessions are cut, as when the database server goes away."""
        self._ctl("-m", "fast", "stop")

    def stop_after(self, seconds: float) -> None:
        """Stop ``seconds`` from now: the moment of the fault, not a synchronisation."""
        time.sleep(seconds)
        self.stop()

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
