"""One-time-code (TOTP) secrets sealed at rest, and each code taken once.

A TOTP secret is as good as a second password for as long as the account lives, so the
database holds it sealed: AES-256-GCM under the site's TOTP key (``keys/totp.key`` beside the
token secret, mode 0600), with the username as associated data, so a sealed secret copied to
another account's row does not open. A copied database alone yields no secret.

The key reaches the storage code attached to the site's database engine
(:func:`use_totp_sealer`, as the app factory and the CLI do), so every session on that
engine seals new secrets and opens stored ones without each caller passing the key along.
A secret stored before sealing existed stays in the old ``totp_secret`` column and still
reads; the hub seals such secrets when it starts (``seal_totp_secrets`` in
:mod:`shared.storage.accounts`).

A code is accepted once: the account remembers the last time step it used
(:func:`matching_step` finds the step a code belongs to, later than that one).
"""

from __future__ import annotations

import base64
import hmac
import secrets
import weakref
from datetime import datetime

import pyotp
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

TOTP_KEY_FILE = "totp.key"
"""Where a site keeps the key that seals its TOTP secrets (in its key dir)."""
SEALED_PREFIX = "s1."  # the format's version
MAX_SEALED_LENGTH = 160
_NONCE_BYTES = 12
_PURPOSE = "sanji.totp.v1:"


class SecretUnreadable(RuntimeError):
    """A sealed TOTP secret cannot be opened here (no key attached, or another key)."""


class TotpSealer:
    """Seals and opens TOTP secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the TOTP key must be 32 bytes")
        self._aead = AESGCM(key)

    def seal(self, username: str, secret: str) -> str:
        """``secret`` sealed for ``username``'s row, as text for the ``totp_secret`` column."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        body = self._aead.encrypt(nonce, secret.encode("ascii"), _context(username))
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + body).decode("ascii")

    def open(self, username: str, sealed: str) -> str:
        """The secret sealed for ``username``; :class:`SecretUnreadable` otherwise."""
        if not sealed.startswith(SEALED_PREFIX):
            raise SecretUnreadable(f"the TOTP secret of {username} is not in a known format")
        try:
            raw = base64.urlsafe_b64decode(sealed.removeprefix(SEALED_PREFIX).encode("ascii"))
            nonce, body = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
            return self._aead.decrypt(nonce, body, _context(username)).decode("ascii")
        except (ValueError, UnicodeError, InvalidTag):
            raise SecretUnreadable(f"the TOTP secret of {username} does not open with this key")


def _context(username: str) -> bytes:
    return (_PURPOSE + username).encode("utf-8")


_SEALERS: weakref.WeakKeyDictionary[Engine, TotpSealer] = weakref.WeakKeyDictionary()


def use_totp_sealer(engine: Engine, sealer: TotpSealer) -> None:
    """Seal and open the TOTP secrets of ``engine``'s database with ``sealer``."""
    _SEALERS[engine] = sealer


def totp_sealer_of(session: Session) -> TotpSealer | None:
    """The sealer attached to ``session``'s engine, if any."""
    return _SEALERS.get(session.get_bind().engine)


def matching_step(secret: str, code: str, now: datetime, after: int | None,
                  window: int = 1) -> int | None:
    """The time step (of 30 s) whose code is ``code``, within ``window`` steps of ``now`` and
    later than ``after`` (the last step the account used); None when there is none."""
    totp = pyotp.TOTP(secret)
    current = totp.timecode(now)
    for step in range(current - window, current + window + 1):
        if after is not None and step <= after:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None
