"""The same decorated code, pointed at each engine by its URL alone, behaves the same.

What one process sees (which calls share an entry, methods, None and exceptions, tags,
signatures, async functions...) is the behaviour suite, twat_cache.testing.CacheBehaviour,
which every engine package runs on its own engines. Here: what needs several processes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path


def _script(path: Path, url: str, namespace: str, factor: int) -> Path:
    path.write_text(
        textwrap.dedent(
            f"""
            from twat_cache import ucache

            @ucache({url!r}, namespace={namespace!r})
            def compute(x):
                print("computed")
                return x * {factor}

            print(compute(4), compute.cache_info().hits)
            """
        )
    )
    return path


def _run(script: Path) -> list[str]:
    return subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, check=True, timeout=120
    ).stdout.split()


def test_persists_across_processes(shared_url: str, namespace: str, tmp_path: Path) -> None:
    script = _script(tmp_path / "child.py", shared_url, namespace, 10)
    assert _run(script) == ["computed", "40", "0"]
    assert _run(script) == ["40", "1"], "the second process reads the first one's entry"
    # another script in the same folder, with its own __main__.compute: its own entries
    other = _script(tmp_path / "other.py", shared_url, namespace, 100)
    assert _run(other) == ["computed", "400", "0"]
    # the first script, edited: a new body never reads the old body's results
    assert _run(_script(script, shared_url, namespace, 1)) == ["computed", "4", "0"]
