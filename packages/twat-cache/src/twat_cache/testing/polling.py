"""Waiting for something another thread or process does, without a fixed sleep.

A message on an invalidation channel, a write by another process, a background
task: the test polls for what it expects with :func:`wait_until`, up to a
generous deadline, and asserts on the answer. A fast machine passes at once; a
slow one takes longer but does not fail.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["wait_until"]


def wait_until(
    condition: Callable[[], bool], timeout: float = 10.0, interval: float = 0.02
) -> bool:
    """Call ``condition`` until it returns True or ``timeout`` seconds have passed.

    Args:
        condition: What to wait for; called at once, then every ``interval`` seconds.
        timeout: The most seconds to wait.
        interval: Seconds between two calls.

    Returns:
        Whether ``condition`` held (it is called one last time at the deadline).

    Example:
        >>> wait_until(lambda: True)
        True
        >>> wait_until(lambda: False, timeout=0.05)
        False
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(interval)
    return condition()
