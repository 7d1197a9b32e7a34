"""``warm URL module:function --args-file FILE``: fill a cache before the traffic arrives.

The function is imported with ``TWAT_CACHE_URL`` (and ``TWAT_CACHE_NAMESPACE``
with ``--namespace``) set, so a function decorated without an explicit URL
caches where the command says; then it is called once per line of the
arguments file, ``--concurrency`` calls at a time, through its decorator, which
stores each result as any call would.

Each line of the file is JSON: an array of positional arguments, an object
``{"args": [...], "kwargs": {...}}``, or any other value as the only argument.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twat_cache_cli.commands import URL_VARIABLE, cache_url, check_scheme
from twat_cache_cli.outcome import CommandError, ExitCode, UsageError
from twat_cache_cli.reply import Reply

__all__ = ["cmd_warm", "load_function", "read_calls"]

Call = tuple[tuple[Any, ...], dict[str, Any]]
SHOWN_ERRORS = 5


def read_calls(path: Path) -> list[Call]:
    r"""Read the arguments file: one JSON document a line (blank lines skipped).

    Raises:
        UsageError: naming the line that is not JSON or not a valid call.

    Example:
        >>> import tempfile, pathlib
        >>> file = pathlib.Path(tempfile.mkdtemp()) / "args.jsonl"
        >>> _ = file.write_text('[1, 2]\n{"args": [3], "kwargs": {"b": 4}}\n"x"\n')
        >>> read_calls(file)
        [((1, 2), {}), ((3,), {'b': 4}), (('x',), {})]
    """
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"--args-file {path}: {exc.strerror or exc}") from None
    calls: list[Call] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise UsageError(f"--args-file {path}, line {number}: not JSON ({exc})") from None
        if isinstance(value, list):
            calls.append((tuple(value), {}))
        elif isinstance(value, dict) and set(value) <= {"args", "kwargs"} and value:
            args, kwargs = value.get("args", []), value.get("kwargs", {})
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise UsageError(
                    f"--args-file {path}, line {number}: args must be a list, kwargs an object"
                )
            calls.append((tuple(args), kwargs))
        else:
            calls.append(((value,), {}))
    return calls


@contextmanager
def _cache_environment(url: str, namespace: str | None) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in (URL_VARIABLE, "TWAT_CACHE_NAMESPACE")}
    os.environ[URL_VARIABLE] = url
    if namespace is not None:
        os.environ["TWAT_CACHE_NAMESPACE"] = namespace
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def load_function(target: str) -> Callable[..., Any]:
    """Import ``module:function`` (``module:Class.method`` too); the working folder is on the path.

    Raises:
        UsageError: when the target is malformed, cannot be imported or is not callable.
    """
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise UsageError(f"{target!r}: give the function as module:function")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        found: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            found = getattr(found, part)
    except (ImportError, AttributeError) as exc:
        raise UsageError(f"{target}: {exc}") from None
    if not callable(found):
        raise UsageError(f"{target} is not a function")
    return found  # type: ignore[no-any-return]


def _run_sync(
    function: Callable[..., Any], calls: list[Call], workers: int, advance: Callable[[int], None]
) -> list[str]:
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(function, *args, **kwargs) for args, kwargs in calls]
        for future in as_completed(futures):
            error = future.exception()
            if error is not None:
                errors.append(f"{type(error).__name__}: {error}")
            advance(1)
    return errors


async def _run_async(
    function: Callable[..., Any], calls: list[Call], workers: int, advance: Callable[[int], None]
) -> list[str]:
    limit = asyncio.Semaphore(workers)
    errors: list[str] = []

    async def one(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        async with limit:
            try:
                await function(*args, **kwargs)
            except Exception as exc:  # a failed call is counted; the others go on
                errors.append(f"{type(exc).__name__}: {exc}")
            advance(1)

    await asyncio.gather(*(one(args, kwargs) for args, kwargs in calls))
    return errors


def cmd_warm(args: argparse.Namespace, reply: Reply) -> int:
    """Call ``module:function`` once per line of ``--args-file``, filling its cache."""
    if args.concurrency < 1:
        raise UsageError(f"--concurrency {args.concurrency}: give a number >= 1")
    url = cache_url(args)
    check_scheme(url)
    calls = read_calls(Path(args.args_file))
    with _cache_environment(url, getattr(args, "namespace", None)):
        function = load_function(args.function)
        with reply.progress(f"warm {args.function}", len(calls)) as advance:
            if inspect.iscoroutinefunction(function):
                errors = asyncio.run(_run_async(function, calls, args.concurrency, advance))
            else:
                errors = _run_sync(function, calls, args.concurrency, advance)
    data = {
        "function": args.function,
        "calls": len(calls),
        "failed": len(errors),
        "errors": errors[:SHOWN_ERRORS],
    }
    if errors:
        raise CommandError(
            f"{len(errors)} of {len(calls)} calls of {args.function} failed; first: {errors[0]}",
            **data,
        )
    reply.document(data, f"warmed {args.function}: {len(calls)} calls")
    return ExitCode.OK
