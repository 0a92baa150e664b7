"""What every server-rendered page relies on, in a small Flask app of its own: one CSRF token
per browser session that a forged or missing token never matches, a refusal page in the
page's language with the error's status, headers that keep personal data out of caches and
frames (a public page keeps its own caching), and one ID mask."""

from __future__ import annotations

import re

import pytest
from flask import Flask, Response, render_template_string, request
from jinja2 import DictLoader

from shared.domain.errors import NotFound, NotPermitted
from shared.web import i18n
from shared.web.pages import (
    CSRF_FIELD,
    CSRF_SESSION_KEY,
    csrf_ok,
    csrf_token,
    id_on_page,
    no_store,
    refusal_page,
)

FORM = '<form method="post"><input name="{{ field }}" value="{{ token }}"></form>'
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    app.config["SECRET_KEY"] = "test-only"
    i18n.init_app(app, {"pg.error": ("错误", "Error"), "pg.refused_403": ("无权操作",
                                                                          "Not permitted")})
    app.jinja_loader = DictLoader({"refusal.html": "<p id='problem'>{{ problem }}</p>"})
    app.after_request(no_store)

    @app.get("/form")
    def form() -> str:
        return render_template_string(FORM, field=CSRF_FIELD, token=csrf_token())

    @app.post("/form")
    def submit() -> tuple[str, int]:
        return ("done", 200) if csrf_ok(request.form.get(CSRF_FIELD)) else ("expired", 400)

    @app.get("/public")
    def public() -> Response:
        response = Response("calendar")
        response.headers["Cache-Control"] = "public, max-age=3600"
        return response

    @app.get("/refused/<kind>")
    def refused(kind: str) -> object:
        exc = NotPermitted("window", "not your window") if kind == "403" else NotFound(
            "case", "no such case")
        return refusal_page("refusal.html", exc, "pg")

    return app


def _token(page: str) -> str:
    found = re.search(r'value="([^"]+)"', page)
    assert found is not None
    return found.group(1)


def test_a_form_posts_with_the_sessions_token_and_nothing_else(app: Flask) -> None:
    client = app.test_client()
    token = _token(client.get("/form").get_data(as_text=True))
    assert _token(client.get("/form").get_data(as_text=True)) == token  # one per session
    assert client.post("/form", data={CSRF_FIELD: token}).status_code == 200
    assert client.post("/form", data={CSRF_FIELD: token + "x"}).status_code == 400
    assert client.post("/form", data={}).status_code == 400
    other = app.test_client()  # another browser: its own token, ours is no good there
    other_token = _token(other.get("/form").get_data(as_text=True))
    assert other_token != token
    assert other.post("/form", data={CSRF_FIELD: token}).status_code == 400


def test_a_session_without_a_token_refuses_every_form(app: Flask) -> None:
    client = app.test_client()
    assert client.post("/form", data={CSRF_FIELD: ""}).status_code == 400
    with client.session_transaction() as session:
        session[CSRF_SESSION_KEY] = "known"
    assert client.post("/form", data={CSRF_FIELD: "known"}).status_code == 200


def test_pages_are_not_cached_or_framed_but_a_public_page_keeps_its_caching(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/form")
    assert page.headers["Cache-Control"] == "private, no-store"
    assert page.headers["X-Frame-Options"] == "DENY"
    public = client.get("/public")
    assert public.headers["Cache-Control"] == "public, max-age=3600"
    assert public.headers["X-Frame-Options"] == "DENY"


def test_a_refusal_is_a_page_with_the_errors_status_in_the_pages_language(app: Flask) -> None:
    client = app.test_client()
    forbidden = client.get("/refused/403")
    assert forbidden.status_code == 403
    assert "无权操作: not your window" in forbidden.get_data(as_text=True)
    english = client.get("/refused/403?lang=en")
    assert "Not permitted: not your window" in english.get_data(as_text=True)
    missing = app.test_client().get("/refused/404")  # no text for 404: the general title
    assert missing.status_code == 404
    assert "错误: no such case" in missing.get_data(as_text=True)


def test_every_page_shows_an_id_number_with_one_mask() -> None:
    assert id_on_page(ID_NUMBER) == "1101**********002X"
    assert ID_NUMBER[4:14] not in id_on_page(ID_NUMBER)
    assert id_on_page("12345") == "*****"  # too short to show any of it
