"""A keyed blind index of resident ID numbers: find a person's cases without keeping (or
decrypting everything to compare) the number itself.

The index of a number is HMAC-SHA256 of its normalised form (spaces dropped, the check
character ``x`` upper-cased) under a key derived with HKDF-SHA256 from the site's data key
for the purpose ``id-index`` — the same derivation :class:`~shared.storage.sealing.DataKeys`
uses for its sealing keys, under a purpose of its own. Without the data key the index names
nobody: 18-digit numbers are few enough to enumerate, so an unkeyed hash would not protect
them. After the data key is rotated, :func:`blind_indexes` gives one index per key still
held, so the index written under a retired key still finds its cases until it is rebuilt.

:func:`keyed_index` and :func:`keyed_indexes` make the same kind of index of any other
value under a purpose of its own (the city hall's phone numbers: :mod:`hub.hall_models`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from shared.storage.sealing import DataKeys

PURPOSE = "id-index"


def normalise_id_number(value: str) -> str:
    """The form every index is made of: no spaces, upper-case check character ``X``."""
    return "".join(value.split()).upper()


def index_key(data_key: bytes, purpose: str = PURPOSE) -> bytes:
    """The HMAC key for the blind index of ``purpose``, derived from one data key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=f"sanji.{purpose}.v1".encode()).derive(data_key)


def keyed_index(keys: DataKeys, purpose: str, value: str) -> str:
    """The index (64 hex characters) of ``value`` (as given) under the current data key."""
    return _mac(index_key(keys.current, purpose), value)


def keyed_indexes(keys: DataKeys, purpose: str, value: str) -> list[str]:
    """The index of ``value`` under every data key held, current first."""
    return [_mac(index_key(key, purpose), value) for key in (keys.current, *keys.retired)]


def blind_index(keys: DataKeys, id_number: str) -> str:
    """The index (64 hex characters) of ``id_number`` under the current data key."""
    return keyed_index(keys, PURPOSE, normalise_id_number(id_number))


def blind_indexes(keys: DataKeys, id_number: str) -> list[str]:
    """The index of ``id_number`` under every data key held, current first."""
    return keyed_indexes(keys, PURPOSE, normalise_id_number(id_number))


def _mac(key: bytes, value: str) -> str:
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def id_numbers_of(applicant: object) -> set[str]:
    """Every resident ID number an applicant (as a registration carries it) names: the
    person's, a company's legal representative's, a proxy's."""
    found: set[str] = set()
    if not isinstance(applicant, Mapping):
        return found
    for person in (applicant, applicant.get("legal_representative"), applicant.get("proxy")):
        if isinstance(person, Mapping):
            number = person.get("id_number")
            if isinstance(number, str) and number.strip():
                found.add(normalise_id_number(number))
    return found


def indexes_of(keys: DataKeys, numbers: Iterable[str]) -> set[str]:
    """The current indexes of ``numbers``."""
    return {blind_index(keys, number) for number in numbers}
