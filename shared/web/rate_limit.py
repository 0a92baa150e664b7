"""Counting wrong guesses, so neither a password nor a query code can be found by trying.

Only failures count: a citizen who looks up a case many times, or a clerk who logs in all day,
is never blocked. The failures themselves are kept in a
:class:`~shared.storage.failure_counts.FailureCounts` store: at the hub a table every hub
process shares (so two processes do not each allow the full quota), in memory where one
process and a monotonic clock suffice. The app installs its store once
(:func:`install_failure_counts`); the sign-in views find it there.

Two limiters read the store:

- :class:`FailureLimiter` counts per client address (the public status lookup): after
  ``max_failures`` wrong pairs within ``window_seconds`` an address gets 429 until the oldest
  failure leaves the window.
- :class:`LoginLimiter` counts wrong logins three ways (:class:`LoginLimits`): one account
  from one address, any account from one address (one address spraying many accounts), and
  one account from any address (many addresses spraying one account). The first two block
  only the guessing address; the third locks the account wherever it is tried, until its
  failures leave the day's window or an admin lifts the lock (:meth:`LoginLimiter.lift`).

Time comes in as an argument (seconds on the caller's clock).
"""

from __future__ import annotations

from dataclasses import dataclass

from flask.sansio.app import App

from shared.storage.failure_counts import FailureCounts, MemoryFailureCounts

STATUS_KIND = "status"
LOGIN_KIND = "login"
KEEP_SECONDS = 24 * 3600
"""How long a store keeps a failure: the longest window any limit here counts over."""

_EXTENSION = "sanji_failure_counts"


def _retry_after(times: list[float], max_failures: int, window: float, now: float) -> int | None:
    """Seconds until fewer than ``max_failures`` of ``times`` are inside the window, or None
    when that is so already."""
    if len(times) < max_failures:
        return None
    oldest_counted = times[-max_failures]
    return max(1, int(oldest_counted + window - now) + 1)


class FailureLimiter:
    """Failures per client address inside a sliding window."""

    def __init__(self, max_failures: int, window_seconds: float, max_addresses: int = 10_000,
                 *, counts: FailureCounts | None = None, kind: str = STATUS_KIND):
        self.max_failures = max_failures
        self.window = window_seconds
        self.kind = kind
        self.counts: FailureCounts = counts or MemoryFailureCounts(
            window_seconds, max_keys=max_addresses)

    def _wait(self, key: str, now: float) -> int | None:
        times = self.counts.recent(self.kind, now - self.window, self.max_failures, address=key)
        return _retry_after(times, self.max_failures, self.window, now)

    def blocked(self, key: str, now: float) -> bool:
        """Whether ``key`` has used up its failures within the window."""
        return self._wait(key, now) is not None

    def record_failure(self, key: str, now: float) -> None:
        """Count one wrong guess from ``key``."""
        self.counts.record(self.kind, now, key)

    def retry_after(self, key: str, now: float) -> int:
        """Seconds until ``key`` may try again (at least 1)."""
        return self._wait(key, now) or 1


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many wrong logins are allowed, counted three ways."""

    per_pair: int = 10
    """One account from one address, within ``window_seconds``."""
    per_address: int = 30
    """Any accounts from one address, within ``window_seconds``."""
    window_seconds: float = 15 * 60
    per_account: int = 50
    """One account from any addresses, within ``account_window_seconds``: the account is
    locked (an admin may lift it)."""
    account_window_seconds: float = KEEP_SECONDS


class LoginLimiter:
    """Wrong logins, counted per account and address, per address and per account."""

    def __init__(self, counts: FailureCounts, limits: LoginLimits | None = None):
        self.counts = counts
        self.limits = limits or LoginLimits()

    def retry_after(self, username: str, address: str, now: float) -> int | None:
        """Seconds to wait before ``username`` may be tried from ``address``; None: now."""
        limits = self.limits
        since = now - limits.window_seconds
        waits = [
            _retry_after(
                self.counts.recent(LOGIN_KIND, since, limits.per_pair,
                                   address=address, username=username),
                limits.per_pair, limits.window_seconds, now),
            _retry_after(
                self.counts.recent(LOGIN_KIND, since, limits.per_address, address=address),
                limits.per_address, limits.window_seconds, now),
            self.account_locked_for(username, now),
        ]
        found = [wait for wait in waits if wait is not None]
        return max(found) if found else None

    def account_locked_for(self, username: str, now: float) -> int | None:
        """Seconds the account ``username`` stays locked (from every address), or None."""
        limits = self.limits
        times = self.counts.recent(LOGIN_KIND, now - limits.account_window_seconds,
                                   limits.per_account, username=username)
        return _retry_after(times, limits.per_account, limits.account_window_seconds, now)

    def record_failure(self, username: str, address: str, now: float) -> None:
        """Count one wrong login of ``username`` from ``address``."""
        self.counts.record(LOGIN_KIND, now, address, username)

    def lift(self, username: str) -> int:
        """Forget the account's wrong logins (an admin lifting its lock); how many there
        were."""
        return self.counts.forget(LOGIN_KIND, username)


def install_failure_counts(app: App, counts: FailureCounts) -> None:
    """Make ``counts`` the store every limiter of ``app`` counts in (once per app)."""
    if _EXTENSION in app.extensions:
        raise RuntimeError("this app counts its failures somewhere already")
    app.extensions[_EXTENSION] = counts


def failure_counts_of(app: App) -> FailureCounts:
    """The store installed on ``app``; an app that installed none counts in memory."""
    found = app.extensions.get(_EXTENSION)
    if found is None:
        found = MemoryFailureCounts(KEEP_SECONDS)
        app.extensions[_EXTENSION] = found
    counts: FailureCounts = found
    return counts
