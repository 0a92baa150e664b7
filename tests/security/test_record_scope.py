"""A case out of a user's reach is answered as a case id nobody holds: 404, the same body,
never the record (and never a 403 that would tell it exists)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import pytest

from tests.hub.conftest import WINDOW, Hub, User, register_at_hub
from tests.security.test_access_matrix import _token

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
USERS: Sequence[User] = [("own", "window_operator", WINDOW),
                         ("other", "window_operator", "W-NY-01"),
                         ("other-cashier", "finance", "W-NY-01"),
                         ("chief", "supervisor", None)]


@pytest.fixture
def hub(make_hub: Callable[[datetime, Sequence[User]], Hub]) -> Hub:
    return make_hub(NOW, USERS)


def _get(hub: Hub, username: str, url: str) -> tuple[int, object]:
    response = hub.app.test_client().get(
        url, headers={"Authorization": f"Bearer {_token(hub, username)}"})
    return response.status_code, response.get_json()


@pytest.mark.parametrize("username", ["other", "other-cashier"])
def test_another_windows_case_answers_as_an_unknown_id(hub: Hub, username: str) -> None:
    case_id, _ = register_at_hub(hub)
    unknown = _get(hub, username, f"/api/v1/cases/{uuid.uuid4()}")
    assert unknown[0] == 404
    assert _get(hub, username, f"/api/v1/cases/{case_id}") == unknown
    client = hub.app.test_client()
    acted = client.post(f"/api/v1/cases/{case_id}/actions", json={"action": "claim"},
                        headers={"Authorization": f"Bearer {_token(hub, username)}"})
    assert (acted.status_code, acted.get_json()) == unknown


@pytest.mark.parametrize("username", ["own", "chief"])
def test_the_windows_own_staff_and_the_supervisor_read_the_case(hub: Hub, username: str) -> None:
    case_id, acceptance_no = register_at_hub(hub)
    status, body = _get(hub, username, f"/api/v1/cases/{case_id}")
    assert status == 200 and isinstance(body, dict)
    assert body["acceptance_no"] == acceptance_no
