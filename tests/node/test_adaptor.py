"""The smart adaptor at a village node: the API names the procedure a family's answers choose
(and each bad answer), and the intake offers the families and the wizard, which ends at the
chosen procedure's intake form."""

from __future__ import annotations

import re

from flask.testing import FlaskClient

PAGE_BUDGET_BYTES = 60 * 1024
FAMILY = "ZNSP-0001"
RESOLVE = f"/api/v1/catalog/adaptors/{FAMILY}/resolve"
ANSWERS = {"investor": "government", "land": "state", "obtained": "transferred",
           "scope": "new_build"}


def _checked(page: str) -> dict[str, str]:
    return dict(re.findall(r'name="(\w+)" value="(\w+)" checked', page))


# --- the API --------------------------------------------------------------------------------


def test_the_families_are_listed_with_their_questions_and_choices(client: FlaskClient) -> None:
    body = client.get("/api/v1/catalog/adaptors").get_json()
    assert isinstance(body["version"], int)
    family = body["adaptors"][0]
    assert family["code"] == FAMILY
    assert family["name"] == "房屋建筑类工程建设项目审批"
    assert family["situations"] == 24
    assert [q["key"] for q in family["questions"]] == ["investor", "land", "obtained", "scope"]
    assert family["questions"][2]["choices"][0] == {"value": "allocated", "label": "划拨"}
    assert {p["item_code"] for p in family["procedures"]} == {f"ZJ-060{n}" for n in range(1, 9)}
    english = client.get("/api/v1/catalog/adaptors?lang=en").get_json()["adaptors"][0]
    assert english["questions"][0]["label"] == "Who funds the project?"


def test_an_unknown_language_is_refused_with_the_field_named(client: FlaskClient) -> None:
    response = client.get("/api/v1/catalog/adaptors?lang=fr")
    assert response.status_code == 400
    assert set(response.get_json()["error"]["fields"]) == {"lang"}


def test_the_answers_resolve_to_one_procedure_with_its_reason(client: FlaskClient) -> None:
    response = client.post(RESOLVE, json={"answers": ANSWERS})
    assert response.status_code == 200
    body = response.get_json()
    assert body["item_code"] == "ZJ-0607"
    assert body["item_name"] == "政府投资房屋建筑类项目审批(出让用地新建)"
    assert "出让合同" in body["reason"]
    assert [(a["question"], a["answer"]) for a in body["answers"]] == [
        ("谁投资建设？", "政府投资"), ("用地属于哪一类？", "国有建设用地"),
        ("用地如何取得？", "出让"), ("建设性质是什么？", "新建")]
    english = client.post(f"{RESOLVE}?lang=en", json={"answers": ANSWERS}).get_json()
    assert english["reason"].startswith("A government-funded new build on transferred")


def test_each_bad_answer_is_named(client: FlaskClient) -> None:
    response = client.post(RESOLVE, json={"answers": {"investor": "army", "land": "state",
                                                      "colour": "red", "scope": 3}})
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == {
        "answers.investor": "must be one of government, enterprise",
        "answers.obtained": "required",
        "answers.scope": "must be one of new_build, renovation",
        "answers.colour": "no such question",
    }


def test_a_body_without_answers_is_refused(client: FlaskClient) -> None:
    for body in ({}, {"answers": ["government"]}, {"answers": ANSWERS, "extra": 1}):
        response = client.post(RESOLVE, json=body)
        assert response.status_code == 400, body
        assert response.get_json()["error"]["fields"], body
    not_json = client.post(RESOLVE, data="answers=1",
                           headers={"Content-Type": "text/plain"})
    assert not_json.status_code == 400


def test_an_unknown_family_is_404(client: FlaskClient) -> None:
    response = client.post("/api/v1/catalog/adaptors/ZNSP-9999/resolve",
                           json={"answers": ANSWERS})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_the_api_is_described_in_the_openapi_document(client: FlaskClient) -> None:
    paths = client.get("/api/openapi.json").get_json()["paths"]
    assert paths["/api/v1/catalog/adaptors"]["get"]["summary"].startswith("The smart adaptor")
    resolve = paths["/api/v1/catalog/adaptors/{code}/resolve"]["post"]
    assert resolve["requestBody"]["content"]["application/json"]["schema"]["required"] == [
        "answers"]


# --- the pages --------------------------------------------------------------------------------


def test_the_pick_page_lists_every_family(client: FlaskClient) -> None:
    page = client.get("/intake").get_data(as_text=True)
    assert "智能适配" in page
    assert f'href="/intake/adapt/{FAMILY}"' in page
    assert "24 种情形 · 8 个事项" in page


def test_a_search_suggests_the_family_it_points_to(client: FlaskClient) -> None:
    for query in ("改建", "房屋建筑", "fwjz", "划拨用地"):
        page = client.get("/intake", query_string={"q": query}).get_data(as_text=True)
        assert 'id="adapt-suggested"' in page, query
        assert f'href="/intake/adapt/{FAMILY}"' in page, query
    unrelated = client.get("/intake?q=结婚登记").get_data(as_text=True)
    assert 'id="adapt-suggested"' not in unrelated


def test_the_wizard_asks_every_question_with_radio_buttons_and_no_script(
        client: FlaskClient) -> None:
    response = client.get(f"/intake/adapt/{FAMILY}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert len(response.data) < PAGE_BUDGET_BYTES
    assert "<script" not in page
    assert '<form method="get" id="adapt-form">' in page
    for key in ("investor", "land", "obtained", "scope"):
        assert f'type="radio" name="{key}"' in page
    assert page.count('type="radio"') == 9
    assert 'class="err"' not in page  # nothing is marked before the form is sent
    assert 'id="adapt-result"' not in page


def test_unanswered_questions_are_marked_and_the_answers_kept(client: FlaskClient) -> None:
    page = client.get(f"/intake/adapt/{FAMILY}?investor=enterprise&scope=bogus&go=1") \
        .get_data(as_text=True)
    assert _checked(page) == {"investor": "enterprise"}
    assert page.count("请选择一项") == 2  # land and obtained
    assert "不是可选的答案" in page  # scope
    assert 'id="adapt-result"' not in page


def test_the_answers_name_the_procedure_why_and_lead_to_its_form(client: FlaskClient) -> None:
    response = client.get(f"/intake/adapt/{FAMILY}", query_string=ANSWERS)
    page = response.get_data(as_text=True)
    assert len(response.data) < PAGE_BUDGET_BYTES
    result = page[page.index('id="adapt-result"'):page.index('id="adapt-form"')]
    assert "政府投资房屋建筑类项目审批(出让用地新建)" in result
    assert "需批复可行性研究报告，并凭出让合同审批" in result
    assert "<th>用地如何取得？</th><td>出让</td>" in result
    assert 'id="adapt-apply" href="/intake/ZJ-0607">登记此事项</a>' in result
    assert _checked(page) == ANSWERS  # the answers can be changed in place
    form = client.get("/intake/ZJ-0607").get_data(as_text=True)
    assert "政府投资房屋建筑类项目审批(出让用地新建)" in form


def test_the_procedures_can_be_picked_by_hand(client: FlaskClient) -> None:
    page = client.get(f"/intake/adapt/{FAMILY}").get_data(as_text=True)
    by_hand = page[page.index('id="by-hand"'):]
    assert re.findall(r'href="/intake/(ZJ-06\d\d)"', by_hand) == [
        f"ZJ-060{n}" for n in range(1, 9)]
    assert "不论用地性质和取得方式" in by_hand  # each with the situations it serves


def test_the_wizard_speaks_english(client: FlaskClient) -> None:
    page = client.get(f"/intake/adapt/{FAMILY}", query_string={**ANSWERS, "lang": "en"}) \
        .get_data(as_text=True)
    assert "Who funds the project?" in page
    assert "Register this procedure" in page
    assert "Approval of a government-funded building project (new build on transferred" in page


def test_an_unknown_family_page_is_404(client: FlaskClient) -> None:
    assert client.get("/intake/adapt/ZNSP-9999").status_code == 404
