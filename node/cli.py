"""``sanji node ...``: set up a node's data directory and serve it.

``init`` creates the data directory, the data key and the database (Alembic migrations);
until enrolment exists it takes the site's code, name and tier as options. ``run`` serves
the app with waitress.
"""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime
from pathlib import Path

import click
from flask import Flask
from sqlalchemy.engine import Engine

from node.enrolment_setup import site_from_code
from node.settings import CONFIG_FILE, PARENT_CA_FILE, NodeSettings
from shared.deciding.receipt_cli import receipt_book_options
from shared.domain.errors import DomainError
from shared.exchange.enrolment import EnrolmentRefused, Grant

DEFAULT_PORT = 8100


def agent_password(username: str) -> str:
    """The password of the agent whose key slot a command opens: ``SANJI_PASSWORD``, or
    asked without echo."""
    return os.environ.get("SANJI_PASSWORD") or click.prompt(f"password of {username}",
                                                            hide_input=True)


@click.group("node")
def node_group() -> None:
    """A village, township or county node."""


@node_group.command("init")
@click.option("--data-dir", type=click.Path(path_type=Path), required=True)
@click.option("--parent-url", default="", help="the parent site, e.g. http://10.1.2.3:8100")
@click.option("--enroll-code", default="", help="the one-time code issued at the hub")
@click.option(
    "--site-code",
    default="",
    help="e.g. 431002001201 (read from the enrolment code when it starts with it)",
)
@click.option(
    "--parent-ca-file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="a PEM file the parent's TLS certificate must chain to (the government CA, or the "
    "parent's own certificate to pin it); copied into the data directory",
)
@click.option("--name", "site_name", default="", help="without enrolment: the site's name")
@click.option(
    "--tier",
    type=click.Choice(["village", "township", "county"]),
    default="village",
    show_default=True,
    help="without enrolment: the site's tier",
)
@click.option(
    "--data-key-protection",
    type=click.Choice(["password", "file"]),
    default=None,
    help="where the data key lives: only in the agents' key slots (password; a village's "
    "default) or in keys/data.key (file; a township's or county's default)",
)
@click.option(
    "--public-base-url",
    default=f"http://127.0.0.1:{DEFAULT_PORT}",
    show_default=True,
    help="printed in receipts' QR codes",
)
@click.option(
    "--catalogue",
    "catalogue_file",
    type=click.Path(path_type=Path, exists=True, dir_okay=False),
    help="a catalogue file (.yaml or .json); default: the sample",
)
def init_command(
    data_dir: Path,
    parent_url: str,
    enroll_code: str,
    site_code: str,
    site_name: str,
    tier: str,
    public_base_url: str,
    catalogue_file: Path | None,
    parent_ca_file: Path | None = None,
    data_key_protection: str | None = None,
) -> None:
    """Create the data directory, the keys and the database; enrol with the hub when given
    ``--parent-url`` and ``--enroll-code``."""
    from node.db_session import upgrade_database
    from shared.domain.catalogue_loader import load_catalogue
    from shared.storage.db import make_engine
    from shared.storage.key_slots import SLOTS_FILE
    from shared.storage.sealing import create_data_key

    site_code = site_code or site_from_code(enroll_code) or ""
    if bool(parent_url) != bool(enroll_code):
        raise click.UsageError("--parent-url and --enroll-code go together")
    if not site_code:
        raise click.UsageError("--site-code is required (the enrolment code does not name it)")
    if not enroll_code and not site_name:
        raise click.UsageError("--name is required without enrolment")
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    parent_code = hub_code = ""
    ca_name = ""
    if parent_ca_file is not None:
        ca_name = PARENT_CA_FILE
        (data_dir / ca_name).write_bytes(parent_ca_file.read_bytes())
    granted: Grant | None = None
    if enroll_code:
        verify = str(data_dir / ca_name) if ca_name else True
        granted = _enrol(data_dir, parent_url, enroll_code, site_code, verify)
        site_name, tier = granted.site.name, granted.site.tier
        parent_code, hub_code = granted.site.parent or "", granted.hub_site
    try:
        settings = NodeSettings(
            data_dir=data_dir,
            site_code=site_code,
            site_name=site_name,
            tier=tier,  # type: ignore[arg-type]
            public_base_url=public_base_url,
            parent_url=parent_url.rstrip("/"),
            parent_code=parent_code,
            hub_code=hub_code,
            parent_ca_file=ca_name,
            data_key_protection=data_key_protection or "",
        )
    except DomainError as exc:
        raise click.BadParameter(str(exc))
    settings.blob_dir.mkdir(exist_ok=True)
    if not (settings.key_dir / SLOTS_FILE).exists():  # else the key lives in the slots
        create_data_key(settings.key_dir)
    if catalogue_file is not None:
        catalogue = load_catalogue(catalogue_file)
        target = data_dir / ("catalogue" + catalogue_file.suffix.replace(".yml", ".yaml"))
        target.write_bytes(catalogue_file.read_bytes())
        click.echo(f"catalogue v{catalogue.version} with {len(catalogue.items)} items")
    if (data_dir / CONFIG_FILE).exists():
        click.echo(f"{data_dir / CONFIG_FILE} exists; keeping it")
    else:
        settings.write()
    engine = make_engine(NodeSettings.load(data_dir).database_url)
    try:
        upgrade_database(engine)
        if granted is not None:
            _import_users(engine, granted)
    finally:
        engine.dispose()
    click.echo(f"node {site_code} ready in {data_dir}")


def _import_users(engine: Engine, granted: Grant) -> None:
    """The site's users from the grant (password hashes only: agents log in offline) and
    the epoch its chain starts at."""
    from sqlalchemy.orm import Session

    from node.models import NodeMeta
    from shared.storage.accounts import import_credentials

    with Session(engine) as session:
        count = import_credentials(session, granted.users, now=datetime.now(UTC))
        if session.get(NodeMeta, "epoch") is None and granted.epoch > 1:
            # a replaced PC: its chain starts above the one the hub holds of the old PC
            session.add(NodeMeta(key="epoch", value=str(granted.epoch)))
        session.commit()
    click.echo(f"{count} user account(s) received")


def _enrol(data_dir: Path, parent_url: str, code: str, site_code: str,
           verify: str | bool) -> Grant:
    """Enrol through the parent chain; a clear message and exit 1 when refused."""
    import requests

    from node.enrolment_setup import check_parent_url, enrol_node

    try:
        url = check_parent_url(parent_url)
        done = enrol_node(
            data_dir,
            data_dir / "keys",
            parent_url=url,
            code=code,
            site=site_code,
            now=datetime.now(UTC),
            verify=verify,
        )
    except DomainError as exc:
        raise click.BadParameter(str(exc))
    except EnrolmentRefused as exc:
        raise click.ClickException(f"enrolment refused ({exc.code}): {exc.message}")
    except requests.RequestException as exc:
        raise click.ClickException(f"cannot reach {parent_url}: {exc.__class__.__name__}")
    g = done.grant
    click.echo(
        f"enrolled {g.site.code} {g.site.name} ({g.site.tier}) under {g.site.parent}; "
        f"hub {g.hub_site} key pinned"
    )
    if done.catalogue_version is not None:
        click.echo(f"catalogue v{done.catalogue_version} received")
    return g


def _warm_search_keys(app: Flask) -> None:
    """Compute the catalogue's pinyin keys in the background, so the first search is quick."""
    from node.services import services_of
    from shared.domain.catalogue import search_items

    catalogue = services_of(app).catalogue
    threading.Thread(target=search_items, args=(catalogue, "a"), daemon=True).start()


@node_group.command("run")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=DEFAULT_PORT, show_default=True, type=int)
@click.option("--threads", default=4, show_default=True, type=int)
@click.option("--sync-interval", default=60.0, show_default=True, type=float,
              help="seconds between exchanges with the parent (0: no background sync)")
@click.option("--timer-interval", default=60.0, show_default=True, type=float,
              help="at a township or county: seconds between runs of the deadline timers "
              "and the supervision scan (0: none)")
def run_command(data_dir: Path, host: str, port: int, threads: int,
                sync_interval: float, timer_interval: float) -> None:
    """Serve the node with waitress, and exchange with the parent in the background; a
    township or county also runs its deadline timers and supervision scan."""
    from waitress.server import create_server

    from node.app import create_app
    from node.services import services_of

    try:
        settings = NodeSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    app = create_app(settings)
    if services_of(app).data_key.locked:
        click.echo("the data key is locked: nothing opens or syncs until an agent who has "
                   "signed in on this PC before signs in")
    _warm_search_keys(app)
    if sync_interval > 0 and settings.parent_url:
        from node.sync_job import SyncJob
        from node.sync_runner import job_run

        job = SyncJob(lambda: job_run(app), interval_seconds=sync_interval)
        services_of(app).sync_job = job
        job.start()
    if timer_interval > 0:
        from node.deciding_jobs import start_deciding_jobs

        start_deciding_jobs(app, seconds=max(1.0, timer_interval))
    # no Server header (ident ""): every answer of every exchange would carry it
    server = create_server(app, host=host, port=port, threads=threads, ident="")
    from node.local_sync import local_url, write_url

    write_url(data_dir, local_url(host, int(server.effective_port)))  # for sync-now
    # Printed once the socket is bound, so a supervisor (or a test) knows the node answers.
    click.echo(f"node {settings.site_code} serving on http://{host}:{server.effective_port}/")
    server.run()


@node_group.command("sync-now")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--username", envvar="SANJI_USERNAME", default="",
              help="at a village keeping its data key in its agents' key slots: exchange in "
              "this process with that agent's slot (the password is asked, or read from "
              "SANJI_PASSWORD); without it (or without a slot), the running node is asked "
              "to exchange")
def sync_now_command(data_dir: Path, username: str) -> None:
    """Exchange with the parent now, until nothing is left to move; exit 1 on failure."""
    from node.app import create_app
    from node.sync_runner import sync_app

    try:
        settings = NodeSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    from node.data_key import has_slot, keys_from_slot, needs_an_agent

    if needs_an_agent(settings) and not has_slot(settings, username):
        # the key is only in the running node's memory: it runs the exchange
        from node.local_sync import LocalRunFailed, ask_running_node

        if username:
            click.echo(f"{username} has no key slot on this PC: asking the running node",
                       err=True)

        try:
            outcomes = ask_running_node(settings)
        except LocalRunFailed as exc:
            raise click.ClickException(str(exc))
    else:
        opened = None
        if needs_an_agent(settings):
            from shared.storage.key_slots import SlotError

            password = agent_password(username)
            try:
                opened = keys_from_slot(settings, username, password)
            except SlotError as exc:
                raise click.ClickException(f"the data key is kept in the agents' key slots: "
                                           f"{exc}")
        outcomes = sync_app(create_app(settings, opened))
    sent = sum(o.sent for o in outcomes)
    received = sum(o.received for o in outcomes)
    up = sum(o.bytes_up for o in outcomes)
    down = sum(o.bytes_down for o in outcomes)
    click.echo(f"{len(outcomes)} exchange(s): {sent} event(s) up, {received} down, "
               f"{up} bytes up, {down} bytes down")
    last = outcomes[-1]
    if not last.ok:
        raise click.ClickException(f"sync failed: {last.error}")


@node_group.command("rotate-data-key")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--username", envvar="SANJI_USERNAME", default="",
              help="at a village keeping its data key in its agents' key slots: the agent "
              "whose slot is opened (the password is asked, or read from SANJI_PASSWORD)")
def rotate_data_key_command(data_dir: Path, username: str) -> None:
    """Make a new data key current; the old ones are kept to open what they sealed. Stop the
    node first and start it again after."""
    from node.data_key import needs_an_agent, rotate_data_key
    from shared.storage.key_slots import SlotError

    try:
        settings = NodeSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    password = ""
    if needs_an_agent(settings):
        if not username:
            raise click.UsageError("the data key is kept in the agents' key slots: give an "
                                   "agent who has signed in here (--username)")
        password = agent_password(username)
    try:
        done = rotate_data_key(settings, username, password)
    except SlotError as exc:
        raise click.ClickException(f"the data key was not rotated: {exc}")
    click.echo(f"node {settings.site_code}: data key {done.old_id} -> {done.new_id} "
               f"({done.kept} earlier key(s) kept to open what they sealed)")
    if done.dropped:
        click.echo(f"  key slots dropped (they held only the old keys): "
                   f"{', '.join(done.dropped)}; each is made again when that agent signs in "
                   f"after {username} has unlocked the node")
    click.echo("next: start the node again, and back up keys/ at once: a backup from before "
               "holds no key for what is sealed from now on")


@node_group.command("rotate-key")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
def rotate_key_command(data_dir: Path) -> None:
    """Replace this node's signing key with a new one, signed by the old; the parent learns
    it at the next exchange. Stop the node first and start it again after."""
    from node.key_rotation import rotate_node_key
    from node.sync_setup import read_grant
    from sync_protocol import ProtocolError

    try:
        settings = NodeSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    if read_grant(data_dir) is None:
        raise click.ClickException("this node is not enrolled: enrol it first (a key no "
                                   "certificate names cannot hand over)")
    try:
        rotated, queued = rotate_node_key(settings, datetime.now(UTC))
    except ProtocolError as exc:
        raise click.ClickException(f"the key was not rotated: {exc}")
    if rotated.finished_earlier:
        click.echo("an interrupted rotation was completed (no new key was made)")
    click.echo(f"node {rotated.site}: key {rotated.old_key_id.hex()} -> "
               f"{rotated.new_key_id.hex()} (rotation {rotated.count})")
    click.echo(f"  new key:  {rotated.key_path}")
    click.echo(f"  chain:    {rotated.chain_path} (the rotation, signed by the old key)")
    click.echo(f"  {queued} credential(s) queued for the parent: it adopts the new key at the "
               "next exchange and refuses the old one from then on")
    click.echo("next: start the node again (it signs with the new key from then on), run "
               "`sanji node sync-now` to tell the parent now, and back up "
               f"{rotated.key_path.name} and {rotated.chain_path.name} together: a backup "
               "from before the rotation holds a key the parent no longer accepts")


@node_group.command("record-views")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False), required=True)
@click.option("--case-id", default="", help="only the views of this case")
@click.option("--username", default="", help="only this user's views")
@click.option("--limit", type=click.IntRange(1, 100_000), default=100, show_default=True)
def record_views_command(data_dir: Path, case_id: str, username: str, limit: int) -> None:
    """Who opened which case's full record here, when and why (newest first; tab-separated:
    time, site, user, role, case, reason, note, what, address)."""
    import uuid

    from sqlalchemy.orm import Session

    from shared.storage.db import make_engine
    from shared.storage.record_views import recent_views
    from sync_protocol.times import from_ms

    try:
        settings = NodeSettings.load(data_dir)
        wanted = uuid.UUID(case_id) if case_id else None
    except (DomainError, ValueError) as exc:
        raise click.ClickException(str(exc))
    engine = make_engine(settings.database_url)
    try:
        with Session(engine) as session:
            views = recent_views(session, case_id=wanted, username=username or None,
                                 limit=limit)
    finally:
        engine.dispose()
    for v in views:
        click.echo("\t".join([from_ms(v.at_ms).isoformat(), v.site, v.username, v.role,
                              str(v.case_id), v.reason, v.note, v.endpoint, v.address]))


@node_group.command("set-otp")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              required=True)
@click.option("--username", required=True, help="a supervisor or admin of this site")
def set_otp_command(data_dir: Path, username: str) -> None:
    """Set up the one-time codes of a supervisor or admin who signs in at this site: a new
    secret, sealed here, shown once (the hub's secret never leaves the hub)."""
    import pyotp
    from sqlalchemy.orm import Session

    from shared.storage.accounts import set_local_second_factor, site_totp_sealer
    from shared.storage.db import make_engine
    from shared.storage.totp_secrets import use_totp_sealer

    try:
        settings = NodeSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    engine = make_engine(settings.database_url)
    use_totp_sealer(engine, site_totp_sealer(settings.key_dir))
    try:
        with Session(engine) as session:
            secret = set_local_second_factor(session, username)
            session.commit()
    except DomainError as exc:
        raise click.ClickException(str(exc))
    finally:
        engine.dispose()
    uri = pyotp.TOTP(secret).provisioning_uri(name=username,
                                              issuer_name=f"Sanji {settings.site_code}")
    click.echo(f"TOTP secret for {username} at {settings.site_code} (add it to an "
               f"authenticator app; it is not shown again): {secret}")
    click.echo(f"  {uri}")


@node_group.command("add-receipt-book")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              required=True)
@receipt_book_options("LT2026")
def add_receipt_book_command(data_dir: Path, window: str, prefix: str, first: int, last: int,
                             width: int | None, registered_by: str) -> None:
    """Register a receipt book (以票控费) at this township or county: a numbered range issued
    to one of its finance windows."""
    from node.app import create_app
    from node.db_session import app_session, upgrade_database
    from node.models import NodeReceiptBook
    from node.services import services_of
    from node.sync_setup import DECIDING_TIERS
    from shared.deciding.receipt_books import NewBook, register_book
    from shared.domain.errors import Problems
    from shared.storage.db import make_engine

    try:
        settings = NodeSettings.load(data_dir)
    except DomainError as exc:
        raise click.ClickException(str(exc))
    if str(settings.tier.value) not in DECIDING_TIERS:
        raise click.ClickException("a village takes no fees: receipt books are registered "
                                   "at a township or county")
    engine = make_engine(settings.database_url)
    try:
        upgrade_database(engine)
    finally:
        engine.dispose()
    app = create_app(settings)
    windows = frozenset(w.code for w in services_of(app).windows.catalogue().windows)
    with app_session(app) as session:
        try:
            book = register_book(session, NodeReceiptBook, site=settings.site_code,
                                 book=NewBook(window, prefix, first, last, width),
                                 registered_by=registered_by, now=datetime.now(UTC),
                                 windows=windows)
        except Problems as exc:
            raise click.ClickException(str(exc))
        except DomainError as exc:
            raise click.ClickException(exc.reason)
        session.commit()
        click.echo(f"receipt book {book.id} of window {book.window}: "
                   f"{book.receipt_no(book.first)} to {book.receipt_no(book.last)}")
