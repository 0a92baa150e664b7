"""An in-memory tree of sites exchanging over faulty links, with crashes and restores.

No sockets: a "link" hands bytes from a child's ``ChildExchange`` to its parent's
``ParentExchange`` and back, and may drop, duplicate, truncate, delay or swap
them. Each site keeps a durable part (what a real site writes to its database,
committed at the points the library's usage notes name) and volatile parts
(its keyring object, an exchange in flight) that a crash throws away.
"""

from __future__ import annotations

import copy
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sync_protocol import (
    ChainHead,
    ChildExchange,
    ChildLink,
    Credential,
    DownItem,
    Event,
    EventKey,
    ExchangeResult,
    KeyRing,
    LinkPosition,
    ParentExchange,
    ParentLink,
    ProtocolError,
    Receipt,
    Refused,
    Release,
    WrongAddress,
    append_event,
    case_id_for,
    is_derived,
    issue_receipt,
    request_sender,
)
from sync_protocol.features import CHILD_DEFAULT, SPARSE_SIGNATURES
from tests.sync_protocol.tree import HUB, T0, Tree

DOWN_LIMIT = 50


@dataclass
class Durable:
    """What a site has committed to disk."""

    epoch: int
    head: ChainHead
    events: dict[EventKey, Event] = field(default_factory=dict)
    applied: Counter[EventKey] = field(default_factory=Counter)
    outbox_up: dict[EventKey, Event] = field(default_factory=dict)
    dead: set[EventKey] = field(default_factory=set)
    parent_link: ParentLink | None = None
    child_links: dict[str, ChildLink] = field(default_factory=dict)
    down: dict[str, list[DownItem]] = field(default_factory=dict)
    down_next: dict[str, int] = field(default_factory=dict)
    receipts: dict[tuple[str, int], int] = field(default_factory=dict)
    credentials: list[Credential] = field(default_factory=list)
    to_forward: list[Credential] = field(default_factory=list)
    releases: list[Release] = field(default_factory=list)
    decided: set[uuid.UUID] = field(default_factory=set)


@dataclass
class Faults:
    """What goes wrong during one exchange."""

    drop_request: bool = False
    duplicate_request: bool = False
    truncate_request: int = 0
    hold_request: bool = False
    drop_response: bool = False
    truncate_response: int = 0
    crash_parent_before_store: bool = False
    crash_parent_before_respond: bool = False
    crash_child_before_store: bool = False


class Site:
    def __init__(self, code: str, tree: Tree, skew: timedelta) -> None:
        self.code = code
        self.tree = tree
        self.key = tree.keys[code]
        self.parent = tree.parents[code]
        self.children = tree.children(code)
        self.skew = skew
        self.d = Durable(epoch=1, head=ChainHead.genesis(code, 1),
                         credentials=[tree.certs[code]])
        if self.parent is not None:
            self.d.parent_link = ParentLink(site=code, parent=self.parent)
        for c in self.children:
            self.d.child_links[c] = ChildLink(c)
            self.d.down[c] = []
            self.d.down_next[c] = 0
        self.snapshots: list[Durable] = []
        self.restart()

    # -- lifecycle --------------------------------------------------------------------
    def restart(self) -> None:
        """Come back from a crash: rebuild volatile state from the durable part."""
        self.keyring = KeyRing(HUB, self.tree.hub_key.public_raw)
        if self.code == HUB:
            self.keyring.add_all(self.tree.certs.values())
        for c in self.d.credentials:
            self.keyring.add(c)
        for release in self.d.releases:
            if release.kind == "revocations":
                from sync_protocol import revocations_in

                self.keyring.revoke(revocations_in(release))

    def snapshot(self) -> None:
        self.snapshots.append(copy.deepcopy(self.d))

    def restore(self) -> None:
        """Restore the oldest snapshot (or the initial state) and start a new epoch."""
        if self.snapshots:
            self.d = copy.deepcopy(self.snapshots[0])
        epoch = max(self.d.epoch, self.highest_epoch) + 1
        self.highest_epoch = epoch
        self.d.epoch = epoch
        self.d.head = ChainHead.genesis(self.code, epoch)
        self.d.down_next = dict.fromkeys(self.d.down_next, 0)
        if self.d.parent_link is not None:
            from dataclasses import replace

            self.d.parent_link = replace(self.d.parent_link, epoch=epoch)
        self.restart()

    highest_epoch = 1
    last_error: ProtocolError | None = None

    def local(self, now: datetime) -> datetime:
        return now + self.skew

    # -- authoring ----------------------------------------------------------------------
    def register(self, now: datetime) -> Event:
        link = self.d.parent_link
        at = link.corrected(self.local(now)) if link else now
        # a new case's id derives from the key of the event that registers it
        case_id = case_id_for(self.code, self.d.head.epoch, self.d.head.seq + 1)
        event = append_event(self.d.head, self.key, case_id=case_id,
                             actor=f"agent@{self.code}", at=at, type="registered",
                             payload={"item_code": "MZ-0203", "form": {"size": 3}})
        self._author(event)
        return event

    def _author(self, event: Event) -> None:
        self.d.head = event.head
        self.insert(event)
        if self.parent is not None:
            self.d.outbox_up[event.key] = event

    def insert(self, event: Event) -> bool:
        """Insert if absent, like a UNIQUE (origin, epoch, seq) constraint."""
        if event.key in self.d.events:
            return False
        self.d.events[event.key] = event
        self.d.applied[event.key] += 1
        return True

    def enqueue_down(self, child: str, item: Event | Receipt) -> None:
        self.d.down_next[child] += 1
        pos = LinkPosition(self.d.epoch, self.d.down_next[child])
        self.d.down[child].append(DownItem(pos, item))

    def child_toward(self, site: str) -> str | None:
        path = self.tree.path_to_hub(site)
        for c in self.children:
            if c in path:
                return c
        return None

    # -- parent side ----------------------------------------------------------------------
    def handle(self, data: bytes, now: datetime, faults: Faults) -> bytes | None:
        try:
            sender = request_sender(data, self.keyring)
        except ProtocolError:
            return None
        link = self.d.child_links.get(sender)
        # as a site reads its keys for each request: what a refused or crashed request
        # brought (a certificate adopted before the refusal) is not kept
        ring = self.keyring.copy()
        ex = ParentExchange(key=self.key, keyring=ring,
                            link=link or ChildLink(sender), epoch=self.d.epoch,
                            own_credentials=[self.tree.certs[self.code]])
        if link is None:
            return ex.refuse(WrongAddress("request.sender", "not a child of this site"), now)
        try:
            incoming = ex.receive(data, self.local(now))
        except ProtocolError as err:
            self.d.child_links[sender] = ex.link
            return ex.refuse(err, self.local(now))
        if faults.crash_parent_before_store:
            self.restart()
            return None
        # one transaction: events, credentials, link state
        self.keyring = ring
        for c in incoming.credentials:
            if c not in self.d.credentials:
                self.d.credentials.append(c)
                self.d.to_forward.append(c)
        for e in incoming.new_events:
            if self.insert(e) and self.parent is not None:
                self.d.outbox_up[e.key] = e
        self.d.child_links[sender] = ex.stored()
        if self.code == HUB:
            self._answer_as_hub(incoming.new_events, sender, now)
        if faults.crash_parent_before_respond:
            self.restart()
            return None
        down = [d for d in self.d.down[sender] if d.position > incoming.down_ack][:DOWN_LIMIT]
        releases = self.d.releases if self.code == HUB else self._latest_releases()
        return ex.respond(self.local(now), down=down, releases=releases,
                          case_keys=self.opening_keys().get)

    def opening_keys(self) -> dict[uuid.UUID, EventKey]:
        """The key each held case's id derives from (what the glue looks up in its store)."""
        return {e.case_id: e.key for e in self.d.events.values()
                if is_derived(e.case_id, e.origin, e.epoch, e.seq)}

    def _latest_releases(self) -> list[Release]:
        return list(self.d.releases)

    def _answer_as_hub(self, events: tuple[Event, ...], child: str, now: datetime) -> None:
        chains: dict[tuple[str, int], int] = {}
        for e in events:
            chains[(e.origin, e.epoch)] = max(chains.get((e.origin, e.epoch), 0), e.seq)
            if e.type == "registered" and e.case_id not in self.d.decided:
                self.d.decided.add(e.case_id)
                result = append_event(self.d.head, self.key, case_id=e.case_id,
                                      actor="window@431000", at=now, type="decided",
                                      payload={"for": e.origin, "outcome": "approved"})
                self._author(result)
                self.enqueue_down(child, result)
        for (origin, epoch), seq in chains.items():
            receipt = issue_receipt(self.key, origin=origin, epoch=epoch, through_seq=seq,
                                    now=now)
            self.enqueue_down(child, receipt)

    # -- child side ------------------------------------------------------------------------
    def begin(self, now: datetime) -> tuple[ChildExchange, bytes]:
        assert self.d.parent_link is not None
        # a site that relays to no child takes one signature per run
        features = (CHILD_DEFAULT if self.children
                    else (*CHILD_DEFAULT, SPARSE_SIGNATURES))
        ex = ChildExchange(key=self.key, keyring=self.keyring, link=self.d.parent_link,
                           own_credentials=[self.tree.certs[self.code]], features=features)
        out = ex.request(self.local(now), pending=list(self.d.outbox_up.values()),
                         credentials=self.d.to_forward, case_keys=self.opening_keys().get)
        return ex, out.data

    def finish(self, ex: ChildExchange, data: bytes | None, now: datetime,
               faults: Faults) -> ExchangeResult | Refused | None:
        if data is None:
            self.d.parent_link = ex.failed()
            return None
        try:
            result = ex.receive(data, self.local(now), known=lambda k: k in self.d.events)
        except ProtocolError as err:
            self.last_error = err
            self.d.parent_link = ex.link
            return None
        if isinstance(result, Refused):
            self.d.parent_link = result.link
            return result
        if faults.crash_child_before_store:
            self.restart()
            return result
        self.d.to_forward = []
        self.d.credentials += [c for c in result.credentials if c not in self.d.credentials]
        self._apply_acks(result)
        for e in result.new_events:
            if self.insert(e):
                target = e.payload.get("for")
                if isinstance(target, str) and target != self.code:
                    child = self.child_toward(target)
                    if child is not None:
                        self.enqueue_down(child, e)
        for r in result.receipts:
            chain = (r.origin, r.epoch)
            if r.through_seq > self.d.receipts.get(chain, 0):
                self.d.receipts[chain] = r.through_seq
                child = self.child_toward(r.origin)
                if child is not None and r.origin != self.code:
                    self.enqueue_down(child, r)
        for release in result.releases:
            self.d.releases.append(release)
        self.d.parent_link = ex.stored()
        return result

    def _apply_acks(self, result: ExchangeResult) -> None:
        marks = result.watermarks
        for refusal in result.refused:
            if refusal.code == "key_unknown":
                # the parent lost or never had the origin's certificate: forward it again
                self.d.to_forward += [c for c in self.d.credentials
                                      if c.site == refusal.origin and c not in self.d.to_forward]
                continue
            if refusal.code != "gap":
                for k in [k for k in self.d.outbox_up
                          if (k.origin, k.epoch) == (refusal.origin, refusal.epoch)
                          and k.seq >= refusal.first_seq]:
                    self.d.dead.add(k)
                    del self.d.outbox_up[k]
        for k in [k for k in self.d.outbox_up if k.seq <= marks.get((k.origin, k.epoch), 0)]:
            del self.d.outbox_up[k]
        if result.complete:
            for k, e in self.d.events.items():
                if (k not in self.d.dead and self.tree_within(k.origin)
                        and k.seq > marks.get((k.origin, k.epoch), 0)):
                    self.d.outbox_up[k] = e

    def tree_within(self, origin: str) -> bool:
        return self.code in self.tree.path_to_hub(origin)


class Network:
    """Sites of one tree plus the links between them and a simulated clock."""

    def __init__(self, tree: Tree, skews: dict[str, timedelta] | None = None) -> None:
        self.tree = tree
        self.now = T0
        self.sites = {code: Site(code, tree, (skews or {}).get(code, timedelta()))
                      for code in tree.parents}
        self.held: list[tuple[str, bytes]] = []
        self.registered: dict[EventKey, str] = {}

    @property
    def hub(self) -> Site:
        return self.sites[HUB]

    def non_hub(self) -> list[str]:
        return sorted((c for c in self.sites if c != HUB),
                      key=lambda c: (-len(self.tree.path_to_hub(c)), c))

    def villages(self) -> list[str]:
        return [c for c in self.sites if self.tree.tiers[c] == "village"]

    def tick(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def register(self, site: str) -> Event:
        e = self.sites[site].register(self.now)
        self.registered[e.key] = site
        return e

    def exchange(self, child_code: str, faults: Faults | None = None) -> object:
        faults = faults or Faults()
        child = self.sites[child_code]
        parent = self.sites[child.parent or HUB]
        ex, data = child.begin(self.now)
        self.tick(0.2)
        if faults.hold_request:
            self.held.append((parent.code, data))
        if faults.truncate_request:
            data = data[: max(0, len(data) - faults.truncate_request)]
        response: bytes | None = None
        if not faults.drop_request:
            response = parent.handle(data, self.now, faults)
            if faults.duplicate_request:
                again = parent.handle(data, self.now, Faults())
                response = again if faults.truncate_response % 2 else response
        self.tick(0.2)
        if response is not None and faults.truncate_response:
            response = response[: max(0, len(response) - faults.truncate_response)]
        if faults.drop_response:
            response = None
        return child.finish(ex, response, self.now, faults)

    def deliver_held(self) -> None:
        """Hand a delayed request to its parent now; its answer reaches nobody."""
        if self.held:
            parent, data = self.held.pop(0)
            self.sites[parent].handle(data, self.now, Faults())

    def heal(self, max_rounds: int = 20) -> int:
        """Clean exchanges, deepest sites first, until nothing moves. Returns rounds."""
        for n in range(1, max_rounds + 1):
            before = self.fingerprint()
            for code in self.non_hub():
                self.exchange(code)
                self.tick(1)
            for code in reversed(self.non_hub()):
                self.exchange(code)
                self.tick(1)
            if self.fingerprint() == before and self.quiet():
                return n
        raise AssertionError("the network did not settle")

    def fingerprint(self) -> tuple[int, ...]:
        return tuple(len(s.d.events) + len(s.d.outbox_up) + sum(s.d.receipts.values())
                     for s in self.sites.values())

    def quiet(self) -> bool:
        for s in self.sites.values():
            if s.d.outbox_up:
                return False
            for child, items in s.d.down.items():
                ack = self.sites[child].d.parent_link
                assert ack is not None
                if items and items[-1].position > ack.down_ack:
                    return False
        return True
