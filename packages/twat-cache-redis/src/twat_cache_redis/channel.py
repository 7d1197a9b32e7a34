"""The Redis invalidation channel: pub/sub on one channel per database and namespace.

Core's tiers (``twat_cache.tiers``) publish the keys and tags they change here and
drop the near copies other processes change. A subscription is its own
connection; any error on it -- or a silent reconnect, which Redis answers with a
fresh ``subscribe`` confirmation -- means messages may have been missed, and
the subscriber flushes its near tiers.
"""

from __future__ import annotations

import threading
from typing import Any

from twat_cache_redis.settings import RedisSettings

__all__ = ["RedisChannel", "RedisSubscription"]

# how long subscribing waits for the server's confirmation
CONFIRM_TIMEOUT = 5.0


class RedisSubscription:
    """One pub/sub connection listening to a namespace's invalidations."""

    def __init__(self, client: Any, pubsub: Any) -> None:
        self._client = client
        self._pubsub = pubsub

    def receive(self, timeout: float) -> list[str]:
        """Return the messages that arrived within ``timeout`` seconds.

        Raises:
            ConnectionError: when the connection was made again (messages may be lost).
            redis.exceptions.RedisError: when the connection is lost.
        """
        messages: list[str] = []
        message = self._pubsub.get_message(timeout=timeout)
        while message is not None:
            if message["type"] == "message":
                data = message["data"]
                messages.append(data.decode() if isinstance(data, bytes) else str(data))
            elif message["type"] == "subscribe":
                raise ConnectionError("the subscription was made again: messages may be lost")
            message = self._pubsub.get_message(timeout=0)
        return messages

    def close(self) -> None:
        """Close the subscription's connection."""
        self._pubsub.close()
        self._client.close()


class RedisChannel:
    """Invalidation messages for one namespace of one Redis database.

    Args:
        settings: The engine's settings (the subscriptions make their own connections).
        namespace: The engine's namespace.

    Example:
        >>> channel = RedisChannel(RedisSettings(), "app")
        >>> channel.name
        'twat_cache:invalidate:0:app'
    """

    def __init__(self, settings: RedisSettings, namespace: str) -> None:
        self.settings = settings
        # pub/sub is global to a server, not per database: the database is part of the name
        self.name = f"twat_cache:invalidate:{settings.db}:{namespace}"
        self._publisher: Any = None
        self._lock = threading.Lock()

    def publish(self, message: str) -> None:
        """Send ``message`` to every subscriber (redis-py reconnects a dropped publisher)."""
        with self._lock:
            if self._publisher is None:
                self._publisher = self.settings.sync_client()
            publisher = self._publisher
        publisher.publish(self.name, message)

    def subscribe(self) -> RedisSubscription:
        """Subscribe on a new connection; return once the server confirmed it.

        Raises:
            ConnectionError: when the server does not confirm in time.
            redis.exceptions.RedisError: when the server cannot be reached.
        """
        client: Any = self.settings.sync_client()
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.name)
            message = pubsub.get_message(timeout=CONFIRM_TIMEOUT)
            if message is None or message["type"] != "subscribe":
                raise ConnectionError(f"redis did not confirm the subscription to {self.name}")
        except BaseException:
            pubsub.close()
            client.close()
            raise
        return RedisSubscription(client, pubsub)

    def close(self) -> None:
        """Close the publishing connection."""
        with self._lock:
            if self._publisher is not None:
                self._publisher.close()
                self._publisher = None
