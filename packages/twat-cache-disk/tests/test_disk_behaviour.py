"""twat-cache-disk: the behaviour suite, and two scripts' ``__main__`` functions kept apart."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from twat_cache.testing import CacheBehaviour


class TestDiskBehaviour(CacheBehaviour):
    @pytest.fixture
    def cache_url(self, tmp_path: Path) -> str:
        return f"disk://{tmp_path / 'disk'}"


SCRIPT = """
from twat_cache import bcache

@bcache(folder={folder!r})
def load(x):
    return {body!r} + str(x) + str(sorted({{"b", "a", "c"}}))

print(load(1), load.cache_info().hits)
"""


def _run(script: Path, folder: Path, body: str, seed: str) -> str:
    script.write_text(SCRIPT.format(folder=str(folder), body=body))
    env = {**os.environ, "PYTHONHASHSEED": seed}
    return subprocess.run(
        [sys.executable, str(script)], env=env, capture_output=True, text=True, check=True,
        timeout=120,
    ).stdout.strip()  # fmt: skip


def test_two_scripts_in_one_folder_never_share_entries(tmp_path: Path) -> None:
    folder = tmp_path / "cache"
    assert _run(tmp_path / "first.py", folder, "first", "1") == "first1['a', 'b', 'c'] 0"
    assert _run(tmp_path / "second.py", folder, "second", "2") == "second1['a', 'b', 'c'] 0"
    # each script, run again under another hash seed, reads its own entry
    assert _run(tmp_path / "first.py", folder, "first", "3") == "first1['a', 'b', 'c'] 1"
    assert _run(tmp_path / "second.py", folder, "second", "4") == "second1['a', 'b', 'c'] 1"


def test_an_edited_function_never_reads_the_old_results(tmp_path: Path) -> None:
    folder, script = tmp_path / "cache", tmp_path / "job.py"
    assert _run(script, folder, "old", "1").endswith(" 0")
    assert _run(script, folder, "new", "2") == "new1['a', 'b', 'c'] 0"
