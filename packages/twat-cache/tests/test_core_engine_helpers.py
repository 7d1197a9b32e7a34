"""What engines share from core: clients per loop, generation names, integers, base classes."""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

import pytest
from twat_cache.engines import generations as generations_module
from twat_cache.engines.base import (
    IN_PROCESS_CAPABILITIES,
    BaseAsyncBackend,
    BaseBackend,
    check_limit,
)
from twat_cache.engines.generations import COUNTER_DIGITS, Generations
from twat_cache.engines.integers import (
    INT64_MAX,
    INT64_MIN,
    checked_sum,
    not_an_integer,
    overflow_error,
    parse_int,
)
from twat_cache.engines.redis_scripts import INCR_SCRIPT, TOUCH_SCRIPT, incr_error
from twat_cache.engines.resources import AsyncResource, Resource
from twat_cache.exceptions import ConfigurationError
from twat_cache.protocols import Capabilities


class _Client:
    def __init__(self, fail_close: bool = False) -> None:
        self.closed = False
        self.fail_close = fail_close

    def close(self) -> None:
        if self.fail_close:
            raise OSError("the server is gone")
        self.closed = True

    async def aclose(self) -> None:
        self.close()


# -- Resource ------------------------------------------------------------------------------


def test_resource_is_made_once_and_closed_once() -> None:
    made: list[_Client] = []

    def make() -> _Client:
        made.append(_Client())
        return made[-1]

    clients = Resource(make, _Client.close)
    assert clients.current() is None
    assert clients.get() is clients.get()
    assert clients.current() is made[0]
    assert len(made) == 1
    clients.close()
    assert made[0].closed
    clients.close()  # nothing left to close
    assert clients.get() is made[1]  # a new one on the next use


def test_resource_close_errors_are_logged_not_raised(caplog: pytest.LogCaptureFixture) -> None:
    clients = Resource(lambda: _Client(fail_close=True), _Client.close, name="probe")
    clients.get()
    with caplog.at_level(logging.DEBUG, logger="twat_cache"):
        clients.close()
    assert "closing probe failed" in caplog.text


def test_resource_from_many_threads_makes_one() -> None:
    made: list[_Client] = []

    def make() -> _Client:
        made.append(_Client())
        return made[-1]

    clients = Resource(make, _Client.close)
    threads = [threading.Thread(target=clients.get) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(made) == 1


# -- AsyncResource -------------------------------------------------------------------------


def _async_resource(made: list[_Client], **kwargs: Any) -> AsyncResource[_Client]:
    async def make() -> _Client:
        await asyncio.sleep(0)  # other tasks of the loop run meanwhile
        made.append(_Client(**kwargs))
        return made[-1]

    return AsyncResource(make, _Client.aclose, name="probe")


def test_one_client_per_loop_closed_when_the_loop_ends() -> None:
    made: list[_Client] = []
    clients = _async_resource(made)

    async def use() -> tuple[_Client, ...]:
        return tuple(await asyncio.gather(*(clients.get() for _ in range(5))))

    first = asyncio.run(use())
    assert len(set(first)) == 1  # five tasks, one build
    assert made[0].closed  # asyncio.run's shutdown cancelled the closer, which closed it
    second = asyncio.run(use())
    assert second[0] is made[1]
    assert made[1].closed
    asyncio.run(clients.aclose())


async def test_aclose_in_the_same_loop() -> None:
    made: list[_Client] = []
    clients = _async_resource(made)
    assert clients.current() is None
    await clients.get()
    assert clients.current() is made[0]
    await clients.aclose()
    assert made[0].closed
    await clients.aclose()  # idempotent


async def test_close_errors_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    made: list[_Client] = []
    clients = _async_resource(made, fail_close=True)
    await clients.get()
    with caplog.at_level(logging.DEBUG, logger="twat_cache"):
        await clients.aclose()
    assert "closing probe failed" in caplog.text


def test_aclose_closes_another_threads_client_in_its_own_loop() -> None:
    made: list[_Client] = []
    clients = _async_resource(made)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        asyncio.run_coroutine_threadsafe(clients.get(), loop).result(timeout=10)
        asyncio.run(clients.aclose())
        assert made[0].closed
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()


def test_a_loop_closed_without_shutdown_is_forgotten() -> None:
    made: list[_Client] = []
    clients = _async_resource(made)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(clients.get())
    closer = next(iter(clients._closers.values()))
    closer.cancel()  # what a loop shutdown would do, done here before closing the loop
    loop.run_until_complete(asyncio.sleep(0))
    assert made[0].closed
    loop.close()

    async def again() -> _Client:
        return await clients.get()

    assert asyncio.run(again()) is made[1]


def test_a_client_left_in_a_stopped_loop_is_dropped() -> None:
    made: list[_Client] = []
    clients = _async_resource(made)
    loop = asyncio.new_event_loop()
    loop.run_until_complete(clients.get())
    # the loop stops without shutting down: nothing can close the client there any more
    asyncio.run(clients.aclose())
    assert not made[0].closed
    for task in asyncio.all_tasks(loop):
        task.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    loop.close()


def test_a_closer_collected_with_a_loop_closed_without_shutdown_forgets_its_client() -> None:
    """A loop closed without cancelling its tasks: when the closer's coroutine is closed (as
    its collection does), it forgets the client and does not try to await its close."""
    made: list[_Client] = []

    async def make() -> _Client:
        made.append(_Client())
        return made[-1]

    async def close(client: _Client) -> None:
        await asyncio.sleep(0)  # a real close awaits I/O: impossible in a closed loop
        client.close()

    clients = AsyncResource(make, close, name="probe")
    loop = asyncio.new_event_loop()
    loop.run_until_complete(clients.get())
    closer = next(iter(clients._closers.values()))
    loop.close()  # no shutdown: the closer task is still pending
    coroutine = closer.get_coro()
    assert coroutine is not None
    coroutine.close()  # what collecting the pending task does to its coroutine
    assert not made[0].closed  # a closed loop cannot close it
    assert clients._by_loop == {}  # forgotten

    async def again() -> _Client:
        return await clients.get()

    assert asyncio.run(again()) is made[1]
    assert made[1].closed


# -- Generations -----------------------------------------------------------------------------


def test_generation_names() -> None:
    names = Generations("app")
    assert names.counter_key == "app:__gen__"
    assert names.key(7, "user:1") == "app:7:user:1"
    assert names.key(7, "user:1") == "app:7:user:1"  # remembered
    assert names.key(8, "user:1") == "app:8:user:1"  # a new generation, new names
    assert names.key(8, "with space").startswith("app:8:#with_space~")
    long = names.key(8, "k" * 400)
    assert len(long) <= 250
    assert long.startswith("app:8:#")
    assert names.key(8, "#x") != names.key(8, "x")
    assert Generations.overhead(64) == 64 + COUNTER_DIGITS + 2
    assert Generations.fresh() < Generations.fresh() + 1
    assert names.parse(b"123") == 123
    with pytest.raises(ValueError, match="app:__gen__"):
        names.parse(b"garbage")


def test_generation_names_are_forgotten_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generations_module, "_REMEMBERED", 2)
    names = Generations("app")
    assert [names.key(1, k) for k in "abc"] == ["app:1:a", "app:1:b", "app:1:c"]
    assert names.key(1, "a") == "app:1:a"


# -- integers ---------------------------------------------------------------------------------


def test_parse_int() -> None:
    assert parse_int("k", b"42") == 42
    assert parse_int("k", b"-42") == -42
    assert parse_int("k", b"+7") == 7
    assert parse_int("k", str(INT64_MIN).encode()) == INT64_MIN
    for raw in (b"", b"1.5", b"abc", b"-", str(INT64_MAX + 1).encode(), b"1" * 25):
        with pytest.raises(TypeError, match="'k'"):
            parse_int("k", raw)


def test_checked_sum_and_errors() -> None:
    assert checked_sum("k", INT64_MAX - 1, 1) == INT64_MAX
    with pytest.raises(OverflowError, match="unchanged"):
        checked_sum("k", INT64_MAX, 1)
    with pytest.raises(OverflowError):
        checked_sum("k", INT64_MIN, -1)
    assert "'k'" in str(overflow_error("k", 1))
    assert isinstance(not_an_integer("k"), TypeError)


def test_redis_answers_to_the_incr_script() -> None:
    assert "INCRBY" in INCR_SCRIPT
    assert "PERSIST" in TOUCH_SCRIPT
    assert isinstance(
        incr_error("k", 1, "ERR increment or decrement would overflow"), OverflowError
    )
    assert isinstance(
        incr_error("k", 2**64, "ERR value is not an integer or out of range"), OverflowError
    )
    assert isinstance(incr_error("k", 1, "ERR value is not an integer or out of range"), TypeError)
    assert isinstance(incr_error("k", 1, "WRONGTYPE Operation against a key"), TypeError)
    assert incr_error("k", 1, "ERR something else") is None


# -- the base classes ------------------------------------------------------------------------


def test_an_engine_gets_stores_objects_and_blocking_from_its_capabilities() -> None:
    class InProcess(BaseBackend):
        capabilities = IN_PROCESS_CAPABILITIES

    class Network(BaseAsyncBackend):
        capabilities = Capabilities(native_async=True)

    class Explicit(BaseBackend):  # an engine setting the older attributes keeps its own
        capabilities = IN_PROCESS_CAPABILITIES
        stores_objects = False

    assert (InProcess.stores_objects, InProcess.blocking) == (True, False)
    assert (Network.stores_objects, Network.blocking) == (False, True)
    assert (Explicit.stores_objects, Explicit.blocking) == (False, True)


@pytest.mark.parametrize("limit", [0, -1, 1.5, True, "10"])
def test_check_limit_refuses_what_is_not_a_positive_int(limit: Any) -> None:
    with pytest.raises(ConfigurationError, match="maxsize"):
        check_limit("maxsize", limit)


def test_check_limit_passes_a_positive_int_or_none() -> None:
    assert check_limit("maxbytes", 1) == 1
    assert check_limit("maxbytes", None) is None
