"""The primitives the catalogue loader reads a file with: a mapping read key by key, every
problem collected under its path, so that one pass reports them all.

Kept apart from :mod:`shared.domain.catalogue_loader` so that each section of the catalogue
(items, the one-form entries, the adaptors) can be read in a module of its own.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Generic, TypeVar

from shared.domain.catalogue import Bilingual

T = TypeVar("T")
E = TypeVar("E", bound=StrEnum)


class Missing:
    """Marks a key absent from the file (distinct from an explicit null)."""


MISSING = Missing()


class Found:
    """Every problem found so far, keyed by path; several reasons for one path are joined."""

    def __init__(self) -> None:
        self.problems: dict[str, str] = {}

    def add(self, path: str, reason: str) -> None:
        if path in self.problems:
            if reason not in self.problems[path].split("; "):
                self.problems[path] = f"{self.problems[path]}; {reason}"
        else:
            self.problems[path] = reason


class Entry:
    """One mapping of the file, read key by key; a bad value is reported and remembered.

    Readers return a placeholder for a bad value so that parsing can go on and report the
    rest; ``bad`` names the keys whose value is a placeholder, and no rule uses those.
    """

    def __init__(self, found: Found, raw: object, path: str, keys: Sequence[str]) -> None:
        self.found = found
        self.path = path
        self.bad: set[str] = set()
        self.data: Mapping[object, object] = {}
        self.is_mapping = isinstance(raw, Mapping)
        if not isinstance(raw, Mapping):
            found.add(path or "catalogue", f"must be a mapping, not {kind_of(raw)}")
            return
        self.data = raw
        for key in raw:
            if key not in keys:
                found.add(self.at(str(key)), f"unknown key (known: {', '.join(keys)})")

    def at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, reason: str) -> None:
        self.found.add(self.at(key), reason)
        self.bad.add(key)

    def raw(self, key: str) -> object:
        return self.data.get(key, MISSING)

    def present(self, key: str) -> bool:
        return self.raw(key) not in (MISSING, None)

    def string(
        self, key: str, *, pattern: re.Pattern[str] | None = None, required: bool = True
    ) -> str:
        value = self.raw(key)
        if value is MISSING or value is None:
            if required:
                self.fail(key, "required")
            return ""
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a non-empty string, not {kind_of(value)}")
            return ""
        if pattern is not None and not pattern.fullmatch(value):
            self.fail(key, f"{value!r} does not match the pattern {pattern.pattern}")
            return ""
        return value

    def integer(self, key: str, *, minimum: int, maximum: int, default: int | None) -> int:
        value = self.raw(key)
        if value is MISSING or value is None:
            if default is None:
                self.fail(key, "required")
                return minimum
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(key, f"must be a whole number, not {kind_of(value)}")
            return minimum
        if not minimum <= value <= maximum:
            self.fail(key, f"must be between {minimum} and {maximum}, not {value}")
            return minimum
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.raw(key)
        if value is MISSING or value is None:
            return default
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {kind_of(value)}")
            return default
        return value

    def enum(self, key: str, cls: type[E], *, refused: Mapping[str, str] | None = None) -> E:
        value = self.raw(key)
        placeholder = next(iter(cls))
        if value is MISSING or value is None:
            self.fail(key, "required")
            return placeholder
        if refused and isinstance(value, str) and value in refused:
            self.fail(key, refused[value])
            return placeholder
        try:
            return cls(str(value))
        except ValueError:
            allowed = ", ".join(member.value for member in cls)
            self.fail(key, f"{value!r} is not one of {allowed}")
            return placeholder

    def bilingual(self, key: str, *, required: bool = True) -> Bilingual | None:
        value = self.raw(key)
        if value is MISSING or value is None:
            if required:
                self.fail(key, "required")
            return None
        text = bilingual_of(self.found, value, self.at(key))
        if text is None:
            self.bad.add(key)
        return text

    def sequence(self, key: str, *, required: bool = False) -> list[object]:
        value = self.raw(key)
        if value is MISSING or value is None:
            if required:
                self.fail(key, "required")
            return []
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            self.fail(key, f"must be a list, not {kind_of(value)}")
            return []
        return list(value)

    def decimal(self, key: str) -> Decimal | None:
        value = self.raw(key)
        if value is MISSING or value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            self.fail(key, f"must be a number, not {kind_of(value)}")
            return None
        try:
            number = Decimal(str(value))
        except InvalidOperation:
            self.fail(key, f"{value!r} is not a number")
            return None
        if not number.is_finite():
            self.fail(key, "must be a finite number")
            return None
        return number

    def iso_date(self, key: str) -> date | None:
        value = self.raw(key)
        if value is MISSING or value is None:
            return None
        if isinstance(value, date):  # YAML reads an unquoted 2025-01-01 as a date
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.fail(key, f"must be a date YYYY-MM-DD, not {value!r}")
        return None


def kind_of(value: object) -> str:
    if value is MISSING:
        return "nothing"
    if value is None:
        return "null"
    return type(value).__name__


def bilingual_of(found: Found, raw: object, path: str) -> Bilingual | None:
    entry = Entry(found, raw, path, ("zh", "en"))
    if not entry.is_mapping:
        return None
    zh, en = entry.string("zh"), entry.string("en")
    return None if entry.bad else Bilingual(zh=zh, en=en)


@dataclass(frozen=True, slots=True)
class Parsed(Generic[T]):
    """A model object built from entry ``index``, with the keys that held bad values."""

    index: int
    value: T
    bad: frozenset[str] = frozenset()

    def ok(self, *keys: str) -> bool:
        return not self.bad.intersection(keys)


def parts_of(
    entry: Entry, key: str, parse: Callable[[Found, object, str], T | None]
) -> tuple[T, ...]:
    """The nested entries under ``key``; one bad entry marks the whole key bad."""
    parts: list[T] = []
    for p_index, raw in enumerate(entry.sequence(key)):
        part = parse(entry.found, raw, entry.at(f"{key}[{p_index}]"))
        if part is None:
            entry.bad.add(key)
        else:
            parts.append(part)
    return tuple(parts)


def duplicates(found: Found, path: str, key: str, codes: Sequence[str], what: str) -> None:
    first: dict[str, int] = {}
    for index, code in enumerate(codes):
        if code in first:
            found.add(
                f"{path}[{index}].{key}",
                f"duplicate {what} {code} (first at {path}[{first[code]}])",
            )
        else:
            first[code] = index
