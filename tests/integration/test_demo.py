"""``sanji demo`` as a newcomer runs it: a real process tree, real HTTP, demo.json, SIGTERM."""

from __future__ import annotations

import json
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration


def free_ports(count: int) -> int:
    """A base port whose ``count`` ports from it are all free, below the kernel's range of
    ephemeral ports (a port from that range can be taken by any outgoing connection between
    this check and the demo binding it); bounded."""
    ephemeral = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        base = rng.randrange(20_000, ephemeral - count)
        if all(_free(base + i) for i in range(count)):
            return base
    raise RuntimeError("no block of free ports below the ephemeral range")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def test_demo_serves_the_guide_writes_demo_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_ports(7)  # the hub, two townships, four villages
    demo = subprocess.Popen(
        [sys.executable, "-m", "sanji_cli", "demo", "--data-dir", str(tmp_path),
         "--base-port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    try:
        facts_file = tmp_path / "demo.json"
        for _ in range(900):  # up to 180 s: seven processes start on a loaded machine
            if facts_file.exists() or demo.poll() is not None:
                break
            time.sleep(0.2)
        if not facts_file.exists():
            output = demo.stdout.read().decode(errors="replace") if demo.poll() is not None \
                else "(still running)"
            pytest.fail(f"demo.json was not written; the demo said: {output[-2000:]}")
        facts = json.loads(facts_file.read_text())
        hub = facts["sites"][0]
        assert hub == {"code": "431000", "name": "郴州市政务服务中心", "tier": "city",
                       "parent": None, "url": f"http://127.0.0.1:{port}"}
        tiers = [site["tier"] for site in facts["sites"]]
        assert tiers.count("township") == 2 and tiers.count("village") == 4
        by_code = {site["code"]: site for site in facts["sites"]}
        for site in facts["sites"]:
            assert requests.get(f"{site['url']}/healthz", timeout=5).status_code == 200
            if site["parent"] is not None:
                assert by_code[site["parent"]]["tier"] in ("city", "county", "township")
        roles = {user["role"] for user in facts["users"]}
        assert {"agent", "window_operator", "supervisor", "admin"} <= roles
        operator = next(u for u in facts["users"] if u["role"] == "window_operator"
                        and u["site"] == "431000")
        token = requests.post(f"{hub['url']}/api/v1/auth/token", timeout=10,
                              json={"username": operator["username"],
                                    "password": operator["password"]})
        assert token.status_code == 200 and token.json()["token_type"] == "Bearer"
        guide = requests.get(f"{hub['url']}/guide", timeout=10)
        assert guide.status_code == 200
        assert "办事指南" in guide.text
        item = requests.get(f"{hub['url']}/guide/SJ-0101", timeout=10)
        assert "申请材料" in item.text
    finally:
        demo.send_signal(signal.SIGTERM)
        output = demo.communicate(timeout=30)[0].decode()
    assert demo.returncode == 0, output
    assert "431000" in output
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
