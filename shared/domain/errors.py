"""One hierarchy of domain errors.

Every error names the field it is about and the reason, so an HTTP edge can render
``{"error": {"code", "message", "fields"}}`` without knowing the domain.
"""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base of every error raised by ``shared``.

    ``code`` is the machine-readable error code; ``http_status`` the status an HTTP edge
    should answer with.
    """

    code = "invalid"
    http_status = 400

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason

    @property
    def fields(self) -> dict[str, str]:
        """Every bad field with its reason (one here; several for :class:`Problems`)."""
        return {self.field: self.reason} if self.field else {}


class InvalidInput(DomainError):
    """A value a person or a peer supplied is not acceptable."""


class Problems(InvalidInput):
    """Several invalid values found at once; every one is listed, nothing was applied."""

    def __init__(self, problems: Mapping[str, str], summary: str = "invalid input") -> None:
        super().__init__("", summary)
        self.problems = dict(problems)

    @property
    def fields(self) -> dict[str, str]:
        return dict(self.problems)

    def __str__(self) -> str:
        lines = [f"{self.reason}:"] + [f"  {k}: {v}" for k, v in self.problems.items()]
        return "\n".join(lines)


class NotFound(DomainError):
    code = "not_found"
    http_status = 404


class NotPermitted(DomainError):
    """The actor's role, window, tier or authority level does not allow this."""

    code = "forbidden"
    http_status = 403


class StateConflict(DomainError):
    """The case's current state does not allow this event."""

    code = "conflict"
    http_status = 409


class CalendarMissing(DomainError):
    """A working-day question about a year for which no calendar data is held."""

    code = "calendar_missing"
    http_status = 409
