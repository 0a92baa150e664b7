"""A supervisor who works at a township signs in there with a one-time code set up on the
township's PC (`sanji node set-otp`): the account comes down from the hub without the hub's
secret, which never leaves the hub; until one is set up there the sign-in is refused."""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import pyotp
import requests

from tests.integration.city import HUB, PASSWORD, TOWNSHIP, city
from tests.integration.processes import sanji

TIMEOUT = 20


def _sign_in(base: str, otp: str) -> requests.Response:
    browser = requests.Session()
    form = browser.get(f"{base}/login", timeout=TIMEOUT)
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    return browser.post(f"{base}/login", data={
        "username": "sup-t", "password": PASSWORD, "otp": otp,
        "csrf_token": token.group(1)}, timeout=TIMEOUT)


def test_a_township_supervisor_signs_in_with_a_code_set_up_at_the_township(
        tmp_path: Path) -> None:
    with city(tmp_path, {HUB: [("mz-review", "W-MZ-01")]}) as tree:
        made = sanji("hub", "add-user", "--data-dir", str(tree.dirs["hub"]),
                     "--username", "sup-t", "--password", PASSWORD, "--role", "supervisor",
                     "--site", TOWNSHIP)
        hub_secret = re.search(r"authenticator app\): ([A-Z2-7]+)", made)
        assert hub_secret is not None
        tree.sync("township")  # the account's copy comes down
        base = tree.township.url
        refused = _sign_in(base, pyotp.TOTP(hub_secret.group(1)).now())
        assert refused.status_code == 401  # no secret here, and the hub's is not sent down

        shown = sanji("node", "set-otp", "--data-dir", str(tree.dirs["township"]),
                      "--username", "sup-t")
        secret = re.search(r"not shown again\): ([A-Z2-7]+)", shown)
        assert secret is not None and secret.group(1) != hub_secret.group(1)
        assert f"otpauth://totp/Sanji%20{TOWNSHIP}:sup-t" in shown
        landed = _sign_in(base, pyotp.TOTP(secret.group(1)).now())
        assert landed.status_code == 200, landed.text
        assert landed.url.endswith("/supervision"), landed.url
        again = _sign_in(base, pyotp.TOTP(secret.group(1)).now())  # the same code twice
        assert again.status_code == 401

    from node.settings import NodeSettings

    url = NodeSettings.load(tree.dirs["township"]).database_url
    with sqlite3.connect(url.split("///", 1)[1]) as db:
        stored = db.execute("SELECT totp_secret, totp_sealed FROM acct_users "
                            "WHERE username = 'sup-t'").fetchone()
    assert stored[0] is None and secret.group(1) not in (stored[1] or "")
    assert stored[1]


def test_set_otp_refuses_an_account_not_held_here(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from node.cli import node_group
    from tests.node.conftest import init_node

    settings = init_node(tmp_path / "node")
    result = CliRunner().invoke(node_group, ["set-otp", "--data-dir", str(settings.data_dir),
                                             "--username", "nobody"])
    assert result.exit_code != 0
    assert "no account nobody is held at this site" in result.output
