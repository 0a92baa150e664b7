"""``sanji audit verify --data-dir DIR``: check every stored chain and signature of a site.

Works on a hub's or a node's data directory (it reads ``hub.json`` or ``node.json``). The
chains checked are those a site holds whole: its own and those of every site below it (the
selections that came down from the parent are checked by the exchange when they arrive).
Walks the events in ``(origin, epoch, seq)`` order, in constant memory, and names the first
bad case and event; exit status 1 when anything is wrong. Damaged bytes (a flipped bit in a
payload, a hash, a signature) are named like an edit, never a crash. An event with an erased
payload (it carries the digests of what it removed, so its hash still holds) is counted as
erased in a case the hub erased (an ``erased`` event of the hub whose hash and signature
verify), and reported in any other. At a node, the hub's receipts it keeps for its own chain
(each case's proof of arrival) are checked too: each must be signed by a key of the hub.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from shared.exchange.tree import site_parents
from shared.storage import sync_store
from shared.storage.case_erasure import ERASED
from shared.storage.db import make_engine
from shared.storage.sealing import SealedPayloads, load_data_keys
from sync_protocol import (
    Event,
    KeyRing,
    Problem,
    load_key,
    receipt_problem,
    verified_erasures,
    verify_store,
)
from sync_protocol.errors import Malformed


@click.group("audit")
def audit_group() -> None:
    """Integrity checks of a site's stored events."""


def _site_facts(data_dir: Path, username: str = ""
                ) -> tuple[str, str, KeyRing, sync_store.PayloadSealer]:
    """(site code, database URL, keyring, payload sealer) of the site in ``data_dir``; a
    village whose data key lives only in its agents' key slots opens ``username``'s."""
    if (data_dir / "hub.json").exists():
        from hub.identity import HUB_KEY_FILE
        from hub.settings import HubSettings

        hub = HubSettings.load(data_dir)
        key = load_key(hub.site_code, (hub.key_dir / HUB_KEY_FILE).read_bytes())
        return hub.site_code, hub.database_url, KeyRing(hub.site_code, key.public_raw), \
            SealedPayloads(load_data_keys(hub.key_dir))
    if (data_dir / "node.json").exists():
        from node.cli import agent_password
        from node.data_key import keys_from_slot, needs_an_agent
        from node.sealing import DataSealer
        from node.settings import NodeSettings
        from node.sync_setup import read_grant
        from shared.storage.key_slots import SlotError
        from shared.storage.sealing import DataKeyHolder

        node = NodeSettings.load(data_dir)
        grant = read_grant(data_dir)
        if grant is None:
            raise click.ClickException("this node is not enrolled: its chain has no certificate")
        password = ""
        if username and needs_an_agent(node):
            password = agent_password(username)
        try:
            keys = keys_from_slot(node, username, password)
        except SlotError as exc:
            raise click.ClickException(f"the data key is kept in the agents' key slots: {exc}")
        return node.site_code, node.database_url, grant.keyring(), \
            DataSealer(DataKeyHolder(keys))
    raise click.ClickException(f"{data_dir} holds neither hub.json nor node.json")


def _below(parents: dict[str, str | None], site: str, origin: str) -> bool:
    current: str | None = origin
    for _ in range(32):
        if current is None:
            return False
        if current == site:
            return True
        current = parents.get(current)
    return False


UNREADABLE = "the stored payload does not open (damaged bytes)"


def _events(session: Session, site: str, sealer: sync_store.PayloadSealer,
            unreadable: set[tuple[str, int, int]]) -> Iterator[Event]:
    """The chains ``site`` holds whole, in order. A payload whose stored bytes no longer open
    (a flipped byte in sealed or JSON bytes) is walked with an empty payload, so its hash
    fails there, and its key goes into ``unreadable`` so the report can say why."""
    parents = site_parents(session)
    query = select(sync_store.SyncEvent).order_by(
        sync_store.SyncEvent.origin, sync_store.SyncEvent.epoch, sync_store.SyncEvent.seq
    ).execution_options(yield_per=1000)
    for row in session.scalars(query):
        if not _below(parents, site, row.origin):
            continue
        try:
            yield sync_store.as_event(row, sealer)
        except Exception:  # noqa: BLE001 - any failure to open is damage to name, not a crash
            unreadable.add((row.origin, row.epoch, row.seq))
            yield sync_store.as_event(row, _Unopened())


class _Unopened:
    """Stands in for the sealer of a payload that does not open: an empty payload."""

    def seal(self, value: object, context: str) -> bytes:
        raise NotImplementedError

    def open(self, sealed: bytes, context: str) -> dict[str, object]:
        return {}


def _explained(problems: Iterable[Problem], unreadable: set[tuple[str, int, int]]
               ) -> list[Problem]:
    return [replace(p, reason=UNREADABLE) if (p.origin, p.epoch, p.seq) in unreadable else p
            for p in problems]


def _hub_erasures(session: Session, ring: KeyRing, sealer: sync_store.PayloadSealer
                  ) -> set[uuid.UUID]:
    """The cases with an ``erased`` event of the hub that verifies (held whether or not this
    site walks the hub's chain)."""
    rows = session.scalars(select(sync_store.SyncEvent).where(
        sync_store.SyncEvent.type == ERASED, sync_store.SyncEvent.origin == ring.hub_site))
    events: list[Event] = []
    for row in rows:
        try:
            events.append(sync_store.as_event(row, sealer))
        except Exception:  # noqa: BLE001, S112 - damaged: it erases nothing, its chain names it
            continue
    return verified_erasures(events, ring, ring.hub_site)


def _hub_receipts(session: Session, data_dir: Path, ring: KeyRing) -> tuple[int, list[str]]:
    """At a node: how many receipts of the hub it keeps, and what is wrong with those that
    do not hold (:func:`sync_protocol.receipt_problem`, or bytes lost)."""
    if not (data_dir / "node.json").exists():
        return 0, []
    from node.hub_receipts import all_receipts, as_receipt

    count, bad = 0, []
    for row in all_receipts(session):
        count += 1
        name = f"{row.origin}/{row.epoch} through {row.through_seq}"
        try:
            problem = receipt_problem(as_receipt(row), ring)
        except Malformed:
            problem = "its key id or signature lost bytes"
        if problem is not None:
            bad.append(f"{name}: {problem}")
    return count, bad


@audit_group.command("verify")
@click.option("--data-dir", type=click.Path(path_type=Path, file_okay=False, exists=True),
              required=True)
@click.option("--username", envvar="SANJI_USERNAME", default="",
              help="at a village keeping its data key in its agents' key slots: an agent "
              "who has signed in there (the password is asked, or read from SANJI_PASSWORD)")
def verify_command(data_dir: Path, username: str) -> None:
    """Check hashes, links, sequence numbers and signatures; name the first bad event."""
    site, url, ring, sealer = _site_facts(data_dir, username)
    engine = make_engine(url)
    with Session(engine) as session:
        # in any order (a rotated hub pins its newest key; certificates of its earlier
        # keys come after what they signed); a bad credential shows up as unknown keys below
        ring.add_any_order(sync_store.all_credentials(session))
        unreadable: set[tuple[str, int, int]] = set()
        report = verify_store(_events(session, site, sealer, unreadable), ring,
                              erased_cases=_hub_erasures(session, ring, sealer))
        receipts, bad_receipts = _hub_receipts(session, data_dir, ring)
    engine.dispose()
    if receipts:
        click.echo(f"{site}: {receipts - len(bad_receipts)} of {receipts} receipts of the hub "
                   f"(proofs of arrival) verify")
    for problem in bad_receipts[:10]:
        click.echo(f"  bad receipt: {problem}")
    erased = sum(n for _, n in report.erased)
    if erased:
        click.echo(f"{site}: {erased} erased events in {len(report.erased)} cases erased by "
                   f"the hub (their links, signatures and kept values checked)")
        for case_id, n in report.erased[:10]:
            click.echo(f"  erased: case {case_id}: {n} events")
    if report.ok:
        click.echo(f"{site}: every chain verifies")
        if bad_receipts:
            raise SystemExit(1)
        return
    problems = _explained(report.problems, unreadable)
    click.echo(f"{site}: first bad event: {problems[0]}")
    for problem in problems[1:10]:
        click.echo(f"  also: {problem}")
    raise SystemExit(1)
