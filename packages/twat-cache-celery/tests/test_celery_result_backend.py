"""twat-cache-celery: a real solo worker, the harness' Redis as broker, results on redis,
postgres and disk engines."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery, chord, group
from celery.contrib.testing.worker import start_worker
from celery.exceptions import BackendStoreError
from celery.result import AsyncResult, GroupResult
from twat_cache_celery import TwatBackend


def _wait_until(condition: Callable[[], bool], limit: float = 15.0) -> bool:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


@pytest.fixture(params=["redis", "postgres", "disk"])
def results_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "disk":
        return f"disk://{tmp_path / 'results'}"
    fixture = "redis_server" if request.param == "redis" else "postgres_server"
    url: str = request.getfixturevalue(fixture).url
    return url


@pytest.fixture
def broker_url(redis_server: Any) -> str:
    url: str = redis_server.url
    return url


def _make_app(broker: str, backend: str, **conf: Any) -> Celery:
    name = "t" + uuid.uuid4().hex[:10]
    app = Celery(name, broker=broker, set_as_current=False)
    app.conf.update(
        result_backend=backend,
        result_expires=600,
        twat_cache_options={"namespace": name},
        task_default_queue=name,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    app.conf.update(conf)
    return app


def _add(x: int, y: int) -> int:
    return x + y


def _total(numbers: list[int]) -> int:
    return sum(numbers)


def _boom() -> None:
    raise ValueError("boom")


def _tasks(app: Celery) -> dict[str, Any]:
    # registered by call: Celery's decorators are untyped
    return {
        "add": app.task(name=f"{app.main}.add")(_add),
        "total": app.task(name=f"{app.main}.total")(_total),
        "boom": app.task(name=f"{app.main}.boom")(_boom),
    }


@pytest.fixture
def worker_app(broker_url: str, results_url: str) -> Iterator[tuple[Celery, dict[str, Any]]]:
    app = _make_app(broker_url, f"twat+{results_url}")
    tasks = _tasks(app)
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
        yield app, tasks
    app.backend.cache.clear()
    app.backend.close()


def test_single_tasks(worker_app: tuple[Celery, dict[str, Any]]) -> None:
    app, tasks = worker_app
    assert isinstance(app.backend, TwatBackend)
    result = tasks["add"].delay(2, 3)
    assert result.get(timeout=30) == 5
    assert result.state == "SUCCESS"
    failed = tasks["boom"].delay()
    with pytest.raises(ValueError, match="boom"):
        failed.get(timeout=30)
    assert failed.state == "FAILURE"
    # another client (a new backend instance) reads the stored state through the engine
    other = _make_app(app.conf.broker_url, app.conf.result_backend)
    other.conf.twat_cache_options = app.conf.twat_cache_options
    seen = AsyncResult(result.id, app=other)
    assert seen.state == "SUCCESS"
    assert seen.result == 5
    other.backend.close()


def test_group_and_saved_group(worker_app: tuple[Celery, dict[str, Any]]) -> None:
    app, tasks = worker_app
    results = group(tasks["add"].s(i, i) for i in range(5))()
    assert results.get(timeout=30) == [0, 2, 4, 6, 8]
    results.save()
    restored = GroupResult.restore(results.id, app=app)
    assert restored is not None
    assert [r.id for r in restored.results] == [r.id for r in results.results]
    restored.delete()
    assert GroupResult.restore(results.id, app=app) is None


def test_chord(worker_app: tuple[Celery, dict[str, Any]]) -> None:
    _, tasks = worker_app
    result = chord(tasks["add"].s(i, i) for i in range(4))(tasks["total"].s())
    assert result.get(timeout=30) == 12


def test_forget(worker_app: tuple[Celery, dict[str, Any]]) -> None:
    app, tasks = worker_app
    result = tasks["add"].delay(1, 1)
    assert result.get(timeout=30) == 2
    result.forget()
    assert AsyncResult(result.id, app=app).state == "PENDING"


def test_result_expires(broker_url: str, results_url: str) -> None:
    app = _make_app(broker_url, f"twat+{results_url}", result_expires=1)
    backend = app.backend
    assert backend.expires == 1
    backend.store_result("expiring", 7, "SUCCESS")
    assert backend.get_task_meta("expiring")["result"] == 7
    backend._cache.clear()  # Celery's in-process copy of ready results
    assert _wait_until(lambda: backend.get(backend.get_key_for_task("expiring")) is None)
    backend.close()


def test_incr_is_atomic(broker_url: str, results_url: str) -> None:
    app = _make_app(broker_url, f"twat+{results_url}")
    backend = app.backend
    key = backend.get_key_for_chord("counted")

    def bump() -> None:
        for _ in range(25):
            backend.incr(key)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert backend.incr(key) == 151
    backend.expire(key, 60)
    assert backend.mget([key, "missing"]) == [151, None]
    backend.delete(key)
    assert backend.get(key) is None
    backend.cache.clear()
    backend.close()


def test_backend_urls(broker_url: str) -> None:
    dotted = _make_app(broker_url, "twat_cache_celery.backend:TwatBackend+builtin://")
    assert isinstance(dotted.backend, TwatBackend)
    assert dotted.backend.as_uri() == "twat+builtin://"
    secret = _make_app(broker_url, "twat+redis://:hunter2@127.0.0.1:1/0")
    assert "hunter2" not in secret.backend.as_uri()
    assert "hunter2" in secret.backend.as_uri(include_password=True)
    assert isinstance(secret.backend.__reduce__(), tuple)
    secret.backend.close()
    dotted.backend.close()


def test_refused_write_raises(broker_url: str) -> None:
    app = _make_app(broker_url, "twat+builtin://", twat_cache_options={"maxsize": 1})
    backend = app.backend
    backend.cache.set = lambda *args, **kwargs: False
    with pytest.raises(BackendStoreError):
        backend.store_result("refused", 1, "SUCCESS")
    backend.close()


def test_readme_example_runs(
    broker_url: str, redis_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    source = re.findall(r"```python\n(.*?)```", readme, re.S)[0]
    monkeypatch.setenv("CELERY_BROKER_URL", broker_url)
    monkeypatch.setenv("TWAT_CACHE_URL", redis_server.url.replace("/0", "/1"))
    namespace: dict[str, Any] = {"__name__": "shop"}
    exec(compile(source, "README.md", "exec"), namespace)
    app: Celery = namespace["app"]
    app.conf.update(broker_connection_retry_on_startup=True, worker_hijack_root_logger=False)
    try:
        with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20):
            assert namespace["run"]() == (5, [0, 2, 4, 6], 12)
    finally:
        app.backend.cache.clear()
        app.backend.close()
