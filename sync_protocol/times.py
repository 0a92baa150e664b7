"""Times on the wire are integer milliseconds since the Unix epoch, UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sync_protocol.errors import LocalProtocolError, Malformed

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MS = 253402300799999  # 9999-12-31T23:59:59.999Z


def to_ms(at: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (naive ones are refused)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise LocalProtocolError("at", "naive datetime; pass an aware UTC time")
    delta = at - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    """The aware UTC datetime of a wire time."""
    if not 0 <= ms <= MAX_MS:
        raise Malformed("time", f"{ms} ms outside the supported range")
    return _EPOCH + timedelta(milliseconds=ms)
