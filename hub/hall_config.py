"""How the city hall is laid out: its service areas (服务区, a ticket letter and the windows
calling from it) and its booking slots.

A fresh hub needs no configuration: every department with windows at the city tier gets an
area, lettered A, B, C… in the catalogue's order of its windows, and slots run 09:00–12:00
and 13:30–17:00 in half hours, two places per window and per village station. An admin
changes this with ``hall.json`` in the hub's data directory (read again when it changes;
a wrong file is refused with what is wrong, and the defaults stay until it is right)::

    {"areas": [{"code": "A", "name": "民政 Civil affairs", "windows": ["W-MZ-01"]}],
     "opening": [["09:00", "12:00"], ["13:30", "17:00"]], "slot_minutes": 30,
     "window_capacity": 2, "station_capacity": 2, "days_ahead": 14, "due_minutes": 15,
     "bookings_per_phone": 2}

Every key is optional; ``areas`` replaces the default areas whole.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.domain.catalogue import Catalogue, SiteTier

FILE_NAME = "hall.json"
HUB_TIER = "city"
LETTERS = "ABCDEFGHJKLMNPQRSTUVWXYZ"
"""Area letters (no I or O, which read as 1 and 0 on a ticket)."""

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Area:
    """A service area: its ticket letter, its name and the windows that call from it."""

    code: str
    name: str
    windows: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HallConfig:
    """The hall's areas (None: one per department, from the catalogue) and slot rules."""

    areas: tuple[Area, ...] | None = None
    opening: tuple[tuple[time, time], ...] = ((time(9), time(12)), (time(13, 30), time(17)))
    slot_minutes: int = 30
    window_capacity: int = 2
    station_capacity: int = 2
    days_ahead: int = 14
    due_minutes: int = 15
    """A booking is called first from this many minutes before its slot to as many after."""
    bookings_per_phone: int = 2
    """Open (future, not cancelled) bookings one phone number may hold."""
    problems: dict[str, str] = field(default_factory=dict)

    def areas_of(self, catalogue: Catalogue) -> tuple[Area, ...]:
        """The configured areas, or one per department of the city's windows."""
        if self.areas is not None:
            return self.areas
        found: dict[str, list[str]] = {}
        for window in catalogue.windows_at(SiteTier(HUB_TIER)):
            found.setdefault(window.department, []).append(window.code)
        areas = []
        for letter, (department, windows) in zip(LETTERS, found.items(), strict=False):
            areas.append(Area(letter, catalogue.department(department).name.zh, tuple(windows)))
        return tuple(areas)

    def slot_starts(self) -> list[time]:
        """The start of every slot of a working day."""
        starts: list[time] = []
        for first, last in self.opening:
            minutes = first.hour * 60 + first.minute
            end = last.hour * 60 + last.minute
            while minutes + self.slot_minutes <= end and len(starts) < 200:
                starts.append(time(minutes // 60, minutes % 60))
                minutes += self.slot_minutes
        return starts


def area_of_window(areas: Sequence[Area], window: str) -> Area | None:
    """The area ``window`` calls from, or None."""
    return next((a for a in areas if window in a.windows), None)


_CLOCK = re.compile(r"([01]\d|2[0-3]):[0-5]\d")


class _AreaSchema(Schema):
    class Meta:
        unknown = RAISE

    code = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{1,2}$"))
    name = fields.String(required=True, validate=validate.Length(min=1, max=40))
    windows = fields.List(fields.String(validate=validate.Length(min=1, max=20)),
                          required=True, validate=validate.Length(min=1, max=50))


class _HallSchema(Schema):
    class Meta:
        unknown = RAISE

    areas = fields.List(fields.Nested(_AreaSchema), validate=validate.Length(min=1, max=24))
    opening = fields.List(fields.List(fields.String(validate=validate.Regexp(_CLOCK)),
                                      validate=validate.Length(equal=2)),
                          validate=validate.Length(min=1, max=6))
    slot_minutes = fields.Integer(validate=validate.Range(5, 240))
    window_capacity = fields.Integer(validate=validate.Range(1, 500))
    station_capacity = fields.Integer(validate=validate.Range(1, 500))
    days_ahead = fields.Integer(validate=validate.Range(1, 90))
    due_minutes = fields.Integer(validate=validate.Range(0, 120))
    bookings_per_phone = fields.Integer(validate=validate.Range(1, 20))

    @validates_schema
    def _distinct(self, data: dict[str, Any], **_: Any) -> None:
        codes = [a["code"] for a in data.get("areas", [])]
        if len(codes) != len(set(codes)):
            raise ValidationError("each area needs its own code", "areas")
        windows = [w for a in data.get("areas", []) for w in a["windows"]]
        if len(windows) != len(set(windows)):
            raise ValidationError("a window calls from one area only", "areas")
        for first, last in data.get("opening", []):
            if first >= last:
                raise ValidationError(f"{first} is not before {last}", "opening")


def parse(raw: object) -> HallConfig:
    """``hall.json``'s content; :class:`ValidationError` naming what is wrong."""
    data: dict[str, Any] = _HallSchema().load(raw)  # type: ignore[arg-type]
    kwargs: dict[str, Any] = {k: v for k, v in data.items() if k not in ("areas", "opening")}
    if "areas" in data:
        kwargs["areas"] = tuple(Area(a["code"], a["name"], tuple(a["windows"]))
                                for a in data["areas"])
    if "opening" in data:
        kwargs["opening"] = tuple(
            (time.fromisoformat(first), time.fromisoformat(last))
            for first, last in data["opening"])
    return HallConfig(**kwargs)


_lock = threading.Lock()
_held: dict[Path, tuple[float, HallConfig]] = {}


def load(data_dir: Path) -> HallConfig:
    """The hall's configuration in ``data_dir`` (the defaults without ``hall.json``; with a
    wrong one, the defaults with its ``problems`` logged and kept for the admin)."""
    path = data_dir / FILE_NAME
    try:
        stamp = path.stat().st_mtime
    except FileNotFoundError:
        return HallConfig()
    with _lock:
        held = _held.get(path)
        if held is not None and held[0] == stamp:
            return held[1]
        try:
            config = parse(json.loads(path.read_text(encoding="utf-8")))
        except (ValueError, ValidationError) as exc:
            messages = exc.messages if isinstance(exc, ValidationError) else str(exc)
            log.error("%s is not used: %s", path, messages)
            config = HallConfig(problems={"hall.json": str(messages)[:500]})
        _held[path] = (stamp, config)
        return config
