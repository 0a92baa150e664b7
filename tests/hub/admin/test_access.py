"""Who may open the administration pages and submit their forms: nobody without a login, no
window operator, a supervisor to look only, and no form without the session's token.
"""

from __future__ import annotations

from hub.models import HubEnrolmentCode, HubSite
from hub.releases import HubRelease
from shared.storage.accounts import UserAccount
from shared.web.pages import CSRF_SESSION_KEY
from tests.hub.admin.conftest import (
    MAX_PAGE_BYTES,
    TOWNSHIP,
    catalogue_upload,
    count_rows,
)
from tests.hub.conftest import HUB, PASSWORD, Hub

PAGES = ("/admin/sites", "/admin/users", "/admin/releases")
FORMS = ("/admin/sites", "/admin/sites/reenrol", "/admin/sites/move", "/admin/users",
         "/admin/releases")


def test_the_pages_need_a_login(hub: Hub) -> None:
    client = hub.app.test_client()
    for path in (*PAGES, "/admin"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response.headers["Location"].startswith("/login?next=")
    for path in FORMS:
        assert client.post(path, data={"code": TOWNSHIP}).status_code == 302
    assert count_rows(hub.app, HubSite) == 1


def test_a_window_operator_is_refused(hub: Hub) -> None:
    desk = hub.login("mz-desk")
    for path in PAGES:
        assert desk.get(path).status_code == 403, path
    with desk.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    refused = desk.post("/admin/sites", data={"csrf_token": "known-token", "code": TOWNSHIP,
                                              "name": "栖凤渡镇", "tier": "township",
                                              "parent": HUB})
    assert refused.status_code == 403
    assert count_rows(hub.app, HubSite) == 1


def test_a_supervisor_looks_but_does_not_change(hub: Hub) -> None:
    lead = hub.login("city-lead")
    for path in PAGES:
        response = lead.get(path)
        assert response.status_code == 200, path
        assert len(response.data) < MAX_PAGE_BYTES
        assert response.headers["Cache-Control"] == "private, no-store"
        assert 'method="post" action="/admin' not in response.get_data(as_text=True)
    with lead.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known-token"
    for path in FORMS:
        response = lead.post(path, data={"csrf_token": "known-token", "code": TOWNSHIP,
                                         "name": "栖凤渡镇", "tier": "township", "parent": HUB,
                                         "username": "x-1", "password": PASSWORD,
                                         "role": "agent", "site": HUB})
        assert response.status_code == 403, path
    assert count_rows(hub.app, HubSite) == 1
    assert count_rows(hub.app, UserAccount) == 3


def test_forms_without_the_session_token_are_refused(hub: Hub) -> None:
    admin = hub.login("city-admin")
    admin.get("/admin/sites")  # the session now holds a token
    fields = {"code": TOWNSHIP, "name": "栖凤渡镇", "tier": "township", "parent": HUB,
              "site": HUB, "username": "new-agent", "password": PASSWORD, "role": "agent"}
    for path in FORMS:
        missing = admin.post(path, data=fields, token=False)
        wrong = admin.post(path, data={**fields, "csrf_token": "forged"})
        assert missing.status_code == 400 and wrong.status_code == 400, path
        assert "表单已过期" in wrong.get_data(as_text=True)
    upload = admin.post("/admin/releases", data={"csrf_token": "forged",
                                                 "file": catalogue_upload(2)},
                        content_type="multipart/form-data")
    assert upload.status_code == 400
    assert count_rows(hub.app, HubSite) == 1
    assert count_rows(hub.app, UserAccount) == 3
    assert count_rows(hub.app, HubEnrolmentCode) == 0
    assert count_rows(hub.app, HubRelease) == 0
