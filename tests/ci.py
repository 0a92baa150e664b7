"""Whether this run is CI, where a missing service or right is a failure, never a skip."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str) -> NoReturn:
    """Skip outside CI with ``reason``; in CI (``CI=true``) fail with it, since CI must run
    every test."""
    if in_ci():
        pytest.fail(reason + " (CI=true: this test must run)")
    pytest.skip(reason)
