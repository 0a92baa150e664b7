"""Hostile strings and wrong types in each field of a registration, at a village and at the
hub's front desk, and what becomes of those a field keeps.

What a registry expects of each field decides the answer:

- ID number, phone, item code, delivery, the form's dates, choices, numbers and account
  numbers have strict formats: anything hostile is refused (400 naming the field) and
  nothing is written;
- the applicant's name is refused when it holds markup, control, zero-width or bidi
  characters, digits or symbols (a resident's name is letters, and an invisible character
  would make two spellings of one person);
- free text (a description, a business scope) is kept as typed — SQL, HTML, a CSV formula
  are data there — and every page that shows it escapes it; a value that is not text, and
  text with a NUL or a CR, is still refused.

There is no CSV export at any site yet (grep: none), so no formula needs neutralising; the
test of :func:`test_no_site_writes_csv` fails the day one appears, to have it added here.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

from shared.deciding.supervision_reports import FIGURES, csv_text
from shared.domain.csv_cells import FORMULA_STARTS
from tests.hostile.corpus import HOSTILE_TEXT, WRONG_TYPES
from tests.hostile.sites import Site, assert_error_shape, site_engine, snapshot
from tests.hub.conftest import PASSWORD
from tests.integration.test_three_tiers import FORM
from tests.node.conftest import ID_WANG, case_body

HUB_BODY: dict[str, Any] = {
    "item_code": "MZ-0520",
    "applicant": {"name": "李四", "id_number": "11010519491231002X", "phone": "13800138000"},
    "form": dict(FORM),
    "delivery": "window",
}
STRICT = {
    "node": [("item_code",), ("delivery",), ("applicant", "name"), ("applicant", "id_number"),
             ("applicant", "phone"), ("form", "hardship_type"), ("form", "hardship_date"),
             ("form", "bank_account")],
    "hub": [("item_code",), ("delivery",), ("applicant", "name"), ("applicant", "id_number"),
            ("applicant", "phone"), ("form", "registered_funds"), ("form", "member_count")],
}
FREE_TEXT = {"node": ("form", "description"), "hub": ("form", "business_scope")}
NUMBERS = {("form", "amount_requested"), ("form", "registered_funds"), ("form", "member_count")}
"""Amounts: a JSON number is a fine way to write one (``3000`` or ``"3000.00"``)."""
ALWAYS_REFUSED = {"nul_char", "log_injection_crlf", "long_text"}
"""Text no free-text field keeps: a NUL, a bare CR, more than the field's length."""


def _body(site: Site) -> dict[str, Any]:
    return copy.deepcopy(case_body() if site.name == "node" else HUB_BODY)


def _with(body: dict[str, Any], leaf: tuple[str, ...], value: Any) -> dict[str, Any]:
    changed = copy.deepcopy(body)
    holder = changed
    for key in leaf[:-1]:
        holder = holder[key]
    holder[leaf[-1]] = value
    return changed


def _register(site: Site, body: dict[str, Any], key: str) -> Any:
    headers = {**site.headers_for("register"), "Idempotency-Key": key}
    return site.app.test_client().post("/api/v1/cases", json=body, headers=headers)


def test_strict_fields_refuse_every_hostile_value(site: Site) -> None:
    engine = site_engine(site)
    before = snapshot(engine)
    values = {**HOSTILE_TEXT, **{f"type_{k}": v for k, v in WRONG_TYPES.items()}}
    for leaf in STRICT[site.name]:
        for name, value in values.items():
            if leaf in NUMBERS and name in ("type_integer", "type_float"):
                continue
            response = _register(site, _with(_body(site), leaf, value), f"strict-{name}")
            assert_error_shape(response, f"{'.'.join(leaf)} = {name}")
            assert response.status_code == 400, (leaf, name, response.status_code)
            fields = json.loads(response.get_data())["error"]["fields"]
            # a NUL is refused with the whole body, before any field is read
            named = ("body",) if name == "nul_char" else (leaf[-1], leaf[0])
            assert any(part in field for part in named for field in fields), (
                leaf, name, fields)
    assert snapshot(engine) == before
    engine.dispose()


def test_the_idempotency_key_is_opaque_but_bounded(site: Site) -> None:
    """A key is an opaque token of the client's: SQL or a path in it is only a key (the
    same body again is the same case), but an empty, overlong or non-ASCII key is refused."""
    refused = {"empty_text", "long_text", "nul_char", "combining_marks", "zero_width_space"}
    for name, value in HOSTILE_TEXT.items():
        try:
            response = _register(site, _body(site), value)
        except ValueError:
            continue  # a header with CR or LF cannot even be written by a client
        if name in refused or response.status_code >= 400:
            assert_error_shape(response, f"Idempotency-Key = {name}")
        else:
            assert response.status_code in (200, 201), (name, response.status_code)


def test_free_text_is_kept_as_data_and_escaped_on_pages(site: Site) -> None:
    leaf = FREE_TEXT[site.name]
    kept: dict[str, str] = {}
    for number, (name, value) in enumerate(HOSTILE_TEXT.items()):
        response = _register(site, _with(_body(site), leaf, value), f"free-{number}")
        if response.status_code == 201:
            kept[name] = response.get_json()["case_id"]
        else:
            assert_error_shape(response, f"{'.'.join(leaf)} = {name}")
            assert response.status_code == 400
    for name, value in WRONG_TYPES.items():
        response = _register(site, _with(_body(site), leaf, value), f"free-type-{name}")
        assert_error_shape(response, f"{'.'.join(leaf)} = {name}")
    assert not ALWAYS_REFUSED & set(kept), sorted(ALWAYS_REFUSED & set(kept))
    # markup is data in a description: kept, and shown escaped
    assert {"html_script", "html_attribute", "sql_drop", "csv_formula_equals"} <= set(kept)
    browser = _browser(site)
    for name in ("html_script", "html_attribute"):
        page = browser.get(_case_page(site, kept[name])).get_data(as_text=True)
        assert HOSTILE_TEXT[name] not in page, name
        assert "&lt;" in page and "&gt;" in page, name


def _browser(site: Site) -> Any:
    """A browser signed in as the operator of the window (hub) or the PC's agent (node)."""
    client = site.app.test_client()
    if site.name == "hub":
        login = client.post("/login", data={"username": "mz-1", "password": PASSWORD,
                                            "csrf_token": _token(client)})
        assert login.status_code == 302, login.get_data(as_text=True)[:300]
    return client


def _token(client: Any) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"',
                      client.get("/login").get_data(as_text=True))
    return found.group(1) if found else ""


def _case_page(site: Site, case_id: str) -> str:
    return f"/cases/{case_id}" if site.name == "node" else f"/windows/cases/{case_id}"


def test_cr_and_lf_never_forge_a_log_line(site: Site) -> None:
    """Every field sent with a forged log line in it; each record the site writes is one
    line of JSON (or one plain line), and none of them is the forged one."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    own = [h.formatter for h in site.app.logger.handlers if h.formatter is not None]
    if own:
        handler.setFormatter(own[0])
    site.app.logger.addHandler(handler)
    try:
        for leaf in [*STRICT[site.name], FREE_TEXT[site.name]]:
            for name in ("log_injection_lf", "log_injection_crlf"):
                _register(site, _with(_body(site), leaf, HOSTILE_TEXT[name]), f"log-{name}")
        client = site.app.test_client()
        client.post("/api/v1/auth/token",
                    json={"username": HOSTILE_TEXT["log_injection_lf"], "password": "x"})
        client.get("/api/v1/public/status",
                   query_string={"acceptance_no": HOSTILE_TEXT["log_injection_crlf"],
                                 "query_code": "x"})
    finally:
        site.app.logger.removeHandler(handler)
    for line in stream.getvalue().splitlines():
        assert "admin signed in" not in line or line.startswith("{"), line
        assert not line.startswith("INFO forged"), line
        if line.startswith("{"):
            json.loads(line)


def test_every_csv_export_neutralises_formulas() -> None:
    """Every module that writes CSV passes its cells through
    :func:`shared.domain.csv_cells.safe_cell`, and no hostile text of the corpus comes out
    as a cell a spreadsheet would run."""
    root = Path(__file__).resolve().parents[2]
    writers = [path for package in ("hub", "node", "shared")
               for path in (root / package).rglob("*.py")
               if re.search(r"\bimport csv\b", path.read_text(encoding="utf-8"))]
    assert writers, "the reports and the trace export CSV"
    for path in writers:
        assert "safe_cell(" in path.read_text(encoding="utf-8"), path
    rows = [{"window": text, **dict.fromkeys(FIGURES, 1)} for text in HOSTILE_TEXT.values()
            if isinstance(text, str)]
    rows += [{"window": w, **dict.fromkeys(FIGURES, 0)} for w in ("=1+1", "+SUM(A1)",
                                                                    "-2+3", "@cmd", "\t=1")]
    for line in csv.reader(io.StringIO(csv_text(rows))):
        for cell in line:
            assert not cell.startswith(FORMULA_STARTS), cell


def test_a_valid_registration_still_passes(site: Site) -> None:
    """The refusals above are the fields' own: the same body without them is taken."""
    body = _body(site)
    if site.name == "node":
        body["applicant"]["id_number"] = ID_WANG
    response = _register(site, body, "valid-after-hostile")
    assert response.status_code in (200, 201), response.get_data(as_text=True)[:300]
