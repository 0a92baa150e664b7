"""Releases that stopped coming or came back older, told to whoever watches ``/metrics``.

A node works on in the last good release it holds when the one in force expires (the
release is *frozen*: someone may be withholding newer ones) and refuses a release older
than one it accepted, or another content under an accepted version (*rolled back*). Both
used to be noticed by the protocol and dropped. Now a node's ``/metrics`` shows, per kind,
whether its release in force is frozen and when it expires, and how many releases its
parent's answers carried that it refused, by code; the hub's shows when each release it
publishes expires (after that every node holding it is frozen).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from shared.storage.link_state import PARENT_LINK, parent_link_from
from shared.storage.sync_store import read_state, write_state
from sync_protocol import ProtocolError, Release
from sync_protocol.times import from_ms, to_ms

REFUSALS_KEY = "release_refusals"
MAX_REASON = 300
ROLLBACK_CODE = "release_rollback"
ROLLBACK_SHOWN_FOR = timedelta(days=7)
"""How long a page warns after the parent last offered a release older than one held: long
enough that an operator back from a weekend sees it, short enough that one old incident
does not hide a new one behind a banner everyone has learnt to ignore."""


@dataclass(frozen=True, slots=True)
class ReleaseWatch:
    """What ``/metrics`` says about a site's releases."""

    expires_at: dict[str, datetime] = field(default_factory=dict)
    """Per kind, when the release in force (or, at the hub, the newest) expires."""
    frozen: dict[str, bool] = field(default_factory=dict)
    """Per kind, whether that release has expired (a node then works on in it)."""
    refused: dict[str, int] = field(default_factory=dict)
    """Releases refused since the node was set up, by error code (``release_rollback``,
    ``release_expired``, ``key_unknown``, ...)."""
    last_refused_ms: int | None = None
    last_reason: str | None = None
    last_rollback_ms: int | None = None
    """When the parent last offered a release older than one held (``release_rollback``)."""
    last_rollback: str | None = None
    last_other_ms: int | None = None
    """When the parent last offered a release refused for another reason (expired, signed
    by a key not known, ...): the node then holds an older release than its parent has."""
    last_other: str | None = None


@dataclass(frozen=True, slots=True)
class ReleaseWarning:
    """One thing a page warns about: ``problem`` is ``frozen`` (the release of ``kind`` in
    force expired and no newer one came), ``rolled_back`` (a release older than one held
    was offered and refused), ``refused`` (one was refused for another reason, so the node
    holds an older release than its parent announced) or, at the hub, ``behind`` (a child
    still holds an older release of ``kind`` than the one in force); ``since`` when it
    began; ``detail`` what the refusal said, or the version the child holds."""

    problem: str
    kind: str
    since: datetime
    detail: str = ""
    site: str = ""
    """At the hub, the child a ``behind`` warning names."""


def release_warnings(watch: ReleaseWatch, now: datetime) -> list[ReleaseWarning]:
    """What a page must warn about (nothing when all is well): every frozen kind since its
    release expired, a rollback refused within :data:`ROLLBACK_SHOWN_FOR`, and any other
    release refused within it (the node then holds an older one than its parent has)."""
    found = [ReleaseWarning("frozen", kind, watch.expires_at[kind])
             for kind, frozen in watch.frozen.items() if frozen and kind in watch.expires_at]
    for problem, at_ms, detail in (("rolled_back", watch.last_rollback_ms, watch.last_rollback),
                                   ("refused", watch.last_other_ms, watch.last_other)):
        if at_ms is not None and now - from_ms(at_ms) <= ROLLBACK_SHOWN_FOR:
            found.append(ReleaseWarning(problem, "", from_ms(at_ms), detail or ""))
    return found


def note_release_refusals(session: Session, errors: Sequence[ProtocolError],
                          now: datetime) -> None:
    """Count the releases an answer carried that were refused (inside the transaction that
    stores the answer)."""
    if not errors:
        return
    held = _refusals(session)
    earlier = held.get("counts")
    counts: dict[str, int] = ({str(k): int(v) for k, v in earlier.items()}
                              if isinstance(earlier, dict) else {})
    for err in errors:
        counts[err.code] = counts.get(err.code, 0) + 1
    last = errors[-1]
    value: dict[str, object] = {
        "counts": counts, "last_at_ms": to_ms(now),
        "last": f"{last.code}: {last.field}: {last.reason}"[:MAX_REASON],
    }
    rollbacks = [err for err in errors if err.code == ROLLBACK_CODE]
    others = [err for err in errors if err.code != ROLLBACK_CODE]
    for found, at_key, text_key in ((rollbacks, "rollback_at_ms", "rollback"),
                                    (others, "other_at_ms", "other")):
        if found:
            value[at_key] = to_ms(now)
            value[text_key] = f"{found[-1].code}: {found[-1].field}: {found[-1].reason}"[
                :MAX_REASON]
        else:
            for key in (at_key, text_key):
                if key in held:
                    value[key] = held[key]
    write_state(session, REFUSALS_KEY, json.dumps(value).encode())


def _refusals(session: Session) -> dict[str, object]:
    raw = read_state(session, REFUSALS_KEY)
    if raw is None:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def node_release_watch(session: Session, now: datetime) -> ReleaseWatch:
    """A node's releases as its link with the parent holds them, and what it refused."""
    raw = read_state(session, PARENT_LINK)
    expires: dict[str, datetime] = {}
    frozen: dict[str, bool] = {}
    if raw is not None:
        ledger = parent_link_from(raw).releases
        for kind in sorted(ledger.by_kind):
            info = ledger.in_force(kind, now)
            if info is not None:
                expires[kind] = info.expires_at
                frozen[kind] = ledger.frozen(kind, now)
    held = _refusals(session)
    counts = held.get("counts", {})
    last_at = held.get("last_at_ms")
    last = held.get("last")
    rollback_at = held.get("rollback_at_ms")
    rollback = held.get("rollback")
    other_at = held.get("other_at_ms")
    other = held.get("other")
    return ReleaseWatch(
        expires, frozen,
        {str(k): int(v) for k, v in counts.items()} if isinstance(counts, dict) else {},
        last_at if isinstance(last_at, int) else None,
        last if isinstance(last, str) else None,
        rollback_at if isinstance(rollback_at, int) else None,
        rollback if isinstance(rollback, str) else None,
        other_at if isinstance(other_at, int) else None,
        other if isinstance(other, str) else None,
    )


def passed_down_watch(releases: Sequence[Release], now: datetime) -> ReleaseWatch:
    """When the releases a site passes down expire (at the hub: what it publishes), per
    kind the one in force (or, before any is, the first to come)."""
    chosen: dict[str, Release] = {}
    for release in sorted(releases, key=lambda r: (r.kind, r.version)):
        held = chosen.get(release.kind)
        if held is None or release.effective_from <= now:
            chosen[release.kind] = release
    return ReleaseWatch(
        {k: r.expires_at for k, r in sorted(chosen.items())},
        {k: r.expires_at <= now for k, r in sorted(chosen.items())},
    )


def metrics_lines(watch: ReleaseWatch, prefix: str, site: str, *,
                  refusals: bool = True) -> list[str]:
    """Prometheus lines: ``<prefix>_release_frozen``, ``<prefix>_release_expires_timestamp_
    seconds`` per kind; with ``refusals`` (a node) ``<prefix>_releases_refused_total``."""
    lines = [
        f"# HELP {prefix}_release_frozen 1 when the release of this kind in force has "
        "expired (no newer one came: it is still used).",
        f"# TYPE {prefix}_release_frozen gauge",
        *(f'{prefix}_release_frozen{{site="{site}",kind="{k}"}} {int(v)}'
          for k, v in watch.frozen.items()),
        f"# HELP {prefix}_release_expires_timestamp_seconds When the release of this kind "
        "in force expires.",
        f"# TYPE {prefix}_release_expires_timestamp_seconds gauge",
        *(f'{prefix}_release_expires_timestamp_seconds{{site="{site}",kind="{k}"}} '
          f"{to_ms(v) // 1000}" for k, v in watch.expires_at.items()),
    ]
    if refusals:
        lines += [
            f"# HELP {prefix}_releases_refused_total Releases from the parent refused "
            "(release_rollback: older than one accepted, or another content under its "
            "version).",
            f"# TYPE {prefix}_releases_refused_total counter",
            *(f'{prefix}_releases_refused_total{{site="{site}",code="{c}"}} {n}'
              for c, n in sorted(watch.refused.items())),
        ]
    return lines
