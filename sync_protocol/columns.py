"""The columnar layout of one chain's events inside an upward batch.

Many tiny records compress far better field by field than record by record:
all case ids sit together as one byte string, times as deltas, actors and
types as a small table plus indexes, and payload values column by column (one
column per leaf path of the payloads). Sequence numbers are implicit (first
seq + position) and hashes are not sent at all: the receiver recomputes them.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sync_protocol.canonical import MAX_PAYLOAD_DEPTH, JsonValue, check_payload
from sync_protocol.case_ids import case_id_for, is_derived
from sync_protocol.errors import LocalProtocolError, Malformed
from sync_protocol.events import MAX_ACTOR, MAX_TYPE, Event, EventKey
from sync_protocol.fields import as_bytes, as_int, as_list, as_map, as_str, get
from sync_protocol.keys import KEY_ID_SIZE, SIGNATURE_SIZE, Signature
from sync_protocol.sites import check_site_code
from sync_protocol.times import MAX_MS, to_ms

MAX_BATCH_EVENTS = 20_000
MAX_GROUPS = 4_096
MAX_PATHS = 4_096

Path = tuple[str, ...]
CaseKeys = Callable[[uuid.UUID], EventKey | None]
"""The key of the event that opened a case (its id derives from that key), if known."""


@dataclass(frozen=True, slots=True)
class EventRecord:
    """An event as it travels up, before the receiver rebuilds its chain position."""

    case_id: uuid.UUID
    actor: str
    at_ms: int
    type: str
    payload: dict[str, JsonValue]


@dataclass(frozen=True, slots=True)
class ReceivedGroup:
    """A contiguous run of one chain, signed once at its last event."""

    origin: str
    epoch: int
    first_seq: int
    signature: Signature
    records: tuple[EventRecord, ...]

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.records) - 1


# -- encoding ------------------------------------------------------------------------


def _table(values: Sequence[str]) -> list[object]:
    index: dict[str, int] = {}
    positions = [index.setdefault(v, len(index)) for v in values]
    return [list(index), [] if len(index) == 1 else positions]


def _flatten(payload: Mapping[str, Any], prefix: Path, out: list[tuple[Path, Any]]) -> None:
    for key, value in payload.items():
        path = (*prefix, key)
        if isinstance(value, dict) and value:
            _flatten(value, path, out)
        else:
            out.append((path, value))


def case_column(events: Sequence[Event], case_keys: CaseKeys | None = None) -> list[object]:
    """The case of each event as a ref: ``None`` when the id derives from the event's own
    key, ``[origin, epoch, seq]`` when it derives from that key (an earlier event of the
    same list, or what ``case_keys`` answers), an integer ``d`` for ``[origin, epoch,
    seq + d]`` of the ref before it (same chain), else the 16 raw bytes."""
    local: dict[uuid.UUID, EventKey] = {}
    out: list[object] = []
    before: EventKey | None = None
    for e in events:
        if is_derived(e.case_id, e.origin, e.epoch, e.seq):
            local.setdefault(e.case_id, e.key)
            out.append(None)
            continue
        key = local.get(e.case_id)
        if key is None and case_keys is not None and e.case_id.version == 8:
            found = case_keys(e.case_id)
            if found is not None and is_derived(e.case_id, found.origin, found.epoch,
                                                found.seq):
                key = local[e.case_id] = found
        if key is None:
            out.append(e.case_id.bytes)
        elif before is not None and (before.origin, before.epoch) == (key.origin, key.epoch):
            out.append(key.seq - before.seq)
        else:
            out.append([key.origin, key.epoch, key.seq])
        before = key if key is not None else before
    return out


def encode_columns(events: Sequence[Event], *, refs: bool = False,
                   case_keys: CaseKeys | None = None) -> dict[int, object]:
    """The columns of ``events`` (keys 1 or 6, and 2-5 of the spec's batch table)."""
    paths: dict[Path, int] = {}
    shapes: dict[tuple[int, ...], int] = {}
    shape_of: list[int] = []
    columns: list[list[Any]] = []
    for e in events:
        flat: list[tuple[Path, Any]] = []
        _flatten(e.payload, (), flat)
        shape = []
        for path, value in flat:
            idx = paths.get(path)
            if idx is None:
                idx = paths[path] = len(paths)
                columns.append([])
            columns[idx].append(value)
            shape.append(idx)
        shape_of.append(shapes.setdefault(tuple(shape), len(shapes)))
    times = [to_ms(e.at) for e in events]
    deltas = times[:1] + [b - a for a, b in itertools.pairwise(times)]
    out: dict[int, object] = {
        2: deltas,
        3: _table([e.actor for e in events]),
        4: _table([e.type for e in events]),
        5: {
            0: [list(p) for p in paths],
            1: [list(s) for s in shapes],
            2: [] if len(shapes) == 1 else shape_of,
            3: columns,
        },
    }
    if refs:
        out[6] = case_column(events, case_keys)
    else:
        out[1] = b"".join(e.case_id.bytes for e in events)
    return out


def encode_batch(groups: Sequence[Sequence[Event]], *, refs: bool = False,
                 case_keys: CaseKeys | None = None) -> dict[int, object]:
    """Wire map of an upward batch: one header per chain run, then shared columns.

    Each group is a contiguous run of one chain whose last event carries the
    origin's signature; the columns hold every event of every group, in order.
    ``refs`` (the parent reads case refs): the case column (key 6) instead of raw ids.
    """
    headers: list[list[object]] = []
    events: list[Event] = []
    for run in groups:
        if not run:
            raise LocalProtocolError("events", "a group needs at least one event")
        first, last = run[0], run[-1]
        if last.signature is None:
            raise LocalProtocolError("events", "the last event of a group must be signed")
        for i, e in enumerate(run):
            if (e.origin, e.epoch, e.seq) != (first.origin, first.epoch, first.seq + i):
                raise LocalProtocolError("events", "a group must be one contiguous chain run")
        headers.append([first.origin, first.epoch, first.seq, len(run),
                        last.signature.key_id, last.signature.value])
        events.extend(run)
    return {0: headers, **encode_columns(events, refs=refs, case_keys=case_keys)}


# -- decoding ------------------------------------------------------------------------


def _untable(value: object, n: int, field: str, max_len: int) -> list[str]:
    pair = as_list(value, field, max_len=2)
    if len(pair) != 2:
        raise Malformed(field, "expected [table, indexes]")
    table = [as_str(v, f"{field}.table", max_len=max_len)
             for v in as_list(pair[0], f"{field}.table", max_len=n)]
    if not table or any(not v for v in table):
        raise Malformed(field, "empty table or empty value")
    idx = as_list(pair[1], f"{field}.indexes", max_len=n)
    if not idx:
        if len(table) != 1:
            raise Malformed(field, "indexes missing")
        return table * n
    if len(idx) != n:
        raise Malformed(field, "one index per event expected")
    top = len(table) - 1
    return [table[as_int(i, f"{field}.indexes", hi=top)] for i in idx]


def _payloads(value: object, n: int, field: str) -> list[dict[str, JsonValue]]:
    m = as_map(value, field)
    paths: list[Path] = []
    for p in as_list(get(m, 0, f"{field}.paths"), f"{field}.paths", max_len=MAX_PATHS):
        parts = as_list(p, f"{field}.path", max_len=MAX_PAYLOAD_DEPTH)
        if not parts:
            raise Malformed(f"{field}.path", "empty path")
        paths.append(tuple(as_str(s, f"{field}.path", max_len=200) for s in parts))
    shapes: list[list[int]] = []
    for s in as_list(get(m, 1, f"{field}.shapes"), f"{field}.shapes", max_len=n):
        shape = [as_int(i, f"{field}.shape", hi=len(paths) - 1)
                 for i in as_list(s, f"{field}.shape", max_len=MAX_PATHS)]
        if len(set(shape)) != len(shape):
            raise Malformed(f"{field}.shape", "a path appears twice")
        shapes.append(shape)
    if not shapes:
        raise Malformed(f"{field}.shapes", "no shapes")
    shape_idx = as_list(get(m, 2, f"{field}.shape_of"), f"{field}.shape_of", max_len=n)
    if not shape_idx:
        if len(shapes) != 1:
            raise Malformed(f"{field}.shape_of", "missing")
        shape_idx = [0] * n
    elif len(shape_idx) != n:
        raise Malformed(f"{field}.shape_of", "one shape per event expected")
    columns = as_list(get(m, 3, f"{field}.columns"), f"{field}.columns", max_len=MAX_PATHS)
    if len(columns) != len(paths):
        raise Malformed(f"{field}.columns", "one column per path expected")
    cols = [as_list(c, f"{field}.column", max_len=n) for c in columns]
    cursors = [0] * len(cols)
    out: list[dict[str, JsonValue]] = []
    for s in shape_idx:
        shape = shapes[as_int(s, f"{field}.shape_of", hi=len(shapes) - 1)]
        payload: dict[str, JsonValue] = {}
        for p in shape:
            col, cur = cols[p], cursors[p]
            if cur >= len(col):
                raise Malformed(f"{field}.columns", "a column is too short")
            cursors[p] = cur + 1
            _place(payload, paths[p], col[cur], field)
        out.append(payload)
    if cursors != [len(c) for c in cols]:
        raise Malformed(f"{field}.columns", "a column has values no event uses")
    for payload in out:
        check_payload(payload, field=field)
    return out


def _place(payload: dict[str, JsonValue], path: Path, value: object, field: str) -> None:
    target = payload
    for part in path[:-1]:
        nested = target.setdefault(part, {})
        if not isinstance(nested, dict):
            raise Malformed(field, "a path runs through a value")
        target = nested
    if path[-1] in target:
        raise Malformed(field, "a value is placed twice")
    if isinstance(value, dict) and value:
        raise Malformed(field, "non-empty maps are sent as paths")
    target[path[-1]] = value


def run_header(value: object, field: str, size: int, max_count: int
               ) -> tuple[list[object], str, int, int, int]:
    """A run's header of ``size`` elements, and its first four checked: origin, epoch,
    first seq, count (the upward batch's and the down batch's runs start alike)."""
    h = as_list(value, field, max_len=size)
    if len(h) != size:
        raise Malformed(field, f"expected {size} elements")
    origin = check_site_code(as_str(h[0], f"{field}.origin"), f"{field}.origin")
    epoch = as_int(h[1], f"{field}.epoch", lo=1)
    first = as_int(h[2], f"{field}.first_seq", lo=1)
    count = as_int(h[3], f"{field}.count", lo=1, hi=max_count)
    return h, origin, epoch, first, count


def _header(value: object, field: str) -> tuple[str, int, int, int, Signature]:
    h, origin, epoch, first, n = run_header(value, field, 6, MAX_BATCH_EVENTS)
    sig = Signature(as_bytes(h[4], f"{field}.key_id", size=KEY_ID_SIZE),
                    as_bytes(h[5], f"{field}.signature", size=SIGNATURE_SIZE))
    return origin, epoch, first, n, sig


def decode_batch(value: object, field: str = "batch") -> list[ReceivedGroup]:
    """Decode an upward batch; types and bounds are checked, signatures and chains are not."""
    m = as_map(value, field)
    raw_headers = as_list(get(m, 0, f"{field}.groups"), f"{field}.groups", max_len=MAX_GROUPS)
    headers = [_header(h, f"{field}.groups") for h in raw_headers]
    n = sum(h[3] for h in headers)
    if n > MAX_BATCH_EVENTS:
        raise Malformed(f"{field}.groups", f"more than {MAX_BATCH_EVENTS} events")
    if n == 0:
        return []
    keys = [(origin, epoch, first + k) for origin, epoch, first, count, _ in headers
            for k in range(count)]
    records = decode_columns(m, keys, field)
    out: list[ReceivedGroup] = []
    i = 0
    for origin, epoch, first, count, sig in headers:
        out.append(ReceivedGroup(origin, epoch, first, sig, tuple(records[i:i + count])))
        i += count
    return out


def _refs(values: Sequence[object], keys: Sequence[tuple[str, int, int]],
          field: str) -> list[uuid.UUID]:
    """The case ids of a case column (key 6), derived from the refs."""
    out: list[uuid.UUID] = []
    before: tuple[str, int, int] | None = None
    for value, key in zip(values, keys, strict=True):
        if value is None:
            out.append(case_id_for(*key))
            continue
        if isinstance(value, bytes):
            out.append(uuid.UUID(bytes=as_bytes(value, field, size=16)))
            continue
        if isinstance(value, int) and not isinstance(value, bool):
            if before is None:
                raise Malformed(field, "a seq delta needs a ref before it")
            ref = (before[0], before[1], as_int(before[2] + value, f"{field}.seq", lo=1))
        else:
            r = as_list(value, field, max_len=3)
            if len(r) != 3:
                raise Malformed(field, "expected null, [origin, epoch, seq], a delta or 16 bytes")
            ref = (check_site_code(as_str(r[0], f"{field}.origin"), f"{field}.origin"),
                   as_int(r[1], f"{field}.epoch", lo=1), as_int(r[2], f"{field}.seq", lo=1))
        out.append(case_id_for(*ref))
        before = ref
    return out


def decode_columns(m: Mapping[object, object], keys: Sequence[tuple[str, int, int]],
                   field: str) -> list[EventRecord]:
    """The records of the events ``keys`` (origin, epoch, seq of each, in column order):
    case ids from key 6 (refs, derived here) or key 1 (16 bytes each), then the columns."""
    n = len(keys)
    if 6 in m:
        refs = as_list(m[6], f"{field}.cases", max_len=n)
        if len(refs) != n:
            raise Malformed(f"{field}.cases", "one case per event expected")
        ids = _refs(refs, keys, f"{field}.cases")
    else:
        raw = as_bytes(get(m, 1, f"{field}.case_ids"), f"{field}.case_ids", size=16 * n)
        ids = [uuid.UUID(bytes=raw[16 * j: 16 * j + 16]) for j in range(n)]
    deltas = as_list(get(m, 2, f"{field}.times"), f"{field}.times", max_len=n)
    if len(deltas) != n:
        raise Malformed(f"{field}.times", "one time per event expected")
    times: list[int] = []
    t = 0
    for i, d in enumerate(deltas):
        t = as_int(d, f"{field}.times", lo=0 if i == 0 else -MAX_MS, hi=MAX_MS) + t
        if not 0 <= t <= MAX_MS:
            raise Malformed(f"{field}.times", "time out of range")
        times.append(t)
    actors = _untable(get(m, 3, f"{field}.actors"), n, f"{field}.actors", MAX_ACTOR)
    types = _untable(get(m, 4, f"{field}.types"), n, f"{field}.types", MAX_TYPE)
    payloads = _payloads(get(m, 5, f"{field}.payloads"), n, f"{field}.payloads")
    return [EventRecord(ids[j], actors[j], times[j], types[j], payloads[j]) for j in range(n)]
