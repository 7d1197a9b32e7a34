"""The release and quality tools: changelog fragments, the license check, the smoke test and the
test kinds (unit, integration, performance) the harness plugin marks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import changelog
import check_licenses
import pytest
import smoke

ROOT = Path(__file__).resolve().parent.parent


# --- changelog fragments (tools/changelog.py) ------------------------------------------------


def copy_package(tmp_path: Path, name: str = "twat-cache-memory") -> Path:
    """A copy of one package's changelog setup (pyproject, CHANGELOG, fragments) under tmp."""
    package = tmp_path / "packages" / name
    package.mkdir(parents=True)
    for file in ("pyproject.toml", "CHANGELOG.md"):
        shutil.copy(ROOT / "packages" / name / file, package / file)
    (package / "changelog.d").mkdir()
    return package


def test_every_fragment_in_the_workspace_is_valid_and_rendered() -> None:
    assert changelog.check([]) == []


def test_a_fragment_is_rendered_under_its_keep_a_changelog_heading(tmp_path: Path) -> None:
    package = copy_package(tmp_path)
    (package / "changelog.d" / "+release-lfu.added.md").write_text("The `lfu` policy.\n")
    (package / "changelog.d" / "+other-branch-fix.fixed.md").write_text("A fixed bug.\n")
    assert changelog.check([], root=tmp_path) == []
    notes = changelog.notes(package, "9.9.9")
    assert notes.index("### Added") < notes.index("- The `lfu` policy.") < notes.index("### Fixed")
    assert "- A fixed bug." in notes


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("+release-x.feature.md", "text", "'feature' is not one of added, changed"),
        ("release-x.added.md", "text", "a fragment is named +<slug>.<type>.md"),
        ("+release-x.added.txt", "text", "a fragment is named"),
        ("+release-x.added.md", "  \n", "the fragment is empty"),
    ],
)
def test_a_bad_fragment_is_reported_with_what_to_write(
    tmp_path: Path, name: str, content: str, says: str
) -> None:
    package = copy_package(tmp_path)
    (package / "changelog.d" / name).write_text(content)
    problems = changelog.check([], root=tmp_path)
    assert len(problems) == 1
    assert says in problems[0]
    assert name in problems[0]


def test_a_changelog_without_the_start_line_is_reported(tmp_path: Path) -> None:
    package = copy_package(tmp_path)
    (package / "CHANGELOG.md").write_text("# Changelog\n\n## [0.1.0]\n")
    assert (
        "the line <!-- towncrier release notes start --> is missing"
        in changelog.check([], root=tmp_path)[0]
    )


def test_release_writes_the_section_below_the_start_line_and_keeps_the_history(
    tmp_path: Path,
) -> None:
    package = copy_package(tmp_path)
    history = (package / "CHANGELOG.md").read_text()
    fragment = package / "changelog.d" / "+release-thing.changed.md"
    fragment.write_text("Something users see changed.\n")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "-A"], cwd=tmp_path, check=True)
    proc = changelog.towncrier(package, "0.2.0", "--yes")
    assert proc.returncode == 0, proc.stderr
    text = (package / "CHANGELOG.md").read_text()
    start = text.index(changelog.START)
    section = text.index("## [0.2.0] - ")
    assert start < section < text.index("## [0.1.0]")
    assert "### Changed\n\n- Something users see changed." in text
    assert text.endswith(history[history.index("## [0.1.0]") :])
    assert not fragment.exists()
    # once rendered, the notes of that version are read back from CHANGELOG.md
    assert changelog.notes(package, "0.2.0").startswith("### Changed\n\n- Something users")


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_required_asks_for_a_fragment_when_a_package_src_changes(tmp_path: Path) -> None:
    repo = tmp_path
    for name in ("twat-cache-memory", "twat-cache-disk"):
        src = repo / "packages" / name / "src" / "pkg"
        src.mkdir(parents=True)
        (src / "mod.py").write_text("x = 1\n")
        (repo / "packages" / name / "changelog.d").mkdir()
        (repo / "packages" / name / "changelog.d" / ".gitkeep").write_text("")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    git(repo, "checkout", "-qb", "feature")
    # a change to memory's code, one to disk's tests only: only memory needs a fragment
    (repo / "packages/twat-cache-memory/src/pkg/mod.py").write_text("x = 2\n")
    (repo / "packages/twat-cache-disk/tests").mkdir()
    (repo / "packages/twat-cache-disk/tests/test_x.py").write_text("")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "change")
    changed = changelog.changed_files("main", "HEAD", root=repo)
    added = changelog.added_files("main", "HEAD", root=repo)
    assert changelog.missing_fragments(changed, added) == ["twat-cache-memory"]

    # a fragment of another type in the wrong package does not count; the right one does
    (repo / "packages/twat-cache-disk/changelog.d/+feature-x.fixed.md").write_text("Fixed.\n")
    (repo / "packages/twat-cache-memory/changelog.d/+feature-x.notes").write_text("Fixed.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fragments")
    changed = changelog.changed_files("main", "HEAD", root=repo)
    added = changelog.added_files("main", "HEAD", root=repo)
    assert changelog.missing_fragments(changed, added) == ["twat-cache-memory"]
    (repo / "packages/twat-cache-memory/changelog.d/+feature-x.changed.md").write_text("Now 2.\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "fragment")
    changed = changelog.changed_files("main", "HEAD", root=repo)
    added = changelog.added_files("main", "HEAD", root=repo)
    assert changelog.missing_fragments(changed, added) == []


def test_the_required_command_exits_1_and_names_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(changelog, "changed_files", lambda base, head: ["packages/p/src/p/m.py"])
    monkeypatch.setattr(changelog, "added_files", lambda base, head: [])
    assert changelog.main(["required", "--base", "main"]) == 1
    assert "packages/p/src changed but packages/p/changelog.d/ has no new fragment" in (
        capsys.readouterr().err
    )


# --- licenses (tools/check_licenses.py) -------------------------------------------------------


CONFIG = {
    "allowed": ["MIT", "BSD-3-Clause", "Apache-2.0", "BSD License"],
    "reviewed": {"oddpkg": {"license": "UNKNOWN", "actual": "BSD-3-Clause"}},
}


def test_licenses_expressions_and_lists_are_checked_part_by_part() -> None:
    allowed = set(CONFIG["allowed"])
    assert check_licenses.license_ok("MIT", allowed)
    assert check_licenses.license_ok("Apache-2.0 OR BSD-3-Clause", allowed)
    assert check_licenses.license_ok("BSD License; MIT", allowed)
    assert not check_licenses.license_ok("GPL-3.0-only", allowed)
    assert not check_licenses.license_ok("MIT AND GPL-3.0-only", allowed)
    assert not check_licenses.license_ok("", allowed)


def test_a_dependency_with_a_license_off_the_list_fails_the_check() -> None:
    closure = {"a": "a==1", "gpl": "gpl==2", "oddpkg": "oddpkg==1", "winonly": "winonly==1 ; x"}
    installed = {"a": ("1", "MIT"), "gpl": ("2", "GPL-3.0-only"), "oddpkg": ("1", "UNKNOWN")}
    problems, notes = check_licenses.check(closure, installed, CONFIG)
    assert problems == [
        "gpl 2: license 'GPL-3.0-only' is not allowed (tools/licenses.toml: add it to "
        "`allowed`, or review this package under [reviewed] with its exact license)"
    ]
    assert notes == ["not installed here, not checked: winonly==1 ; x"]
    # a reviewed package whose license text changed is reported again
    installed["oddpkg"] = ("2", "GPL-2.0")
    assert (
        "oddpkg 2: license 'GPL-2.0' is not allowed"
        in check_licenses.check(closure, installed, CONFIG)[0][1]
    )
    # a review left behind for a package no longer depended on is reported
    problems, _ = check_licenses.check({"a": "a==1"}, installed, CONFIG)
    assert problems == ["tools/licenses.toml reviews oddpkg, which is no longer a dependency"]


def test_the_runtime_closure_holds_the_clients_and_no_test_tool() -> None:
    closure = check_licenses.runtime_closure()
    assert {"redis", "psycopg", "cachetools", "diskcache", "boto3"} <= set(closure)
    assert "twat-cache" not in closure  # the workspace's own packages are not dependencies
    assert "mypy" not in closure
    assert "ruff" not in closure


# --- the release smoke test (tools/smoke.py) --------------------------------------------------


def test_smoke_round_trips_through_each_local_engine_and_the_decorator() -> None:
    assert "engine disk: a value stored and read back" in smoke.smoke("twat-cache-disk")
    assert "engine sqlite: a value stored and read back" in smoke.smoke("twat-cache-sqlite")
    core = smoke.smoke("twat-cache")
    assert "a decorated function is computed once" in core
    assert "import twat_cache" in core
    assert "import twat_cache" in smoke.smoke("twat-cache-core")  # thin: brings twat_cache
    redis = smoke.smoke("twat-cache-redis")
    assert "engine redis loads (needs a server: no round trip)" in redis


def test_smoke_fails_on_another_version_than_the_tag() -> None:
    with pytest.raises(SystemExit, match=r"twat-cache-memory .* is installed, not 0\.0\.1"):
        smoke.smoke("twat-cache-memory", "0.0.1")


# --- test kinds (tools/twat_cache_harness/pytest_plugin.py) -----------------------------------

KINDS_MODULE = """
import pytest

def test_plain():
    pass

def test_with_a_server(redis_server):
    pass

@pytest.fixture
def through_another(postgres_server):
    return postgres_server

def test_through_a_fixture(through_another):
    pass

@pytest.fixture(params=["memory", "redis", "aiocache-redis", "sqlite+memory", "redis://h"])
def engine(request):
    return request.param

def test_parametrized(engine):
    pass

@pytest.mark.slow
def test_slow():
    pass

@pytest.mark.integration
def test_marked_by_hand():
    pass
"""


def selected(tmp_path: Path, kind: str) -> set[str]:
    (tmp_path / "test_kinds_example.py").write_text(KINDS_MODULE)
    out = subprocess.run(
        [
            sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
            "--rootdir", str(tmp_path), "-p", "twat_cache_harness.pytest_plugin",
            "--collect-only", "-q", "-m", kind, str(tmp_path / "test_kinds_example.py"),
        ],
        capture_output=True, text=True, check=False, cwd=tmp_path, timeout=300,
    ).stdout  # fmt: skip
    return {line.split("::", 1)[1] for line in out.splitlines() if "::" in line}


def test_tests_are_marked_unit_integration_or_performance(tmp_path: Path) -> None:
    assert selected(tmp_path, "unit") == {
        "test_plain",
        "test_parametrized[memory]",
        "test_parametrized[sqlite+memory]",
        "test_parametrized[redis://h]",
    }
    assert selected(tmp_path, "integration") == {
        "test_with_a_server",
        "test_through_a_fixture",
        "test_parametrized[redis]",
        "test_parametrized[aiocache-redis]",
        "test_marked_by_hand",
    }
    assert selected(tmp_path, "performance") == {"test_slow"}
