"""The contract's JSON error shape for every site's ``/api`` paths (hub and nodes alike).

``{"error": {"code", "message", "fields"}}`` with the status of the error: 400 for invalid
input (every bad field named), 404, 409, 413, 429, 503 with ``Retry-After`` while the
database cannot be reached, and 507 ``disk_full`` when the disk is full (the transaction was
rolled back: nothing of the request is kept). A person on an HTML page gets the same two
as a short page in both languages (with ``Retry-After`` too); other HTML errors keep Flask's
own pages. Anything unexpected is a 500 that says no more than an incident number; the
log gets the number, the exception's type and where it was raised, never its message
(which may quote a citizen's data).
"""

from __future__ import annotations

import errno
import secrets
import traceback
from collections.abc import Mapping
from html import escape
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request
from marshmallow import ValidationError
from sqlalchemy.exc import DataError, DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from werkzeug.exceptions import BadRequest, HTTPException, InternalServerError
from werkzeug.wrappers import Response as BaseResponse

from shared.domain.errors import DomainError
from shared.web import json_input

RETRY_AFTER_SECONDS = 5
DISK_FULL_MESSAGE = "the disk is full: nothing was saved; free some space and try again"
_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})
_SQLITE_FULL = 13
_PG_DISK_FULL = "53100"


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` says the site's disk (or its quota, or its file size limit) is full:
    an ``OSError`` of a file write, SQLite's ``SQLITE_FULL``, PostgreSQL's ``disk_full``."""
    if isinstance(exc, OSError):
        return exc.errno in _FULL_ERRNOS
    original = getattr(exc, "orig", None)
    if original is None:
        return False
    if getattr(original, "sqlite_errorcode", None) == _SQLITE_FULL:
        return True
    return getattr(original, "sqlstate", None) == _PG_DISK_FULL


def error_response(
    status: int, code: str, message: str, fields: Mapping[str, str] | None = None
) -> Response:
    """A JSON error response in the contract's shape."""
    response = jsonify({"error": {"code": code, "message": message, "fields": dict(fields or {})}})
    response.status_code = status
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, str]:
    """marshmallow's nested messages as ``{"applicant.name": "reason"}``."""
    flat: dict[str, str] = {}
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            name = str(key) if key != "_schema" else ""
            path = f"{prefix}.{name}" if prefix and name else (name or prefix or "body")
            flat.update(flatten_messages(value, path))
    elif isinstance(messages, list | tuple):
        if all(isinstance(m, str) for m in messages):
            flat[prefix or "body"] = " ".join(str(m) for m in messages)
        else:
            for message in messages:
                flat.update(flatten_messages(message, prefix))
    else:
        flat[prefix or "body"] = str(messages)
    return flat


def _wants_json() -> bool:
    return request.path.startswith("/api/")


_OUTAGE_TEXTS = {
    503: ("暂时无法保存或读取", "数据库暂时不可用，请几秒钟后再试。刚才的操作没有保存。",
          "Not available for a moment",
          "The database cannot be reached; try again in a few seconds. "
          "What you just did was not saved."),
    507: ("磁盘已满", "本机磁盘已满，刚才的操作没有保存。请联系管理员清理空间后再试。",
          "The disk is full",
          "Nothing was saved. Ask the administrator to free some space, then try again."),
}


def outage_page(status: int) -> Response:
    """A page for a person when the database or the disk fails (503 or 507): both languages,
    no template, no stylesheet and nothing read from the database, so it shows whatever
    is broken; a 503 carries ``Retry-After`` like the JSON answer."""
    zh_title, zh_text, en_title, en_text = _OUTAGE_TEXTS[status]
    html = (f'<!doctype html><html lang="zh-CN"><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width">'
            f"<title>{escape(zh_title)} / {escape(en_title)}</title>"
            f"<h1>{escape(zh_title)}</h1><p>{escape(zh_text)}</p>"
            f'<h2 lang="en">{escape(en_title)}</h2><p lang="en">{escape(en_text)}</p>'
            f'<p><a href="javascript:history.back()">返回 / Back</a></p></html>')
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    if status == 503:
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _log_nothing(exc_info: object) -> None:
    """Flask's own log of an unexpected error prints its message: the handler logs instead."""


def init_app(app: Flask) -> None:
    """Register the handlers on ``app``, and read its JSON bodies strictly
    (:mod:`shared.web.json_input`) so malformed JSON is a 400 here, never a 500."""
    json_input.init_app(app)
    app.log_exception = _log_nothing  # type: ignore[method-assign]

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError) -> Response | tuple[str, int]:
        if not _wants_json():
            return exc.reason, exc.http_status
        message = exc.reason if exc.field == "" else f"{exc.field}: {exc.reason}"
        return error_response(exc.http_status, exc.code, message, exc.fields)

    @app.errorhandler(ValidationError)
    def validation_error(exc: ValidationError) -> Response:
        fields = flatten_messages(exc.messages)
        return error_response(400, "invalid", "the request body is not valid", fields)

    def database_unavailable(exc: Exception) -> Response:
        if disk_full(exc):
            return storage_full(exc)
        app.logger.error("database unavailable: %s", exc.__class__.__name__)
        if not _wants_json():
            return outage_page(503)
        response = error_response(503, "unavailable", "the database is unavailable, retry soon")
        response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
        return response

    # The server gone, refusing connections, cutting a session mid-transaction, or a pool with
    # no connection to give: the request can be retried, so 503 and never 500.
    for outage in (OperationalError, InterfaceError, PoolTimeout):
        app.register_error_handler(outage, database_unavailable)

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError) -> Response:
        if exc.connection_invalidated or disk_full(exc):
            return database_unavailable(exc)
        raise exc

    @app.errorhandler(DataError)
    def value_not_storable(exc: DataError) -> Response | BaseResponse:
        # The database refused a value the request carried (PostgreSQL takes no NUL in text):
        # the transaction is rolled back, and the fault is the input's, so 400, not 500.
        if exc.connection_invalidated or disk_full(exc):
            return database_unavailable(exc)
        app.logger.warning("value refused by the database: %s", exc.__class__.__name__)
        if not _wants_json():
            return BadRequest("a value in the request cannot be stored").get_response()
        return error_response(400, "invalid", "a value in the request cannot be stored")

    def storage_full(exc: Exception) -> Response:
        app.logger.error("disk full: %s", exc.__class__.__name__)
        if not _wants_json():
            return outage_page(507)
        return error_response(507, "disk_full", DISK_FULL_MESSAGE)

    @app.errorhandler(OSError)
    def os_error(exc: OSError) -> Response:
        if disk_full(exc):
            return storage_full(exc)
        raise exc

    @app.errorhandler(InternalServerError)
    def unexpected(exc: InternalServerError) -> Response:
        incident = secrets.token_hex(4)
        original = exc.original_exception or exc
        where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}"
                           for f in reversed(traceback.extract_tb(original.__traceback__)[-4:]))
        app.logger.error("unexpected error, incident %s: %s at %s", incident,
                         type(original).__name__, where)
        message = f"an unexpected error (incident {incident}); nothing further is said here"
        if not _wants_json():
            page = Response(f"<!doctype html><meta charset=utf-8><title>500</title><p>内部错误,"
                            f"事件编号 {incident}。<p>{escape(message)}", 500,
                            mimetype="text/html")
            return page
        return error_response(500, "internal", message)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException) -> Response | HTTPException:
        if not _wants_json():
            return exc
        code = {
            400: "invalid",
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            409: "conflict",
            413: "too_large",
            429: "too_many_requests",
        }.get(exc.code or 500, "error")
        return error_response(exc.code or 500, code, exc.description or code)
