"""User accounts, password and one-time-code login, and signed API tokens.

The hub holds every account; a node holds copies of its own site's accounts (password
hashes only: one-time-code secrets never leave the site that created them), so a node
keeps logging people in while it is offline. One-time-code secrets are sealed at rest
(:mod:`shared.storage.totp_secrets`) and each code is taken once. A login yields a token
signed with the site's secret, valid for a few hours; the HTTP layer also checks it against
the account (:func:`still_honoured`), so a disabled account, a new password or a sign-out
everywhere ends it at once.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import secrets
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import BigInteger, Boolean, Integer, String, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column, object_session

from shared.domain.case_events import Role, check_aware_utc, check_site_code, check_username
from shared.domain.errors import DomainError, InvalidInput, NotFound, Problems, StateConflict
from shared.storage.db import Base
from shared.storage.totp_secrets import (
    MAX_SEALED_LENGTH,
    TOTP_KEY_FILE,
    SecretUnreadable,
    TotpSealer,
    matching_step,
    totp_sealer_of,
)


class NotAuthenticated(DomainError):
    """Who is asking could not be established (wrong credentials, bad or expired token)."""

    code = "not_authenticated"
    http_status = 401


USER_ROLES: tuple[str, ...] = (
    Role.AGENT.value,
    Role.WINDOW_OPERATOR.value,
    Role.FINANCE.value,
    Role.SUPERVISOR.value,
    Role.ADMIN.value,
    Role.DEPARTMENT_HEAD.value,
)
"""Roles a person may hold; ``system`` is a site acting on its own and never logs in."""

NEEDS_WINDOW = frozenset({Role.WINDOW_OPERATOR.value, Role.FINANCE.value})
NEEDS_SECOND_FACTOR = {Role.SUPERVISOR.value, Role.ADMIN.value}

MIN_PASSWORD_LENGTH = 12
"""OWASP ASVS 4.0.3 V2.1.1: at least 12 characters (set or changed; stored accounts are not
checked again)."""
MAX_PASSWORD_LENGTH = 200
MAX_LABEL_LENGTH = 40
SECRET_BYTES = 32
DEFAULT_TOKEN_TTL_SECONDS = 8 * 3600

_TOTP_SECRET = re.compile(r"[A-Z2-7]{16,64}")
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters
_SIGNING_PURPOSE = "sanji.auth.token.v1"  # itsdangerous salt: separates uses of a key

_CREDENTIALS = "wrong username or password"


class UserAccount(Base):
    """One person who can log in at one site, with one role (and window, where it has one)."""

    __tablename__ = "acct_users"

    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    site: Mapped[str] = mapped_column(String(15))
    window: Mapped[str | None] = mapped_column(String(MAX_LABEL_LENGTH), nullable=True)
    department: Mapped[str | None] = mapped_column(String(MAX_LABEL_LENGTH), nullable=True)
    # A secret in clear, as releases before sealing kept it; the hub seals it when it starts.
    totp_plain: Mapped[str | None] = mapped_column("totp_secret", String(64), nullable=True)
    totp_sealed: Mapped[str | None] = mapped_column(String(MAX_SEALED_LENGTH), nullable=True)
    """The one-time-code secret sealed with the site's TOTP key (see :attr:`totp_secret`)."""
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The 30-second step of the last one-time code taken: that code and earlier ones are
    refused from then on."""
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Epoch milliseconds (UTC): the same integer on SQLite and PostgreSQL, no tz guessing.
    created_at: Mapped[int] = mapped_column(BigInteger)
    # Counts the hub's changes to the account (1 when added). A node's copy carries the
    # revision it reflects, so an older copy arriving late never overwrites a newer one.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="0")
    # Counts "end every sign-in" at this site (sign-out everywhere, an admin's revoke, a new
    # password); a token carries the count it was issued under. Never sent to another site.
    token_generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    @property
    def totp_secret(self) -> str | None:
        """The one-time-code secret in clear (to show the person once, or to check a code),
        opened with the TOTP key attached to the account's database."""
        stored = self.totp_sealed
        if stored is None:
            return self.totp_plain
        session = object_session(self)
        sealer = totp_sealer_of(session) if session is not None else None
        if sealer is None:
            raise SecretUnreadable("no TOTP key is attached to this database")
        return sealer.open(self.username, stored)

    @totp_secret.setter
    def totp_secret(self, secret: str | None) -> None:
        session = object_session(self)
        if session is None:
            raise SecretUnreadable("add the account to a session before giving it a secret")
        _keep_secret(session, self, secret)

    @property
    def created(self) -> datetime:
        """``created_at`` as an aware UTC datetime."""
        return datetime.fromtimestamp(self.created_at / 1000, UTC)


def _epoch_ms(moment: datetime) -> int:
    return int(check_aware_utc(moment, "now").timestamp() * 1000)


# --- passwords ------------------------------------------------------------------------


def _password_problem(password: object) -> str | None:
    if not isinstance(password, str):
        return "a password is required"
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        return f"{MIN_PASSWORD_LENGTH}-{MAX_PASSWORD_LENGTH} characters"
    return None


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted; the password itself is never stored)."""
    problem = _password_problem(password)
    if problem is not None:
        raise InvalidInput("password", problem)
    return _HASHER.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``; a malformed hash never matches."""
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@functools.cache
def _decoy_hash() -> str:
    # Verified against for unknown usernames, so they cost as much time as known ones.
    return _HASHER.hash(secrets.token_urlsafe(24))


# --- accounts -------------------------------------------------------------------------


def _label_problem(value: object, *, required: bool) -> str | None:
    if value is None:
        return "required" if required else None
    if not isinstance(value, str) or not value.strip():
        return "must be a non-blank text"
    if len(value) > MAX_LABEL_LENGTH:
        return f"at most {MAX_LABEL_LENGTH} characters"
    return None


def _account_problems(
    *,
    username: object,
    role: object,
    site: object,
    window: object,
    department: object,
) -> dict[str, str]:
    """Every problem with an account's fields (password and secret apart), all at once."""
    problems: dict[str, str] = {}
    try:
        check_username(username, "username")
    except InvalidInput as exc:
        problems["username"] = exc.reason
    if role not in USER_ROLES:
        problems["role"] = "must be one of " + ", ".join(USER_ROLES)
    try:
        check_site_code(site, "site")
    except InvalidInput as exc:
        problems["site"] = exc.reason
    if role in NEEDS_WINDOW:
        window_problem = _label_problem(window, required=True)
        if window_problem is not None:
            problems["window"] = window_problem
    elif window is not None and role in USER_ROLES:
        problems["window"] = "only window operators and finance staff have a window"
    department_problem = _label_problem(department,
                                        required=role == Role.DEPARTMENT_HEAD.value)
    if department_problem is not None:
        problems["department"] = department_problem
    return problems


def _otp_secret_problem(role: object, totp_secret: object) -> str | None:
    if totp_secret is None:
        return None
    if role not in NEEDS_SECOND_FACTOR:
        return "only supervisor and admin accounts use a one-time code"
    if not isinstance(totp_secret, str) or not _TOTP_SECRET.fullmatch(totp_secret):
        return "16-64 base32 characters (A-Z, 2-7)"
    return None


def add_user(
    session: Session,
    *,
    username: str,
    password: str,
    role: str,
    site: str,
    window: str | None = None,
    department: str | None = None,
    totp_secret: str | None = None,
    now: datetime | None = None,
) -> UserAccount:
    """Create an account, listing every problem at once; the caller commits.

    Supervisors and admins get a fresh one-time-code secret when none is given (read it from
    ``totp_secret`` to show the person their enrolment QR code).
    """
    problems = _account_problems(
        username=username, role=role, site=site, window=window, department=department
    )
    password_problem = _password_problem(password)
    if password_problem is not None:
        problems["password"] = password_problem
    otp_problem = _otp_secret_problem(role, totp_secret)
    if otp_problem is not None:
        problems["totp_secret"] = otp_problem
    if problems:
        raise Problems(problems, "the account is not valid")
    if session.get(UserAccount, username) is not None:
        raise StateConflict("username", "already taken")
    if role in NEEDS_SECOND_FACTOR and totp_secret is None:
        totp_secret = pyotp.random_base32()
    user = UserAccount(
        username=username,
        password_hash=_HASHER.hash(password),
        role=role,
        site=site,
        window=window,
        department=department,
        active=True,
        created_at=_epoch_ms(now or datetime.now(UTC)),
        revision=1,
        token_generation=0,
    )
    _keep_secret(session, user, totp_secret)
    session.add(user)
    return user


def set_local_second_factor(session: Session, username: str) -> str:
    """Give the copy of ``username`` kept at this site a one-time-code secret of its own, and
    return it (to be shown once). A node keeps its accounts' copies without the hub's secrets
    (they never leave the hub), so a supervisor or admin who works at a township or county
    gets one there, set up on that PC; later copies from the hub keep it. The caller
    commits; the secret is sealed (a TOTP key must be attached to the database)."""
    user = session.get(UserAccount, username)
    if user is None:
        raise InvalidInput("username", f"no account {username} is held at this site")
    if user.role not in NEEDS_SECOND_FACTOR:
        raise InvalidInput("username", f"a {user.role} signs in without a one-time code")
    if totp_sealer_of(session) is None:
        raise InvalidInput("username", "no TOTP key is attached: the secret would be kept "
                           "in clear")
    secret = pyotp.random_base32()
    _keep_secret(session, user, secret)
    return secret


def site_totp_sealer(key_dir: Path) -> TotpSealer:
    """The sealer of a site's TOTP secrets (``keys/totp.key``, made on first use)."""
    return TotpSealer(load_or_create_secret(key_dir / TOTP_KEY_FILE))


def _keep_secret(session: Session, user: UserAccount, secret: str | None) -> None:
    """Store ``secret`` (None: none) sealed with the TOTP key attached to the database. Where
    none is attached (a tool writing straight to the database) it is kept in clear, and the
    hub seals it when it next starts (:func:`seal_totp_secrets`)."""
    sealer = totp_sealer_of(session)
    if secret is None or sealer is None:
        user.totp_plain, user.totp_sealed = secret, None
    else:
        user.totp_plain, user.totp_sealed = None, sealer.seal(user.username, secret)
    user.totp_last_step = None


def seal_totp_secrets(session: Session, limit: int = 10_000) -> int:
    """Seal every TOTP secret still kept in clear (from before sealing, or written without
    the key), at most ``limit`` of them; how many. The caller commits."""
    if totp_sealer_of(session) is None:
        raise SecretUnreadable("no TOTP key is attached to this database")
    plain = session.scalars(
        select(UserAccount)
        .where(UserAccount.totp_plain.is_not(None))
        .order_by(UserAccount.username)
        .limit(limit)
    ).all()
    for user in plain:
        last_step = user.totp_last_step
        _keep_secret(session, user, user.totp_plain)
        user.totp_last_step = last_step
    return len(plain)


# --- changes at the hub ------------------------------------------------------------------


def _changing(session: Session, username: str) -> UserAccount:
    """The account about to change, with its revision moved on (the caller commits)."""
    user = session.get(UserAccount, username) if isinstance(username, str) else None
    if user is None:
        raise NotFound("username", f"no user {username}")
    user.revision = (user.revision or 0) + 1
    return user


def set_password(session: Session, username: str, password: str) -> UserAccount:
    """Give ``username`` a new password (argon2id); the old one stops working."""
    problem = _password_problem(password)
    if problem is not None:
        raise Problems({"password": problem}, "the password is not valid")
    user = _changing(session, username)
    user.password_hash = _HASHER.hash(password)
    user.token_generation = (user.token_generation or 0) + 1
    return user


def revoke_tokens(session: Session, username: str, *, everywhere: bool = False) -> UserAccount:
    """End every token and sign-in of ``username`` issued here so far. With ``everywhere``
    (the hub) the account's revision moves on too, so the change, once sent down, ends the
    sign-ins at the account's site as well. The caller commits."""
    user = (_changing(session, username) if everywhere
            else session.get(UserAccount, username) if isinstance(username, str) else None)
    if user is None:
        raise NotFound("username", f"no user {username}")
    user.token_generation = (user.token_generation or 0) + 1
    return user


def set_active(session: Session, username: str, active: bool) -> UserAccount:
    """Disable (``active`` False) or re-enable an account; a disabled one cannot sign in."""
    user = _changing(session, username)
    user.active = bool(active)
    return user


def change_role(session: Session, username: str, *, role: str, window: str | None = None,
                department: str | None = None) -> UserAccount:
    """Give ``username`` another role (with its window and department), listing every
    problem at once. A role that needs a second factor gets a fresh one-time-code secret
    when it had none (read ``totp_secret`` to show it); other roles lose theirs."""
    existing = session.get(UserAccount, username) if isinstance(username, str) else None
    if existing is None:
        raise NotFound("username", f"no user {username}")
    problems = _account_problems(username=username, role=role, site=existing.site,
                                 window=window, department=department)
    if problems:
        raise Problems(problems, "the account is not valid")
    user = _changing(session, username)
    user.role, user.window, user.department = role, window, department
    if role in NEEDS_SECOND_FACTOR:
        if user.totp_sealed is None and user.totp_plain is None:
            _keep_secret(session, user, pyotp.random_base32())
    else:
        _keep_secret(session, user, None)
    return user


def authenticate(
    session: Session, username: str, password: str, otp: str | None, now: datetime
) -> UserAccount:
    """The active account ``username`` if ``password`` (and, where the role needs it, the
    one-time code valid at ``now``) is right; otherwise :class:`NotAuthenticated`.

    Unknown, inactive and wrong-password accounts get the same answer after the same argon2
    work, so a guesser cannot learn which usernames exist. A one-time code is taken once: its
    time step is recorded in ``session`` (the caller commits before handing out a token), and
    that code, or one of an earlier step, is refused afterwards, also by another process.
    """
    moment = check_aware_utc(now, "now")
    user = session.get(UserAccount, username) if isinstance(username, str) else None
    stored = user.password_hash if user is not None else _decoy_hash()
    matches = verify_password(stored, password if isinstance(password, str) else "")
    if user is None or not matches or not user.active:
        raise NotAuthenticated("credentials", _CREDENTIALS)
    if user.role in NEEDS_SECOND_FACTOR:
        if user.totp_secret is None:
            # A copy of the account without its secret (a node) cannot check a second
            # factor; refusing keeps the rule "supervisors and admins always need one".
            raise NotAuthenticated("otp", "no one-time code is set up for this account here")
        if not otp:
            raise NotAuthenticated("otp", "a one-time code is required")
        step = matching_step(user.totp_secret, otp.strip(), moment, None)
        if step is None:
            raise NotAuthenticated("otp", "wrong one-time code")
        if not _take_step(session, user.username, step):
            raise NotAuthenticated("otp", USED_CODE)
    return user


USED_CODE = "this one-time code has been used; wait for the next one"


def _take_step(session: Session, username: str, step: int) -> bool:
    """Record ``step`` as the account's last one-time code unless it, or a later one, was
    taken already. One conditional UPDATE: of two processes taking the same code at once,
    one changes the row and the other (waiting on its lock) finds nothing left to change."""
    result = session.execute(
        update(UserAccount)
        .where(UserAccount.username == username,
               (UserAccount.totp_last_step.is_(None)) | (UserAccount.totp_last_step < step))
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0) == 1


# --- copies of accounts at the nodes ---------------------------------------------------

_EXPORTED_FIELDS = ("username", "password_hash", "role", "site", "window", "department", "active")
REVISION = "revision"
"""Sent with every copy; optional when read (a hub of an earlier release sends none: 0)."""


def account_copy(user: UserAccount) -> dict[str, Any]:
    """What a node keeps of ``user``: the argon2 hash, never the one-time-code secret."""
    copy = {name: getattr(user, name) for name in _EXPORTED_FIELDS}
    copy[REVISION] = int(user.revision or 0)
    return copy


def export_credentials(session: Session, sites: Iterable[str]) -> list[dict[str, Any]]:
    """The accounts of ``sites`` as plain dicts for a node; one-time-code secrets stay here."""
    wanted = sorted(set(sites))
    if not wanted:
        return []
    users = session.scalars(
        select(UserAccount).where(UserAccount.site.in_(wanted)).order_by(UserAccount.username)
    )
    return [account_copy(user) for user in users]


def _check_entry(index: int, entry: object) -> dict[str, Any]:
    """One exported account, checked; fields other than the exported ones are ignored so
    a newer hub may send more."""
    where = f"entries[{index}]"
    if not isinstance(entry, Mapping):
        raise InvalidInput(where, "must be an object")
    missing = [name for name in _EXPORTED_FIELDS if name not in entry]
    if missing:
        raise InvalidInput(where, "missing " + ", ".join(missing))
    problems = _account_problems(
        username=entry["username"],
        role=entry["role"],
        site=entry["site"],
        window=entry["window"],
        department=entry["department"],
    )
    stored_hash = entry["password_hash"]
    if not (
        isinstance(stored_hash, str)
        and stored_hash.startswith("$argon2")
        and len(stored_hash) <= 200
    ):
        hash_problem = "must be an argon2 hash"
        problems["password_hash"] = hash_problem
    if not isinstance(entry["active"], bool):
        problems["active"] = "must be true or false"
    revision = entry.get(REVISION, 0)
    if not isinstance(revision, int) or isinstance(revision, bool) or not 0 <= revision < 2**31:
        problems[REVISION] = "must be a whole number from 0"
    if problems:
        raise Problems(
            {f"{where}.{name}": reason for name, reason in problems.items()},
            f"{where} is not a valid account",
        )
    values = {name: entry[name] for name in _EXPORTED_FIELDS}
    values[REVISION] = revision
    return values


def _keep_copy(session: Session, values: Mapping[str, Any], created_at: int) -> bool:
    """Insert or update one checked copy unless the copy held is of a later revision;
    whether anything changed."""
    user = session.get(UserAccount, values["username"])
    if user is None:
        session.add(UserAccount(**values, created_at=created_at))
        return True
    if values[REVISION] < (user.revision or 0):
        return False  # a late, older copy: the newer one stays
    differs = False
    for name, value in values.items():
        if getattr(user, name) != value:
            setattr(user, name, value)
            differs = True
    return differs


def import_credential(session: Session, entry: object, now: datetime | None = None) -> bool:
    """Keep one account a hub sent (checked first); whether anything changed. The caller
    commits."""
    values = _check_entry(0, entry)
    return _keep_copy(session, values, _epoch_ms(now or datetime.now(UTC)))


def import_credentials(
    session: Session, entries: Iterable[object], now: datetime | None = None
) -> int:
    """Insert or update the accounts a hub exported; the number of accounts changed.

    Every entry is checked before anything is applied (a bad one names its index). An
    account's local one-time-code secret is kept, and so is a copy of a later revision than
    the entry's. The caller commits.
    """
    checked: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, entry in enumerate(entries):
        values = _check_entry(index, entry)
        if values["username"] in seen:
            raise InvalidInput(f"entries[{index}].username", "appears twice")
        seen.add(values["username"])
        checked.append(values)
    created_at = _epoch_ms(now or datetime.now(UTC))
    return sum(_keep_copy(session, values, created_at) for values in checked)


# --- tokens ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says about its bearer."""

    username: str
    role: str
    site: str
    window: str | None
    department: str | None
    expires_at: datetime
    revision: int | None = None
    """The account's revision when the token was issued (None: a token of an earlier
    release)."""
    generation: int = 0
    """The account's token generation at this site when the token was issued (0 for a token
    of an earlier release): a sign-out everywhere moves the account's on, ending the token."""


def still_honoured(session: Session, claims: Claims) -> bool:
    """Whether the account behind ``claims`` still stands as the token says: present, active,
    same role, site and window, the same token generation and (when the token names one) the
    same revision. A disabled account, a new password, a changed role or a sign-out everywhere
    ends the tokens issued before, at the hub and, once the change has come down, at the
    node."""
    user = session.get(UserAccount, claims.username)
    if user is None or not user.active:
        return False
    if (user.role, user.site, user.window) != (claims.role, claims.site, claims.window):
        return False
    if claims.generation != (user.token_generation or 0):
        return False
    return claims.revision is None or claims.revision == (user.revision or 0)


class TokenSigner:
    """Issues and reads stateless HMAC-SHA256 signed tokens valid for ``ttl_seconds``.

    Expiry is judged against the ``now`` passed in, so tests and the app share one clock.
    The signature alone does not follow changes to the account: the HTTP layer also asks
    :func:`still_honoured` (one primary-key read), so a disabled account stops at once.
    """

    def __init__(self, secret: bytes, ttl_seconds: int = DEFAULT_TOKEN_TTL_SECONDS) -> None:
        if len(secret) < 16:
            raise ValueError("a token secret needs at least 16 bytes")
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.ttl_seconds = ttl_seconds
        self._serializer = URLSafeSerializer(
            secret, salt=_SIGNING_PURPOSE, signer_kwargs={"digest_method": hashlib.sha256}
        )

    def issue(self, user: UserAccount, now: datetime) -> str:
        """A token for ``user`` that expires ``ttl_seconds`` after ``now``."""
        expires = int(check_aware_utc(now, "now").timestamp()) + self.ttl_seconds
        payload = {
            "u": user.username,
            "r": user.role,
            "s": user.site,
            "w": user.window,
            "d": user.department,
            "v": int(user.revision or 0),
            "g": int(user.token_generation or 0),
            "exp": expires,
        }
        token: str = self._serializer.dumps(payload)
        return token

    def read(self, token: str, now: datetime) -> Claims:
        """The claims of ``token``; :class:`NotAuthenticated` if it is forged or expired."""
        moment = check_aware_utc(now, "now")
        try:
            payload = self._serializer.loads(token)
        except (BadData, UnicodeError, ValueError, TypeError):
            raise NotAuthenticated("token", "the token is not valid")
        claims = _claims_from(payload)
        if claims is None:
            raise NotAuthenticated("token", "the token is not valid")
        if claims.expires_at <= moment:
            raise NotAuthenticated("token", "the token has expired")
        return claims


def _claims_from(payload: object) -> Claims | None:
    if not isinstance(payload, dict):
        return None
    texts = [payload.get(key) for key in ("u", "r", "s")]
    optional = [payload.get(key) for key in ("w", "d")]
    expires = payload.get("exp")
    if not all(isinstance(value, str) for value in texts):
        return None
    if not all(value is None or isinstance(value, str) for value in optional):
        return None
    if not isinstance(expires, int) or isinstance(expires, bool):
        return None
    revision = payload.get("v")
    if revision is not None and (not isinstance(revision, int) or isinstance(revision, bool)):
        return None
    generation = payload.get("g", 0)
    if not isinstance(generation, int) or isinstance(generation, bool):
        return None
    return Claims(
        username=payload["u"],
        role=payload["r"],
        site=payload["s"],
        window=payload["w"],
        department=payload["d"],
        expires_at=datetime.fromtimestamp(expires, UTC),
        revision=revision,
        generation=generation,
    )


TOKEN_SECRET_FILE = "token.secret"  # noqa: S105 - a file name, not a secret
"""Where a site keeps the secret behind its tokens and session cookies (in its key dir)."""


def load_or_create_secret(path: Path) -> bytes:
    """The site's token secret: 32 random bytes kept in ``path`` (mode 0600).

    Creation is atomic (written aside, then hard-linked into place), so several worker
    processes starting together all end up with the same secret.
    """
    path = Path(path)
    if not path.parent.exists():
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=".secret-")  # mode 0600
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SECRET_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: use its secret
                os.link(temp_name, path)
        finally:
            os.unlink(temp_name)
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise ValueError(f"{path} holds {len(secret)} bytes, not a {SECRET_BYTES}-byte secret")
    return secret


def approver_problem(session: Session, site: str, username: str) -> str | None:
    """What is wrong with ``username`` as the approver of a refund at ``site`` (None:
    nothing): an active department head or supervisor of the site."""
    account = session.get(UserAccount, username)
    if account is None or account.site != site:
        return f"no user {username} at this site"
    if account.role not in (Role.DEPARTMENT_HEAD.value, Role.SUPERVISOR.value):
        return f"{username} is not a department head or supervisor"
    if not account.active:
        return f"{username}'s account is not active"
    return None


def window_operator_problem(session: Session, site: str, window: str, username: str, *,
                            must_be_active: bool) -> str | None:
    """What is wrong with ``username`` as an operator of ``window`` at ``site`` (None: nothing):
    a case is only ever handed to someone who can work it there."""
    if not username:
        return "required"
    account = session.get(UserAccount, username)
    if account is None or account.site != site:
        return f"no user {username} at this site"
    if account.role != Role.WINDOW_OPERATOR.value or account.window != window:
        return f"{username} is not an operator of window {window}"
    if must_be_active and not account.active:
        return f"{username}'s account is not active"
    return None
