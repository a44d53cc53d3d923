"""The suite's one way to wait for something that another thread or process does."""

import time


def poll(condition, timeout=15.0, describe=lambda: "the condition", interval=0.05):
    """Until `condition()` is true, checking every `interval` seconds; returns its value. Fails
    with `describe()` after `timeout` seconds (monotonic, so a travelling wall clock is no matter)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"after {timeout}s: {describe()}")
        time.sleep(interval)
