"""The other process of the tier scenario (started by :class:`~twat_cache.testing.tiers.Reader`).

``python -m twat_cache.testing._reader URL NAMESPACE L1_TTL`` holds a tiered cache
(near memory tier over ``URL``) and answers commands on stdin, one JSON line each:
``get KEY`` with the value it serves, ``watch KEY`` with ``"watching"`` and then the
wall-clock time at which it first stopped serving the key's value (``null`` after
the deadline). It is a module of its own, imported by nothing, so that running it
with ``-m`` finds it fresh.
"""

from __future__ import annotations

import json
import sys
import time

from twat_cache.testing.tiers import DEADLINE, WATCH_POLL
from twat_cache.tiers import TieredCache


def serve(url: str, namespace: str, l1_ttl: float | None) -> None:  # pragma: no cover - child
    """Answer ``get`` and ``watch`` commands on stdin, one JSON line each.

    Args:
        url: The lower tier's URL.
        namespace: The namespace both processes use.
        l1_ttl: The near copy's cap (``None``: the cache's ttl).
    """
    with TieredCache(["memory://", url], namespace=namespace, ttl=600, l1_ttl=l1_ttl) as cache:
        print(json.dumps("ready"), flush=True)
        for line in sys.stdin:
            command, _, key = line.strip().partition(" ")
            if command == "get":
                print(json.dumps(cache.get(key)), flush=True)
            elif command == "watch":
                old = cache.get(key)
                print(json.dumps("watching"), flush=True)
                deadline = time.monotonic() + DEADLINE
                gone: float | None = None
                while time.monotonic() < deadline:
                    if cache.get(key) != old:
                        gone = time.time()
                        break
                    time.sleep(WATCH_POLL)
                print(json.dumps(gone), flush=True)


if __name__ == "__main__":  # pragma: no cover - the child process of Reader
    serve(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))
