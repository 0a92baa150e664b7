"""``sanji demo`` as a newcomer runs it: a real process tree, real HTTP, demo.json, SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.integration


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_demo_serves_the_guide_writes_demo_json_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
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
        assert facts_file.exists(), "demo.json was not written"
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
