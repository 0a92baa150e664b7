"""What each site really applied, counted outside the store, and the verdict of a run.

:class:`RecordingHooks` is each site's :class:`~shared.exchange.site.SyncHooks`. It counts
every event handed to ``events_arrived`` by ``(origin, epoch, seq)`` and hash, every release
handed to ``releases_arrived``, and (at the deciding site) authors one decision per
registration and sends it down, as the hub's routing does. The store's unique keys are not
consulted: if the glue handed the same event to the domain twice, the count says 2.

Hooks run inside the exchange's transaction, and a crash may roll that transaction back; an
event seen by the hooks of a rolled-back transaction was not applied. So the hooks write into a
buffer kept in ``session.info`` and the buffer reaches the :class:`Ledger` only from the
session's ``after_commit`` event (a rollback discards it). This, rather than a table in the
site's own database, keeps the record independent of the store under test; the price is that
a restore from a snapshot must put the ledger back too, which :meth:`Ledger.copy` does (the
restored site has forgotten, with its disk, what it applied after the snapshot).
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import Session

from shared.exchange.site import SyncSite
from shared.exchange.tree import send_all_down
from shared.storage import sync_store as store
from sync_protocol import Event, Receipt, Release
from sync_protocol.times import to_ms

Key = tuple[str, int, int]
BUFFER = "faults.buffer"
DECIDED = "decided"


def key_of(e: Event) -> Key:
    return (e.origin, e.epoch, e.seq)


@dataclass
class Ledger:
    """What one site applied, committed transactions only."""

    arrived: Counter[Key] = field(default_factory=Counter)
    hashes: dict[Key, set[bytes]] = field(default_factory=dict)
    releases: Counter[tuple[str, int]] = field(default_factory=Counter)
    authored: dict[Key, tuple[uuid.UUID, str, bytes]] = field(default_factory=dict)
    decisions: dict[uuid.UUID, list[Key]] = field(default_factory=dict)
    arrived_in_heal: set[Key] = field(default_factory=set)
    healing: bool = False

    def apply(self, entries: Sequence[tuple[str, Any]]) -> None:
        for kind, value in entries:
            if kind == "arrived":
                e: Event = value
                self.arrived[key_of(e)] += 1
                self.hashes.setdefault(key_of(e), set()).add(e.hash)
                if self.healing:
                    self.arrived_in_heal.add(key_of(e))
                if e.type == DECIDED:
                    self.decisions.setdefault(e.case_id, []).append(key_of(e))
            elif kind == "release":
                self.releases[value] += 1
            elif kind == "authored":
                e = value
                self.authored[key_of(e)] = (e.case_id, e.type, e.hash)

    def copy(self) -> Ledger:
        return Ledger(Counter(self.arrived), {k: set(v) for k, v in self.hashes.items()},
                      Counter(self.releases), dict(self.authored),
                      {k: list(v) for k, v in self.decisions.items()},
                      set(self.arrived_in_heal), self.healing)


def _buffer(session: Session) -> list[tuple[str, Any]]:
    held: list[tuple[str, Any]] = session.info.setdefault(BUFFER, [])
    return held


def attach(session: Session, ledger: Ledger) -> None:
    """Flush the session's buffer into ``ledger`` on commit, drop it on rollback."""

    def committed(sess: Session) -> None:
        ledger.apply(sess.info.pop(BUFFER, []))

    def rolled_back(sess: Session) -> None:
        sess.info.pop(BUFFER, None)

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_rollback", rolled_back)


def record_authored(session: Session, events: Sequence[Event]) -> None:
    _buffer(session).extend(("authored", e) for e in events)


class RecordingHooks:
    """A site's domain as far as the checker cares: count what arrives; decide if deciding."""

    def __init__(self, deciding: bool) -> None:
        self.deciding = deciding
        self.site: SyncSite | None = None

    def events_arrived(self, session: Session, events: Sequence[Event], now: datetime) -> None:
        _buffer(session).extend(("arrived", e) for e in events)
        if not self.deciding or self.site is None:
            return
        site = self.site
        # a site decides a case once: a decision handed back after its restore counts
        registered = [e for e in events if e.type == "registered"
                      and not any(r.type == DECIDED for r in store.case_rows(session, e.case_id))]
        own = [store.OwnEvent(e.case_id, f"window@{site.code}", DECIDED,
                              {"of": [e.origin, e.epoch, e.seq]}, to_ms(now))
               for e in registered]
        decided = store.author_events(session, site.key, site.sealer, own, epoch=site.epoch,
                                      up=not site.is_root, now_ms=to_ms(now))
        record_authored(session, decided)
        send_all_down(session, site, [(d, r.origin) for d, r in
                                      zip(decided, registered, strict=True)], now)

    def receipts_arrived(self, session: Session, receipts: Sequence[Receipt],
                         now: datetime) -> None:
        return None

    def releases_arrived(self, session: Session, releases: Sequence[Release],
                         now: datetime) -> None:
        _buffer(session).extend(("release", (r.kind, r.version)) for r in releases)

    def cases_acked(self, session: Session, case_ids: set[uuid.UUID], now: datetime) -> None:
        return None


@dataclass
class Facts:
    """What the checker needs to know of a run besides the ledgers."""

    parents: dict[str, str | None]
    ledgers: dict[str, Ledger]
    hub: str
    revoked: tuple[str, int] | None = None
    """The village whose key was revoked, and the seq through which its events stay valid."""
    forged: set[bytes] = field(default_factory=set)
    newest: dict[str, int] = field(default_factory=dict)
    scans_missing: int = 0
    restored: set[str] = field(default_factory=set)


@dataclass
class Totals:
    """Jepsen-style totals of a run, in (site, item) pairs: an event that should reach three
    sites and reaches none counts 3 lost."""

    expected: int = 0
    lost: int = 0
    duplicated: int = 0
    unexpected: int = 0
    recovered: int = 0
    redecided: int = 0
    problems: list[str] = field(default_factory=list)

    def add(self, other: Totals) -> None:
        self.expected += other.expected
        self.lost += other.lost
        self.duplicated += other.duplicated
        self.unexpected += other.unexpected
        self.recovered += other.recovered
        self.redecided += other.redecided
        self.problems += other.problems[: max(0, 20 - len(self.problems))]

    @property
    def ok(self) -> bool:
        return self.lost == self.duplicated == self.unexpected == 0

    def line(self) -> str:
        return (f"expected={self.expected} lost={self.lost} duplicated={self.duplicated} "
                f"unexpected={self.unexpected} recovered={self.recovered} "
                f"redecided_after_restore={self.redecided}")

    def _note(self, text: str) -> None:
        if len(self.problems) < 20:
            self.problems.append(text)


def _ancestors(parents: dict[str, str | None], site: str) -> list[str]:
    out: list[str] = []
    current = parents[site]
    for _ in range(8):
        if current is None:
            break
        out.append(current)
        current = parents[current]
    return out


def check(facts: Facts) -> Totals:
    """Count lost, duplicated, unexpected and recovered deliveries over every site."""
    t = Totals()
    led, hub = facts.ledgers, facts.hub
    villages = [s for s in facts.parents if not any(p == s for p in facts.parents.values())]
    case_village: dict[uuid.UUID, str] = {}
    registered: dict[str, dict[Key, bytes]] = {}
    for v in villages:
        registered[v] = {}
        for k, (case_id, type_, digest) in led[v].authored.items():
            if type_ == "registered":
                case_village[case_id] = v
                registered[v][k] = digest

    def expect_once(site: str, k: Key, digest: bytes | None, what: str, *,
                    may_miss: bool = False) -> None:
        count = led[site].arrived[k]
        t.expected += 0 if may_miss else 1
        if count == 0 and not may_miss:
            t.lost += 1
            t._note(f"lost: {what} {k} at {site}")
        elif count > 1:
            t.duplicated += count - 1
            t._note(f"duplicated x{count}: {what} {k} at {site}")
        elif count == 1 and k in led[site].arrived_in_heal and not may_miss:
            t.recovered += 1
        if digest is not None and count and led[site].hashes.get(k, set()) - {digest}:
            t.unexpected += 1
            t._note(f"unexpected: another {what} under {k} at {site}")

    revoked_site, through = facts.revoked or ("", 0)
    for v in villages:
        for k, digest in registered[v].items():
            beyond = v == revoked_site and k[2] > through
            for a in _ancestors(facts.parents, v):
                if beyond and a == hub:
                    if led[a].arrived[k]:
                        t.unexpected += led[a].arrived[k]
                        t._note(f"unexpected: revoked {k} accepted at the hub")
                    continue
                # the revoked village cannot send again what a restored ancestor forgot
                expect_once(a, k, digest, "registration", may_miss=v == revoked_site)
    decisions: dict[Key, uuid.UUID] = {k: c for k, (c, ty, _) in led[hub].authored.items()
                                       if ty == DECIDED}
    for ledger in led.values():
        for case_id, keys in ledger.decisions.items():
            decisions.update({k: case_id for k in keys})
    for k, case_id in decisions.items():
        village = case_village.get(case_id)
        if village is None:
            t.unexpected += 1
            t._note(f"unexpected: decision {k} of an unknown case")
            continue
        for s in [village, *_ancestors(facts.parents, village)]:
            if s == hub:
                break
            # a relay restored after passing a decision on may never see it again: the hub,
            # restored too, forgot it, and only the village below still holds it
            forgot = s != village and s in facts.restored
            expect_once(s, k, None, "decision", may_miss=s == revoked_site or forgot)
    for v in villages:
        for k in registered[v]:
            case_id = led[v].authored[k][0]
            got = led[v].decisions.get(case_id, [])
            if not got and v != revoked_site:
                t.lost += 1
                t._note(f"lost: no decision for case of {k} at {v}")
            elif len(set(got)) > 1:
                if len({g[1] for g in set(got)}) > 1:
                    t.redecided += 1
                else:
                    t.duplicated += len(set(got)) - 1
                    t._note(f"duplicated: {len(set(got))} decisions for case of {k} at {v}")
    _unexpected_arrivals(facts, t, registered, decisions, case_village)
    _releases(facts, t)
    if facts.scans_missing:
        t.lost += facts.scans_missing
        t._note(f"lost: {facts.scans_missing} scans not whole at the hub")
    return t


def _unexpected_arrivals(facts: Facts, t: Totals, registered: dict[str, dict[Key, bytes]],
                         decisions: dict[Key, uuid.UUID],
                         case_village: dict[uuid.UUID, str]) -> None:
    for site, ledger in facts.ledgers.items():
        for k, digests in ledger.hashes.items():
            if digests & facts.forged:
                t.unexpected += 1
                t._note(f"unexpected: forged {k} applied at {site}")
                continue
            origin = k[0]
            if origin in registered:
                if k not in registered[origin] or site not in _ancestors(facts.parents, origin):
                    t.unexpected += 1
                    t._note(f"unexpected: {k} at {site}")
            elif origin == facts.hub:
                v = case_village.get(decisions.get(k, uuid.UUID(int=0)))
                if v is None or (site != v and site not in _ancestors(facts.parents, v)):
                    t.unexpected += 1
                    t._note(f"unexpected: decision {k} at {site}")


def _releases(facts: Facts, t: Totals) -> None:
    revoked_site = facts.revoked[0] if facts.revoked else ""
    for site, ledger in facts.ledgers.items():
        if site == facts.hub:
            continue
        for release, count in ledger.releases.items():
            if count > 1:
                t.duplicated += count - 1
                t._note(f"duplicated: release {release} x{count} at {site}")
        if site == revoked_site:
            continue
        for kind, version in facts.newest.items():
            t.expected += 1
            if ledger.releases[(kind, version)] == 0:
                t.lost += 1
                t._note(f"lost: release {kind} v{version} at {site}")
