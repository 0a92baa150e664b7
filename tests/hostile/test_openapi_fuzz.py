"""Schemathesis against ``/api/openapi.json`` of the hub and of a village node, through the
real WSGI app: for every operation the document lists, a few derandomised requests built
from its schema (and some that break it), sent with the token of the role that may call it.
No answer is a 5xx, and every answer matches the document (status, content type and the
schema of the body — the error shape included).

Bounded for CI: :data:`EXAMPLES` per operation, no shrinking database, no deadline asserted.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import checks
from schemathesis.core.result import Ok
from schemathesis.generation.modes import GenerationMode

from tests.hostile.sites import Site

EXAMPLES = 12
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance, checks.response_schema_conformance]
BINARY = ("/api/v1/sync/exchange", "/api/v1/enrol", "/api/v1/auth/revoke")
"""Not fuzzed here: the exchange and enrolment take CBOR frames (tests/hostile/
test_exchange.py and the decoder fuzz cover them) and a revoke would end the tokens."""


def _endpoint_of(site: Site, path: str) -> str:
    for rule in site.app.url_map.iter_rules():
        openapi = rule.rule.replace("<uuid:", "<").replace("<int:", "<")
        if openapi.replace("<", "{").replace(">", "}") == path:
            return str(rule.endpoint)
    return ""


def test_every_operation_answers_within_its_document(site: Site) -> None:
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", site.app)
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # the document itself is valid OpenAPI
        operations.append(result.ok())
    assert len(operations) >= 8
    tried = [0]
    for operation in operations:
        if operation.path in BINARY:
            continue
        headers = site.headers_for(_endpoint_of(site, operation.path))
        headers["Idempotency-Key"] = "openapi-fuzz"
        _fuzz(operation, headers, tried)
    assert tried[0] >= EXAMPLES


def _fuzz(operation: Any, headers: dict[str, str], tried: list[int]) -> None:
    """:data:`EXAMPLES` requests to ``operation``, valid by its schema or not."""
    strategy = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                         operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def one(case: Any) -> None:
        tried[0] += 1
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    one()
