"""The Lua scripts Redis engines run, and what Redis' answers to them mean.

Shared by the Redis engine (redis-py) and the aiocache engine's Redis store:
each script runs atomically on the server and touches one key, so it works on a
Cluster too.
"""

from __future__ import annotations

from twat_cache.engines.integers import INT64_MAX, INT64_MIN, overflow_error

__all__ = [
    "DELETE_IF_SCRIPT",
    "HEADS_SCRIPT",
    "INCR_SCRIPT",
    "TOUCH_SCRIPT",
    "WAKE_PREFIX",
    "WAKE_SCRIPT",
    "WAKE_TTL_MS",
    "incr_error",
    "wake_key",
]

# INCRBY would create a missing key; the contract says a missing key is an error (false -> None).
# The result is read back with GET: INCRBY's integer reply would pass through a Lua number (a
# double), and 2**63 - 1 would come back as -2**63.
INCR_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
redis.call('INCRBY', KEYS[1], ARGV[1])
return redis.call('GET', KEYS[1])
"""

# The first ARGV[1] bytes of each key (GETRANGE; '' for an absent key), in one command: keys()
# reads the entries' headers -- their tags -- and never their values (a pipeline of GETRANGEs
# costs the client far more per key than one script).
HEADS_SCRIPT = """
local last = tonumber(ARGV[1]) - 1
local heads = {}
for i, key in ipairs(KEYS) do heads[i] = redis.call('GETRANGE', key, 0, last) end
return heads
"""

# PERSIST answers 0 for a key that exists without a ttl, and touch() must say "present":
# ARGV[1] is the new ttl in milliseconds, or '' for no expiry.
TOUCH_SCRIPT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then
  redis.call('PERSIST', KEYS[1])
  return 1
end
return redis.call('PEXPIRE', KEYS[1], ARGV[1])
"""

# compare-and-delete: the key goes only while it holds ARGV[1] (a lock's token), in one step
DELETE_IF_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
"""

# the wake-up of a compare-and-delete: one element in a list named for the key and its value;
# waiters rotate it (BLMOVE list list), so each one that blocks on it, or comes later, wakes
# too. It expires after ARGV[1] milliseconds.
WAKE_SCRIPT = """
redis.call('RPUSH', KEYS[1], '1')
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1
"""
WAKE_TTL_MS = 10_000
# outside every namespace's ``namespace:*`` pattern, so that keys() and clear() never see one
WAKE_PREFIX = b"twat-cache-wake:"


def wake_key(physical: bytes, value: bytes) -> bytes:
    """The wake-up list of ``delete_if(physical, value)``."""
    return WAKE_PREFIX + physical + b":" + value


def incr_error(key: str, delta: int, message: str) -> Exception | None:
    """Return the contract's error for Redis refusing :data:`INCR_SCRIPT`, or ``None``.

    Redis leaves the value unchanged in both cases: ``ERR increment or decrement
    would overflow`` becomes ``OverflowError``; ``value is not an integer`` (or
    ``WRONGTYPE``) becomes ``TypeError``. Anything else is a server failure (``None``).
    """
    if "overflow" in message or not INT64_MIN <= delta <= INT64_MAX:
        return overflow_error(key, delta)
    if "not an integer" in message or "WRONGTYPE" in message:
        return TypeError(f"the value under {key!r} is not an integer")
    return None
