"""Smoke test of one installed twat-cache distribution, as a user would first use it.

    python tools/smoke.py DISTRIBUTION [VERSION]

Run by the release workflow in a fresh venv holding only the release candidate (from TestPyPI)
and its dependencies (and by the tests on the workspace's packages). It checks that the
installed version is VERSION, that every module of the distribution imports, that each engine
it registers (entry point group ``twat_cache.engines``) loads and, when it needs no server,
stores and reads back a value through ``twat_cache.Cache``; and for twat-cache itself that a
decorated function is computed once. Only the standard library and twat-cache are used.
"""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import importlib.util
import sys
import tempfile
from pathlib import Path

# engines that run in-process or on local files: a round trip needs no server
LOCAL_URLS = {
    "memory": "memory://",
    "builtin": "builtin://",
    "disk": "disk://{tmp}/disk",
    "sqlite": "sqlite:///{tmp}/cache.db",
}


def modules(dist: metadata.Distribution) -> list[str]:
    """The top-level import packages the distribution installs (from its RECORD)."""
    names = set()
    for file in dist.files or []:
        parts = Path(str(file)).parts
        if len(parts) > 1 and parts[1] == "__init__.py" and not parts[0].endswith(".dist-info"):
            names.add(parts[0])
    if not names:  # an editable install records only a .pth file: the usual import name
        guess = dist.metadata["Name"].replace("-", "_").lower()
        if importlib.util.find_spec(guess) is not None:
            names.add(guess)
    return sorted(names)


def smoke(name: str, version: str | None = None) -> list[str]:
    """What was checked, one line each; raises on the first failure."""
    done: list[str] = []
    dist = metadata.distribution(name)
    if version is not None and dist.version != version:
        raise SystemExit(f"{name} {dist.version} is installed, not {version}")
    done.append(f"{name} {dist.version} installed")
    # a thin distribution (twat-cache-core) has no module of its own: it brings twat_cache
    for module in modules(dist) or ["twat_cache"]:
        importlib.import_module(module)
        done.append(f"import {module}")
    engines = [ep for ep in dist.entry_points if ep.group == "twat_cache.engines"]
    if engines or name == "twat-cache":
        from twat_cache import Cache

        with tempfile.TemporaryDirectory() as tmp:
            for ep in engines:
                ep.load()
                url = LOCAL_URLS.get(ep.name)
                if url is None:
                    done.append(f"engine {ep.name} loads (needs a server: no round trip)")
                    continue
                cache = Cache(url.format(tmp=tmp))
                try:
                    cache.set("smoke", {"n": 1})
                    if cache.get("smoke") != {"n": 1}:
                        raise SystemExit(f"engine {ep.name}: the value did not come back")
                finally:
                    cache.close()
                done.append(f"engine {ep.name}: a value stored and read back")
    if name == "twat-cache":
        from twat_cache import ucache

        calls: list[int] = []

        @ucache("memory://")
        def double(x: int) -> int:
            calls.append(x)
            return 2 * x

        if (double(21), double(21), calls) != (42, 42, [21]):
            raise SystemExit("a decorated function was not computed exactly once")
        done.append("a decorated function is computed once")
    return done


def main(argv: list[str]) -> int:
    if not 1 <= len(argv) <= 2:
        print(__doc__, file=sys.stderr)
        return 2
    for line in smoke(*argv):
        print(f"ok: {line}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
