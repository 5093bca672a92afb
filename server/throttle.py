"""Login throttling: failed attempts counted in a sliding window, by account and by client address.

Pure (the clock is an argument) and in memory, so each server process counts on its own: with N processes
an attacker gets at most N times the limits. Keys are bounded, so a flood of made-up usernames cannot grow
the process without limit (the oldest keys are forgotten first).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict, deque
from dataclasses import dataclass, field

#: Failed logins allowed per account, and per client address, within WINDOW_S.
ACCOUNT_LIMIT = 10
ADDRESS_LIMIT = 30
WINDOW_S = 15 * 60.0
MAX_KEYS = 100_000


@dataclass
class FailureWindow:
    """At most `limit` failures per key within any `window_s` seconds."""

    limit: int
    window_s: float
    max_keys: int = MAX_KEYS
    _failures: OrderedDict[str, deque[float]] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        if self.limit < 1 or self.window_s <= 0:
            raise ValueError(f"limit must be >= 1 and window_s > 0, but got {self.limit=}, {self.window_s=}")

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._failures.get(key, deque())
        while times and times[0] <= now - self.window_s:
            times.popleft()
        return times

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, or None when it may try now."""
        times = self._recent(key, now)
        if not times:
            self._failures.pop(key, None)
        if len(times) < self.limit:
            return None
        return times[-self.limit] + self.window_s - now

    def record(self, key: str, now: float) -> None:
        times = self._recent(key, now)
        times.append(now)
        self._failures[key] = times
        self._failures.move_to_end(key)
        while len(self._failures) > self.max_keys:
            self._failures.popitem(last=False)

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


@dataclass
class LoginThrottle:
    """Failed logins by account and by client address; a success clears the account's count."""

    by_account: FailureWindow = field(default_factory=lambda: FailureWindow(ACCOUNT_LIMIT, WINDOW_S))
    by_address: FailureWindow = field(default_factory=lambda: FailureWindow(ADDRESS_LIMIT, WINDOW_S))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def retry_after(self, username: str, address: str, now: float) -> int | None:
        """Whole seconds to wait before this login may be tried (Retry-After), or None to try it now."""
        with self._lock:
            account = self.by_account.retry_after(username, now)
            address_wait = self.by_address.retry_after(address, now)
        waits = [wait for wait in (account, address_wait) if wait is not None]
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, username: str, address: str, now: float) -> None:
        with self._lock:
            self.by_account.record(username, now)
            self.by_address.record(address, now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self.by_account.clear(username)
