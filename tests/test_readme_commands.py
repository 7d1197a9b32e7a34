"""The quickstart the README runs works end to end (no server needed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_quickstart_runs_and_shows_a_disk_hit_across_processes() -> None:
    out = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "quickstart.py")],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    assert "computed" in out
    assert "read from disk" in out, out
    assert "CacheInfo(hits=1, misses=1" in out
    assert "visits after incr: 1" in out
    assert "__main__.slow_square" in out
