"""The hub fixtures of the hub's page tests, for the access tests."""

from tests.hub.conftest import make_hub

__all__ = ["make_hub"]
