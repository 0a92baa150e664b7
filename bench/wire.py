"""Wire benchmark of the sync protocol: bytes per case, round trips, CPU per event.

Run from the repository root::

    .venv/bin/python -m bench.wire            # all figures (about a minute)
    .venv/bin/python -m bench.wire --quick    # fewer repetitions

Reads the peer records from ``../shared/bench-data/`` (beside the checkout) and
generates realistic ~1 KB registrations itself. Bytes are whole frames as the
library emits them (header, compressed body, hop signature); the HTTP request
line and headers the glue adds are printed separately.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import zstandard

from bench.wire_data import registrations
from sync_protocol import (
    ChainHead,
    ChildExchange,
    ChildLink,
    Codec,
    Event,
    KeyRing,
    ParentExchange,
    ParentLink,
    Refused,
    SiteKey,
    ZstdDictionary,
    append_event,
    generate_key,
    issue_certificate,
    train_dictionary,
)
from sync_protocol.batching import MAX_BATCH
from sync_protocol.messages import LinkPosition, encode_request

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "bench-data"
HUB = "330100"
RELAY = "330100001"
T0 = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
HTTP_REQUEST_HEAD = (
    "POST /api/v1/sync/exchange HTTP/1.1\r\nHost: hub.example.gov.cn\r\n"
    "Content-Type: application/x-sanji-frame\r\nContent-Length: 000000\r\n\r\n"
)
HTTP_RESPONSE_HEAD = (
    "HTTP/1.1 200 OK\r\nContent-Type: application/x-sanji-frame\r\n"
    "Content-Length: 000000\r\n\r\n"
)
BATCHES = (1, 10, 100, 1000)


@dataclass
class World:
    """A hub key, a parent site and certified origins below it."""

    hub: SiteKey
    parent: SiteKey
    keys: dict[str, SiteKey]
    ring: KeyRing

    @classmethod
    def make(cls, origins: Sequence[str], relay: str | None) -> World:
        hub = generate_key(HUB)
        parent = generate_key(RELAY if relay is None else HUB)
        ring = KeyRing(HUB, hub.public_raw)
        keys: dict[str, SiteKey] = {}
        if relay is None:
            ring.add(issue_certificate(hub, site=RELAY, parent=HUB, tier="township",
                                       public_raw=parent.public_raw, now=T0))
        else:
            parent = hub
            keys[relay] = generate_key(relay)
            ring.add(issue_certificate(hub, site=relay, parent=HUB, tier="township",
                                       public_raw=keys[relay].public_raw, now=T0))
        for origin in origins:
            keys[origin] = generate_key(origin)
            ring.add(issue_certificate(hub, site=origin, parent=relay or RELAY, tier="village",
                                       public_raw=keys[origin].public_raw, now=T0))
        return cls(hub, parent, keys, ring)


@dataclass
class Dataset:
    name: str
    records: list[tuple[uuid.UUID, str, str, datetime, dict[str, Any]]]
    """case id, origin, actor, time, payload"""
    raw_json: list[bytes]
    sender: str
    relay: str | None


def peer_dataset(lines: list[bytes], *, relayed: bool) -> Dataset:
    records = []
    for line in lines:
        r = json.loads(line)
        case_id = uuid.UUID(r.pop("id"))
        at = datetime.fromisoformat(r.pop("created").replace("Z", "+00:00"))
        origin = r["site_code"] if relayed else "330100001001"
        if relayed:
            r.pop("site_code")
        records.append((case_id, origin, r.pop("handler"), at, r))
    name = "peer records, relayed (80 origins)" if relayed else "peer records, one origin"
    return Dataset(name, records, lines, "330100009" if relayed else "330100001001",
                   "330100009" if relayed else None)


def registration_dataset(n: int, seed: int = 7) -> Dataset:
    regs = registrations(n, seed=seed, origin="330100001001")
    raw = [json.dumps(r, ensure_ascii=False, separators=(",", ":")).encode() for r in regs]
    records = [(uuid.UUID(r["case_id"]), r["origin"], r["actor"],
                datetime.fromisoformat(r["at"].replace("Z", "+00:00")), r["payload"])
               for r in regs]
    return Dataset("registrations (~1 KB JSON)", records, raw, "330100001001", None)


def author(world: World, data: Dataset, n: int) -> tuple[list[Event], float]:
    """Hash and sign the first ``n`` records as their origins would; CPU seconds."""
    heads: dict[str, ChainHead] = {}
    out = []
    start = time.process_time()
    for case_id, origin, actor, at, payload in data.records[:n]:
        head = heads.get(origin) or ChainHead.genesis(origin, 1)
        e = append_event(head, world.keys[origin], case_id=case_id, actor=actor, at=at,
                         type="registered", payload=payload)
        heads[origin] = e.head
        out.append(e)
    return out, time.process_time() - start


@dataclass
class Row:
    request: int
    response: int
    zstd_json: int
    round_trips_adapted: int
    round_trips_fresh: int
    encode_us: float
    verify_us: float


def exchange(world: World, data: Dataset, events: list[Event], *, codec: Codec,
             dictionary: ZstdDictionary | None, batch: int, now: datetime,
             link: ChildLink | None = None) -> tuple[bytes, bytes, float, float, ChildLink, int]:
    child_key = world.keys[data.sender]
    parent_site = RELAY if data.relay is None else HUB
    plink = ParentLink(site=data.sender, parent=parent_site, parent_epoch=1,
                       introduced=True, batch_events=batch)
    child = ChildExchange(key=child_key, keyring=world.ring, link=plink, codec=codec,
                          dictionary=dictionary)
    t = time.process_time()
    out = child.request(now, pending=events)
    t_enc = time.process_time() - t
    parent = ParentExchange(key=world.parent, keyring=world.ring,
                            link=link or ChildLink(data.sender), epoch=1,
                            dictionaries={dictionary.dict_id: dictionary} if dictionary else None)
    t = time.process_time()
    incoming = parent.receive(out.data, now)
    t_ver = time.process_time() - t
    state = parent.stored()
    response = parent.respond(now)
    result = child.receive(response, now)
    assert not isinstance(result, Refused)
    return out.data, response, t_enc, t_ver, state, len(incoming.new_events)


def round_trips(world: World, data: Dataset, events: list[Event], batch: int) -> int:
    """Exchanges needed to move ``events`` with a link whose batch size is ``batch``,
    growing as the library adapts it after quick successes."""
    remaining = list(events)
    link = ChildLink(data.sender)
    trips = 0
    now = T0 + timedelta(days=30)
    while remaining:
        _, _, _, _, link, moved = exchange(world, data, remaining, codec=Codec.ZSTD,
                                           dictionary=None, batch=batch, now=now, link=link)
        trips += 1
        done = {(o, e) for (o, e) in link.heads}
        remaining = [x for x in remaining
                     if not ((x.origin, x.epoch) in done
                             and x.seq <= link.heads[(x.origin, x.epoch)].seq)]
        batch = min(MAX_BATCH, batch * 2)
        now += timedelta(seconds=5)
        assert moved or not remaining
    return trips


def measure(world: World, data: Dataset, n: int, codec: Codec,
            dictionary: ZstdDictionary | None, reps: int) -> Row:
    events, t_author = author(world, data, n)
    best_enc = best_ver = float("inf")
    req = resp = b""
    for i in range(reps):
        req, resp, t_enc, t_ver, _, _ = exchange(
            world, data, events, codec=codec, dictionary=dictionary, batch=max(n, 10),
            now=T0 + timedelta(days=30, seconds=i))
        best_enc, best_ver = min(best_enc, t_enc), min(best_ver, t_ver)
    raw = b"\n".join(data.raw_json[:n])
    zjson = len(zstandard.ZstdCompressor(level=19).compress(raw))
    fresh = round_trips(world, data, events, 200) if codec is Codec.ZSTD else 0
    return Row(len(req), len(resp), zjson, 1, fresh,
               (t_author + best_enc) / n * 1e6, best_ver / n * 1e6)


def train(world: World, data: Dataset, sample: slice) -> ZstdDictionary:
    """A dictionary trained on single-event request bodies of records outside the batch."""
    events, _ = author(world, data, len(data.records))
    bodies = [encode_request(
        sender=data.sender, recipient=RELAY, sent_at_ms=0, nonce=bytes(16), sender_epoch=1,
        parent_epoch_seen=1, down_ack=LinkPosition(), runs=[[e]], credentials=(),
        blob_offers=(), blob_chunks=(), releases_known={}, accept_codecs=[0, 1, 2, 3],
        dictionaries=[]) for e in events[sample]]
    return train_dictionary(bodies, size=16_384)


def report(title: str, rows: list[tuple[int, str, Row]], show: Callable[[str], None]) -> None:
    show(f"\n### {title}\n")
    show("| batch | codec | request B/case | + response B/case | vs zstd-19 of raw JSON "
         "| round trips (adapted link / fresh link) | encode+sign µs/event "
         "| verify+decode µs/event | verify+decode events/s |")
    show("|---:|---|---:|---:|---:|---|---:|---:|---:|")
    for n, codec, r in rows:
        fresh = str(r.round_trips_fresh) if r.round_trips_fresh else "-"
        show(f"| {n} | {codec} | {r.request / n:.1f} | {(r.request + r.response) / n:.1f} "
             f"| {r.request / r.zstd_json:.2f} ({r.zstd_json / n:.1f} B/case) "
             f"| {r.round_trips_adapted} / {fresh} | {r.encode_us:.0f} | {r.verify_us:.0f} "
             f"| {1e6 / r.verify_us:,.0f} |")


def main(argv: list[str] | None = None) -> int:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_known_args(argv)
    quick = "--quick" in (argv if argv is not None else sys.argv[1:])
    del args
    reps = 2 if quick else 5
    first = DATA / "peer-cases-1000.jsonl"
    nxt = DATA / "peer-cases-next-10.jsonl"
    if not first.is_file() or not nxt.is_file():
        print(f"error: benchmark data not found in {DATA} (expected peer-cases-1000.jsonl and "
              "peer-cases-next-10.jsonl beside the checkout, in ../shared/bench-data/)",
              file=sys.stderr)
        return 2
    lines = first.read_bytes().splitlines()
    next_lines = nxt.read_bytes().splitlines()
    show = print
    show(f"# Wire benchmark, {datetime.now(UTC):%Y-%m-%d}; frames only "
         f"(HTTP/1.1 heads add about {len(HTTP_REQUEST_HEAD) + len(HTTP_RESPONSE_HEAD)} "
         "bytes per round trip)")
    datasets = [peer_dataset(lines, relayed=False), peer_dataset(lines, relayed=True),
                registration_dataset(1000)]
    for data in datasets:
        origins = sorted({r[1] for r in data.records})
        world = World.make(origins, data.relay)
        dictionary = train(world, registration_dataset(600, seed=99)
                           if data.name.startswith("registrations") else data,
                           slice(0, 600) if data.name.startswith("registrations")
                           else slice(500, 1000))
        rows = []
        for n in BATCHES:
            for codec, d in ((Codec.ZSTD, None), (Codec.ZSTD_DICT, dictionary),
                             (Codec.GZIP, None), (Codec.NONE, None)):
                if codec is Codec.NONE and n < 1000:
                    continue
                rows.append((n, {Codec.ZSTD: "zstd-19", Codec.ZSTD_DICT: "zstd-19+dict",
                                 Codec.GZIP: "gzip-9", Codec.NONE: "none"}[codec],
                             measure(world, data, n, codec, d, reps)))
        report(data.name, rows, show)
    # the ten records that arrive after an initial sync of the thousand
    data = peer_dataset(lines + next_lines, relayed=False)
    world = World.make(sorted({r[1] for r in data.records}), None)
    events, _ = author(world, data, len(data.records))
    _, _, _, _, link, _ = exchange(world, data, events[:1000], codec=Codec.ZSTD,
                                   dictionary=None, batch=1000, now=T0 + timedelta(days=30))
    req, resp, _, _, _, moved = exchange(world, data, events[1000:], codec=Codec.ZSTD,
                                         dictionary=None, batch=200,
                                         now=T0 + timedelta(days=30, minutes=1), link=link)
    show(f"\nThen the 10 new peer records: {moved} events, 1 round trip, request {len(req)} B + "
         f"response {len(resp)} B = {len(req) + len(resp)} B "
         f"(+ {len(HTTP_REQUEST_HEAD) + len(HTTP_RESPONSE_HEAD)} B HTTP heads)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
