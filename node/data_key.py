"""The node's data key and where it lives: in ``keys/data.key`` (``file`` protection), or
at a village only in its agents' key slots and in this process's memory (``password``).

In ``password`` mode the key starts in ``data.key`` (made by ``sanji node init``; no
personal data exists before the first sign-in, since intake needs a signed-in user). At
each successful sign-in while the key is in memory the agent's slot is made, or made again
when it is stale (a new key, a new password, new costs), and as soon as one slot exists the
key files are overwritten and removed. After a restart the node is *locked*: the first
sign-in of an agent who has a slot opens it (the password was just checked against the
account's hash) and fills the process's :class:`~shared.storage.sealing.DataKeyHolder`,
which every sealer reads. An agent without a slot cannot unlock; their slot is made at
their first sign-in after someone else has unlocked. The key and the password are never
logged.
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.settings import NodeSettings
from shared.storage.accounts import UserAccount
from shared.storage.key_slots import (
    DEFAULT_PARAMS,
    KeySlot,
    SlotError,
    SlotParams,
    account_mark,
    key_files,
    read_slots,
    remove_key_files,
    slot_is_current,
    unwrap_keys,
    wrap_keys,
    write_slots,
)
from shared.storage.sealing import (
    DATA_KEY_FILE,
    DataKeyHolder,
    DataKeys,
    load_data_keys,
    rotate_data_key_file,
)

LOG = logging.getLogger("sanji.node.data_key")
LOCKED_MESSAGE = ("this PC's data is locked until an agent who has signed in on this PC "
                  "before signs in")


class NodeDataKey:
    """Holds the node's data keys and moves them between the key file and the slots."""

    def __init__(self, settings: NodeSettings, session_factory: Callable[[], Session],
                 params: SlotParams = DEFAULT_PARAMS, opened: DataKeys | None = None) -> None:
        """``opened``: keys a tool beside the node opened from a slot already
        (:func:`keys_from_slot`), so it starts unlocked."""
        self.settings = settings
        self.holder = DataKeyHolder()
        self._sessions = session_factory
        self._params = params
        self._lock = threading.Lock()
        self._on_unlock: list[Callable[[], None]] = []
        key_dir = settings.key_dir
        slots = read_slots(key_dir, settings.site_code) if self.in_slots else {}
        if opened is not None:
            self.holder.fill(opened)
        elif (key_dir / DATA_KEY_FILE).exists() or not self.in_slots:
            keys = load_data_keys(key_dir)  # a missing key file is an error
            if slots and not any(keys.current_id.hex() in s.key_ids for s in slots.values()):
                raise SlotError(f"{key_dir / DATA_KEY_FILE} is not the key the key slots "
                                "hold: move it away (the slots hold the data's key)")
            self.holder.fill(keys)
        elif not slots:
            raise FileNotFoundError(f"{key_dir / DATA_KEY_FILE} is missing and no key slot "
                                    "holds the key: restore keys/ from the backup")
        # else: locked until an agent with a slot signs in

    @property
    def in_slots(self) -> bool:
        return self.settings.key_in_slots

    @property
    def key_dir(self) -> Path:
        return self.settings.key_dir

    @property
    def locked(self) -> bool:
        return not self.holder.held

    def when_unlocked(self, action: Callable[[], None]) -> None:
        """Run ``action`` when a sign-in unlocks the key (a node started unlocked never
        runs it)."""
        self._on_unlock.append(action)

    def signed_in(self, user: UserAccount, password: str) -> None:
        """After a successful sign-in: unlock with the agent's slot if locked, then make or
        refresh their slot and drop the others' that no longer sign in; once a slot
        exists, no key file stays on the disk. Failures are logged, never raised: the
        sign-in itself stands (a locked node then answers ``data_locked``)."""
        if not self.in_slots or user.site != self.settings.site_code:
            return
        with self._lock:
            was_locked = self.locked
            try:
                self._open_or_refresh(user, password)
            except (OSError, SlotError) as exc:  # a full disk: unlocked all the same
                LOG.warning("key slot not written", extra={"fields": {
                    "username": user.username, "error": type(exc).__name__}})
            unlocked = was_locked and not self.locked
        if unlocked:
            LOG.info("data key unlocked", extra={"fields": {"username": user.username}})
            for action in self._on_unlock:
                action()

    def _open_or_refresh(self, user: UserAccount, password: str) -> None:
        site = self.settings.site_code
        slots = read_slots(self.key_dir, site)
        if self.locked:
            slot = slots.get(user.username)
            if slot is None:
                LOG.info("locked: no key slot for this agent",
                         extra={"fields": {"username": user.username}})
                return
            try:
                self.holder.fill(unwrap_keys(slot, site=site, username=user.username,
                                             password=password))
            except SlotError:  # a slot from before a new password: another agent unlocks
                LOG.info("locked: the agent's key slot is stale",
                         extra={"fields": {"username": user.username}})
                return
        keys = self.holder.keys()
        mark = account_mark(user.password_hash)
        changed = self._drop_departed(slots)
        held = slots.get(user.username)
        if held is None or not slot_is_current(held, keys, mark, self._params):
            slots[user.username] = wrap_keys(keys, site=site, username=user.username,
                                             password=password, account=mark,
                                             params=self._params)
            changed = True
        if changed:
            write_slots(self.key_dir, site, slots)
        if slots and key_files(self.key_dir):
            removed = remove_key_files(self.key_dir)
            LOG.info("data key moved into key slots", extra={"fields": {
                "slots": len(slots), "key_files_removed": removed}})

    def _drop_departed(self, slots: dict[str, KeySlot]) -> bool:
        """Drop the slots of accounts that are gone, disabled or moved to another site."""
        if not slots:
            return False
        with self._sessions() as session:
            active = set(session.scalars(select(UserAccount.username).where(
                UserAccount.username.in_(list(slots)), UserAccount.active.is_(True),
                UserAccount.site == self.settings.site_code)))
        departed = [name for name in slots if name not in active]
        for name in departed:
            del slots[name]
        return bool(departed)


def keys_from_slot(settings: NodeSettings, username: str, password: str) -> DataKeys:
    """The data keys for a tool that runs beside the node (``sanji audit verify``,
    ``sanji node sync-now``): from ``data.key`` while it exists, else from ``username``'s
    slot with ``password``; :class:`SlotError` when that slot is missing or does not open."""
    if (settings.key_dir / DATA_KEY_FILE).exists() or not settings.key_in_slots:
        return load_data_keys(settings.key_dir)
    slot = read_slots(settings.key_dir, settings.site_code).get(username)
    if slot is None:
        raise SlotError(f"{username or 'nobody'} has no key slot on this PC: give an agent "
                        "who has signed in here (--username, SANJI_USERNAME)")
    return unwrap_keys(slot, site=settings.site_code, username=username, password=password)


def has_slot(settings: NodeSettings, username: str) -> bool:
    """Whether ``username`` has a key slot on this PC."""
    return bool(username) and username in read_slots(settings.key_dir, settings.site_code)


def needs_an_agent(settings: NodeSettings) -> bool:
    """Whether the data key is only in the agents' slots (a tool needs an agent's password
    to open the data, or the running node)."""
    return settings.key_in_slots and not (settings.key_dir / DATA_KEY_FILE).exists()


@dataclass(frozen=True, slots=True)
class Rotated:
    """What :func:`rotate_data_key` did."""

    old_id: str
    new_id: str
    kept: int
    """Earlier keys kept to open what they sealed (the one just replaced included)."""
    dropped: tuple[str, ...] = ()
    """Agents whose slots held the old keys only (made again at their next sign-in)."""


def rotate_data_key(settings: NodeSettings, username: str = "", password: str = "",
                    params: SlotParams = DEFAULT_PARAMS) -> Rotated:
    """Make a new data key current and keep the present ones as retired, so everything
    sealed so far still opens (run with the node stopped). With the key in a file: the old
    ``data.key`` becomes ``data-<n>.key`` and a new ``data.key`` is written. With the key
    only in the slots: ``username``'s slot is opened with ``password`` and written again
    holding the new keys; the other agents' slots, which hold only the old ones, are
    dropped (another agent's slot is made again at their next sign-in after an unlock)."""
    key_dir, site = settings.key_dir, settings.site_code
    if not needs_an_agent(settings):
        before, after = rotate_data_key_file(key_dir)
        return Rotated(before.current_id.hex(), after.current_id.hex(), len(after.retired))
    keys = keys_from_slot(settings, username, password)
    new = DataKeys(secrets.token_bytes(32), (keys.current, *keys.retired))
    rotated = Rotated(keys.current_id.hex(), new.current_id.hex(), len(new.retired))
    slots = read_slots(key_dir, site)
    slot = slots[username]
    wrapped = wrap_keys(new, site=site, username=username, password=password,
                        account=slot.account, params=params)
    write_slots(key_dir, site, {username: wrapped})
    return replace(rotated, dropped=tuple(sorted(set(slots) - {username})))
