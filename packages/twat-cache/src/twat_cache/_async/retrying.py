"""Retrying an engine call after a transient error (``retries=``), written once.

This async module is the source; ``twat_cache/_sync/retrying.py`` is generated
from it by ``bash tools/unasync``. A call is retried only after it failed, so a
call that succeeds costs nothing more.
"""

from __future__ import annotations

from typing import Any

from twat_cache.locking import asleep
from twat_cache.pipeline import AsyncCall
from twat_cache.retries import pauses, transient

__all__ = ["aretry"]


async def aretry(retries: int, exc: Exception, call: AsyncCall[Any], *args: Any) -> Any:
    """Retry ``call(*args)``, which raised ``exc``, while its errors are transient.

    Args:
        retries: The most tries after the first.
        exc: What the first try raised.
        call: The engine call.
        *args: Its arguments.

    Returns:
        The first successful result.

    Raises:
        Exception: the last error, when it is not transient or the tries ran out.
    """
    for pause in pauses(retries):
        if not transient(exc):
            break
        await asleep(pause)
        try:
            return await call(*args)
        except Exception as again:
            exc = again
    raise exc
