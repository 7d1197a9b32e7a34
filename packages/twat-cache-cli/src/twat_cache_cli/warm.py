"""``warm URL module:function --args-file FILE``: fill a cache before the traffic arrives.

The function is imported with ``TWAT_CACHE_URL`` (and ``TWAT_CACHE_NAMESPACE``
with ``--namespace``) set, so a function decorated without an explicit URL
caches where the command says; then its ``f.warm`` (docs/entries.md) runs one
call per line of the arguments file that is not cached yet, ``--concurrency``
at a time; a ``batch=True`` function gets ``--batch-size`` ids per call.

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
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from twat_cache import AsyncCachedFunction, CachedFunction, ConfigurationError, WarmReport

from twat_cache_cli.commands import URL_VARIABLE, cache_url, check_scheme
from twat_cache_cli.outcome import CommandError, ExitCode, UsageError
from twat_cache_cli.reply import Reply

__all__ = ["cmd_warm", "load_function", "read_calls", "warm_item"]

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


def warm_item(function: Callable[..., Any], call: Call) -> Any:
    """The item of ``f.warm`` that stands for one call (see :func:`twat_cache.entries.call_of`).

    Positional arguments become a tuple, keyword arguments a dict; a call with
    both is bound to the function's signature and given by keyword, which keys
    the same entry.

    Raises:
        UsageError: when the call does not fit the signature, or cannot be given by keyword.
    """
    args, kwargs = call
    if not kwargs:
        return args
    if not args:
        return kwargs
    try:
        bound = inspect.signature(function).bind(*args, **kwargs)
    except (TypeError, ValueError) as exc:
        raise UsageError(f"args {list(args)} with kwargs {kwargs}: {exc}") from None
    if not bound.kwargs:
        return tuple(bound.args)
    named: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = bound.signature.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            named.update(value)
        elif kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL):
            raise UsageError(
                f"args {list(args)} with kwargs {kwargs}: {name} cannot be given by keyword; "
                "give every argument in args"
            )
        else:
            named[name] = value
    return named


def cmd_warm(args: argparse.Namespace, reply: Reply) -> int:
    """Warm ``module:function`` with one call per line of ``--args-file`` (``f.warm``)."""
    if args.concurrency < 1:
        raise UsageError(f"--concurrency {args.concurrency}: give a number >= 1")
    batch_size = getattr(args, "batch_size", None)
    if batch_size is not None and batch_size < 1:
        raise UsageError(f"--batch-size {batch_size}: give a number >= 1")
    url = cache_url(args)
    check_scheme(url)
    calls = read_calls(Path(args.args_file))
    with _cache_environment(url, getattr(args, "namespace", None)):
        function = load_function(args.function)
        if not isinstance(function, (CachedFunction, AsyncCachedFunction)):
            raise UsageError(f"{args.function} is not a cached function (no decorator on it)")
        items = [warm_item(function.__wrapped__, call) for call in calls]
        options: dict[str, Any] = {} if batch_size is None else {"batch_size": batch_size}
        with reply.progress(f"warm {args.function}", len(calls)) as advance:

            def progress(item: Any, outcome: str) -> None:
                advance(1)

            try:
                warming = function.warm(items, args.concurrency, progress, **options)
                report: WarmReport = (
                    asyncio.run(warming) if inspect.iscoroutine(warming) else warming
                )
            except ConfigurationError as exc:  # batch_size on a function without batch=True
                raise UsageError(f"--batch-size {batch_size}: {exc}") from None
    errors = [f"{type(exc).__name__}: {exc}" for _, exc in report.failed]
    data = {
        "function": args.function,
        "calls": len(calls),
        "warmed": report.warmed,
        "cached": report.cached,
        "absent": report.absent,
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
