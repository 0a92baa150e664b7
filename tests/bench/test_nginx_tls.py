"""bench/nginx_tls.py: the rendered site keeps every directive of deploy's nginx file and
changes only paths, ports and the upstream servers."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from bench.nginx_tls import (
    DEPLOY_SITE,
    Placement,
    differences,
    directives,
    main_config,
    render_site,
    throwaway_pki,
)

PLACE = Placement(https_port=18443, http_port=18080, upstream_ports=(18000,),
                  certificate=Path("/tmp/bench-pki/hub.crt"),
                  key=Path("/tmp/bench-pki/hub.key"))


def deploy_text() -> str:
    return DEPLOY_SITE.read_text()


def test_the_rendered_site_keeps_every_directive_of_deploys() -> None:
    assert differences(deploy_text(), render_site(deploy_text(), PLACE)) == []


def test_only_paths_ports_and_upstream_servers_change() -> None:
    deploy = directives(deploy_text())
    rendered = directives(render_site(deploy_text(), PLACE))
    changed = {(c, n) for c, n, a in rendered if (c, n, a) not in deploy}
    assert changed == {(("upstream sanji_hub",), "server"), (("server",), "listen"),
                       (("server",), "ssl_certificate"), (("server",), "ssl_certificate_key"),
                       (("server",), "access_log")}
    assert ((("server",), "listen", ("127.0.0.1:18443", "ssl", "http2")) in rendered
            or (("server",), "listen", ("127.0.0.1:18443", "ssl")) in rendered)
    assert (("server",), "ssl_certificate", (str(PLACE.certificate),)) in rendered
    assert (("upstream sanji_hub",), "server", ("127.0.0.1:18000",)) in rendered
    assert not any(a and a[0].startswith("127.0.0.1:80") for c, n, a in rendered
                   if n == "server")


def test_deploys_access_log_never_records_a_query_string() -> None:
    """The public status lookup sends the citizen's query code in the query string: the log
    of the TLS server must not keep it (nginx's default format, ``$request``, would)."""
    found = directives(deploy_text())
    formats = {a[0]: " ".join(a[1:]) for c, n, a in found if n == "log_format"}
    logs = [a for c, n, a in found if c == ("server",) and n == "access_log"]
    assert logs, "the TLS server names its own access log"
    for args in logs:
        assert len(args) == 2 and args[1] in formats, "each log names a format of deploy's"
        used = formats[args[1]]
        for variable in ("$request ", "$request\"", "$request_uri", "$args", "$query_string",
                         "$arg_"):
            assert variable not in used + " ", f"{variable.strip()} would log query strings"
        assert "$uri" in used


def test_two_hub_processes_are_both_upstream_servers() -> None:
    rendered = render_site(deploy_text(), Placement(18443, 18080, (18000, 18001),
                                                    PLACE.certificate, PLACE.key))
    servers = [a for c, n, a in directives(rendered) if c == ("upstream sanji_hub",)
               and n == "server"]
    assert servers == [("127.0.0.1:18000",), ("127.0.0.1:18001",)]


def _lines_with_directives(text: str) -> list[int]:
    return [i for i, line in enumerate(text.splitlines())
            if re.match(r"\s*[a-z_]+\s[^{]*;", line.split("#", 1)[0])
            and "server 127.0.0.1" not in line]


def test_a_dropped_or_changed_directive_is_reported() -> None:
    rendered = render_site(deploy_text(), PLACE)
    lines = rendered.splitlines()
    candidates = _lines_with_directives(rendered)
    assert len(candidates) > 15
    for i in candidates:  # every directive line, dropped one at a time
        dropped = "\n".join(lines[:i] + lines[i + 1:])
        assert differences(deploy_text(), dropped), f"dropping {lines[i]!r} went unnoticed"
    changed = rendered.replace("client_max_body_size ", "client_max_body_size 1").replace(
        "proxy_read_timeout 120s", "proxy_read_timeout 60s")
    found = differences(deploy_text(), changed)
    assert any("client_max_body_size" in p for p in found)
    assert any("proxy_read_timeout" in p for p in found)
    assert any(p.startswith("added:") for p in found)


def test_comments_and_quotes_do_not_confuse_the_parser() -> None:
    text = 'a "x # not a comment" y; # a comment { ;\nb { c \'d;e\'; }\n'
    assert directives(text) == [((), "a", ('"x # not a comment"', "y")),
                                ((), "b", ()), (("b",), "c", ("'d;e'",))]
    with pytest.raises(ValueError):
        directives("a { b;")


def test_nginx_accepts_the_rendered_configuration(tmp_path: Path) -> None:
    ca, cert, key = throwaway_pki(tmp_path / "pki")
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert (key.stat().st_mode & 0o077) == 0
    site = tmp_path / "site.conf"
    site.write_text(render_site(deploy_text(), Placement(18443, 18080, (18000,), cert, key)))
    conf = tmp_path / "nginx.conf"
    conf.write_text(main_config(tmp_path, site, user=None))
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    done = subprocess.run([binary, "-t", "-p", str(tmp_path), "-c", str(conf)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
