"""The web security policy in a real browser (Debian's chromium through Playwright): the hub
and a village served by waitress on 127.0.0.1, each on its own port (one host, so one cookie
jar), and a page of another origin on a third port that posts to the village.

Sites on one host are the same *site* to the browser whatever the port, so ``SameSite=Lax``
lets the village's cookie ride along with that page's form: only the form token stops it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import expect, sync_playwright
from waitress.server import create_server

from tests.hub.conftest import (
    PASSWORD,
    WINDOW,
    make_hub,  # noqa: F401  (the fixture, for this package)
)
from tests.shared.web.test_security_policy import (  # noqa: F401  (fixtures)
    Site,
    fingerprint,
    hub_site,
    village_site,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]


def _serve(app: Flask) -> tuple[str, Any, threading.Thread]:
    server = create_server(app, host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.effective_port}", server, thread  # type: ignore[union-attr]


@pytest.fixture
def served(hub_site: Site, village_site: Site) -> Iterator[tuple[str, str]]:  # noqa: F811
    hub_url, hub_server, hub_thread = _serve(hub_site.app)
    village_url, village_server, village_thread = _serve(village_site.app)
    yield hub_url, village_url
    for server, thread in ((hub_server, hub_thread), (village_server, village_thread)):
        server.close()
        thread.join(timeout=10)


def _other_origin(page: str) -> tuple[str, ThreadingHTTPServer, threading.Thread]:
    body = page.encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return f"http://127.0.0.1:{server.server_address[1]}", server, thread


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.fill("#username", username)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("#username")).to_have_count(0)


@pytest.mark.browser
def test_a_form_of_another_origin_is_refused_and_two_sites_keep_their_sign_ins(
        served: tuple[str, str], village_site: Site) -> None:  # noqa: F811
    hub_url, village_url = served
    case_path = village_site.pages[2][1]
    attack = (f'<!doctype html><form method="post" action="{village_url}{case_path}/rating">'
              '<input type="hidden" name="rating" value="very_dissatisfied">'
              '<button id="go">go</button></form>')
    other_url, other_server, other_thread = _other_origin(attack)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page()
            page.set_default_timeout(20_000)
            _sign_in(page, village_url, "v-agent")
            _sign_in(page, hub_url, "mz-review")
            # Both sign-ins hold, in one cookie jar for 127.0.0.1.
            page.goto(f"{hub_url}/windows/{WINDOW}")
            expect(page.locator("header .me")).to_contain_text("mz-review")
            page.goto(f"{village_url}/cases")
            expect(page.locator("#log-out")).to_have_count(1)

            before = fingerprint(village_site.database, village_site.blobs)
            page.goto(other_url)
            page.click("#go")
            expect(page.locator("h1")).to_contain_text("表单已过期")
            assert fingerprint(village_site.database, village_site.blobs) == before

            # The same form from the village's own page goes through.
            page.goto(f"{village_url}{case_path}")
            page.check("input[name=rating][value=satisfied]")
            page.click("form[action$='/rating'] button")
            expect(page.locator("form[action$='/rating']")).to_have_count(0)
            assert fingerprint(village_site.database, village_site.blobs) != before
            browser.close()
    finally:
        other_server.shutdown()
        other_server.server_close()
        other_thread.join(timeout=10)
