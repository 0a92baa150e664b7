"""``/api/openapi.json`` lists every API route the node serves, with the contract's shapes."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient


def test_every_api_route_is_described(app: Flask, client: FlaskClient) -> None:
    document = client.get("/api/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/"):
            path = rule.rule.replace("<", "{").replace(">", "}")
            for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}:
                assert method.lower() in paths[path], (path, method)
    create = paths["/api/v1/cases"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["item_code", "applicant", "form", "delivery"]
    error = create["responses"]["default"]["content"]["application/json"]["schema"]
    assert error["properties"]["error"]["required"] == ["code", "message", "fields"]
    assert "/api/v1/windows/{code}/cases" not in paths  # a village has no windows
