"""Cells of the CSV files the sites export (reports, the life-long trace): a text cell that
a spreadsheet would read as a formula (starting ``=``, ``+``, ``-``, ``@``, a tab or a
carriage return) is written with a leading ``'``, so opening an export never runs anything
(OWASP, "CSV Injection"). Numbers are written as they are."""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: object) -> object:
    """``value`` as a CSV cell: None as empty, a formula-like text quoted with ``'``."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value
