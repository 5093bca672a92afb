"""Login throttling's counting (server/throttle.py), on a clock the test moves."""

from __future__ import annotations

import pytest

from server.throttle import FailureWindow, LoginThrottle


def test_a_key_waits_once_it_reaches_the_limit_and_only_until_its_oldest_failure_expires() -> None:
    window = FailureWindow(limit=3, window_s=60)
    for now in (0, 10, 20):
        assert window.retry_after("alice", now) is None
        window.record("alice", now)
    assert window.retry_after("alice", 25) == pytest.approx(35)  # the failure at 0 expires at 60
    assert window.retry_after("bob", 25) is None
    assert window.retry_after("alice", 60) is None
    window.record("alice", 60)
    assert window.retry_after("alice", 61) == pytest.approx(9)  # now the one at 10 must expire


def test_clear_forgets_a_key_and_old_keys_are_dropped_past_max_keys() -> None:
    window = FailureWindow(limit=1, window_s=60, max_keys=2)
    window.record("a", 0)
    window.clear("a")
    assert window.retry_after("a", 1) is None
    for key in ("x", "y", "z"):
        window.record(key, 0)
    assert window.retry_after("x", 1) is None  # forgotten: the flood of names cannot grow memory
    assert window.retry_after("z", 1) == pytest.approx(59)


@pytest.mark.parametrize(("limit", "window_s"), [(0, 60), (3, 0)])
def test_a_window_that_could_never_let_anyone_in_is_refused(limit: int, window_s: float) -> None:
    with pytest.raises(ValueError, match="limit must be >= 1"):
        FailureWindow(limit=limit, window_s=window_s)


def test_logins_are_throttled_by_account_and_by_address_and_a_success_clears_the_account() -> None:
    throttle = LoginThrottle(FailureWindow(2, 100), FailureWindow(3, 100))
    throttle.failed("alice", "10.0.0.1", 0)
    throttle.failed("alice", "10.0.0.2", 1)
    assert throttle.retry_after("alice", "10.0.0.3", 2) == 98  # the account, from any address
    throttle.succeeded("alice")
    assert throttle.retry_after("alice", "10.0.0.3", 2) is None
    for name in ("bob", "carol", "dave"):
        throttle.failed(name, "10.0.0.9", 3)
    assert throttle.retry_after("erin", "10.0.0.9", 3.5) == 100  # the address, for any account (rounded up)
    assert throttle.retry_after("erin", "10.0.0.8", 3.5) is None
