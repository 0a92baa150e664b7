"""``sanji node sync-now`` at a village whose data key lives only in its agents' key slots.

A second process cannot open the sealed data there: the key is only in the running node's
memory (after an agent signed in). So ``sync-now`` asks the running node to run the exchange
(``POST /api/v1/sync/local-run``) and prints what it did. The running node writes the
address it serves on into ``node.url`` beside ``node.json``. The request proves it comes
from whoever can read the node's data directory: an HMAC-SHA256 of the time under the
site's token secret (``keys/token.secret``), fresh within two minutes, sent from the PC
itself. That grants nothing a reader of the directory could not do already: it brings
forward an exchange the node runs on its own anyway, and reveals only the counts.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from marshmallow import RAISE, Schema, fields, validate

from node.settings import NodeSettings
from shared.exchange.child import SyncOutcome
from shared.storage.accounts import TOKEN_SECRET_FILE, load_or_create_secret
from shared.web.error_responses import error_response

URL_FILE = "node.url"
PATH = "/api/v1/sync/local-run"
PROOF_HEADER = "X-Sanji-Local-Proof"
FRESH_SECONDS = 120
LOOPBACK = frozenset({"127.0.0.1", "::1"})
ANSWER_TIMEOUT = 900.0
"""How long ``sync-now`` waits for the node's whole run (scans over a slow line)."""


def proof(secret: bytes, now: float) -> str:
    """``<unix time>.<HMAC-SHA256 hex>``: made by ``sync-now``, checked by the node."""
    stamp = str(int(now))
    mac = hmac.new(secret, b"sanji.sync-now:" + stamp.encode(), hashlib.sha256).hexdigest()
    return f"{stamp}.{mac}"


def proof_holds(secret: bytes, value: str, now: float) -> bool:
    stamp, _, _mac = value.partition(".")
    if not stamp.isdigit() or abs(now - int(stamp)) > FRESH_SECONDS:
        return False
    return hmac.compare_digest(proof(secret, int(stamp)), value)


class RunRequestSchema(Schema):
    """The body: how many exchanges at most (the same bound as ``sync-now``'s own run)."""

    class Meta:
        unknown = RAISE

    max_rounds = fields.Integer(load_default=None, allow_none=True,
                                validate=validate.Range(min=1, max=1000))


def blueprint(settings: NodeSettings) -> Blueprint:
    bp = Blueprint("local_sync", __name__)

    @bp.post(PATH)
    def local_run() -> ResponseReturnValue:
        """Run the exchange with the parent now, for ``sanji node sync-now`` on this PC."""
        from node.sync_runner import MAX_ROUNDS, sync_app

        secret = load_or_create_secret(settings.key_dir / TOKEN_SECRET_FILE)
        if request.remote_addr not in LOOPBACK or not proof_holds(
                secret, request.headers.get(PROOF_HEADER, ""), time.time()):
            return error_response(403, "not_permitted",
                                  "only sanji node sync-now on this PC may ask this")
        body = request.get_json(silent=True)
        loaded = RunRequestSchema().load(body if isinstance(body, dict) else {})
        outcomes = sync_app(current_app, loaded["max_rounds"] or MAX_ROUNDS)
        return jsonify({"outcomes": [_outcome_dict(o) for o in outcomes]})

    return bp


def _outcome_dict(outcome: SyncOutcome) -> dict[str, Any]:
    return {"ok": outcome.ok, "sent": outcome.sent, "received": outcome.received,
            "bytes_up": outcome.bytes_up, "bytes_down": outcome.bytes_down,
            "error": outcome.error}


def local_url(host: str, port: int) -> str:
    """Where this PC reaches a node bound to ``host`` (every address: the loopback one)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return f"http://{host or '127.0.0.1'}:{port}"
    if address.is_unspecified:
        return f"http://127.0.0.1:{port}" if address.version == 4 else f"http://[::1]:{port}"
    return f"http://[{host}]:{port}" if address.version == 6 else f"http://{host}:{port}"


def write_url(data_dir: Path, url: str) -> None:
    """Tell ``sync-now`` where this node serves (written by ``sanji node run``)."""
    (data_dir / URL_FILE).write_text(url + "\n", encoding="utf-8")


def ask_running_node(settings: NodeSettings) -> list[SyncOutcome]:
    """Have the running node exchange with its parent; :class:`LocalRunFailed` when no node
    answers or it refuses (locked: the message says so)."""
    import requests

    try:
        url = (settings.data_dir / URL_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise LocalRunFailed("the data key is kept in the agents' key slots: start the "
                             "node (sanji node run) and sign in; sync-now asks it") from None
    secret = load_or_create_secret(settings.key_dir / TOKEN_SECRET_FILE)
    try:
        answer = requests.post(f"{url}{PATH}", json={}, timeout=ANSWER_TIMEOUT,
                               headers={PROOF_HEADER: proof(secret, time.time())})
    except requests.RequestException as exc:
        raise LocalRunFailed(f"the node at {url} does not answer ({type(exc).__name__}): "
                             "start it (sanji node run) and sign in; the data key is kept "
                             "in the agents' key slots") from None
    body = answer.json() if answer.headers.get("Content-Type", "").startswith(
        "application/json") else {}
    if answer.status_code != 200:
        error = body.get("error", {}) if isinstance(body, dict) else {}
        raise LocalRunFailed(f"the node refused ({answer.status_code}): "
                             f"{error.get('message', answer.reason)}")
    return [SyncOutcome(ok=bool(o["ok"]), sent=int(o["sent"]), received=int(o["received"]),
                        bytes_up=int(o["bytes_up"]), bytes_down=int(o["bytes_down"]),
                        error=o["error"]) for o in body["outcomes"]]


class LocalRunFailed(Exception):
    """No running node did the exchange for ``sync-now``."""
