"""Every ``/api`` endpoint of the hub and of a village node, read from the app's URL map (a
new endpoint is attacked as soon as it exists), sent the corpus of :mod:`tests.hostile.corpus`:
malformed bodies, hostile query strings and path segments. Each is answered with a 4xx in
the contract's error shape (or, where the answer is data, a 2xx JSON answer), never a 5xx,
and the database is the same afterwards."""

from __future__ import annotations

import json
from typing import Any

from werkzeug.routing import Rule
from werkzeug.test import TestResponse

from shared.exchange.site import CONTENT_TYPE, EXCHANGE_PATH
from tests.hostile.corpus import HOSTILE_TEXT, MALFORMED_BODIES, PATH_SEGMENTS
from tests.hostile.sites import Site, assert_error_shape, site_engine, snapshot

BINARY_PATHS = frozenset({EXCHANGE_PATH, "/api/v1/enrol"})
"""Endpoints whose bodies are the protocol's CBOR frames, not JSON."""

QUERY_NAMES = ("acceptance_no", "query_code", "lang", "q", "limit", "date", "format")
"""Every query parameter an ``/api`` endpoint reads."""


def _refused(site: Site, response: TestResponse, what: str, path: str) -> None:
    """A refusal: the error shape, or a protocol frame (the binary endpoints answer in the
    protocol's own terms). A node without enrolment has no exchange yet: 503 ``not_enrolled``
    before any byte of the body is read."""
    if path in BINARY_PATHS and response.mimetype == CONTENT_TYPE:
        assert 400 <= response.status_code < 500, (what, response.status_code)
        return
    if path == EXCHANGE_PATH and response.status_code == 503:
        assert json.loads(response.get_data())["error"]["code"] == "not_enrolled", what
        return
    assert_error_shape(response, what)


def _post_rules(site: Site) -> list[tuple[Rule, str]]:
    return [(rule, method) for rule, method in site.api_rules() if method != "GET"]


def test_every_api_endpoint_is_attacked(site: Site) -> None:
    """The URL map yields the endpoints of the contract, so the loops below cover them."""
    rules = {rule.rule for rule, _ in site.api_rules()}
    assert {"/api/v1/auth/token", "/api/v1/cases", "/api/v1/catalog/items",
            "/api/v1/public/status", "/api/v1/sync/exchange"} <= rules
    if site.name == "hub":
        assert "/api/v1/cases/<uuid:case_id>/actions" in rules
        assert "/api/v1/windows/<code>/reassign" in rules
    else:
        assert "/api/v1/cases/<case_id>/materials" in rules


def test_malformed_bodies_are_refused_and_change_nothing(site: Site) -> None:
    engine = site_engine(site)
    client = site.app.test_client()
    before = snapshot(engine)
    sent = 0
    for rule, method in _post_rules(site):
        path = site.path(rule)
        for name, body in MALFORMED_BODIES.items():
            for content_type in ("application/json", "application/json; charset=utf-8"):
                headers = {**site.headers_for(rule.endpoint), "Content-Type": content_type,
                           "Idempotency-Key": f"hostile-{name}"}
                response = client.open(path, method=method, data=body, headers=headers)
                _refused(site, response, f"{method} {path} {name}", rule.rule)
                sent += 1
        assert snapshot(engine) == before, f"{method} {rule.rule} changed the database"
    engine.dispose()
    assert sent == len(_post_rules(site)) * len(MALFORMED_BODIES) * 2


def test_bodies_of_other_types_are_refused(site: Site) -> None:
    """A JSON endpoint sent a form, plain text, XML, or multipart with hostile names."""
    engine = site_engine(site)
    client = site.app.test_client()
    before = snapshot(engine)
    bodies: list[tuple[str, Any]] = [
        ("text/plain", b'{"item_code": "MZ-0305"}'),
        ("application/xml", MALFORMED_BODIES["xml"]),
        ("application/x-www-form-urlencoded", b"item_code=%27%20OR%201%3D1--&applicant=x"),
        ("application/octet-stream", b"\x00" * 64),
    ]
    for rule, method in _post_rules(site):
        if rule.endpoint.endswith("upload_material"):
            continue  # multipart by design: tests/hostile/test_uploads.py
        path = site.path(rule)
        for content_type, body in bodies:
            headers = {**site.headers_for(rule.endpoint), "Content-Type": content_type,
                       "Idempotency-Key": "hostile-type"}
            response = client.open(path, method=method, data=body, headers=headers)
            _refused(site, response, f"{method} {path} {content_type}", rule.rule)
    assert snapshot(engine) == before
    engine.dispose()


def _answered(response: TestResponse, what: str) -> None:
    """A read answered with data, or refused in the error shape: never a 5xx."""
    assert response.status_code < 500, (what, response.status_code,
                                        response.get_data(as_text=True)[:300])
    if response.status_code >= 400:
        assert_error_shape(response, what)
    else:
        assert response.is_json, what
        json.loads(response.get_data())


def test_hostile_query_strings_are_answered_without_a_5xx(site: Site) -> None:
    engine = site_engine(site)
    client = site.app.test_client()
    before = snapshot(engine)
    for rule, method in site.api_rules():
        if method != "GET":
            continue
        path = site.path(rule)
        for number, (name, text) in enumerate(HOSTILE_TEXT.items()):
            query = {key: text for key in QUERY_NAMES}
            response = client.get(path, query_string=query,
                                  headers=site.headers_for(rule.endpoint))
            _answered(response, f"GET {path} ?{name}")
            if "status" not in path:
                continue
            # from an address of its own, so the lookup limit (429) does not answer first
            response = client.get(path, query_string={"acceptance_no": text,
                                                      "query_code": text},
                                  headers=site.headers_for(rule.endpoint),
                                  environ_base={"REMOTE_ADDR": f"192.0.2.{number + 1}"})
            _answered(response, f"GET {path} ?acceptance_no={name}")
        raw = client.get(f"{path}?acceptance_no=%ED%A0%80&query_code=%FF&q=%00",
                         headers=site.headers_for(rule.endpoint))
        _answered(raw, f"GET {path} with bytes that are not UTF-8")
    assert snapshot(engine) == before
    engine.dispose()


def test_hostile_path_segments_are_refused(site: Site) -> None:
    engine = site_engine(site)
    client = site.app.test_client()
    before = snapshot(engine)
    for rule, method in site.api_rules():
        if not rule.arguments:
            continue
        for argument in rule.arguments:
            for name, segment in PATH_SEGMENTS.items():
                path = site.path(rule, {argument: segment})
                headers = {**site.headers_for(rule.endpoint), "Idempotency-Key": "h"}
                response = client.open(path, method=method, json={"action": "claim"},
                                       headers=headers)
                _refused(site, response, f"{method} {path} ({name})", rule.rule)
    assert snapshot(engine) == before
    engine.dispose()
