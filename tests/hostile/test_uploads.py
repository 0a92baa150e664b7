"""Hostile scans sent to a village's materials endpoint: a ZIP named ``.png``, a PNG with a
ZIP after it (a polyglot), a PNG declaring a decompression bomb's pixels, a file that is not
an image at all, and file names that try to leave the blob directory. Each is refused in the
error shape with nothing written, or (a hostile name on a good scan) stored by its digest
only, never under the name."""

from __future__ import annotations

import io
import json
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import TestResponse

from tests.hostile.corpus import HOSTILE_TEXT
from tests.hostile.sites import Site, assert_error_shape, node_site, site_engine, snapshot
from tests.node.conftest import PNG


def _png(width: int, height: int, extra: bytes = b"") -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return (struct.pack(">I", len(body)) + kind + body
                + struct.pack(">I", zlib.crc32(kind + body)))
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    pixels = zlib.compress(b"\x00" * 64)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels)
            + chunk(b"IEND", b"") + extra)


def _zip(name: str = "payload.exe", data: bytes = b"MZ" + b"\x00" * 100) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


REFUSED: dict[str, bytes] = {
    "zip_named_png": _zip(),
    "png_then_zip_polyglot": _png(10, 10, _zip()),
    "png_declaring_a_bomb": _png(100_000, 100_000),
    "zip_bomb_named_png": _zip("bomb.bin", b"\x00" * 2_000_000),
    "html_named_png": b"<html><script>alert(1)</script></html>",
    "svg_with_script": b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    "gzip_bomb": zlib.compress(b"\x00" * 2_000_000),
    "empty": b"",
    "elf_executable": b"\x7fELF" + b"\x00" * 60,
}


@pytest.fixture(scope="module")
def village(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    yield from node_site(tmp_path_factory.mktemp("uploads") / "node")


def _upload(site: Site, data: bytes, name: str = "scan.png",
            code: str = "HARDSHIP_PROOF") -> TestResponse:
    return site.app.test_client().post(
        f"/api/v1/cases/{site.path_values['case_id']}/materials",
        data={"material_code": code, "file": (io.BytesIO(data), name)},
        content_type="multipart/form-data")


def test_hostile_files_are_refused(village: Site) -> None:
    engine = site_engine(village)
    before = snapshot(engine)
    for name, data in REFUSED.items():
        response = _upload(village, data)
        assert_error_shape(response, name)
    for name, text in HOSTILE_TEXT.items():
        response = _upload(village, PNG, code=text)
        assert_error_shape(response, f"material_code = {name}")
    assert snapshot(engine) == before
    engine.dispose()


def test_a_real_small_png_is_still_taken(village: Site) -> None:
    response = _upload(village, _png(2480, 3508))  # an A4 page at 300 dpi
    assert response.status_code == 201, response.get_data(as_text=True)


def test_hostile_file_names_are_never_used(village: Site) -> None:
    data_dir = Path(village.database_url.removeprefix("sqlite:///")).parent
    names = ["../../../../tmp/evil.png", "..\\..\\evil.png", "/etc/passwd", "a\x00b.png",
             "%2e%2e%2fevil.png", HOSTILE_TEXT["bidi_override"], "CON", "x" * 5000]
    for number, name in enumerate(names):
        data = _png(10 + number, 10)
        response = _upload(village, data, name=name)
        assert response.status_code == 201, (name, response.get_data(as_text=True))
        body = json.loads(response.get_data())
        assert name not in json.dumps(body)
    inside = {p.name for p in data_dir.parent.rglob("*")}
    assert not {"evil.png", "passwd"} & inside
