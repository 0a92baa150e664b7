"""Scanned materials: what a file may be, how big, and where it is kept.

A file is accepted only when its first bytes say it is a JPEG, PNG, WebP or PDF (the name
and the browser's declared type are not trusted) and it is within the item's size limit for
that material; an image that is also a ZIP archive, or a PNG declaring more pixels than a
scan has, is refused (the checks are :mod:`shared.storage.scan_uploads`, shared with the
hub's online hall). Files are content-addressed: ``blobs/<sha256[:2]>/<sha256>`` in the
:class:`~shared.storage.blob_store.BlobStore` every site shares (re-exported here), written to a
temporary name, flushed to disk and renamed, so a power cut leaves either the whole file or
none. The same scan added twice is stored once.
"""

from __future__ import annotations

from shared.storage.blob_store import ACCEPTED_TYPES, BlobStore, sniff_media_type
from shared.storage.scan_uploads import CheckedFile, TooLarge, check_upload, material_of

__all__ = [
    "ACCEPTED_TYPES",
    "BlobStore",
    "CheckedFile",
    "TooLarge",
    "check_upload",
    "material_of",
    "sniff_media_type",
]
