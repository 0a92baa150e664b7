"""``sanji hub ...``: set up the city hub's data directory and serve it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from hub.settings import CONFIG_FILE, HubSettings
from shared.deciding.receipt_cli import receipt_book_options
from shared.domain.errors import DomainError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shared.storage.sealing import DataKeys

DEFAULT_PORT = 8000


@click.group("hub")
def hub_group() -> None:
    """The city hub (市级政务服务中心)."""


@hub_group.command("init")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.option("--site-code", default="431000", show_default=True)
@click.option("--name", "site_name", default="郴州市政务服务中心", show_default=True)
@click.option(
    "--database-url", default="", help="SQLAlchemy URL; default: hub.sqlite in the data dir"
)
@click.option(
    "--catalogue",
    "catalogue_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="a catalogue file (.yaml or .json); default: the sample",
)
@click.option("--public-base-url", default=f"http://127.0.0.1:{DEFAULT_PORT}", show_default=True)
@click.option("--new-epoch", is_flag=True,
              help="after restoring a backup (every hub process stopped): start a new epoch")
def init_command(
    data_dir: Path,
    site_code: str,
    site_name: str,
    database_url: str,
    catalogue_file: Path | None,
    public_base_url: str,
    new_epoch: bool,
) -> None:
    """Create the hub's data directory and settings."""
    from shared.domain.catalogue_loader import load_catalogue

    try:
        settings = HubSettings(
            data_dir=data_dir,
            site_code=site_code,
            site_name=site_name,
            database_url=database_url,
            catalogue_file=str(catalogue_file.resolve()) if catalogue_file else "",
            public_base_url=public_base_url,
        )
        if catalogue_file is not None:
            catalogue = load_catalogue(catalogue_file)
            click.echo(f"catalogue v{catalogue.version} with {len(catalogue.items)} items")
    except DomainError as exc:
        raise click.ClickException(str(exc))
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if (data_dir / CONFIG_FILE).exists():
        click.echo(f"{data_dir / CONFIG_FILE} exists; keeping it")
    else:
        settings.write()
    _prepare(HubSettings.load(data_dir))
    if new_epoch:
        _start_new_epoch(HubSettings.load(data_dir))
    click.echo(f"hub {site_code} ready in {data_dir}")


def _start_new_epoch(settings: HubSettings) -> None:
    """After a restore from a backup: the hub's chain and down streams go on in a new epoch."""
    from hub.epoch import start_new_epoch

    _, factory = _open(settings.data_dir)
    with factory() as session:
        epoch = start_new_epoch(session, settings.site_code)
        session.commit()
    click.echo(f"hub {settings.site_code} now writes in epoch {epoch}; its children will "
               "send again what this copy lacks")


def _prepare(settings: HubSettings) -> None:
    """Make the hub key, bring the schema up to date, record the hub in the registry, and
    index the ID numbers of the cases held when the index is new."""
    from hub.identity import data_keys, hub_key, token_secret
    from hub.privacy.id_indexing import backfill_if_empty
    from hub.sites import register_hub
    from shared.storage.sealing import SealedPayloads

    hub_key(settings.key_dir, settings.site_code)
    token_secret(settings.key_dir)
    keys = data_keys(settings.key_dir)
    _, factory = _open(settings.data_dir)
    with factory() as session:
        register_hub(session, settings.site_code, settings.site_name, _now())
        indexed = backfill_if_empty(session, keys, SealedPayloads(keys))
        session.commit()
    if indexed is not None:
        click.echo(f"{indexed} cases indexed by ID number")


@hub_group.command("run")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
@click.option("--timers/--no-timers", default=True, show_default=True,
              help="run the deadline timers and the supervision scan in this process (safe "
              "in several at once)")
@click.option("--timer-interval", default=60.0, show_default=True, type=float,
              help="seconds between runs of the timers and the supervision scan")
def run_command(data_dir: Path, host: str, port: int, threads: int, timers: bool,
                timer_interval: float) -> None:
    """Serve the hub with waitress; run the deadline timers and the supervision scan every
    minute."""
    from waitress.server import create_server

    from hub.app import create_app

    try:
        settings = HubSettings.load(data_dir)
        app = create_app(settings)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    if timers:
        from hub.background import start_background

        start_background(app, seconds=max(1.0, timer_interval))
    # no Server header (ident ""): every answer of every exchange would carry it
    server = create_server(app, host=host, port=port, threads=threads, ident="")
    click.echo(f"hub {settings.site_code} serving on http://{host}:{server.effective_port}/")
    server.run()


def _open(data_dir: Path) -> tuple[HubSettings, Any]:
    """Settings and a session factory for a CLI command (the schema brought up to date)."""
    from sqlalchemy.orm import sessionmaker

    from hub.db_session import MIGRATIONS
    from shared.storage.db import make_engine

    try:
        settings = HubSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    engine = make_engine(settings.database_url)
    MIGRATIONS.upgrade(engine)
    _use_totp_key(engine, settings)
    _use_data_key(engine, settings)
    return settings, sessionmaker(engine, expire_on_commit=False)


def _use_data_key(engine: Any, settings: HubSettings) -> None:
    """Seal the sync records a command writes (e.g. account events sent down), and open the
    ones it reads, with the hub's data key."""
    from hub.identity import data_keys
    from shared.storage.sealing import SealedRecords
    from shared.storage.sync_store import use_record_sealer

    use_record_sealer(engine, SealedRecords(data_keys(settings.key_dir)))


def _use_totp_key(engine: Any, settings: HubSettings) -> None:
    """Seal the TOTP secrets a command writes, and open the ones it reads, with the hub's key."""
    from shared.storage.accounts import site_totp_sealer
    from shared.storage.totp_secrets import use_totp_sealer

    use_totp_sealer(engine, site_totp_sealer(settings.key_dir))


def _now() -> datetime:
    return datetime.now(UTC)


def _fail(exc: DomainError) -> click.ClickException:
    fields = getattr(exc, "fields", None) or {}
    lines = [str(exc.reason or exc.code)] + [f"  {k}: {v}" for k, v in fields.items()]
    return click.ClickException("\n".join(lines))


@hub_group.command("add-site")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--code", required=True, help="e.g. 431002001201")
@click.option("--name", required=True)
@click.option("--tier", type=click.Choice(["county", "township", "village"]), required=True)
@click.option("--parent", required=True, help="the parent site's code (the hub's for a top one)")
@click.option("--days", default=7, show_default=True, help="days the enrolment code is valid")
@click.option("--json", "as_json", is_flag=True, help="print the result as JSON")
def add_site_command(data_dir: Path, code: str, name: str, tier: str, parent: str, days: int,
                     as_json: bool) -> None:
    """Register a site under its parent and print its one-time enrolment code."""
    from hub.sites import add_site, register_hub

    settings, factory = _open(data_dir)
    with factory() as session:
        register_hub(session, settings.site_code, settings.site_name, _now())
        try:
            issued = add_site(session, code=code, name=name, tier=tier, parent=parent,
                              now=_now(), days=days)
        except DomainError as exc:
            raise _fail(exc)
        session.commit()
    _print_code(issued, as_json)


@hub_group.command("reenrol-site")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--code", required=True)
@click.option("--days", default=7, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def reenrol_command(data_dir: Path, code: str, days: int, as_json: bool) -> None:
    """A new one-time code for a site whose PC was replaced (its history stays)."""
    from hub.sites import issue_code

    _, factory = _open(data_dir)
    with factory() as session:
        try:
            issued = issue_code(session, code, now=_now(), days=days)
        except DomainError as exc:
            raise _fail(exc)
        session.commit()
    _print_code(issued, as_json)


def _print_code(issued: Any, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"site": issued.site, "code": issued.code,
                               "expires_at": issued.expires_at.isoformat()}))
    else:
        click.echo(f"enrolment code for {issued.site}: {issued.code}")
        click.echo(f"valid until {issued.expires_at.isoformat(timespec='minutes')}")


@hub_group.command("add-user")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--username", required=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--role", required=True,
              type=click.Choice(["agent", "window_operator", "finance", "supervisor", "admin",
                                 "department_head"]))
@click.option("--site", required=True, help="the site the user works at")
@click.option("--window", default=None, help="the window code (window operators, finance)")
@click.option("--department", default=None,
              help="the department code (required for a department head)")
@click.option("--totp-secret", default=None, help="base32; made for supervisors and admins")
def add_user_command(data_dir: Path, username: str, password: str, role: str, site: str,
                     window: str | None, department: str | None,
                     totp_secret: str | None) -> None:
    """Add a user; supervisors and admins get a TOTP secret for their authenticator app.
    The account goes down to its site at the site's next exchange (or with its enrolment)."""
    from hub.user_sync import CLI_ACTOR, command_site, publish_account
    from shared.storage.accounts import add_user

    settings, factory = _open(data_dir)
    with factory() as session:
        try:
            user = add_user(session, username=username, password=password, role=role,
                            site=site, window=window, department=department,
                            totp_secret=totp_secret, now=_now())
        except DomainError as exc:
            raise _fail(exc)
        queued = publish_account(session, command_site(settings, session), user, actor=CLI_ACTOR,
                                 now=_now())
        session.commit()
        click.echo(f"user {user.username} ({user.role} at {user.site}) added")
        _echo_delivery(user.site, settings.site_code, queued)
        if user.totp_secret:
            click.echo(f"TOTP secret (add it to an authenticator app): {user.totp_secret}")


def _echo_delivery(site: str, hub_code: str, queued: bool) -> None:
    if queued:
        click.echo(f"on its way to {site} (at its next exchange)")
    elif site != hub_code:
        click.echo(f"{site} receives it when it enrols")


def _password_option(value: str | None) -> str | None:
    """``--password -`` asks for it (hidden, twice) instead of taking it from the command."""
    if value == "-":
        entered: str = click.prompt("New password", hide_input=True, confirmation_prompt=True)
        return entered
    return value


@hub_group.command("update-user")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--username", required=True)
@click.option("--enable/--disable", "active", default=None,
              help="re-enable, or disable (the person can no longer sign in anywhere)")
@click.option("--password", default=None, help="a new password; '-' asks for it")
@click.option("--role", default=None,
              type=click.Choice(["agent", "window_operator", "finance", "supervisor", "admin",
                                 "department_head"]))
@click.option("--window", default=None, help="with --role: the window code")
@click.option("--department", default=None, help="with --role")
def update_user_command(data_dir: Path, username: str, active: bool | None,
                        password: str | None, role: str | None, window: str | None,
                        department: str | None) -> None:
    """Disable or re-enable a user, set a new password, or give another role; the change goes
    down to the user's site at its next exchange, and the site's earlier sign-ins end."""
    from hub.user_sync import CLI_ACTOR, AccountChange, change_account, command_site

    if role is None and (window is not None or department is not None):
        raise click.UsageError("--window and --department go with --role")
    if role is None and active is None and password is None:
        raise click.UsageError("nothing to change: give --disable, --enable, --password "
                               "or --role")
    change = AccountChange(active=active, password=_password_option(password), role=role,
                           window=window, department=department)
    settings, factory = _open(data_dir)
    with factory() as session:
        try:
            done = change_account(session, command_site(settings, session), username, change,
                                  actor=CLI_ACTOR, now=_now())
        except DomainError as exc:
            raise _fail(exc)
        session.commit()
    user = done.user
    state = "active" if user.active else "disabled"
    click.echo(f"user {user.username} ({user.role} at {user.site}, {state}) "
               f"revision {user.revision}")
    _echo_delivery(user.site, settings.site_code, done.queued)
    if done.new_secret:
        click.echo(f"TOTP secret (add it to an authenticator app): {user.totp_secret}")


@hub_group.command("unlock-user")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--username", required=True)
def unlock_user_command(data_dir: Path, username: str) -> None:
    """Lift a lock-out: forget the account's wrong logins, so the person may sign in at once
    (also an admin who locked themselves out)."""
    from shared.storage.failure_counts import SqlFailureCounts
    from shared.web.rate_limit import KEEP_SECONDS, LoginLimiter

    _, factory = _open(data_dir)
    forgotten = LoginLimiter(SqlFailureCounts(factory, KEEP_SECONDS)).lift(username)
    click.echo(f"user {username}: {forgotten} wrong logins forgotten; the lock is lifted")


@hub_group.command("revoke-tokens")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--username", required=True)
def revoke_tokens_command(data_dir: Path, username: str) -> None:
    """End every sign-in and API token of a user: at the hub at once, at the user's site once
    the change has come down (its next exchange)."""
    from hub.user_sync import CLI_ACTOR, command_site, publish_account
    from shared.storage.accounts import revoke_tokens

    settings, factory = _open(data_dir)
    with factory() as session:
        try:
            user = revoke_tokens(session, username, everywhere=True)
        except DomainError as exc:
            raise _fail(exc)
        queued = publish_account(session, command_site(settings, session), user, actor=CLI_ACTOR,
                                 now=_now())
        session.commit()
        click.echo(f"user {user.username}: every sign-in ended (revision {user.revision})")
        _echo_delivery(user.site, settings.site_code, queued)


@hub_group.command("import-catalog")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--effective-from", default=None, help="ISO date-time; default: now")
@click.option("--by", default="admin", show_default=True, help="who publishes (recorded)")
def import_catalog_command(file: Path, data_dir: Path, effective_from: str | None,
                           by: str) -> None:
    """Validate a catalogue file (every problem listed) and publish it as a signed release."""
    from hub.identity import hub_key
    from hub.releases import import_catalogue

    settings, factory = _open(data_dir)
    when = None
    if effective_from:
        try:
            when = datetime.fromisoformat(effective_from)
        except ValueError:
            raise click.ClickException("--effective-from: expected an ISO date-time")
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
    key = hub_key(settings.key_dir, settings.site_code)
    with factory() as session:
        try:
            release = import_catalogue(session, key, file, effective_from=when, now=_now(),
                                       by=by)
        except DomainError as exc:
            raise _fail(exc)
        session.commit()
    click.echo(f"catalogue version {release.version} published, in force from "
               f"{release.effective_from.isoformat(timespec='minutes')}")


@hub_group.command("publish-calendar")
@click.argument("file", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--by", default="admin", show_default=True, help="who publishes (recorded)")
def publish_calendar_command(file: Path, data_dir: Path, by: str) -> None:
    """Publish a year's working-day calendar (holidays, adjusted working days) as a signed
    release that travels down to every node; the file's problems are listed."""
    from hub.identity import hub_key
    from hub.releases import publish_calendar
    from shared.domain.working_days import load_calendar_file

    settings, factory = _open(data_dir)
    try:
        year = load_calendar_file(file)
    except DomainError as exc:
        raise _fail(exc)
    key = hub_key(settings.key_dir, settings.site_code)
    with factory() as session:
        try:
            release = publish_calendar(session, key, year, now=_now(), by=by)
        except DomainError as exc:
            raise _fail(exc)
        session.commit()
    click.echo(f"calendar {year.year} (version {year.version}) published as release "
               f"{release.version}")


@hub_group.command("rotate-key")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
def rotate_key_command(data_dir: Path) -> None:
    """Replace the hub's signing key with a new one, signed by the old (every site follows
    the chain at its next exchange). Stop the hub first and start it again after."""
    from hub.key_rotation import rotate_hub_key
    from sync_protocol import ProtocolError

    settings, factory = _open(data_dir)
    try:
        rotated = rotate_hub_key(settings, factory, _now())
    except ProtocolError as exc:
        raise click.ClickException(f"the key was not rotated: {exc}")
    if rotated.finished_earlier:
        click.echo("an interrupted rotation was completed (no new key was made)")
    click.echo(f"hub {rotated.site}: key {rotated.old_key_id.hex()} -> "
               f"{rotated.new_key_id.hex()} (rotation {rotated.count})")
    click.echo(f"  new key:  {rotated.key_path}")
    click.echo(f"  chain:    {rotated.chain_path} (the rotation signed by the old key and the "
               "old key certified by the new)")
    click.echo("  every site adopts the new key at its next exchange; what earlier keys "
               "signed stays valid")
    click.echo("next: start the hub again (it signs with the new key from then on), and back "
               f"up {rotated.key_path.name} and {rotated.chain_path.name} together now: a "
               "backup from before the rotation holds a key the sites no longer accept")


@hub_group.command("rotate-data-key")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
def rotate_data_key_command(data_dir: Path) -> None:
    """Make a new data key current (what the old one sealed still opens with it, kept as
    data-<n>.key) and rebuild the blind index of ID numbers under it. Stop every hub process
    first, copy keys/ to every hub machine, and start them again after."""
    from hub.privacy.id_indexing import reindex_all
    from shared.storage.sealing import SealedPayloads, rotate_data_key_file

    settings, factory = _open(data_dir)
    try:
        before, after = rotate_data_key_file(settings.key_dir)
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"the data key was not rotated: {exc}")
    with factory() as session:
        count = reindex_all(session, after, SealedPayloads(after))
        held = _rebuild_certificates(session, settings, after)
        session.commit()
    click.echo(f"hub {settings.site_code}: data key {before.current_id.hex()} -> "
               f"{after.current_id.hex()} ({len(after.retired)} earlier key(s) kept to open "
               f"what they sealed); blind index rebuilt for {count} cases, certificate store "
               f"for {held} holdings")
    click.echo("next: copy keys/ to every hub machine, back it up with the database, and start "
               "the hub again")


@hub_group.command("reindex-ids")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
def reindex_ids_command(data_dir: Path) -> None:
    """Rebuild the blind index of ID numbers from every case held (after an upgrade, or
    after the data key was rotated)."""
    from hub.identity import data_keys
    from hub.privacy.id_indexing import reindex_all
    from shared.storage.sealing import SealedPayloads

    settings, factory = _open(data_dir)
    keys = data_keys(settings.key_dir)
    with factory() as session:
        count = reindex_all(session, keys, SealedPayloads(keys))
        held = _rebuild_certificates(session, settings, keys)
        session.commit()
    click.echo(f"{count} cases indexed by ID number; {held} holdings in the certificate store")


def _rebuild_certificates(session: Session, settings: HubSettings, keys: DataKeys) -> int:
    """Write the certificate store again under ``keys`` (its references unchanged), read
    with the catalogue in force (the configured one until a release is published)."""
    from hub.privacy.certificates import rebuild_all
    from hub.releases import current_catalogue_release
    from shared.domain.catalogue_loader import load_catalogue, load_sample_catalogue
    from shared.domain.release_content import catalogue_from_release
    from shared.storage.sealing import SealedPayloads

    release = current_catalogue_release(session, _now())
    if release is not None:
        catalogue = catalogue_from_release(release.content)
    elif settings.catalogue_file:
        catalogue = load_catalogue(Path(settings.catalogue_file))
    else:
        catalogue = load_sample_catalogue()
    return rebuild_all(session, keys, catalogue, SealedPayloads(keys))


@hub_group.command("access-request")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--id-number", prompt=True, hide_input=True,
              help="the applicant's resident ID number (asked when not given, not echoed)")
@click.option("--out", "out_file", type=click.Path(path_type=Path, dir_okay=False),
              help="write the answer to this file (mode 0600) instead of the screen")
def access_request_command(data_dir: Path, id_number: str, out_file: Path | None) -> None:
    """Every record the hub holds for one ID number (PIPL art. 45); the request is logged
    with its blind index, never the number."""
    import getpass

    from hub.identity import data_keys
    from hub.privacy.access_request import answer_access_request
    from hub.privacy.retention_policy import load_policy
    from shared.domain.identity import validate_id_number
    from shared.storage.sealing import SealedPayloads

    settings, factory = _open(data_dir)
    keys = data_keys(settings.key_dir)
    try:
        number = validate_id_number(id_number, _now().date())
        policy = load_policy(settings.data_dir)
    except DomainError as exc:
        raise _fail(exc)
    with factory() as session:
        report = answer_access_request(
            session, settings.site_code, SealedPayloads(keys), keys, policy, number,
            asked_by=f"cli:{getpass.getuser()}", channel="cli", now=_now())
        session.commit()
    text = json.dumps(report, ensure_ascii=False, indent=2)
    if out_file is None:
        click.echo(text)
        return
    fd = os.open(out_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text + "\n")
    click.echo(f"{len(report['cases'])} cases written to {out_file}")


@hub_group.command("archive-closed")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--before", type=click.DateTime(formats=["%Y-%m-%d"]),
              help="archive cases closed before this day (UTC); default: the retention "
                   "policy's archive_after_days ago")
def archive_closed_command(data_dir: Path, before: datetime | None) -> None:
    """Archive closed cases: a signed, sealed record each, and the case made read-only."""
    from datetime import timedelta

    from hub.identity import data_keys, hub_key
    from hub.privacy.archive import archive_closed
    from hub.privacy.retention_policy import load_policy
    from shared.storage.sealing import SealedPayloads

    settings, factory = _open(data_dir)
    keys = data_keys(settings.key_dir)
    now = _now()
    try:
        policy = load_policy(settings.data_dir)
    except DomainError as exc:
        raise _fail(exc)
    cutoff = (before.replace(tzinfo=UTC) if before is not None
              else now - timedelta(days=policy.archive_after_days))
    count = archive_closed(factory, settings.data_dir,
                           hub_key(settings.key_dir, settings.site_code), keys,
                           SealedPayloads(keys), cutoff, now)
    click.echo(f"{count} closed cases archived (closed before {cutoff:%Y-%m-%d %H:%M} UTC)")


@hub_group.command("verify-archive")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--case-id", required=True, type=click.UUID)
def verify_archive_command(data_dir: Path, case_id: Any) -> None:
    """Check an archived case's seal and the hub's signature over it."""
    from hub.identity import data_keys, hub_key
    from hub.privacy.archive import archive_path, hub_keys_of, verify_archive
    from shared.storage.sync_store import build_keyring

    settings, factory = _open(data_dir)
    with factory() as session:
        ring = build_keyring(session, settings.site_code,
                             hub_key(settings.key_dir, settings.site_code).public_raw)
    try:
        verified = verify_archive(archive_path(settings.data_dir, case_id),
                                  data_keys(settings.key_dir), hub_keys_of(ring))
    except FileNotFoundError:
        raise click.ClickException(f"case {case_id} has no archive here")
    except DomainError as exc:
        raise _fail(exc)
    click.echo(f"archive of {verified.case_id}: signature valid ({verified.events} events, "
               f"{verified.scans} scans, archived {verified.archived_at})")


@hub_group.command("erase-expired")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
def erase_expired_command(data_dir: Path) -> None:
    """Erase the personal data of every closed case whose retention period is over: an
    ``erased`` event on the case, sent down the tree, and the data deleted here; then the
    online hall's abandoned drafts and unused accounts."""
    from hub.app import create_app
    from hub.online_hall_retention import expire_online
    from hub.privacy.erasure import erase_expired
    from hub.privacy.retention_policy import load_policy
    from hub.services import services_of
    from shared.web.request_db import session_factory

    try:
        settings = HubSettings.load(data_dir)
        policy = load_policy(settings.data_dir)
    except DomainError as exc:
        raise _fail(exc)
    _open(data_dir)  # the schema brought up to date
    app = create_app(settings)
    hub = services_of(app)
    done = erase_expired(session_factory(app), hub.sync_site, hub.data_keys, hub.blobs,
                         settings.data_dir, policy, hub.clock())
    for erasure in done:
        click.echo(f"{erasure.case_id}: erased ({erasure.policy})")
    click.echo(f"{len(done)} cases erased")
    online = expire_online(session_factory(app), policy, hub.clock())
    click.echo(f"{online.drafts} online drafts deleted (untouched {policy.online_draft_days} "
               f"days), {online.accounts} online accounts anonymised (unused "
               f"{policy.online_account_days} days), {online.codes} spent codes deleted")


@hub_group.command("add-receipt-book")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@receipt_book_options("CZ2026")
def add_receipt_book_command(data_dir: Path, window: str, prefix: str, first: int, last: int,
                             width: int | None, registered_by: str) -> None:
    """Register a receipt book (以票控费): a numbered range issued to a finance window of the
    hub; the receipts of its payments must come from a book of that window."""
    from hub.app import create_app
    from hub.db_session import app_session
    from hub.models import HubReceiptBook
    from hub.services import services_of
    from shared.deciding.receipt_books import NewBook, register_book

    settings, _ = _open(data_dir)
    app = create_app(settings)
    ctx = services_of(app).windows
    with app_session(app) as session:
        try:
            book = register_book(session, HubReceiptBook, site=settings.site_code,
                                 book=NewBook(window, prefix, first, last, width),
                                 registered_by=registered_by, now=_now(),
                                 windows=frozenset(w.code for w in ctx.catalogue().windows))
        except DomainError as exc:
            raise _fail(exc)
        session.commit()
        click.echo(f"receipt book {book.id} of window {book.window}: "
                   f"{book.receipt_no(book.first)} to {book.receipt_no(book.last)}")
