"""The integration tests' village agent, for the tools that run beside a village."""

from __future__ import annotations

import pytest

from tests.integration.city import AGENT, PASSWORD


@pytest.fixture(autouse=True)
def village_agent_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """A village keeps its data key in its agents' key slots once one has signed in, so
    ``sanji audit verify`` of a village needs an agent's username and password: the city's
    agent, given as an operator would (``SANJI_USERNAME``, ``SANJI_PASSWORD``). Sites whose
    key is in ``keys/data.key`` ignore them."""
    monkeypatch.setenv("SANJI_USERNAME", AGENT)
    monkeypatch.setenv("SANJI_PASSWORD", PASSWORD)
