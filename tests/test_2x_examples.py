"""The documented examples of twat-cache 2.x run against 3.x (fixtures: twat_cache_2x_examples).

Each page's examples run in order in one namespace, as a reader follows a page (an example may
use what an earlier one imported or defined). What the docs leave to the reader
(``expensive_computation``, ``db``...) is supplied by :data:`READER_SUPPLIED`. ``time.sleep`` and
``asyncio.sleep`` return at once, caches live in a temporary folder, and every warning an
example raises must be a DeprecationWarning naming the 3.x form.

Examples that cannot run say why, in one of four tables, and the test checks they fail for that
reason: names the 2.x code never implemented, a library or server outside this environment,
text that is not a Python program, or a fault of the example itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import logging
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from twat_cache.cache import live_caches


def _load_fixtures() -> Any:
    # the fixture module sits next to this file; tests/ is not on sys.path (importlib mode)
    path = Path(__file__).with_name("twat_cache_2x_examples.py")
    spec = importlib.util.spec_from_file_location("twat_cache_2x_examples", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_fixtures = _load_fixtures()
EXAMPLES: tuple[Any, ...] = _fixtures.EXAMPLES
Example = Any  # twat_cache_2x_examples.Example: source, section, number, code, id

# example id -> the name (as it appears in the error) that 2.7.5 never implemented
NEVER_IMPLEMENTED: dict[str, str] = {
    "src_docs/api/index.md#4": "list_caches",  # and clear_all_caches
    "src_docs/api/index.md#7": "list_caches",  # and clear_all_caches, get_all_stats, CacheError
    "src_docs/api/index.md#8": "BaseCacheEngine",  # CacheEngineManager.create_engine()
    "src_docs/faq.md#7": "cache_engine",
    "src_docs/faq.md#9": "compression",
    "src_docs/faq.md#10": "CacheEngineProtocol",
    "src_docs/faq.md#12": "CacheError",  # and ucache(fallback=True)
    "src_docs/user-guide/configuration.md#18": "size_limit",
    "src_docs/user-guide/configuration.md#19": "cache_validation",  # and mmap_mode
    "src_docs/user-guide/configuration.md#20": "key_builder",
    "src_docs/user-guide/configuration.md#33": "get_cache_config_from_env",
    "src_docs/user-guide/decorators.md#21": "cache_contains",  # and cache_get
    "src_docs/user-guide/installation.md#2": "is_engine_available",
}
# example id -> what 2.x had and 3.x dropped: the error must say what to write instead
REMOVED: dict[str, str] = {
    "src_docs/faq.md#13": 'logging.getLogger("twat_cache")',  # twat_cache.logging (loguru)
}
# example id -> the module it needs, which this environment does not have
NEEDS: dict[str, str] = {
    "src_docs/getting-started.md#8": "aiohttp",
    "src_docs/user-guide/quickstart.md#6": "pandas",
}
# example id -> why the block is not a Python program
NOT_PYTHON: dict[str, str] = {
    "src_docs/index.md#2": "await outside a function",
    "src_docs/user-guide/decorators.md#22": "decorators with no function under them",
    "src_docs/user-guide/index.md#2": "decorators with no function under them",
    "src_docs/user-guide/installation.md#4": "shell commands",
}
# example id -> the example's own fault (it fails the same way on 2.7.5), as exception type name
EXAMPLE_FAULT: dict[str, str] = {
    # a hit rate computed before the first call: hits + misses == 0
    "src_docs/faq.md#8": "ZeroDivisionError",
    "src_docs/faq.md#14": "ZeroDivisionError",
    "src_docs/user-guide/configuration.md#27": "ZeroDivisionError",
    "src_docs/user-guide/decorators.md#20": "ZeroDivisionError",
    # a .env file shown as a python block: TWAT_CACHE_POLICY=lru reads a name lru
    "src_docs/user-guide/configuration.md#31": "NameError",
}


class _Record:
    """A stand-in for the reader's own objects (``db``, ``api``, ``logger``...)."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attribute: str) -> Callable[..., tuple[Any, ...]]:
        return _function(f"{self.name}.{attribute}")

    def __iter__(self) -> Iterator[Any]:
        return iter(())

    def __gt__(self, other: object) -> bool:
        return False

    async def __aenter__(self) -> _Record:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


def _function(name: str) -> Callable[..., tuple[Any, ...]]:
    def reader_supplied(*args: Any, **kwargs: Any) -> tuple[Any, ...]:
        return (name, args, tuple(sorted(kwargs.items())))

    reader_supplied.__name__ = name
    return reader_supplied


def _identity(func: Any) -> Any:
    return func


READER_SUPPLIED: dict[str, Any] = {
    **{
        name: _function(name)
        for name in (
            "analyze_dataset", "apply_filters", "cached_function", "complex_calculation",
            "computation", "compute", "compute_expensive_result", "compute_score",
            "create_report", "custom_key_func", "download_image", "expensive_computation",
            "expensive_lookup", "fetch_from_api", "fetch_from_database", "fetch_month_data",
            "generate_report", "heavy_computation", "load_dataset", "load_image", "load_model",
            "load_preferences", "load_session_from_db", "parse_html", "preprocess", "process",
            "process_with_cache", "is_distributed_environment",
        )
    },
    **{name: _Record(name) for name in ("api", "database", "db", "logger", "rate_limiter")},
    "timing_decorator": _identity,
    "small_data": (1, 2),
    "large_data": (3,),
    "data_size": 10,
    "processed_data": {"processed": True},
    "results": {"results": True},
    "weather_data": {"weather": True},
    "complex_object": {"complex": [1, 2]},
    "Result": dict,
    "x": 3,
}  # fmt: skip
# the docs import these once per page at most and use them on every example after
PAGE_IMPORTS = (
    "from twat_cache import CacheConfig, CacheContext, acache, bcache, fcache, mcache, ucache"
)


def _pages() -> dict[str, list[Example]]:
    pages: dict[str, list[Example]] = defaultdict(list)
    for example in EXAMPLES:
        pages[example.source].append(example)
    return dict(pages)


PAGES = _pages()


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Temporary caches and working folder, instant sleeps; environment and logging restored."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    real_sleep = asyncio.sleep

    async def no_wait(delay: float, result: Any = None) -> Any:
        return await real_sleep(0, result)

    monkeypatch.setattr(asyncio, "sleep", no_wait)
    environ = dict(os.environ)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    before = {id(c) for c in live_caches()}
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(environ)
        root.handlers[:] = handlers
        root.setLevel(level)
        for cache in live_caches():
            if id(cache) not in before:
                cache.close()


def _run(example: Example, namespace: dict[str, Any]) -> tuple[BaseException | None, list[str]]:
    """Run one example; return its exception (or None) and the warnings it raised."""
    out = io.StringIO()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        try:
            code = compile(example.code, example.id, "exec")
            with contextlib.redirect_stdout(out):
                exec(code, namespace)  # noqa: S102 - running the documented example is the test
        except Exception as exc:  # noqa: BLE001 - every failure is reported with its example
            return exc, [str(w.message) for w in seen]
    foreign = [w for w in seen if not issubclass(w.category, DeprecationWarning)]
    assert not foreign, f"{example.id}: {[str(w.message) for w in foreign]}"
    return None, [str(w.message) for w in seen]


@pytest.mark.parametrize("source", sorted(PAGES))
def test_documented_examples_of_2x_run(source: str, sandbox: None) -> None:
    namespace: dict[str, Any] = {"__name__": "__main__", **READER_SUPPLIED}
    exec(PAGE_IMPORTS, namespace)  # noqa: S102
    cached = namespace["ucache"](lambda x: x)
    cached(1)
    namespace["my_cached_func"] = cached  # "your cached function" of decorators.md
    unexpected = []
    for example in PAGES[source]:
        if example.id in NEEDS:
            missing = NEEDS[example.id]
            if "." not in missing:  # a module: it must really be absent here
                assert importlib.util.find_spec(missing) is None, f"{missing} is installed"
            continue
        error, messages = _run(example, namespace)
        for message in messages:
            assert "twat-cache 2.x form" in message, f"{example.id}: {message}"
        if example.id in NOT_PYTHON:
            assert isinstance(error, SyntaxError), f"{example.id}: {error!r}"
        elif example.id in REMOVED:
            assert error is not None, f"{example.id} runs now: take it off REMOVED"
            assert REMOVED[example.id] in str(error), f"{example.id}: {error!r}"
        elif example.id in NEVER_IMPLEMENTED:
            assert error is not None, f"{example.id} runs now: take it off NEVER_IMPLEMENTED"
            assert NEVER_IMPLEMENTED[example.id] in str(error), f"{example.id}: {error!r}"
        elif example.id in EXAMPLE_FAULT:
            assert type(error).__name__ == EXAMPLE_FAULT[example.id], f"{example.id}: {error!r}"
        elif error is not None:
            unexpected.append(f"{example.id} [{example.section}]: {type(error).__name__}: {error}")
    assert not unexpected, "\n".join(unexpected)


def test_how_many_examples_run() -> None:
    """The count docs/migration.md states: every example not listed in a table runs."""
    excluded = (
        NEVER_IMPLEMENTED.keys() | REMOVED.keys() | NEEDS.keys() | NOT_PYTHON.keys()
    ) | EXAMPLE_FAULT.keys()
    assert excluded <= {e.id for e in EXAMPLES}
    assert len(EXAMPLES) == 126
    assert len(EXAMPLES) - len(excluded) == RUNNING


RUNNING = 101
