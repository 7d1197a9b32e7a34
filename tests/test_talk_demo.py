"""The talk's live demo (docs/talks/one-cache-api/demo.py) runs as the audience will see it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "docs" / "talks" / "one-cache-api" / "demo.py"


def run_demo(redis_url: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWAT_CACHE_")}
    env.pop("DEMO_REDIS_URL", None)
    if redis_url:
        env["DEMO_REDIS_URL"] = redis_url
    proc = subprocess.run(
        [sys.executable, str(DEMO)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def check_embedded_steps(out: str) -> None:
    assert "CacheInfo(hits=1, misses=1" in out
    for engine in ("memory", "sqlite", "disk"):
        assert f"{engine:<7} 144 twice, function ran 1 time(s)" in out, out
    assert "second await: {'id': 7, 'name': 'user-7'}" in out
    assert "user:7 -> None" in out
    assert "user:8 -> {'team': 4}" in out
    assert "lookup(21) = 42, lookup(21) = 42 (uncached, no exception)" in out
    assert "strict=True raises BackendError" in out
    assert "after delete, every tier: None" in out
    assert "8 callers got the page; render() ran 1 time(s)" in out
    assert out.rstrip().endswith("done")


def test_demo_runs_on_the_embedded_engines() -> None:
    out = run_demo(None)
    check_embedded_steps(out)
    assert "Redis: not set" in out
    assert "near hit over sqlite" in out


def test_demo_runs_with_redis(redis_server: Any) -> None:
    out = run_demo(redis_server.url)
    check_embedded_steps(out)
    assert "redis   144 twice, function ran 1 time(s)" in out, out
    assert "near hit over redis: {'feature': True}" in out


def test_the_deck_has_20_to_30_slides_each_with_speaker_notes() -> None:
    text = (DEMO.parent / "slides.md").read_text(encoding="utf-8")
    assert text.startswith("---\nmarp: true\n"), "Marp reads the deck by its front matter"
    body = text.split("\n---\n", 1)[1]  # after the front matter
    slides = body.split("\n---\n")
    assert 20 <= len(slides) <= 30, len(slides)
    for number, slide in enumerate(slides, 1):
        assert slide.lstrip().startswith("# "), f"slide {number} has no title"
        assert "<!--\nSpeaker notes.\n" in slide, f"slide {number} has no speaker notes"


def test_the_deck_shows_the_demo_steps_in_the_demos_order() -> None:
    slides = (DEMO.parent / "slides.md").read_text(encoding="utf-8")
    demo = DEMO.read_text(encoding="utf-8")
    titles = [line for line in slides.splitlines() if line.startswith("# Demo ")]
    assert [t.split(":")[0] for t in titles] == [f"# Demo {n}" for n in range(1, 8)]
    for n in range(1, 8):
        assert f'step("{n}. ' in demo, f"demo.py has no step {n}"
