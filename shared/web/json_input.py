"""How every site reads a JSON request body: strict, so what a view sees is plain data.

Python's ``json`` module takes more than RFC 8259 allows, and some of it turns into a 500
further on. Here a body is refused as malformed (``ValueError``, which ``get_json`` turns
into ``None`` or a 400) when it has

- ``NaN``, ``Infinity`` or ``-Infinity``, or a number too large for a float (``1e999``);
- a key twice in one object (which one a reader keeps differs between parsers);
- a lone UTF-16 surrogate in a string or key (``"\\ud800"``: no UTF-8 encoding exists, so
  the database driver, the log and the response writer fail on it);
- a NUL character in a string or key (PostgreSQL cannot store one in text);
- deeper nesting than :data:`MAX_DEPTH` (checked after parsing; nesting deeper than the
  parser's recursion limit ends in ``RecursionError``, refused too).

A UTF-8 byte order mark before the document is allowed and ignored (RFC 8259 section 8.1
lets a parser do so); bytes that are not UTF-8 are refused. Integers of more than 4300 digits
are refused by Python itself. Answers are written by Flask's default provider, unchanged.
"""

from __future__ import annotations

import json
import math
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

MAX_DEPTH = 64
"""The deepest nesting of arrays and objects a body may have; the contract's shapes need 4."""


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite(text: str) -> float:
    number = float(text)
    if not math.isfinite(number):
        raise ValueError(f"{text[:20]} is too large for a number")
    return number


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError("a key appears twice in one object")
        found[key] = value
    return found


def loads_strict(data: str | bytes) -> Any:
    """``data`` parsed as one JSON document, or ``ValueError`` saying why it is refused."""
    text = data.decode("utf-8-sig") if isinstance(data, bytes | bytearray) else data
    text = text.removeprefix("\ufeff")
    try:
        value = json.loads(text, parse_constant=_refuse_constant, parse_float=_finite,
                           object_pairs_hook=_unique_keys)
    except RecursionError:
        raise ValueError(f"nested deeper than {MAX_DEPTH} levels") from None
    _check_values(value)
    return value


def _check_values(value: Any) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH`, and a string or key with a lone
    surrogate (no UTF-8 form exists) or a NUL (which PostgreSQL cannot store in text, and
    no field of ours has a use for)."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:  # bounded: every item of the parsed document is taken once
        item, depth = pending.pop()
        if isinstance(item, dict | list):
            if depth >= MAX_DEPTH:
                raise ValueError(f"nested deeper than {MAX_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending.extend((child, depth + 1) for child in children)
        elif isinstance(item, str):
            if "\x00" in item:
                raise ValueError("a string holds a NUL character")
            item.encode("utf-8")  # UnicodeEncodeError (a ValueError) on a lone surrogate


class StrictJSONProvider(DefaultJSONProvider):
    """Flask's JSON provider with :func:`loads_strict` for reading."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads_strict(s)


def init_app(app: Flask) -> None:
    """Read every JSON request body of ``app`` strictly; answers keep the writing settings
    the app gave its provider (``ensure_ascii`` and the like)."""
    strict = StrictJSONProvider(app)
    for setting in ("ensure_ascii", "sort_keys", "compact", "mimetype"):
        if hasattr(app.json, setting):
            setattr(strict, setting, getattr(app.json, setting))
    app.json = strict
