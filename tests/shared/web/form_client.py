"""A test client that submits forms as a browser does: with the form token a page of the site
gave it (:mod:`shared.web.security_policy` refuses a form without it).

The token is read from the site's login page, which every site serves to anyone, just before
each form is sent, so it is always the current session's (signing in starts a new one). A
test that means to send no token says ``token=False``; one that sends a wrong token puts it
in the form itself.
"""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from shared.web.pages import CSRF_FIELD
from shared.web.security_policy import CSRF_HEADER

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_on(page: str) -> str:
    """The form token a page's forms carry."""
    found = _TOKEN.search(page)
    assert found, "the page has no form token"
    return found.group(1)


class FormClient(FlaskClient):
    """:class:`FlaskClient` whose form posts carry the session's form token."""

    def page_token(self) -> str:
        """The token of the forms this browser is shown now."""
        page = self.get("/login")
        assert page.status_code == 200, page.status_code
        return token_on(page.get_data(as_text=True))

    def post(self, *args: Any, token: bool = True, **kwargs: Any) -> TestResponse:
        headers = dict(kwargs.get("headers") or {})
        data = kwargs.get("data")
        is_form = "json" not in kwargs and (data is None or isinstance(data, dict))
        if token and is_form and "Authorization" not in headers:
            path = str(args[0] if args else kwargs.get("path", "/"))
            if path.startswith("/api/"):
                headers.setdefault(CSRF_HEADER, self.page_token())
                kwargs["headers"] = headers
            elif data is None or CSRF_FIELD not in data:
                kwargs["data"] = {**(data or {}), CSRF_FIELD: self.page_token()}
        return super().post(*args, **kwargs)
