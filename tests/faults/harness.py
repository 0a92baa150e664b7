"""A tree of real sites under faults: the production glue (``answer_child``,
``sync_with_parent``, ``sync_until_quiet``, ``send_all_down``) over each site's own database,
driven by a schedule of steps, then healed and checked (:mod:`tests.faults.checker`).

Every loop is bounded: a schedule is a finite list, a heal is at most ``HEAL_ROUNDS`` passes
over the tree, and each pass runs ``sync_until_quiet`` with its own bound.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from shared.exchange.child import SyncOutcome, sync_until_quiet
from shared.exchange.parent import answer_child
from shared.exchange.site import SyncSite
from shared.exchange.transport import TransportError
from shared.storage import sync_store as store
from shared.storage.link_state import load_parent_link
from sync_protocol import (
    Certificate,
    ChainHead,
    ChildExchange,
    KeyRing,
    ParentLink,
    Release,
    Revocation,
    SiteKey,
    append_event,
    generate_key,
    issue_certificate,
    revocations_content,
    sign_release,
)
from sync_protocol.times import from_ms, to_ms
from tests.faults.checker import Facts, Ledger, RecordingHooks, Totals, attach, check
from tests.faults.checker import record_authored as _record_authored
from tests.faults.faults import (
    FORGED_REFUSED,
    NONE,
    PARENT_MID_SCAN,
    PUBLISHED,
    RESTORED,
    REVOKED,
    REVOKED_REFUSED,
    SKEW_CORRECTED,
    SKEW_REFUSED,
    Crash,
    Reached,
)
from tests.faults.sites import (
    ROLE_CHILD,
    ROLE_PARENT,
    SCAN_SETTINGS,
    PgSchema,
    Place,
    SqliteFiles,
    sqlite_url,
)
from tests.faults.transport import FaultTransport

HUB = "431000"
HEAL_ROUNDS = 12
QUIET_ROUNDS = 20
CRASH_TRIES = 5


# -- steps -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    village: int
    scan: bool = False


@dataclass(frozen=True)
class Exchange:
    site: int
    fault: str = NONE
    arg: int = 0


@dataclass(frozen=True)
class CrashAt:
    site: int
    point: str


@dataclass(frozen=True)
class Snapshot:
    site: int


@dataclass(frozen=True)
class Restore:
    site: int
    pick: int = 0


@dataclass(frozen=True)
class Tick:
    seconds: int


@dataclass(frozen=True)
class Revoke:
    pass


@dataclass(frozen=True)
class Publish:
    pass


@dataclass(frozen=True)
class Forge:
    village: int


Step = Register | Exchange | CrashAt | Snapshot | Restore | Tick | Revoke | Publish | Forge


@dataclass(frozen=True)
class Variant:
    """A deliberately broken tree, to prove the checker catches what it claims to."""

    name: str = "production"
    ack_before_commit: bool = False
    restore_keeps_epoch: bool = False


@dataclass
class Run:
    """The outcome of one schedule: the checker's totals and what was reached."""

    totals: Totals
    reached: Reached


# -- the tree --------------------------------------------------------------------------------


def tree_codes(depth: int) -> dict[str, str | None]:
    """Hub, (county,) township and two villages."""
    if depth == 3:
        township = f"{HUB}001"
        return {HUB: None, township: HUB, f"{township}201": township,
                f"{township}202": township}
    county = f"{HUB}01"
    township = f"{county}001"
    return {HUB: None, county: HUB, township: county, f"{township}201": township,
            f"{township}202": township}


TIERS = {0: "city", 1: "township", 2: "village"}
TIERS4 = {0: "city", 1: "county", 2: "township", 3: "village"}


class World:
    """The sites, their clocks, the link between each child and its parent, the ledgers."""

    def __init__(self, root: Path, *, depth: int = 3, skews_ms: Sequence[int] = (),
                 pg_url: str | None = None, variant: Variant | None = None) -> None:
        self.root = root
        self.variant = variant or Variant()
        self.parents = tree_codes(depth)
        self.codes = list(self.parents)
        self.children = self.codes[1:]
        self.villages = [c for c in self.codes if c not in self.parents.values()]
        self.relays = [c for c in self.codes if c not in self.villages]
        self.reached = Reached()
        self.now_ms = to_ms(datetime(2026, 11, 23, 8, 0, tzinfo=UTC))
        self.skew = {c: (list(skews_ms)[i] if i < len(skews_ms) else 0)
                     for i, c in enumerate(self.codes)}
        self.hub_key = generate_key(HUB)
        self.keys: dict[str, SiteKey] = {HUB: self.hub_key}
        self.certs: dict[str, Certificate] = {}
        tiers = TIERS if depth == 3 else TIERS4
        for code, parent in self.parents.items():
            level = self._level(code)
            key = self.keys.setdefault(code, generate_key(code))
            self.certs[code] = issue_certificate(self.hub_key, site=code, parent=parent,
                                                 tier=tiers[level], public_raw=key.public_raw,
                                                 now=from_ms(self.now_ms))
        self.ledgers = {c: Ledger() for c in self.codes}
        self.snapshots: dict[str, list[tuple[str, Ledger, int]]] = {c: [] for c in self.codes}
        self.pg = PgSchema(pg_url) if pg_url else None
        self.files = SqliteFiles(root)
        self.places: dict[str, Place] = {}
        self.transport = FaultTransport(self._answer, self._advance, self.reached.counts)
        self.revoked: tuple[str, int] | None = None
        self.forged: set[bytes] = set()
        self.newest: dict[str, int] = {}
        self.published: list[Release] = []
        self.scans: dict[str, str] = {}  # sha256 -> village
        self.skew_refused: set[str] = set()
        self.restored: set[str] = set()
        self.steps_taken = 0
        for code in self.codes:
            self._build(code)

    def _level(self, code: str) -> int:
        level, current = 0, self.parents[code]
        while current is not None:
            level, current = level + 1, self.parents[current]
        return level

    def _storage(self, code: str) -> SqliteFiles | PgSchema:
        return self.pg if self.pg is not None and code == HUB else self.files

    def _build(self, code: str) -> None:
        directory = self.root / code
        directory.mkdir(parents=True)
        url = self.pg.url if self.pg is not None and code == HUB else sqlite_url(directory)
        place = Place(code, url, directory, self._make_site, reached=self.reached.counts)
        self._storage(code).create(place)
        place.open()
        self.places[code] = place
        with place.session() as session:
            store.add_credentials(session, self.certs.values(), forward=False)
            session.commit()
        self._snapshot(code)  # the empty first snapshot

    def _make_site(self, place: Place) -> SyncSite:
        code = place.code
        hooks = RecordingHooks(deciding=code == HUB)
        parent = self.parents[code]
        site = SyncSite(key=self.keys[code], hub_site=HUB, hub_public_raw=self.hub_key.public_raw,
                        sealer=store.PlainPayloads(), epoch=place.epoch, parent=parent,
                        parent_url=parent, own_credentials=(self.certs[code],), hooks=hooks,
                        root=code == HUB, blobs=place.blobs, blob_settings=SCAN_SETTINGS)
        hooks.site = site
        return site

    def close(self) -> None:
        for place in self.places.values():
            place.close()
        if self.pg is not None:
            self.pg.drop()

    # -- clocks --------------------------------------------------------------------------------

    def _advance(self, ms: int) -> None:
        self.now_ms += ms

    def clock_of(self, code: str) -> Callable[[], datetime]:
        def clock() -> datetime:
            self.now_ms += 7  # time passes while the glue works
            return from_ms(self.now_ms + self.skew[code])
        return clock

    # -- the parent's side of a link -------------------------------------------------------------

    def _answer(self, url: str, data: bytes) -> bytes:
        place = self.places[url]
        assert place.site is not None
        session = place.session(ROLE_PARENT)
        attach(session, self.ledgers[url])
        deferred = self.variant.ack_before_commit
        if deferred:
            session.defer_commit = True
        try:
            answer = answer_child(session, place.site, data, self.clock_of(url)())
            if deferred:
                try:
                    session.really_commit()
                except Crash:
                    session.close()
                    place.reopen()
                return answer.data  # this variant sent the answer before committing
            return answer.data
        except Crash:
            session.close()
            place.reopen()
            raise TransportError("the parent's process died while answering") from None
        finally:
            session.close()

    # -- steps -------------------------------------------------------------------------------------

    def apply(self, step: Step) -> None:
        self.steps_taken += 1
        if isinstance(step, Register):
            self.register(self.villages[step.village % len(self.villages)], scan=step.scan)
        elif isinstance(step, Exchange):
            self.exchange(self.children[step.site % len(self.children)], step.fault, step.arg)
        elif isinstance(step, CrashAt):
            self.crash(self.children[step.site % len(self.children)], step.point)
        elif isinstance(step, Snapshot):
            self._snapshot(self.relays[step.site % len(self.relays)])
        elif isinstance(step, Restore):
            self.restore(self.relays[step.site % len(self.relays)], step.pick)
        elif isinstance(step, Tick):
            self._advance(step.seconds * 1000)
        elif isinstance(step, Revoke):
            self.revoke()
        elif isinstance(step, Publish):
            self.publish()
        elif isinstance(step, Forge):
            self.forge(self.villages[step.village % len(self.villages)])

    def register(self, code: str, *, scan: bool = False) -> None:
        """A citizen's application at a village: one ``registered`` event (and a scan)."""
        place = self.places[code]
        assert place.site is not None and place.blobs is not None
        site = place.site
        with place.session() as session:
            attach(session, self.ledgers[code])
            now = self.clock_of(code)()
            link = load_parent_link(session, site=code, parent=site.parent or "",
                                    epoch=site.epoch)
            payload: dict[str, object] = {"item_code": "MZ-0203",
                                          "applicant": {"name": "张三"}}
            if scan:
                n = len(self.scans)
                data = hashlib.sha256(f"{code}:{n}".encode()).digest() * (150 + 61 * (n % 5))
                sha = place.blobs.put(data)
                self.scans[sha] = code
                payload["materials"] = [{"code": "ID", "sha256": sha, "size": len(data),
                                         "media_type": "image/jpeg"}]
            own = store.OwnEvent(uuid.uuid4(), f"agent@{code}", "registered", payload,
                                 to_ms(link.corrected(now)))
            events = store.author_events(session, site.key, site.sealer, [own],
                                         epoch=site.epoch, up=True, now_ms=to_ms(now))
            _record_authored(session, events)
            session.commit()

    def exchange(self, code: str, fault: str = NONE, arg: int = 0) -> SyncOutcome | None:
        """One real ``sync_with_parent`` of ``code``, with ``fault`` on its frames."""
        outcomes = self._sync(code, fault, arg, rounds=1)
        return outcomes[0] if outcomes else None

    def _sync(self, code: str, fault: str, arg: int, rounds: int) -> list[SyncOutcome]:
        place = self.places[code]
        assert place.site is not None
        self.transport.arm(code, fault, arg)
        session = place.session(ROLE_CHILD)
        attach(session, self.ledgers[code])
        try:
            outcomes = sync_until_quiet(session, place.site, self.transport,
                                        self.clock_of(code), max_rounds=rounds)
        except Crash:
            session.close()
            place.reopen()
            return []
        finally:
            session.close()
        for outcome in outcomes:
            self._note(code, outcome)
        return outcomes

    def _note(self, code: str, outcome: SyncOutcome) -> None:
        error = outcome.error or ""
        if "clock_skew" in error:
            self.reached.counts[SKEW_REFUSED] += 1
            self.skew_refused.add(code)
        elif outcome.ok and code in self.skew_refused:
            self.skew_refused.discard(code)
            self.reached.counts[SKEW_CORRECTED] += 1
        if "key_revoked" in error and self.revoked and code == self.revoked[0]:
            self.reached.counts[REVOKED_REFUSED] += 1

    def crash(self, code: str, point: str) -> None:
        """Exchange on ``code``'s link with the crash armed at ``point`` (on the side it names)."""
        side = self.places[self.parents[code] or HUB] if point.startswith("parent") else None
        target = side or self.places[code]
        tries, path = CRASH_TRIES, [code]
        if point == PARENT_MID_SCAN:  # a chunk travels after the ack, the offer and the want
            tries *= 3
            path = self._scan_path(code)
            if path[0] in self.villages:
                self.register(path[0], scan=True)
        target.plan.arm(point)
        try:
            for _ in range(tries):
                for site in path:
                    self.exchange(site)
                    if target.plan.fired:
                        break
                if target.plan.fired:
                    break
        finally:
            target.plan.arm(None)

    def _scan_path(self, code: str) -> list[str]:
        """The links from a village below ``code`` (not the revoked one) up to ``code``'s:
        a scan registered there reaches ``code``'s link after a few exchanges."""
        revoked = self.revoked[0] if self.revoked else ""
        for village in self.villages:
            path = [village]
            while path[-1] != code and self.parents[path[-1]] is not None:
                path.append(self.parents[path[-1]] or HUB)
            if village != revoked and path[-1] == code:
                return path
        return [code]

    def _snapshot(self, code: str) -> None:
        name = f"s{len(self.snapshots[code])}"
        place = self.places.get(code)
        if place is None:
            return
        self._storage(code).snapshot(place, name)
        self.snapshots[code].append((name, self.ledgers[code].copy(), place.epoch))

    def restore(self, code: str, pick: int) -> None:
        """Bring ``code`` back from one of its earlier snapshots; a new epoch begins."""
        name, ledger, _ = self.snapshots[code][pick % len(self.snapshots[code])]
        place = self.places[code]
        if not self.variant.restore_keeps_epoch:
            place.epoch += 1
        self._storage(code).restore(place, name)
        self.ledgers[code] = ledger.copy()
        self.reached.counts[RESTORED] += 1
        self.restored.add(code)
        if code == HUB:  # the operator publishes again what the backup predates
            with place.session() as session:
                for release in self.published:
                    store.keep_release(session, release, self.now_ms)
                session.commit()

    def revoke(self) -> None:
        """The last village's key is revoked (a stolen PC): valid through what the hub holds."""
        if self.revoked is not None:
            return
        village = self.villages[-1]
        hub = self.places[HUB]
        with hub.session() as session:
            held = session.scalar(select(store.SyncEvent.seq).where(
                store.SyncEvent.origin == village).order_by(store.SyncEvent.seq.desc()).limit(1))
            through = int(held or 0)
            now = self.clock_of(HUB)()
            release = sign_release(
                self.hub_key, kind="revocations", version=1,
                content=revocations_content([Revocation(self.keys[village].key_id, village, 1,
                                                        through)]),
                effective_from=now - timedelta(minutes=1), expires_at=now + timedelta(days=60))
            store.keep_release(session, release, to_ms(now))
            session.commit()
        self.published.append(release)
        self.revoked = (village, through)
        self.newest["revocations"] = 1
        self.reached.counts[REVOKED] += 1

    def publish(self) -> None:
        """A new catalogue release at the hub, in the middle of the run."""
        version = self.newest.get("catalogue", 0) + 1
        hub = self.places[HUB]
        with hub.session() as session:
            now = self.clock_of(HUB)()
            release = sign_release(self.hub_key, kind="catalogue", version=version,
                                   content=f"catalogue {version}".encode(),
                                   effective_from=now - timedelta(minutes=1),
                                   expires_at=now + timedelta(days=60))
            store.keep_release(session, release, to_ms(now))
            session.commit()
        self.published.append(release)
        self.newest["catalogue"] = version
        self.reached.counts[PUBLISHED] += 1

    def forge(self, village: str) -> None:
        """A run under ``village``'s name from an impostor's key, sent to its parent."""
        parent = self.parents[village] or HUB
        impostor = generate_key(village)
        rogue_hub = generate_key(HUB)
        cert = issue_certificate(rogue_hub, site=village, parent=parent, tier="village",
                                 public_raw=impostor.public_raw, now=from_ms(self.now_ms))
        now = self.clock_of(village)()
        head = ChainHead.genesis(village, 1)
        events = []
        for i in range(2):
            e = append_event(head, impostor, case_id=uuid.uuid4(), actor="agent@x", at=now,
                             type="registered", payload={"n": i})
            events.append(e)
            head = e.head
        self.forged |= {e.hash for e in events}
        ex = ChildExchange(key=impostor, keyring=KeyRing(HUB, self.hub_key.public_raw),
                           link=ParentLink(site=village, parent=parent),
                           own_credentials=(cert,))
        out = ex.request(now, pending=events)
        try:
            self._answer(parent, out.data)
        except TransportError:
            return
        self.reached.counts[FORGED_REFUSED] += 1

    # -- heal and check ----------------------------------------------------------------------------

    def heal(self) -> None:
        """Faults stop; every site syncs, bottom-up then top-down, until nothing moves."""
        for ledger in self.ledgers.values():
            ledger.healing = True
        for place in self.places.values():
            place.plan.arm(None)
        self.transport.flush_held()
        by_depth = sorted(self.children, key=self._level, reverse=True)
        for _ in range(HEAL_ROUNDS):
            moved, failed = 0, 0
            for code in [*by_depth, *reversed(by_depth)]:
                if self.revoked is not None and code == self.revoked[0]:
                    self._sync(code, NONE, 0, rounds=1)  # refused: nothing of it moves
                    continue
                for o in self._sync(code, NONE, 0, rounds=QUIET_ROUNDS):
                    moved += o.sent + o.received + o.receipts + o.releases + o.blob_bytes
                    failed += not o.ok
            if moved == 0 and failed == 0:
                return

    def scans_missing(self) -> int:
        hub = self.places[HUB]
        assert hub.blobs is not None
        gone = 0
        for sha, village in self.scans.items():
            if self.revoked is not None and village == self.revoked[0]:
                continue
            if not (hub.blobs.has(sha) and hub.blobs.verify(sha)):
                gone += 1
        return gone

    def verdict(self) -> Totals:
        return check(Facts(self.parents, self.ledgers, HUB, self.revoked, self.forged,
                           dict(self.newest), self.scans_missing(), set(self.restored)))


def run_schedule(root: Path, steps: Sequence[Step], *, depth: int = 3,
                 skews_ms: Sequence[int] = (), pg_url: str | None = None,
                 variant: Variant | None = None) -> Run:
    """Build a tree, apply ``steps``, heal, check."""
    world = World(root, depth=depth, skews_ms=skews_ms, pg_url=pg_url, variant=variant)
    try:
        for step in steps:
            world.apply(step)
        world.heal()
        return Run(world.verdict(), world.reached)
    finally:
        world.close()

