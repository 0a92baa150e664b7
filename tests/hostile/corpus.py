"""The hostile inputs every HTTP edge is sent, each with a name that says what it tries.

Three kinds, because a site owes each a different answer:

- :data:`MALFORMED_BODIES`: request bodies that are not one plain JSON document (NaN,
  a key twice, nesting a thousand deep, a lone surrogate, bytes that are not UTF-8, ...).
  Every edge refuses them with a 4xx in the error shape, and nothing is written.
- :data:`HOSTILE_TEXT`: strings an attacker types into a field (SQL, HTML, a CSV formula,
  forged log lines, path traversal, zero-width and bidi characters, huge numbers as text).
  A field with a strict format (ID number, phone, codes, ids) refuses them; a free-text
  field may keep them as data, and then every place that shows them must stay harmless.
- :data:`WRONG_TYPES`: JSON values of the wrong type put where a string is expected.
"""

from __future__ import annotations

from typing import Any

NESTING = 5000

MALFORMED_BODIES: dict[str, bytes] = {
    "nan": b'{"item_code": NaN}',
    "infinity": b'{"item_code": Infinity}',
    "minus_infinity": b'{"item_code": -Infinity}',
    "float_overflow": b'{"item_code": 1e999999}',
    "integer_of_5000_digits": b'{"item_code": ' + b"9" * 5000 + b"}",
    "duplicate_keys": b'{"item_code": "MZ-0305", "item_code": "MZ-0520"}',
    "duplicate_nested_keys": b'{"applicant": {"name": "a", "name": "b"}}',
    "arrays_100_deep": b"[" * 100 + b"]" * 100,
    "deep_arrays": b"[" * NESTING + b"]" * NESTING,
    "deep_objects": b'{"a":' * NESTING + b"1" + b"}" * NESTING,
    "unclosed_deep_arrays": b"[" * NESTING,
    "lone_high_surrogate": b'{"item_code": "\\ud800"}',
    "lone_low_surrogate": b'{"item_code": "\\udfff"}',
    "lone_surrogate_key": b'{"\\ud83d": 1}',
    "invalid_utf8": b'{"item_code": "\xff\xfe"}',
    "overlong_utf8_slash": b'{"item_code": "\xc0\xaf"}',
    "utf16_body": '{"item_code": "MZ-0305"}'.encode("utf-16"),
    "bom_then_garbage": b"\xef\xbb\xbf{,}",
    "truncated": b'{"item_code": "MZ-03',
    "trailing_garbage": b'{"item_code": "MZ-0305"} {"x": 1}',
    "nul_byte_outside_string": b'{"item_code":\x00 "MZ-0305"}',
    "empty": b"",
    "whitespace": b" \r\n\t ",
    "null": b"null",
    "top_level_array": b"[]",
    "top_level_string": b'"MZ-0305"',
    "top_level_number": b"12345",
    "top_level_true": b"true",
    "single_quotes": b"{'item_code': 'MZ-0305'}",
    "comment": b'{"item_code": "MZ-0305" /* hi */}',
    "xml": b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>',
}
"""Bodies that are not one JSON object of plain data: always refused."""

HOSTILE_TEXT: dict[str, str] = {
    "sql_or": "' OR '1'='1",
    "sql_drop": "x'); DROP TABLE cases;--",
    "sql_union": "1 UNION SELECT password_hash FROM accounts--",
    "html_script": "<script>alert(1)</script>",
    "html_attribute": '"><img src=x onerror=alert(1)>',
    "csv_formula_equals": "=HYPERLINK(\"http://evil.example\",\"x\")",
    "csv_formula_plus": "+cmd|' /C calc'!A0",
    "csv_formula_minus": "-2+3",
    "csv_formula_at": "@SUM(1+1)",
    "log_injection_lf": "x\n{\"level\": \"info\", \"message\": \"admin signed in\"}",
    "log_injection_crlf": "x\r\nINFO forged line",
    "path_traversal": "../../../../etc/passwd",
    "path_traversal_windows": "..\\..\\windows\\win.ini",
    "path_traversal_encoded": "%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "nul_char": "a\x00b",
    "zero_width_space": "王\u200b芳",
    "zero_width_joiner": "王\u200d芳",
    "bidi_override": "王\u202e芳gnp.exe",
    "bidi_isolate": "\u2066王芳\u2069",
    "bom_in_text": "\ufeff王芳",
    "huge_number_text": "9" * 400,
    "negative_zero": "-0",
    "long_text": "长" * 3000,
    "only_spaces": "   ",
    "empty_text": "",
    "emoji_astral": "王𠮷😀",
    "combining_marks": "a" + "\u0301" * 200,
    "template_injection": "{{ config.items() }}",
    "format_string": "%s%s%s%n{0}",
    "url_javascript": "javascript:alert(1)",
}
"""Strings an attacker types into a field."""

WRONG_TYPES: dict[str, Any] = {
    "integer": 12345,
    "huge_integer": 10**300,
    "float": 1.5,
    "true": True,
    "null": None,
    "list": ["a"],
    "object": {"a": "b"},
}
"""JSON values where a string belongs."""

PATH_SEGMENTS: dict[str, str] = {
    "dot_dot": "..",
    "traversal": "..%2f..%2fetc%2fpasswd",
    "encoded_nul": "a%00b",
    "sql": "1%27%20OR%20%271%27%3D%271",
    "html": "%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "lone_surrogate_utf8": "%ED%A0%80",
    "invalid_utf8": "%FF%FE",
    "long": "a" * 5000,
    "huge_number": "9" * 400,
    "not_a_uuid": "00000000-0000-0000-0000-00000000000g",
    "nil_uuid": "00000000-0000-0000-0000-000000000000",
    "zero_width": "%E2%80%8B",
    "bidi": "%E2%80%AE",
    "crlf": "x%0D%0ASet-Cookie:%20a%3Db",
}
"""What replaces a path parameter (``<case_id>``, ``<code>``, ...), already percent-encoded."""
