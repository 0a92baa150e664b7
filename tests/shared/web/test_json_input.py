"""The strict JSON reader every site uses for request bodies."""

from __future__ import annotations

import pytest

from shared.web.json_input import MAX_DEPTH, loads_strict
from tests.hostile.corpus import MALFORMED_BODIES

NOT_AN_OBJECT = {"null", "top_level_array", "top_level_string", "top_level_number",
                 "top_level_true"}
"""JSON, only not an object: the reader takes them and the view refuses them."""


@pytest.mark.parametrize("name", sorted(MALFORMED_BODIES))
def test_malformed_bodies_raise_value_error(name: str) -> None:
    body = MALFORMED_BODIES[name]
    if name in NOT_AN_OBJECT:
        loads_strict(body)
        return
    with pytest.raises(ValueError):
        loads_strict(body)


def test_nesting_is_allowed_to_the_limit_and_no_further() -> None:
    assert loads_strict("[" * MAX_DEPTH + "]" * MAX_DEPTH) is not None
    with pytest.raises(ValueError, match="nested deeper"):
        loads_strict("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1))
    with pytest.raises(ValueError, match="nested deeper"):
        loads_strict('{"a":' * (MAX_DEPTH + 1) + "1" + "}" * (MAX_DEPTH + 1))


def test_plain_documents_are_read_as_before() -> None:
    assert loads_strict(b'\xef\xbb\xbf{"name": "\\u738b\\ud842\\udfb7", "n": 1.5}') == {
        "name": "王𠮷", "n": 1.5}
    assert loads_strict('{"a": [1, {"b": null}], "c": "=1+1"}') == {
        "a": [1, {"b": None}], "c": "=1+1"}
    with pytest.raises(ValueError, match="NUL"):
        loads_strict('{"a": "x\\u0000"}')
