"""A database that cannot be reached is a 503 with ``Retry-After`` in the contract's JSON
shape, never a 500: the server refusing connections (a real engine toward a closed port), a
session cut mid-transaction, a pool with no connection to give. A full disk (SQLite's own
SQLITE_FULL, ENOSPC from a file write) is a 507 ``disk_full``. Other database and file
errors stay 500s."""

from __future__ import annotations

import errno
from collections.abc import Callable

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from shared.storage.db import make_engine
from shared.web import error_responses
from tests.integration.processes import free_port


def _app(fail: Callable[[], None]) -> Flask:
    app = Flask(__name__)
    error_responses.init_app(app)

    @app.get("/api/v1/thing")
    def thing() -> str:
        fail()
        return "unreachable"

    @app.post("/cases/new")
    def page() -> str:
        fail()
        return "unreachable"

    return app


def _refused_connection() -> None:
    """A real PostgreSQL driver error: nothing listens on the port."""
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/x",
                         connect_args={"connect_timeout": 3})
    try:
        with engine.connect() as conn:
            conn.execute(text("select 1"))
    finally:
        engine.dispose()


def _cut_session() -> None:
    raise DBAPIError("select 1", {}, Exception("server closed the connection unexpectedly"),
                     connection_invalidated=True)


def _closed_connection() -> None:
    raise InterfaceError("select 1", {}, Exception("the connection is closed"))


def _no_connection_in_the_pool() -> None:
    raise PoolTimeout("QueuePool limit of size 5 overflow 10 reached")


@pytest.mark.parametrize("fail", [_refused_connection, _cut_session, _closed_connection,
                                  _no_connection_in_the_pool])
def test_a_database_out_of_reach_is_503_with_retry_after(fail: Callable[[], None]) -> None:
    response = _app(fail).test_client().get("/api/v1/thing")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == str(error_responses.RETRY_AFTER_SECONDS)
    assert response.get_json() == {"error": {
        "code": "unavailable", "message": "the database is unavailable, retry soon",
        "fields": {}}}


def test_another_database_error_stays_a_500() -> None:
    def duplicate() -> None:
        raise IntegrityError("insert", {}, Exception("UNIQUE constraint failed"))

    response = _app(duplicate).test_client().get("/api/v1/thing")
    assert response.status_code == 500
    assert "Retry-After" not in response.headers


def _sqlite_full() -> None:
    """SQLite's own SQLITE_FULL: a database that may not grow past a few pages."""
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        engine = make_engine(f"sqlite:///{directory}/full.sqlite")
        try:
            with engine.begin() as conn:
                conn.execute(text("CREATE TABLE t (b BLOB)"))
                conn.execute(text("PRAGMA max_page_count = 4"))
                conn.execute(text("INSERT INTO t VALUES (zeroblob(100000))"))
        finally:
            engine.dispose()


def _no_space_for_a_scan() -> None:
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("fail", [_sqlite_full, _no_space_for_a_scan])
def test_a_full_disk_is_507_disk_full(fail: Callable[[], None]) -> None:
    response = _app(fail).test_client().get("/api/v1/thing")
    assert response.status_code == 507
    assert response.get_json() == {"error": {
        "code": "disk_full", "message": error_responses.DISK_FULL_MESSAGE, "fields": {}}}
    assert "Retry-After" not in response.headers


def test_another_os_error_stays_a_500() -> None:
    def missing() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file or directory")

    assert _app(missing).test_client().get("/api/v1/thing").status_code == 500


@pytest.mark.parametrize(("fail", "status", "words"), [
    (_cut_session, 503, "数据库暂时不可用"), (_no_space_for_a_scan, 507, "本机磁盘已满")])
def test_a_person_on_a_page_gets_a_page_not_json(fail: Callable[[], None], status: int,
                                                 words: str) -> None:
    """An agent submitting a form while the database or the disk fails reads, in both
    languages, that nothing was saved, not a JSON document."""
    response = _app(fail).test_client().post("/cases/new")
    assert response.status_code == status
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert words in page and "not saved" in page.replace("Nothing was saved", "not saved")
    assert ("Retry-After" in response.headers) == (status == 503)


def test_anything_unexpected_is_a_500_with_an_incident_number_and_no_detail(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """OWASP ASVS 4.0.3 V7.4.1: the answer and the log share a number; the exception's
    message (here an ID number) is in neither."""
    def unexpected() -> None:
        raise ValueError("no case for 11010519491231002X")

    client = _app(unexpected).test_client()
    with caplog.at_level("ERROR"):
        response = client.get("/api/v1/thing")
        page = client.post("/cases/new", headers={"Accept": "text/html"})
    assert response.status_code == 500
    body = response.get_json()
    assert body["error"]["code"] == "internal" and body["error"]["fields"] == {}
    incident = body["error"]["message"].split("incident ")[1].split(")")[0]
    assert len(incident) == 8 and incident in caplog.text
    assert "ValueError" in caplog.text and "test_error_responses.py" in caplog.text
    assert page.status_code == 500 and "事件编号" in page.get_data(as_text=True)
    for seen in (response.get_data(as_text=True), page.get_data(as_text=True), caplog.text):
        assert "11010519491231002X" not in seen


def test_an_os_error_that_is_not_a_full_disk_is_an_incident_too() -> None:
    def missing() -> None:
        raise FileNotFoundError(errno.ENOENT, "No such file: /srv/sanji/blobs/secret-name")

    response = _app(missing).test_client().get("/api/v1/thing")
    assert response.status_code == 500
    assert response.get_json()["error"]["code"] == "internal"
    assert "secret-name" not in response.get_data(as_text=True)
