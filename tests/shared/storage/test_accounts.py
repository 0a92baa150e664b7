"""Accounts: argon2id passwords, every problem at once, one-time codes, tokens, node copies."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from shared.domain.errors import InvalidInput, NotFound, Problems, StateConflict
from shared.storage.accounts import (
    NEEDS_SECOND_FACTOR,
    Claims,
    NotAuthenticated,
    TokenSigner,
    UserAccount,
    add_user,
    authenticate,
    change_role,
    export_credentials,
    hash_password,
    import_credential,
    import_credentials,
    load_or_create_secret,
    set_active,
    set_password,
    still_honoured,
    verify_password,
)
from shared.storage.db import Base, make_engine

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
SITE = "110101001"
OTHER_SITE = "110102001"
PASSWORD = "村里的新密码-2025年"


def _engine(path: Path) -> Engine:
    engine = make_engine(f"sqlite:///{path}")
    Base.metadata.create_all(engine, tables=[UserAccount.__table__])  # type: ignore[list-item]
    return engine


@pytest.fixture
def session(tmp_path: Path) -> Iterator[Session]:
    engine = _engine(tmp_path / "hub.sqlite")
    with Session(engine, expire_on_commit=False) as db:
        yield db
    engine.dispose()


@pytest.fixture
def node_session(tmp_path: Path) -> Iterator[Session]:
    engine = _engine(tmp_path / "node.sqlite")
    with Session(engine, expire_on_commit=False) as db:
        yield db
    engine.dispose()


def _count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(UserAccount)) or 0


# --- passwords ------------------------------------------------------------------------


def test_password_hash_is_argon2id_and_round_trips() -> None:
    stored = hash_password(PASSWORD)
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored
    assert verify_password(stored, PASSWORD)
    assert not verify_password(stored, PASSWORD + "x")
    assert hash_password(PASSWORD) != stored  # salted
    assert not verify_password("not a hash", PASSWORD)


@pytest.mark.parametrize("password", ["short", "eleven-char", "x" * 201])
def test_password_length_is_12_to_200(password: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        hash_password(password)
    assert caught.value.field == "password"


def test_stored_hash_in_the_database_is_argon2id(session: Session) -> None:
    add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    session.commit()
    stored = session.scalars(select(UserAccount.password_hash)).one()
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


# --- add_user -------------------------------------------------------------------------


def test_add_user_lists_every_problem_at_once(session: Session) -> None:
    with pytest.raises(Problems) as caught:
        add_user(
            session,
            username="has space",
            password="short",
            role="window_operator",
            site="12",
            department="",
        )
    assert set(caught.value.fields) == {"username", "password", "site", "window", "department"}
    assert caught.value.http_status == 400
    assert _count(session) == 0


def test_add_user_refuses_unknown_roles_and_misplaced_window_or_secret(session: Session) -> None:
    with pytest.raises(Problems) as caught:
        add_user(session, username="x", password=PASSWORD, role="system", site=SITE)
    assert set(caught.value.fields) == {"role"}
    assert "agent" in caught.value.fields["role"]

    with pytest.raises(Problems) as caught:
        add_user(
            session,
            username="y",
            password=PASSWORD,
            role="agent",
            site=SITE,
            window="社保窗口",
            totp_secret=pyotp.random_base32(),
        )
    assert set(caught.value.fields) == {"window", "totp_secret"}

    with pytest.raises(Problems) as caught:
        add_user(
            session, username="z", password=PASSWORD, role="admin", site=SITE, totp_secret="abc"
        )
    assert set(caught.value.fields) == {"totp_secret"}


def test_duplicate_username_is_a_409_conflict(session: Session) -> None:
    add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    session.commit()
    with pytest.raises(StateConflict) as caught:
        add_user(session, username="li.agent", password=PASSWORD, role="agent", site=OTHER_SITE)
    assert caught.value.http_status == 409
    assert caught.value.field == "username"


def test_add_user_records_window_and_creation_time(session: Session) -> None:
    user = add_user(
        session,
        username="wang.window",
        password=PASSWORD,
        role="window_operator",
        site=SITE,
        window="民政窗口",
        department="民政",
        now=NOW,
    )
    session.commit()
    stored = session.get(UserAccount, "wang.window")
    assert stored is user
    assert (stored.window, stored.department, stored.active) == ("民政窗口", "民政", True)
    assert stored.created_at == int(NOW.timestamp() * 1000)
    assert stored.created == NOW
    assert stored.totp_secret is None


@pytest.mark.parametrize("role", sorted(NEEDS_SECOND_FACTOR))
def test_supervisors_and_admins_get_a_generated_secret(session: Session, role: str) -> None:
    user = add_user(session, username=f"boss.{role}", password=PASSWORD, role=role, site=SITE)
    assert user.totp_secret is not None
    assert len(pyotp.TOTP(user.totp_secret).now()) == 6


# --- authenticate ---------------------------------------------------------------------


def test_authenticate_accepts_the_right_password(session: Session) -> None:
    add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    session.commit()
    assert authenticate(session, "li.agent", PASSWORD, None, NOW).username == "li.agent"


def test_wrong_password_and_unknown_user_get_the_same_answer(session: Session) -> None:
    add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    session.commit()
    with pytest.raises(NotAuthenticated) as wrong:
        authenticate(session, "li.agent", "wrong password", None, NOW)
    with pytest.raises(NotAuthenticated) as unknown:
        authenticate(session, "nobody", PASSWORD, None, NOW)
    assert wrong.value.http_status == 401
    assert wrong.value.code == "not_authenticated"
    assert (wrong.value.field, wrong.value.reason) == ("credentials", "wrong username or password")
    assert (unknown.value.field, unknown.value.reason) == (wrong.value.field, wrong.value.reason)


def test_inactive_accounts_cannot_log_in(session: Session) -> None:
    user = add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    user.active = False
    session.commit()
    with pytest.raises(NotAuthenticated) as caught:
        authenticate(session, "li.agent", PASSWORD, None, NOW)
    assert caught.value.field == "credentials"


@pytest.mark.parametrize("role", sorted(NEEDS_SECOND_FACTOR))
def test_second_factor_is_required_checked_and_accepted(session: Session, role: str) -> None:
    user = add_user(session, username="zhao", password=PASSWORD, role=role, site=SITE)
    session.commit()
    assert user.totp_secret is not None
    totp = pyotp.TOTP(user.totp_secret)

    with pytest.raises(NotAuthenticated) as missing:
        authenticate(session, "zhao", PASSWORD, None, NOW)
    assert (missing.value.field, missing.value.reason) == ("otp", "a one-time code is required")

    right = totp.at(NOW)
    wrong = f"{(int(right) + 1) % 1_000_000:06d}"
    with pytest.raises(NotAuthenticated) as refused:
        authenticate(session, "zhao", PASSWORD, wrong, NOW)
    assert (refused.value.field, refused.value.reason) == ("otp", "wrong one-time code")

    # A code from ten minutes ago is outside the one-step tolerance.
    with pytest.raises(NotAuthenticated):
        authenticate(session, "zhao", PASSWORD, totp.at(NOW - timedelta(minutes=10)), NOW)

    # One step of clock drift either way is tolerated (each code is taken once, and never
    # one older than the last taken, so the older step goes first).
    assert authenticate(session, "zhao", PASSWORD, totp.at(NOW - timedelta(seconds=30)), NOW)
    assert authenticate(session, "zhao", PASSWORD, right, NOW).username == "zhao"


def test_wrong_password_with_a_right_code_is_still_refused_as_credentials(
    session: Session,
) -> None:
    user = add_user(session, username="zhao", password=PASSWORD, role="admin", site=SITE)
    session.commit()
    assert user.totp_secret is not None
    with pytest.raises(NotAuthenticated) as caught:
        authenticate(session, "zhao", "not the password", pyotp.TOTP(user.totp_secret).at(NOW), NOW)
    assert caught.value.field == "credentials"


# --- tokens ---------------------------------------------------------------------------


def _agent(session: Session) -> UserAccount:
    user = add_user(
        session,
        username="wang.window",
        password=PASSWORD,
        role="window_operator",
        site=SITE,
        window="民政窗口",
        department="民政",
    )
    session.commit()
    return user


def test_token_round_trip_carries_the_claims(session: Session) -> None:
    signer = TokenSigner(b"k" * 32, ttl_seconds=3600)
    token = signer.issue(_agent(session), NOW)
    claims = signer.read(token, NOW + timedelta(minutes=59))
    assert claims == Claims(
        username="wang.window",
        role="window_operator",
        site=SITE,
        window="民政窗口",
        department="民政",
        expires_at=NOW + timedelta(hours=1),
        revision=1,
    )


def test_expired_token_is_refused(session: Session) -> None:
    signer = TokenSigner(b"k" * 32, ttl_seconds=3600)
    token = signer.issue(_agent(session), NOW)
    with pytest.raises(NotAuthenticated) as caught:
        signer.read(token, NOW + timedelta(hours=1))
    assert caught.value.field == "token"
    assert "expired" in caught.value.reason


def test_tampered_or_foreign_tokens_are_refused(session: Session) -> None:
    signer = TokenSigner(b"k" * 32)
    token = signer.issue(_agent(session), NOW)
    payload, _, signature = token.rpartition(".")
    flipped = signature[:-1] + ("A" if signature[-1] != "A" else "B")
    forged = [
        f"{payload}.{flipped}",
        token.replace(payload, payload[:-2] + "xx"),
        TokenSigner(b"other-secret-bytes-32-long......").issue(_agent_copy(), NOW),
        "not-a-token",
        "",
    ]
    for bad in forged:
        with pytest.raises(NotAuthenticated) as caught:
            signer.read(bad, NOW)
        assert caught.value.field == "token"


def _agent_copy() -> UserAccount:
    return UserAccount(
        username="wang.window", password_hash="x", role="admin", site=SITE, created_at=0
    )


def test_load_or_create_secret_makes_a_private_file_once(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "token.key"
    secret = load_or_create_secret(path)
    assert len(secret) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert load_or_create_secret(path) == secret
    assert [p.name for p in path.parent.iterdir()] == ["token.key"]


# --- copies at the nodes --------------------------------------------------------------


def _hub_accounts(session: Session) -> UserAccount:
    add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    _agent(session)
    boss = add_user(session, username="zhao.boss", password=PASSWORD, role="supervisor", site=SITE)
    add_user(session, username="elsewhere", password=PASSWORD, role="agent", site=OTHER_SITE)
    session.commit()
    return boss


def test_export_then_import_lets_the_node_log_people_in(
    session: Session, node_session: Session
) -> None:
    _hub_accounts(session)
    exported = export_credentials(session, [SITE])
    assert [e["username"] for e in exported] == ["li.agent", "wang.window", "zhao.boss"]
    for entry in exported:
        assert set(entry) == {
            "username",
            "password_hash",
            "role",
            "site",
            "window",
            "department",
            "active",
            "revision",
        }

    assert import_credentials(node_session, exported) == 3
    node_session.commit()
    assert authenticate(node_session, "li.agent", PASSWORD, None, NOW).site == SITE
    assert authenticate(node_session, "wang.window", PASSWORD, None, NOW).window == "民政窗口"
    assert node_session.get(UserAccount, "elsewhere") is None
    # The secret stayed at the hub, so the node cannot accept the supervisor without one.
    with pytest.raises(NotAuthenticated) as caught:
        authenticate(node_session, "zhao.boss", PASSWORD, "123456", NOW)
    assert caught.value.field == "otp"

    assert import_credentials(node_session, exported) == 0
    hub_user = session.get(UserAccount, "li.agent")
    assert hub_user is not None
    hub_user.active = False
    session.commit()
    assert import_credentials(node_session, export_credentials(session, [SITE])) == 1
    node_session.commit()
    with pytest.raises(NotAuthenticated):
        authenticate(node_session, "li.agent", PASSWORD, None, NOW)


def test_import_keeps_a_local_second_factor_secret(session: Session, node_session: Session) -> None:
    _hub_accounts(session)
    import_credentials(node_session, export_credentials(session, [SITE]))
    local = pyotp.random_base32()
    node_user = node_session.get(UserAccount, "zhao.boss")
    assert node_user is not None
    node_user.totp_secret = local
    node_session.commit()
    import_credentials(node_session, export_credentials(session, [SITE]))
    node_session.commit()
    code = pyotp.TOTP(local).at(NOW)
    assert authenticate(node_session, "zhao.boss", PASSWORD, code, NOW).role == "supervisor"


def test_import_rejects_bad_entries_by_index_and_applies_nothing(
    session: Session, node_session: Session
) -> None:
    _hub_accounts(session)
    good = export_credentials(session, [SITE])
    bad_role = [good[0], {**good[1], "role": "system"}]
    with pytest.raises(InvalidInput) as caught:
        import_credentials(node_session, bad_role)
    assert "entries[1].role" in caught.value.fields

    not_a_hash = [{**good[0], "password_hash": "plaintext"}]
    with pytest.raises(InvalidInput) as caught:
        import_credentials(node_session, not_a_hash)
    assert "entries[0].password_hash" in caught.value.fields

    missing = [good[0], good[1], {k: v for k, v in good[2].items() if k != "active"}]
    with pytest.raises(InvalidInput) as caught:
        import_credentials(node_session, missing)
    assert caught.value.field == "entries[2]"

    with pytest.raises(InvalidInput) as caught:
        import_credentials(node_session, [good[0], "nonsense"])
    assert caught.value.field == "entries[1]"

    with pytest.raises(InvalidInput) as caught:
        import_credentials(node_session, [good[0], good[0]])
    assert caught.value.field == "entries[1].username"

    assert _count(node_session) == 0


# --- changes at the hub and the copies that follow them ---------------------------------


def test_each_change_moves_the_revision_on_and_takes_effect(session: Session) -> None:
    user = add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    assert user.revision == 1
    set_password(session, "li.agent", "新的更长的密码-2026")
    assert user.revision == 2
    assert authenticate(session, "li.agent", "新的更长的密码-2026", None, NOW).revision == 2
    with pytest.raises(NotAuthenticated):
        authenticate(session, "li.agent", PASSWORD, None, NOW)
    set_active(session, "li.agent", False)
    assert user.revision == 3
    with pytest.raises(NotAuthenticated):
        authenticate(session, "li.agent", "新的更长的密码-2026", None, NOW)
    set_active(session, "li.agent", True)
    change_role(session, "li.agent", role="window_operator", window="民政窗口", department="民政")
    assert (user.revision, user.role, user.window) == (5, "window_operator", "民政窗口")


def test_a_role_change_is_checked_whole_and_a_second_factor_follows_the_role(
    session: Session,
) -> None:
    add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    with pytest.raises(Problems) as caught:
        change_role(session, "li.agent", role="window_operator", department="x" * 41)
    assert set(caught.value.fields) == {"window", "department"}
    assert session.get(UserAccount, "li.agent").revision == 1  # type: ignore[union-attr]
    boss = change_role(session, "li.agent", role="supervisor")
    assert boss.totp_secret is not None and boss.revision == 2
    back = change_role(session, "li.agent", role="agent")
    assert back.totp_secret is None
    with pytest.raises(NotFound):
        set_active(session, "nobody", False)
    with pytest.raises(Problems) as short:
        set_password(session, "li.agent", "short")
    assert "password" in short.value.fields


def test_a_copy_never_goes_back_to_an_older_revision(
    session: Session, node_session: Session
) -> None:
    add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    first = export_credentials(session, [SITE])[0]
    set_active(session, "li.agent", False)
    disabled = export_credentials(session, [SITE])[0]
    assert (first["revision"], disabled["revision"]) == (1, 2)

    assert import_credential(node_session, disabled)
    assert not import_credential(node_session, first)  # late and older: ignored
    assert not import_credential(node_session, disabled)  # the same again: nothing changes
    node_session.commit()
    copy = node_session.get(UserAccount, "li.agent")
    assert copy is not None and (copy.active, copy.revision) == (False, 2)
    # a hub of an earlier release sends no revision: read as 0, kept when nothing is newer
    legacy = {k: v for k, v in first.items() if k != "revision"}
    assert import_credentials(node_session, [{**legacy, "username": "old.hub"}]) == 1
    with pytest.raises(InvalidInput) as caught:
        import_credential(node_session, {**first, "revision": -1})
    assert "entries[0].revision" in caught.value.fields


def test_a_token_is_honoured_only_while_its_account_stands_as_it_says(session: Session) -> None:
    signer = TokenSigner(b"k" * 32)
    user = add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE)
    claims = signer.read(signer.issue(user, NOW), NOW)
    assert still_honoured(session, claims)
    set_password(session, "li.agent", "新的更长的密码-2026")
    assert not still_honoured(session, claims)  # a new password ends earlier tokens
    fresh = signer.read(signer.issue(user, NOW), NOW)
    assert still_honoured(session, fresh)
    set_active(session, "li.agent", False)
    assert not still_honoured(session, signer.read(signer.issue(user, NOW), NOW))
    unknown = Claims("nobody", "agent", SITE, None, None, NOW)
    assert not still_honoured(session, unknown)
