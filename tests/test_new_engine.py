"""tools/new-engine: a scaffolded engine package passes the package gate as generated."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import new_engine
import pytest

ROOT = Path(__file__).resolve().parent.parent


def workspace_copy(tmp_path: Path) -> Path:
    """The workspace's files (tracked and new, none ignored) copied under ``tmp_path``."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    copy = tmp_path / "workspace"
    for name in filter(None, files):
        source = ROOT / name
        if source.is_file():
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, copy / name)
    return copy


def test_a_new_engine_passes_tools_test_as_generated(tmp_path: Path) -> None:
    copy = workspace_copy(tmp_path)
    made = subprocess.run(
        ["bash", "tools/new-engine", "fancy"],
        cwd=copy, capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    package = copy / "packages" / "twat-cache-fancy"
    for name in (
        "pyproject.toml",
        "README.md",
        "CHANGELOG.md",
        "LICENSE",
        "changelog.d/+new-engine-fancy.added.md",
        "src/twat_cache_fancy/__init__.py",
        "src/twat_cache_fancy/backend.py",
        "src/twat_cache_fancy/py.typed",
        "tests/test_fancy_backend.py",
    ):
        assert (package / name).is_file(), name
    catalog = (copy / "packages/twat-cache/src/twat_cache/engines/catalog.py").read_text()
    assert '("fancy", "twat_cache_fancy:FancyBackend", "twat-cache-fancy", None)' in catalog
    # the whole gate of one package: tests with 95% coverage, doctests, mypy --strict on 3.13
    # and 3.10, ruff, ruff format, bandit, the engine catalog and the changelog fragments
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "UV_"))}
    gate = subprocess.run(
        ["bash", "tools/test", "--only", "twat-cache-fancy"],
        cwd=copy, capture_output=True, text=True, check=False, timeout=1200, env=env,
    )  # fmt: skip
    summary = gate.stdout[gate.stdout.rfind("=== summary") :]
    assert gate.returncode == 0, summary or gate.stdout[-3000:] + gate.stderr[-3000:]
    assert "failed steps: none" in summary
    for step in ("tests", "doctests", "mypy --strict (3.10)", "ruff format", "bandit"):
        assert f"twat-cache-fancy: {step}" in summary


@pytest.mark.parametrize("name", ["Fancy", "x", "1abc", "fancy-cache", "memory", "builtin"])
def test_a_bad_or_taken_name_is_refused(tmp_path: Path, name: str) -> None:
    copy = tmp_path / "ws"
    (copy / "packages" / "twat-cache-memory").mkdir(parents=True)
    engines = copy / "packages/twat-cache/src/twat_cache/engines"
    engines.mkdir(parents=True)
    shutil.copy(ROOT / "packages/twat-cache/src/twat_cache/engines/catalog.py", engines)
    with pytest.raises(SystemExit) as info:
        new_engine.scaffold(name, root=copy)
    assert name in str(info.value)
    assert sorted(p.name for p in (copy / "packages").iterdir()) == [
        "twat-cache",
        "twat-cache-memory",
    ]


def test_the_scaffold_names_its_class_after_the_scheme() -> None:
    assert new_engine.class_name("fancy") == "FancyBackend"
    assert new_engine.class_name("s4") == "S4Backend"
