"""The language machinery every site's pages share, in a small Flask app of its own: Chinese
unless asked, English with ``?lang=en`` kept in a cookie, and a switch link that lands on the
same page with the same query."""

from __future__ import annotations

import pytest
from flask import Flask, render_template_string, request

from shared.web import i18n

PAGE = ('<html lang="{{ html_lang() }}"><a id="lang-switch" href="{{ switch_url() }}">'
        "{{ t('other_lang') }}</a><p>{{ t('hello') }}</p></html>")


@pytest.fixture
def app() -> Flask:
    app = Flask(__name__)
    i18n.init_app(app, {"hello": ("你好", "Hello")})

    @app.get("/page")
    def page() -> str:
        return render_template_string(PAGE)

    @app.post("/page/act")
    def act() -> str:  # a form that answers with the page again, as a refusal does
        return render_template_string(PAGE)

    @app.route("/form", methods=["GET", "POST"])
    def form() -> str:
        return render_template_string(PAGE) + request.method

    return app


def test_chinese_unless_asked_then_english_kept_in_a_cookie(app: Flask) -> None:
    client = app.test_client()
    first = client.get("/page")
    assert "<p>你好</p>" in first.get_data(as_text=True)
    assert 'lang="zh-CN"' in first.get_data(as_text=True)
    assert "Set-Cookie" not in first.headers
    assert "Cookie" in first.headers["Vary"]  # one address, two languages: caches must know

    english = client.get("/page?lang=en")
    assert "<p>Hello</p>" in english.get_data(as_text=True)
    assert 'lang="en"' in english.get_data(as_text=True)
    assert "lang=en" in english.headers["Set-Cookie"]
    assert "<p>Hello</p>" in client.get("/page").get_data(as_text=True)  # the cookie

    back = client.get("/page?lang=zh")
    assert "<p>你好</p>" in back.get_data(as_text=True)
    assert "<p>你好</p>" in client.get("/page").get_data(as_text=True)


def test_an_unknown_language_is_chinese_and_not_remembered(app: Flask) -> None:
    client = app.test_client()
    response = client.get("/page?lang=fr")
    assert "<p>你好</p>" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers


@pytest.mark.parametrize(("path", "switch"), [
    ("/page", "/page?lang=en"),
    ("/page?start=120&under=431002", "/page?start=120&amp;under=431002&amp;lang=en"),
    ("/page?lang=zh&q=%E7%BB%93%E5%A9%9A", "/page?q=%E7%BB%93%E5%A9%9A&amp;lang=en"),
])
def test_the_switch_keeps_the_page_and_its_query(app: Flask, path: str, switch: str) -> None:
    page = app.test_client().get(path).get_data(as_text=True)
    assert f'id="lang-switch" href="{switch}">English<' in page


def test_the_switch_from_english_names_chinese(app: Flask) -> None:
    page = app.test_client().get("/page?lang=en").get_data(as_text=True)
    assert 'href="/page?lang=zh">中文<' in page


def test_a_page_answering_a_post_switches_on_the_page_the_form_was_on(app: Flask) -> None:
    client = app.test_client()
    came_from = client.post("/page/act", headers={"Referer": "http://localhost/page?start=5"})
    assert 'href="/page?start=5&amp;lang=en"' in came_from.get_data(as_text=True)
    elsewhere = client.post("/page/act", headers={"Referer": "http://evil.example/x"})
    assert 'href="/?lang=en"' in elsewhere.get_data(as_text=True)
    own = client.post("/form?next=/page")  # its own address answers a GET too
    assert 'href="/form?next=%2Fpage&amp;lang=en"' in own.get_data(as_text=True)


def test_a_text_defined_twice_differently_is_refused(app: Flask) -> None:
    i18n.add_messages(app, {"hello": ("你好", "Hello")})  # the same again is fine
    with pytest.raises(ValueError, match="hello"):
        i18n.add_messages(app, {"hello": ("您好", "Hello")})


def test_a_blueprint_table_wires_an_app_that_had_none() -> None:
    app = Flask(__name__)
    i18n.add_messages(app, {"bye": ("再见", "Goodbye")})

    @app.get("/")
    def home() -> str:
        return render_template_string("{{ t('bye') }} {{ t('missing.key') }}")

    assert app.test_client().get("/?lang=en").get_data(as_text=True) == "Goodbye missing.key"
