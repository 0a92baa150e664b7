"""nginx with TLS in front of ``sanji hub run``, as ``deploy/nginx/sanji-hub.conf`` sets it up.

For the benchmarks only, on 127.0.0.1. At run time :func:`throwaway_pki` makes a CA and a
server certificate (RSA 2048, SHA-256, valid for ``hub.example.gov.cn`` and 127.0.0.1) in a
temporary directory; :func:`render_site` rewrites deploy's file keeping every directive
(TLS settings, body limits and timeouts, gzip, headers, proxy settings) and substituting
only paths, ports and the upstream servers; :func:`main_config` wraps it in the main
configuration of Debian's own ``/etc/nginx/nginx.conf`` (same worker, event and http
settings) with the pid, logs and temporary paths moved into the prefix directory, and an
access log that records each request's connection, its number on that connection, whether
the TLS session was resumed and nginx's and the upstream's times. :class:`Nginx` runs
``nginx -p PREFIX -c CONF -g 'daemon off;'`` as its own process and stops it. Keys never
leave the temporary directory.

:func:`directives` parses an nginx configuration into ``(context, name, arguments)``
triples so a test can check that the rendered file keeps every directive of deploy's.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEPLOY_SITE = ROOT / "deploy" / "nginx" / "sanji-hub.conf"
SERVER_NAME = "hub.example.gov.cn"
INSTALL = "apt-get install -y nginx-light"
START_SECONDS = 20.0

Directive = tuple[tuple[str, ...], str, tuple[str, ...]]
"""``(enclosing blocks, name, arguments)``: ``(("server", "location /"), "proxy_pass",
("http://sanji_hub",))``."""

SUBSTITUTED = {
    # (enclosing block, directive): what is put in its place
    ("upstream sanji_hub", "server"): "the hub processes' 127.0.0.1 ports",
    ("server", "listen"): "127.0.0.1 and a free port (flags kept)",
    ("server", "ssl_certificate"): "the throwaway certificate",
    ("server", "ssl_certificate_key"): "the throwaway key",
    ("server", "access_log"): "the bench's log in its own format (bytes, reuse, timings)",
}

ACCESS_FORMAT = ("$connection $connection_requests $ssl_session_reused $ssl_protocol "
                 "$request_length $bytes_sent $status $request_time $upstream_response_time "
                 "$upstream_connect_time")


# -- parsing ------------------------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|[{};]|[^\s{};"\']+')


def _tokens(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        out, quote = [], ""
        for ch in line:  # cut comments, but not a # inside quotes
            if quote:
                quote = "" if ch == quote else quote
            elif ch in "\"'":
                quote = ch
            elif ch == "#":
                break
            out.append(ch)
        lines.append("".join(out))
    return _TOKEN.findall("\n".join(lines))


def directives(text: str) -> list[Directive]:
    """Every directive of an nginx configuration, in order, with the blocks around it (a
    block is named by its directive and arguments, e.g. ``location /static/``)."""
    found: list[Directive] = []
    stack: list[str] = []
    words: list[str] = []
    for token in _tokens(text):
        if token == "{":
            if not words:
                raise ValueError("a block without a name")
            found.append((tuple(stack), words[0], tuple(words[1:])))
            stack.append(" ".join(words))
            words = []
        elif token == "}":
            if words or not stack:
                raise ValueError("unbalanced }")
            stack.pop()
        elif token == ";":
            if not words:
                raise ValueError("an empty directive")
            found.append((tuple(stack), words[0], tuple(words[1:])))
            words = []
        else:
            words.append(token)
    if stack or words:
        raise ValueError("unterminated block or directive")
    return found


def _compared(d: Directive) -> Directive:
    """A directive as the comparison sees it: the substituted ones by place and name only
    (``listen`` with its flags: ``ssl``, ``http2``), every other one word for word."""
    context, name, args = d
    block = context[-1] if context else ""
    if (block, name) not in SUBSTITUTED:
        return d
    if name == "listen":
        return context, name, tuple(a for a in args if not _address(a))
    return context, name, ("<substituted>",)


def differences(deploy_text: str, rendered_text: str) -> list[str]:
    """What the rendered site does not keep of deploy's file, and what it adds: each
    directive must be there as often as in deploy's file (upstream servers: at least once,
    one per hub process), in the same blocks, with the same arguments unless substituted."""
    want = _tally(directives(deploy_text))
    have = _tally(directives(rendered_text))
    problems = []
    for d, n in want.items():
        enough = 1 if d == UPSTREAM_SERVER else n
        if have.get(d, 0) < enough:
            problems.append(f"missing: {_show(d)} ({have.get(d, 0)} of {n})")
    problems += [f"added: {_show(d)}" for d in have if d not in want]
    return problems


UPSTREAM_SERVER: Directive = (("upstream sanji_hub",), "server", ("<substituted>",))


def _tally(found: Sequence[Directive]) -> dict[Directive, int]:
    counts: dict[Directive, int] = {}
    for d in found:
        key = _compared(d)
        counts[key] = counts.get(key, 0) + 1
    return counts


def _show(d: Directive) -> str:
    context, name, args = d
    return f"{' > '.join(context) or '(top)'}: {' '.join([name, *args])}"


def _address(word: str) -> bool:
    """A ``listen`` address or port (``443``, ``127.0.0.1:8443``, ``[::]:80``)."""
    return bool(re.fullmatch(r"(\[[0-9a-f:]*\]:|[0-9.]+:)?[0-9]+|[0-9.]+", word))


# -- rendering ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Placement:
    """What the rendered site uses instead of deploy's paths, ports and upstream."""

    https_port: int
    http_port: int
    upstream_ports: tuple[int, ...]
    certificate: Path
    key: Path
    access_log: Path = Path("access.log")
    """Where the bench's format is written instead of deploy's query-free log."""


def render_site(deploy_text: str, place: Placement) -> str:
    """Deploy's site file with only its paths, ports and upstream servers replaced, line by
    line (every other line, comments included, left as it is)."""
    out: list[str] = []
    upstream_done = False
    in_upstream = False
    for line in deploy_text.splitlines():
        bare = line.split("#", 1)[0].strip()
        indent = line[: len(line) - len(line.lstrip())]
        if bare.startswith("upstream "):
            in_upstream = True
        elif in_upstream and bare == "}":
            in_upstream = False
        if in_upstream and bare.startswith("server "):
            if not upstream_done:
                out.extend(f"{indent}server 127.0.0.1:{p};" for p in place.upstream_ports)
                upstream_done = True
            continue
        if bare.startswith("listen "):
            words = bare.rstrip(";").split()[1:]
            flags = [w for w in words if not _address(w)]
            port = place.https_port if "ssl" in flags else place.http_port
            out.append(f"{indent}listen {' '.join([f'127.0.0.1:{port}', *flags])};")
            continue
        if bare.startswith("access_log "):
            out.append(f"{indent}access_log {place.access_log} bench;")
            continue
        if bare.startswith("ssl_certificate_key "):
            out.append(f"{indent}ssl_certificate_key {place.key};")
            continue
        if bare.startswith("ssl_certificate "):
            out.append(f"{indent}ssl_certificate     {place.certificate};")
            continue
        out.append(line)
    if not upstream_done:
        raise ValueError("deploy's file has no upstream servers to replace")
    return "\n".join(out) + "\n"


DEBIAN_MAIN = Path("/etc/nginx/nginx.conf")


def main_config(prefix: Path, site: Path, *, user: str | None) -> str:
    """The main configuration: Debian's settings (workers, events, the http defaults), the
    pid, logs and temporary paths in ``prefix``, and ``site`` as the only site."""
    temp = "\n".join(f"    {kind}_temp_path {prefix / (kind + '_temp')};"
                     for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""# rendered by bench/nginx_tls.py: Debian's nginx.conf with the paths moved
{f"user {user};" if user else ""}
worker_processes auto;
pid {prefix / "nginx.pid"};
error_log {prefix / "error.log"};
events {{
    worker_connections 768;
}}
http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    ssl_protocols TLSv1 TLSv1.1 TLSv1.2 TLSv1.3;
    ssl_prefer_server_ciphers on;
    log_format bench '{ACCESS_FORMAT}';
    access_log {prefix / "access.log"} bench;
    gzip on;
{temp}
    include {site};
}}
"""


# -- certificates -----------------------------------------------------------------------------


def throwaway_pki(directory: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate it signed; returns (CA certificate, server certificate,
    server key), all in ``directory`` (mode 0700)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sanji bench throwaway CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(minutes=5))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                       crl_sign=True, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False,
                                       decipher_only=False), critical=True)
          .sign(ca_key, hashes.SHA256()))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName(SERVER_NAME),
                x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(ca_key, hashes.SHA256()))
    ca_path, cert_path, key_path = (directory / "ca.crt", directory / "hub.crt",
                                    directory / "hub.key")
    ca_path.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600)
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return ca_path, cert_path, key_path


# -- running ----------------------------------------------------------------------------------


def nginx_binary() -> str:
    """The nginx executable, or SystemExit saying how to install it."""
    found = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None)
    if found is None:
        how = INSTALL if os.geteuid() == 0 else f"sudo {INSTALL}"
        raise SystemExit(f"nginx is not installed; install it with: {how}")
    return found


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class AccessLine:
    connection: int
    request_on_connection: int
    resumed: bool
    protocol: str
    request_bytes: int
    response_bytes: int
    status: int
    request_time: float
    upstream_time: float | None


class Nginx:
    """nginx in front of the given hub ports, with deploy's site file, as its own process.

    Its prefix is a temporary directory of its own (removed by :meth:`stop`): run as root,
    nginx's workers are Debian's ``www-data`` and must reach the prefix to buffer request
    bodies there (the key stays in a 0700 directory only the master reads)."""

    def __init__(self, upstream_ports: Sequence[int]) -> None:
        self.binary = nginx_binary()
        prefix = Path(tempfile.mkdtemp(prefix="sanji-nginx-"))
        self.prefix = prefix
        self.upstream_ports = tuple(upstream_ports)
        if os.geteuid() == 0:
            prefix.chmod(0o755)
        self.ca, cert, key = throwaway_pki(prefix / "pki")
        self.https_port = _free_port()
        place = Placement(self.https_port, _free_port(), tuple(upstream_ports), cert, key,
                          prefix / "access.log")
        self.site = prefix / "sanji-hub.conf"
        self.site.write_text(render_site(DEPLOY_SITE.read_text(), place))
        self.conf = prefix / "nginx.conf"
        self.conf.write_text(main_config(prefix, self.site,
                                         user="www-data" if os.geteuid() == 0 else None))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([self.binary, "-p", str(self.prefix), "-c", str(self.conf),
                               *args], capture_output=True, text=True, timeout=30)

    def start(self) -> Nginx:
        checked = self._run("-t")
        if checked.returncode != 0:
            raise SystemExit(f"nginx -t refused the rendered configuration:\n{checked.stderr}")
        log = (self.prefix / "nginx.out").open("wb")
        self.process = subprocess.Popen(
            [self.binary, "-p", str(self.prefix), "-c", str(self.conf), "-g", "daemon off;"],
            stdout=log, stderr=subprocess.STDOUT)
        log.close()
        end = time.monotonic() + START_SECONDS
        while time.monotonic() < end:
            if self.process.poll() is not None:
                raise SystemExit(f"nginx exited: {self.error_log()[-2000:]}")
            try:
                with socket.create_connection(("127.0.0.1", self.https_port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise SystemExit("nginx did not listen")

    def pids(self) -> list[int]:
        """The master and its workers."""
        if self.process is None:
            return []
        out = [self.process.pid]
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        if children.exists():
            out += [int(p) for p in children.read_text().split()]
        return out

    def error_log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def access(self) -> list[AccessLine]:
        path = self.prefix / "access.log"
        lines = []
        for raw in (path.read_text().splitlines() if path.exists() else []):
            f = raw.split()
            if len(f) < 9:
                continue
            upstream = f[8].split(",")[-1].strip()
            lines.append(AccessLine(int(f[0]), int(f[1]), f[2] == "r", f[3], int(f[4]),
                                    int(f[5]), int(f[6]), float(f[7]),
                                    None if upstream in ("-", "") else float(upstream)))
        return lines

    def stop(self) -> None:
        """SIGQUIT (graceful), then SIGKILL after 10 s; the prefix, keys and logs removed."""
        try:
            if self.process is not None and self.process.poll() is None:
                self.process.send_signal(signal.SIGQUIT)
                try:
                    self.process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=10)
        finally:
            shutil.rmtree(self.prefix, ignore_errors=True)
