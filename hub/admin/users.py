"""The accounts: who can log in where, with which role and window. Add a user; disable or
enable one, set a new password or change a role; each change goes down to the user's site.
Lift a lock-out (too many wrong logins at the account) and end every sign-in of an account.

The rules live where the CLI uses them too (:func:`shared.storage.accounts.add_user`,
:mod:`hub.user_sync`). A supervisor's or admin's TOTP secret appears only in the answer to the
form that made it: never in a redirect, the session cookie or a cache. Long lists are paged, so
a page stays far below 60 KB.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pyotp
import segno
from flask import current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from hub.admin.blueprint import (
    EDIT_ROLE,
    VIEW_ROLES,
    bp,
    form_field,
    is_admin,
    names_by_code,
    page_start,
    problems_of,
    shanghai_time,
)
from hub.db_session import get_session
from hub.models import HubSite
from hub.services import services
from hub.user_sync import AccountChange, change_account, publish_account
from shared.domain.errors import DomainError, InvalidInput, NotFound, Problems
from shared.storage.accounts import USER_ROLES, UserAccount, add_user, revoke_tokens
from shared.web.i18n import Messages, add_messages
from shared.web.pages import signed_in
from shared.web.rate_limit import LoginLimiter, failure_counts_of
from shared.web.sign_in import require_user

USER_ROWS = 150
"""Users per page: a page of the fullest rows stays near 40 KB."""

MESSAGES: Messages = {
    "adm.locked": ("登录锁定", "Sign-in locked"),
    "adm.locked_for": ("错误登录过多,账号已锁定,约 {minutes} 分钟后自动解除",
                       "Too many wrong logins: locked for about {minutes} more minutes"),
    "adm.not_locked": ("未锁定", "Not locked"),
    "adm.unlock": ("解除锁定", "Lift the lock"),
    "adm.unlock_note": ("清除此账号的错误登录记录,本人可立即再登录。",
                        "Forgets the account's wrong logins: the person may sign in at once."),
    "adm.revoke": ("注销所有登录", "End every sign-in"),
    "adm.revoke_note": ("此账号在各处的登录和令牌立即失效(下级站点在下次同步后)。",
                        "Every sign-in and token of the account ends now (at its site after "
                        "the next exchange)."),
}
bp.record_once(lambda state: add_messages(state.app, MESSAGES))


def _limiter() -> LoginLimiter:
    return LoginLimiter(failure_counts_of(current_app))


def _locked_minutes(username: str) -> int | None:
    """Minutes the account stays locked by wrong logins from many addresses, or None."""
    seconds = _limiter().account_locked_for(username, services().clock().timestamp())
    return None if seconds is None else max(1, -(-seconds // 60))


@dataclass(frozen=True, slots=True)
class NewSecret:
    """A supervisor's or admin's TOTP secret, shown once with its enrolment QR code."""

    username: str
    secret: str
    qr_svg: Markup
    """The ``otpauth://`` URI as a QR code, for the authenticator app's camera."""


def _new_secret(user: UserAccount) -> NewSecret | None:
    if not user.totp_secret:
        return None
    issuer = f"Sanji {services().settings.site_code}"
    uri = pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.username, issuer_name=issuer)
    svg = segno.make(uri, error="m").svg_inline(scale=3, border=2)
    # segno writes the SVG itself (path data only, nothing taken from the request)
    return NewSecret(user.username, user.totp_secret, Markup(svg))  # noqa: S704


def _render_users(*, secret: NewSecret | None = None,
                  problems: Mapping[str, str] | None = None,
                  status: int = 200) -> ResponseReturnValue:
    """The accounts (``?site=`` filters, ``?start=`` pages on) with the form to add one."""
    session = get_session()
    site = request.args.get("site", "").strip()[:20]
    query = select(UserAccount)
    count_query = select(func.count()).select_from(UserAccount)
    if site:
        query = query.where(UserAccount.site == site)
        count_query = count_query.where(UserAccount.site == site)
    start = page_start(request.args.get("start"))
    users = list(session.scalars(query.order_by(UserAccount.site, UserAccount.username)
                                 .offset(start).limit(USER_ROWS)))
    names = dict(session.execute(select(HubSite.code, HubSite.name).where(
        HubSite.code.in_({u.site for u in users}))).all())
    catalogue = services().catalogue
    html = render_template(
        "admin/users.html", me=signed_in(), admin=is_admin(), users=users,
        total=int(session.scalar(count_query) or 0), start=start, limit=USER_ROWS,
        site_filter=site, site_names=names, roles=names_by_code("adm.role", USER_ROLES),
        role_codes=USER_ROLES,
        windows=catalogue.windows, when=shanghai_time, secret=secret, problems=problems or {},
        form=request.form, added=request.args.get("added", ""),
        hub_code=services().settings.site_code,
    )
    return html, status


@bp.get("/admin/users")
@require_user(*VIEW_ROLES)
def users() -> ResponseReturnValue:
    """Who can log in where, with which role and window."""
    return _render_users()


def _account_context_problems(session: Session, site: str, window: str | None) -> dict[str, str]:
    """What :func:`add_user` cannot know: whether the site and window exist here."""
    problems: dict[str, str] = {}
    if site and session.get(HubSite, site) is None:
        problems["site"] = f"no site {site} in the registry"
    if window:
        try:
            services().catalogue.window(window)
        except NotFound as exc:
            problems["window"] = exc.reason
    return problems


@bp.post("/admin/users")
@require_user(EDIT_ROLE)
def add_user_form() -> ResponseReturnValue:
    """Add an account; a supervisor's or admin's TOTP secret is shown in this answer only."""
    session = get_session()
    site = form_field("site", 20)
    window = form_field("window", 60) or None
    context = _account_context_problems(session, site, window)
    try:
        try:
            user = add_user(session, username=form_field("username", 80),
                            password=request.form.get("password", "")[:300],
                            role=form_field("role", 20), site=site, window=window,
                            department=form_field("department", 60) or None,
                            now=services().clock())
        except Problems as exc:
            raise Problems({**context, **exc.fields}, exc.reason) from None
        if context:
            raise Problems(context, "the account is not valid")
        publish_account(session, services().sync_site, user, actor=_actor(),
                        now=services().clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_users(problems=problems_of(exc), status=exc.http_status)
    except IntegrityError:  # another admin took the username a moment ago
        session.rollback()
        return _render_users(problems={"username": "already taken"}, status=409)
    secret = _new_secret(user)
    if secret is None:
        return redirect(url_for(".users", added=user.username), 303)
    return _render_users(secret=secret, status=201)


def _actor() -> str:
    """Who changes an account, as the event that carries it down records it."""
    return f"{signed_in().role}:{signed_in().username}"


def _render_user(user: UserAccount, *, secret: NewSecret | None = None,
                 problems: Mapping[str, str] | None = None, changed: str = "",
                 status: int = 200) -> ResponseReturnValue:
    html = render_template(
        "admin/user.html", me=signed_in(), admin=is_admin(), user=user,
        roles=names_by_code("adm.role", USER_ROLES),
        role_codes=USER_ROLES, windows=services().catalogue.windows, when=shanghai_time,
        secret=secret, problems=problems or {}, changed=changed,
        hub_code=services().settings.site_code,
        locked_minutes=_locked_minutes(user.username),
    )
    return html, status


def _account(session: Session, username: str) -> UserAccount:
    user = session.get(UserAccount, username[:64])
    if user is None:
        raise NotFound("username", f"no user {username[:64]}")
    return user


@bp.get("/admin/users/<username>")
@require_user(*VIEW_ROLES)
def user_page(username: str) -> ResponseReturnValue:
    """One account, with the forms that disable it, set a new password or change its role."""
    return _render_user(_account(get_session(), username),
                        changed=request.args.get("changed", "")[:20])


def _form_change() -> AccountChange:
    """The one change the submitted form asks for (each form sends its ``change``)."""
    kind = form_field("change", 20)
    if kind in ("disable", "enable"):
        return AccountChange(active=kind == "enable")
    if kind == "password":
        return AccountChange(password=request.form.get("password", "")[:300])
    if kind == "role":
        return AccountChange(role=form_field("role", 20), window=form_field("window", 60) or None,
                             department=form_field("department", 60) or None)
    raise InvalidInput("change", "one of disable, enable, password, role")


@bp.post("/admin/users/<username>")
@require_user(EDIT_ROLE)
def change_user_form(username: str) -> ResponseReturnValue:
    """Apply one change; it goes down to the user's site at its next exchange."""
    session = get_session()
    user = _account(session, username)
    kind = form_field("change", 20)
    if kind in ("unlock", "revoke"):
        return _unlock_or_revoke(session, user, kind)
    try:
        change = _form_change()
        context = _account_context_problems(session, "", change.window)
        if context:
            raise Problems(context, "the account is not valid")
        done = change_account(session, services().sync_site, user.username, change,
                              actor=_actor(), now=services().clock())
        session.commit()
    except DomainError as exc:
        session.rollback()
        return _render_user(_account(session, username), problems=problems_of(exc),
                            status=exc.http_status)
    if done.new_secret:
        return _render_user(done.user, secret=_new_secret(done.user), changed="role",
                            status=200)
    return redirect(url_for(".user_page", username=done.user.username,
                            changed=form_field("change", 20)), 303)


def _unlock_or_revoke(session: Session, user: UserAccount, kind: str) -> ResponseReturnValue:
    """Lift the account's lock-out, or end every sign-in of it (here at once; at its site
    once the new revision has come down)."""
    if kind == "unlock":
        _limiter().lift(user.username)
    else:
        revoke_tokens(session, user.username, everywhere=True)
        publish_account(session, services().sync_site, user, actor=_actor(),
                        now=services().clock())
        session.commit()
    return redirect(url_for(".user_page", username=user.username, changed=kind), 303)
