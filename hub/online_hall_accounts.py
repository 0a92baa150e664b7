"""Applicants' own accounts at the online service hall (网上服务大厅), proved by a one-time
code texted to their mobile number.

Signing up names the applicant — a person by resident ID number, or a company by its unified
social credit code and its legal representative — through the same checks as every desk
(:func:`shared.domain.identity.validate_applicant`), so a bad phone number, ID number or
credit code is refused with its field named. The phone receives a six-digit code; the code
proves the phone, and the account is then made (or, for an existing account, signed into).

The limits keep the SMS gateway from being a weapon and the code from being guessed:

- a code lives :data:`CODE_SECONDS` and allows :data:`CODE_TRIES` wrong tries, after which a
  new one must be asked for; a new code replaces the one before;
- a phone gets at most one code a :data:`RESEND_SECONDS` and :data:`PHONE_CODES_PER_HOUR`;
  one client address asks for at most :data:`ADDRESS_CODES_PER_HOUR` (whatever the phones);
- wrong codes from one address are counted like wrong query codes; past
  :data:`ADDRESS_WRONG_CODES` in the window the address waits.

Codes and sends are counted in the store every hub process shares
(:class:`~shared.storage.failure_counts.FailureCounts`), on the hub's clock.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from hub.online_hall_models import OnlineAccount, OnlineCode
from shared.domain.errors import Problems, StateConflict
from shared.domain.identity import Applicant, validate_applicant, validate_phone
from shared.domain.working_days import local_date
from shared.notify.sms_gateway import GatewayError, SmsGateway
from shared.storage.failure_counts import FailureCounts
from shared.storage.id_index import blind_index
from shared.storage.sealing import DataKeys, SealedPayloads
from sync_protocol.times import to_ms

CODE_DIGITS = 6
CODE_SECONDS = 10 * 60
CODE_TRIES = 5
RESEND_SECONDS = 60
PHONE_CODES_PER_HOUR = 5
ADDRESS_CODES_PER_HOUR = 20
ADDRESS_WRONG_CODES = 20
WRONG_WINDOW_SECONDS = 15 * 60
SENT_KIND = "online_code"
WRONG_KIND = "online_wrong"
_HOUR = 3600


class TooManyCodes(Exception):
    """Asked for codes too often: wait ``retry_after`` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class CodeNotAccepted(Exception):
    """The code does not open: ``reason`` is ``wrong``, ``expired`` (or none asked for) or
    ``used_up`` (too many wrong tries: ask for a new one)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class OnlineHall:
    """What the account rules need from the hub: its data key (the phone's blind index and
    the sealing of identities), the counts store, the SMS gateway, the clock's now."""

    keys: DataKeys
    sealer: SealedPayloads
    counts: FailureCounts
    gateway: SmsGateway
    centre: str

    def phone_index(self, phone: str) -> str:
        return blind_index(self.keys, f"online-phone:{phone}")

    def code_digest(self, phone_index: str, code: str) -> str:
        return blind_index(self.keys, f"online-code:{phone_index}:{code}")


def check_phone(value: object) -> str:
    """The 11 digits of a mainland mobile number; :class:`InvalidInput` naming ``phone``."""
    return validate_phone(value, "phone")


def _wait(times: list[float], limit: int, window: float, now: float) -> int | None:
    if len(times) < limit:
        return None
    return max(1, int(times[-limit] + window - now) + 1)


def send_code(session: Session, hall: OnlineHall, phone: str, address: str,
              now: datetime) -> int:
    """Text a new code to ``phone`` (checked already); returns its lifetime in seconds.
    :class:`TooManyCodes` past a limit; :class:`StateConflict` when the gateway is down
    (nothing is kept then). Commits."""
    index = hall.phone_index(phone)
    at = now.timestamp()
    waits = [
        _wait(hall.counts.recent(SENT_KIND, at - RESEND_SECONDS, 1, username=index),
              1, RESEND_SECONDS, at),
        _wait(hall.counts.recent(SENT_KIND, at - _HOUR, PHONE_CODES_PER_HOUR, username=index),
              PHONE_CODES_PER_HOUR, _HOUR, at),
        _wait(hall.counts.recent(SENT_KIND, at - _HOUR, ADDRESS_CODES_PER_HOUR,
                                 address=address), ADDRESS_CODES_PER_HOUR, _HOUR, at),
    ]
    found = [w for w in waits if w is not None]
    if found:
        raise TooManyCodes(max(found))
    code = "".join(secrets.choice("0123456789") for _ in range(CODE_DIGITS))
    # a new code replaces every earlier one of the phone
    session.execute(update(OnlineCode).where(OnlineCode.phone_index == index,
                                             OnlineCode.used == 0).values(used=1))
    session.add(OnlineCode(phone_index=index, digest=hall.code_digest(index, code),
                           expires_ms=to_ms(now + timedelta(seconds=CODE_SECONDS)),
                           attempts=0, used=0, created_ms=to_ms(now)))
    text = (f"【{hall.centre}】您的网上办事验证码为 {code},{CODE_SECONDS // 60} 分钟内有效。"
            "请勿告诉他人。")
    try:
        hall.gateway.send(uuid.uuid4().hex, phone, text)
    except GatewayError:
        session.rollback()
        raise StateConflict("phone", "the text could not be sent now; try again later")
    session.commit()
    hall.counts.record(SENT_KIND, at, address, index)
    return CODE_SECONDS


def wrong_codes_wait(hall: OnlineHall, address: str, now: datetime) -> int | None:
    """Seconds ``address`` must wait after too many wrong codes; None: it may try."""
    at = now.timestamp()
    return _wait(hall.counts.recent(WRONG_KIND, at - WRONG_WINDOW_SECONDS,
                                    ADDRESS_WRONG_CODES, address=address),
                 ADDRESS_WRONG_CODES, WRONG_WINDOW_SECONDS, at)


def take_code(session: Session, hall: OnlineHall, phone: str, code: str, address: str,
              now: datetime) -> str:
    """Use up the phone's code if ``code`` is it; the phone's blind index. A wrong code
    counts against the code and the address (committed at once, so a failed request cannot
    undo its count); :class:`CodeNotAccepted` says why."""
    index = hall.phone_index(phone)
    held = session.scalar(select(OnlineCode).where(OnlineCode.phone_index == index,
                                                   OnlineCode.used == 0)
                          .order_by(OnlineCode.created_ms.desc()).limit(1))
    if held is None or held.expires_ms <= to_ms(now):
        raise CodeNotAccepted("expired")
    if held.attempts >= CODE_TRIES:
        raise CodeNotAccepted("used_up")
    digits = "".join(code.split())
    if not hmac.compare_digest(held.digest, hall.code_digest(index, digits)):
        held.attempts += 1
        session.commit()
        hall.counts.record(WRONG_KIND, now.timestamp(), address)
        raise CodeNotAccepted("used_up" if held.attempts >= CODE_TRIES else "wrong")
    held.used = 1
    return index


def account_by_phone(session: Session, phone_index: str) -> OnlineAccount | None:
    return session.scalar(select(OnlineAccount).where(OnlineAccount.phone_index == phone_index))


def applicant_phone(applicant: Mapping[str, Any]) -> object:
    """The mobile number an applicant signs up with: the person's, or a company's legal
    representative's."""
    if applicant.get("kind") == "company":
        rep = applicant.get("legal_representative")
        return rep.get("phone") if isinstance(rep, Mapping) else None
    return applicant.get("phone")


def check_sign_up(applicant: Mapping[str, Any], now: datetime) -> Applicant:
    """The applicant, checked as at every desk (a proxy is not an account's business);
    :class:`Problems` naming every bad field (``applicant.phone``, ``applicant.id_number``,
    ``applicant.uscc``...)."""
    if "proxy" in applicant:
        raise Problems({"applicant.proxy": "an account is the applicant's own"},
                       "invalid applicant")
    return validate_applicant(applicant, local_date(now))


def create_account(session: Session, hall: OnlineHall, applicant: Applicant, phone_index: str,
                   now: datetime) -> OnlineAccount:
    """The new account (flushed, not committed); :class:`StateConflict` when the phone has
    one already."""
    if account_by_phone(session, phone_index) is not None:
        raise StateConflict("applicant.phone", "this phone has an account: sign in instead")
    account = OnlineAccount(phone_index=phone_index, kind=applicant.kind,
                            identity=hall.sealer.seal(applicant.to_dict(), phone_index),
                            created_ms=to_ms(now), signed_in_ms=to_ms(now))
    session.add(account)
    session.flush()
    return account


def identity_of(hall: OnlineHall, account: OnlineAccount) -> dict[str, Any]:
    """The applicant the account holds, as ``validate_applicant`` takes it."""
    opened: dict[str, Any] = hall.sealer.open(account.identity, account.phone_index)
    return opened

