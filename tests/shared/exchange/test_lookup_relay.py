"""A status lookup relayed up the tree (:mod:`shared.exchange.lookup_relay`), on SQLite and
PostgreSQL: the parent believes the named client only from its own child, signing with
the key its certificate holds, for this very pair and within five minutes; anything else
counts against the address that sent it."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy.orm import Session

from shared.exchange.lookup_relay import relay_header, relayed_client
from shared.exchange.site import BlobSettings, SyncSite
from shared.storage import sync_store as store
from shared.storage.failure_counts import MAX_ADDRESS_LENGTH
from sync_protocol import SiteKey, generate_key
from tests.shared.exchange.test_tree import HUB, NOW, OTHER_TOWNSHIP, TOWNSHIP, VILLAGE

NUMBER, CODE = "431002001201-20261205-0001", "QTCM7K2P"


def _township(keys: dict[str, SiteKey]) -> SyncSite:
    return SyncSite(key=keys[TOWNSHIP], hub_site=HUB, hub_public_raw=keys[HUB].public_raw,
                    sealer=store.PlainPayloads(), blob_settings=BlobSettings())


def test_the_parent_believes_its_own_childs_signed_client(
        session: Session, keys: dict[str, SiteKey]) -> None:
    township = _township(keys)
    header = relay_header(keys[VILLAGE], "10.0.0.7", NUMBER, CODE, NOW)
    assert relayed_client(session, township, header, NUMBER, CODE, NOW) == f"{VILLAGE}/10.0.0.7"
    # within five minutes either way of the parent's clock, not beyond
    later = NOW + timedelta(minutes=4)
    assert relayed_client(session, township, header, NUMBER, CODE, later) is not None
    assert relayed_client(session, township, header, NUMBER, CODE,
                          NOW + timedelta(minutes=6)) is None


@pytest.mark.parametrize("case", ["other pair", "other code", "not its child",
                                  "stranger's key", "bad signature", "garbage"])
def test_anything_else_is_not_believed(session: Session, keys: dict[str, SiteKey],
                                       case: str) -> None:
    township = _township(keys)
    header = relay_header(keys[VILLAGE], "10.0.0.7", NUMBER, CODE, NOW)
    number, code = NUMBER, CODE
    if case == "other pair":
        number = "431002001201-20261205-0002"
    elif case == "other code":
        code = "QTCM7K2Q"
    elif case == "not its child":  # a sibling township's key, vouching at this township
        header = relay_header(keys[OTHER_TOWNSHIP], "10.0.0.7", NUMBER, CODE, NOW)
    elif case == "stranger's key":  # the village's name, a key no certificate holds
        header = relay_header(generate_key(VILLAGE), "10.0.0.7", NUMBER, CODE, NOW)
    elif case == "bad signature":
        header = header[:-2] + ("00" if not header.endswith("00") else "11")
    else:
        header = "431002001201;;x;;"
    assert relayed_client(session, township, header, number, code, NOW) is None


def test_a_long_relayed_client_is_digested_to_fit_the_failure_records(
        session: Session, keys: dict[str, SiteKey]) -> None:
    client = "431002001299/" + "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff%enp0s31f6"
    header = relay_header(keys[VILLAGE], client, NUMBER, CODE, NOW)
    key = relayed_client(session, _township(keys), header, NUMBER, CODE, NOW)
    assert key is not None and key.startswith(f"{VILLAGE}/#")
    assert len(key) <= MAX_ADDRESS_LENGTH
    again = relayed_client(session, _township(keys),
                           relay_header(keys[VILLAGE], client, NUMBER, CODE, NOW),
                           NUMBER, CODE, NOW)
    assert again == key  # the same client, the same count
