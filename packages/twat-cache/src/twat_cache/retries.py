"""Which engine errors are worth retrying, and how long to pause between tries.

``retries=N`` retries an engine call up to N times, only after a transient error
(connection reset or refused, a timeout, a server busy or loading, a 5xx answer
from S3 -- never a logic error), pausing with exponential backoff and full jitter.
The engine-facing half is :mod:`twat_cache._async.retrying` (its sync twin is
generated).
"""

from __future__ import annotations

import errno
import random
from collections.abc import Iterator

__all__ = ["FIRST_PAUSE", "LAST_PAUSE", "pauses", "transient"]

FIRST_PAUSE = 0.05
LAST_PAUSE = 2.0
_ERRNOS = frozenset(
    {errno.ECONNRESET, errno.ECONNREFUSED, errno.ECONNABORTED, errno.ETIMEDOUT, errno.EPIPE}
)
# client exceptions that are not subclasses of the built-in ones, by class name: redis-py's
# ConnectionError/TimeoutError/BusyLoadingError/TryAgainError, botocore's connection errors,
# pymemcache's closed connections (core imports no client)
_NAMES = frozenset(
    {
        "ConnectionError", "TimeoutError", "BusyLoadingError", "TryAgainError",
        "EndpointConnectionError", "ConnectTimeoutError", "ReadTimeoutError",
        "ConnectionClosedError", "MemcacheUnexpectedCloseError", "PoolTimeout",
    }
)  # fmt: skip
_SERVER_ERROR = 500


def _http_status(exc: BaseException) -> int:
    """The HTTP status of a botocore ClientError (0 for anything else)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return 0
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return status if isinstance(status, int) else 0


def transient(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is worth retrying."""
    seen: BaseException | None = exc
    for _ in range(8):  # an engine wraps the client's exception: follow the chain a little
        if seen is None:
            return False
        if isinstance(seen, (ConnectionError, TimeoutError)):
            return True
        if isinstance(seen, OSError) and seen.errno in _ERRNOS:
            return True
        if any(kind.__name__ in _NAMES for kind in type(seen).__mro__):
            return True
        if _http_status(seen) >= _SERVER_ERROR:
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def pauses(retries: int) -> Iterator[float]:
    """Yield the pause before each of ``retries`` tries: exponential, full jitter."""
    ceiling = FIRST_PAUSE
    for _ in range(retries):
        yield random.uniform(0, ceiling)  # noqa: S311  # nosec B311 - not a secret
        ceiling = min(ceiling * 2, LAST_PAUSE)
