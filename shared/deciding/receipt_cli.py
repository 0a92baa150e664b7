"""The command-line options of ``add-receipt-book``, written once for ``sanji hub`` and
``sanji node`` (以票控费: :mod:`shared.deciding.receipt_books`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def receipt_book_options(example_prefix: str) -> Callable[[F], F]:
    """``--window``, ``--prefix``, ``--first``, ``--last``, ``--width`` and ``--by``."""
    options = [
        click.option("--window", required=True, help="the finance window the book is issued to"),
        click.option("--prefix", required=True,
                     help=f"capitals and digits, e.g. {example_prefix}"),
        click.option("--first", type=int, required=True, help="the book's first number"),
        click.option("--last", type=int, required=True, help="the book's last number"),
        click.option("--width", type=int, default=None,
                     help="digits of each number, zero-padded (default: the last number's)"),
        click.option("--by", "registered_by", default="admin", show_default=True,
                     help="who registers it (recorded)"),
    ]

    def wrap(command: F) -> F:
        for option in reversed(options):
            command = option(command)
        return command

    return wrap
