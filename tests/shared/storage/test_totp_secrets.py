"""TOTP secrets sealed at rest and one-time codes taken once, on SQLite and PostgreSQL, with
the database's own sessions standing for two processes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from hub.db_session import MIGRATIONS
from shared.storage.accounts import (
    USED_CODE,
    NotAuthenticated,
    TokenSigner,
    UserAccount,
    add_user,
    authenticate,
    revoke_tokens,
    seal_totp_secrets,
    set_password,
    still_honoured,
)
from shared.storage.totp_secrets import SecretUnreadable, TotpSealer, use_totp_sealer

NOW = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)
SITE = "431000"
PASSWORD = "市里的新密码-2025年"
Factory = sessionmaker[Session]


@pytest.fixture
def factory(db_engine: Engine) -> Iterator[Factory]:
    MIGRATIONS.upgrade(db_engine)
    use_totp_sealer(db_engine, TotpSealer(secrets.token_bytes(32)))
    made = sessionmaker(db_engine, expire_on_commit=False)
    with made() as session:
        add_user(session, username="zhao.admin", password=PASSWORD, role="admin", site=SITE,
                 now=NOW)
        add_user(session, username="li.agent", password=PASSWORD, role="agent", site=SITE,
                 now=NOW)
        session.commit()
    yield made


def _secret(factory: Factory) -> str:
    with factory() as session:
        user = session.get(UserAccount, "zhao.admin")
        assert user is not None and user.totp_secret is not None
        return user.totp_secret


def test_a_code_taken_in_one_session_is_refused_in_another(factory: Factory) -> None:
    code = pyotp.TOTP(_secret(factory)).at(NOW)
    with factory() as first, factory() as second:
        # both have read the account before either takes the code, as two processes would
        assert second.get(UserAccount, "zhao.admin") is not None
        assert authenticate(first, "zhao.admin", PASSWORD, code, NOW).username == "zhao.admin"
        first.commit()
        with pytest.raises(NotAuthenticated) as refused:
            authenticate(second, "zhao.admin", PASSWORD, code, NOW)
        assert refused.value.reason == USED_CODE


def test_only_a_later_code_is_taken_after_one(factory: Factory) -> None:
    totp = pyotp.TOTP(_secret(factory))
    with factory() as session:
        authenticate(session, "zhao.admin", PASSWORD, totp.at(NOW + timedelta(seconds=30)), NOW)
        session.commit()
        for earlier in (NOW, NOW - timedelta(seconds=30)):
            with pytest.raises(NotAuthenticated):
                authenticate(session, "zhao.admin", PASSWORD, totp.at(earlier), NOW)
        later = NOW + timedelta(seconds=60)
        assert authenticate(session, "zhao.admin", PASSWORD, totp.at(later), later)


def test_secrets_in_clear_are_sealed_and_still_work(
    factory: Factory, db_engine: Engine
) -> None:
    plain = pyotp.random_base32()
    with factory() as session:
        session.execute(text("UPDATE acct_users SET totp_secret = :s, totp_sealed = NULL "
                             "WHERE username = 'zhao.admin'"), {"s": plain})
        session.commit()
        assert seal_totp_secrets(session) == 1
        session.commit()
        assert seal_totp_secrets(session) == 0
        row = session.execute(text("SELECT totp_secret, totp_sealed FROM acct_users "
                                   "WHERE username = 'zhao.admin'")).one()
        assert row[0] is None and plain not in row[1]
    assert _secret(factory) == plain
    use_totp_sealer(db_engine, TotpSealer(secrets.token_bytes(32)))  # another site's key
    with pytest.raises(SecretUnreadable):
        _secret(factory)


def test_tokens_end_with_a_sign_out_everywhere_and_a_new_password(
    factory: Factory,
) -> None:
    signer = TokenSigner(secrets.token_bytes(32))
    with factory() as session:
        user = session.get(UserAccount, "li.agent")
        assert user is not None
        before = signer.read(signer.issue(user, NOW), NOW)
        assert still_honoured(session, before)
        revoke_tokens(session, "li.agent")
        session.commit()
        assert not still_honoured(session, before)
        after_revoke = signer.read(signer.issue(user, NOW), NOW)
        assert still_honoured(session, after_revoke)
        set_password(session, "li.agent", "a new password 2025")
        session.commit()
        assert not still_honoured(session, after_revoke)


def test_a_local_second_factor_replaces_the_copys_secret_sealed_and_only_for_those_who_need_it(
        factory: Factory) -> None:
    from shared.domain.errors import InvalidInput
    from shared.storage.accounts import set_local_second_factor

    before = _secret(factory)
    with factory() as session:
        secret = set_local_second_factor(session, "zhao.admin")
        session.commit()
    assert secret != before and _secret(factory) == secret
    with factory() as session:
        stored = session.execute(text("SELECT totp_secret, totp_sealed FROM acct_users "
                                      "WHERE username = 'zhao.admin'")).one()
        assert stored[0] is None and secret not in stored[1]
        authenticate(session, "zhao.admin", PASSWORD, pyotp.TOTP(secret).at(NOW), now=NOW)
        for name, reason in (("li.agent", "signs in without a one-time code"),
                             ("nobody", "no account nobody")):
            with pytest.raises(InvalidInput, match=reason):
                set_local_second_factor(session, name)
