"""A node logs each view of a case's full record (its page, its receipt, its JSON) before
showing it, and ``sanji node record-views`` lists them."""

from __future__ import annotations

from click.testing import CliRunner
from flask.testing import FlaskClient

from node.cli import node_group
from node.settings import NodeSettings
from tests.node.conftest import case_body, post_case


def test_the_case_page_receipt_and_json_are_logged_and_listed(
    client: FlaskClient, settings: NodeSettings,
) -> None:
    created = post_case(client, case_body())
    case_id = created.get_json()["case_id"]
    assert client.get(f"/cases/{case_id}").status_code == 200
    assert client.get(f"/api/v1/cases/{case_id}?reason=applicant_request&note=asked "
                      "at the counter").status_code == 200
    assert client.get(f"/api/v1/cases/{case_id}?reason=gossip").status_code == 400
    listed = CliRunner().invoke(node_group, ["record-views", "--data-dir",
                                             str(settings.data_dir), "--case-id", case_id])
    assert listed.exit_code == 0, listed.output
    lines = [line.split("\t") for line in listed.output.splitlines()]
    assert [(f[4], f[5], f[6], f[7]) for f in lines] == [
        (case_id, "applicant_request", "asked at the counter", "api.show_case"),
        (case_id, "processing", "", "cases.show_case")]  # newest first
    assert all(f[1] == settings.site_code for f in lines)
    other = CliRunner().invoke(node_group, ["record-views", "--data-dir",
                                            str(settings.data_dir), "--username", "nobody"])
    assert other.exit_code == 0 and other.output == ""


def test_the_sync_run_deletes_views_older_than_the_audit_logs_are_kept(
    client: FlaskClient, settings: NodeSettings,
) -> None:
    from datetime import timedelta

    from node.sync_runner import purge_old_views

    case_id = post_case(client, case_body()).get_json()["case_id"]
    assert client.get(f"/cases/{case_id}").status_code == 200
    app = client.application
    node = app.extensions["sanji_node"]
    real = node.clock
    assert purge_old_views(app) == 0  # today's view is kept
    node.clock = lambda: real() + timedelta(days=3 * 365 + 1)
    assert purge_old_views(app) == 1
    listed = CliRunner().invoke(node_group, ["record-views", "--data-dir",
                                             str(settings.data_dir)])
    assert listed.exit_code == 0 and listed.output == ""
