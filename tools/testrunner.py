"""Runs every check of every package, each package alone, and prints one summary.

For each package under packages/ (in dependency order: twat-cache, which ships the
`twat_cache` code, first; then the thin twat-cache-core; then engines):
  1. its tests in an isolated env holding only it and its declared dependencies
     (plus the root `dev` group and its own `test` group), with coverage >= 95%
     (a thin package -- no src/, `[tool.twat-cache-workspace] thin-import` -- has no code
     of its own to cover: its tests run without the gate);
  2. mypy --strict on src and tests (default Python and --python-version 3.10);
  3. ruff check, ruff format --check, bandit -r src.
Each package's doctests (pytest --doctest-modules over src/) run after its tests.
Then the documentation site (`mkdocs build --strict`), the cross-package tests in tests/
(with the meta package and every extra; they run every Python block of the docs and open the
built site in a headless browser), and the repository's checks (pre-commit's local hooks:
codespell, actionlint, shellcheck, changelog fragments...; the licenses of every runtime
dependency).
`--kind unit|integration|performance` runs only the tests of one kind (see the harness plugin).
Servers (redis, memcached, postgres, moto) are started by the tests' own fixtures
(tools/twat_cache_harness), only when a test asks for one.

The last line is "N passed, N failed" over all pytest runs; the exit code is 0 only
when every step passed.
"""

from __future__ import annotations

import argparse
import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COVERAGE = "95"
_COUNT = re.compile(r"(\d+) (passed|failed|errors?)")


def package_info(path: Path) -> dict[str, object]:
    data = tomllib.loads((path / "pyproject.toml").read_text())
    project = data["project"]
    src = path / "src"
    imports = sorted(p.parent.name for p in src.glob("*/__init__.py"))
    thin = data.get("tool", {}).get("twat-cache-workspace", {}).get("thin-import")
    return {
        "name": project["name"],
        "path": path,
        "import": imports[0] if imports else None,
        "thin": thin,
        "test_group": "test" in data.get("dependency-groups", {}),
        "extras": sorted(project.get("optional-dependencies", {})),
        "deps": project.get("dependencies", []),
        "doctest_ignore": data.get("tool", {})
        .get("twat-cache-workspace", {})
        .get("doctest-ignore", []),
    }


def ordered_packages() -> list[dict[str, object]]:
    infos = [
        package_info(p)
        for p in sorted((ROOT / "packages").iterdir())
        if (p / "pyproject.toml").exists()
    ]

    # twat-cache (the code) first, the thin twat-cache-core next, then engines, then the
    # packages that gather several others (cli, integrations)
    def rank(info: dict[str, object]) -> tuple[int, str]:
        name = str(info["name"])
        workspace_deps = [d for d in info["deps"] if str(d).startswith("twat-cache")]  # type: ignore[attr-defined]
        if name == "twat-cache":
            return (0, name)
        if name == "twat-cache-core":
            return (1, name)
        return (3 if len(workspace_deps) > 1 else 2, name)

    return sorted(infos, key=rank)


class Runner:
    def __init__(self) -> None:
        self.passed = 0
        self.failed = 0
        self.failures: list[str] = []
        self.steps: list[tuple[str, float, bool]] = []

    def run(
        self, label: str, cmd: list[str], pytest_run: bool = False, ok_codes: tuple[int, ...] = (0,)
    ) -> bool:
        print(f"\n=== {label}\n$ {' '.join(cmd)}", flush=True)
        start = time.monotonic()
        proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        tail: list[str] = []
        for line in proc.stdout:
            sys.stdout.write(line)
            tail = [*tail, line][-5:]
        code = proc.wait()
        elapsed = time.monotonic() - start
        ok = code in ok_codes
        if pytest_run:
            counts = {"passed": 0, "failed": 0, "error": 0}
            for line in tail:
                if " in " in line and ("passed" in line or "failed" in line or "error" in line):
                    for number, word in _COUNT.findall(line):
                        counts["error" if word.startswith("error") else word] += int(number)
            self.passed += counts["passed"]
            self.failed += counts["failed"] + counts["error"]
            if not ok and not counts["failed"] and not counts["error"]:
                self.failed += 1  # e.g. the coverage gate, or a crash before any test ran
        if not ok:
            self.failures.append(label)
        self.steps.append((label, elapsed, ok))
        print(f"--- {label}: {'ok' if ok else 'FAILED'} in {elapsed:.1f} s", flush=True)
        return ok


def uv_env(info: dict[str, object], *groups: str) -> list[str]:
    cmd = ["uv", "run", "--quiet", "--package", str(info["name"]), "--isolated"]
    for group in groups:
        cmd += ["--group", group]
    if info["test_group"]:
        cmd += ["--group", "test"]
    if info["extras"]:
        cmd += ["--all-extras"]
    return cmd


KINDS = ("unit", "integration", "performance")


def doctest_cmd(info: dict[str, object]) -> list[str] | None:
    """pytest --doctest-modules over the package's src/, or None when it has no src/."""
    path = Path(str(info["path"]))
    if not (path / "src").is_dir():
        return None
    rel = path.relative_to(ROOT)
    # modules that cannot be imported on purpose (e.g. a removed 2.x module that raises)
    ignores = [f"--ignore={rel}/src/{name}" for name in info["doctest_ignore"]]  # type: ignore[attr-defined]
    return [*uv_env(info, "dev"), "pytest", "--doctest-modules", f"{rel}/src", *ignores]


def quality(runner: Runner) -> None:
    """The repository's own checks (tools/, workflows, docs, licenses), not one package's."""
    group = ["uv", "run", "--quiet", "--isolated", "--only-group", "quality"]
    # every hook is `repo: local` on the tools of the quality and lint groups: no hook repo is
    # fetched (whitespace, toml/yaml, ruff, bandit, codespell, actionlint with shellcheck,
    # shellcheck on tools/, uv.lock, changelog fragments); see .pre-commit-config.yaml
    # (bandit is left out: each package's own step runs it on its src/)
    runner.run(
        "pre-commit run --all-files",
        [
            "env", "SKIP=bandit", *group, "--only-group", "lint",
            "pre-commit", "run", "--all-files", "--show-diff-on-failure",
        ],
    )  # fmt: skip
    # the licenses of every runtime dependency of every package (all extras) are allowed
    runner.run(
        "licenses of the runtime dependencies",
        [
            "uv", "run", "--quiet", "--isolated", "--all-packages", "--all-extras",
            "--no-default-groups", "--group", "quality", "python", "tools/check_licenses.py",
        ],
    )  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", action="append", help="run only this package (repeatable)")
    parser.add_argument("--no-lint", action="store_true", help="skip mypy, ruff and bandit")
    parser.add_argument(
        "--no-cross", action="store_true", help="skip the cross-package tests in tests/"
    )
    parser.add_argument(
        "--kind",
        choices=KINDS,
        help="run only the tests of this kind (pytest -m KIND; markers applied by the "
        "harness plugin): no coverage gate, no doctests, lint or repository checks",
    )
    parser.add_argument(
        "--checks",
        action="store_true",
        help="run only the repository checks: pre-commit (codespell, actionlint, shellcheck, "
        "changelog fragments...) and the licenses of the runtime dependencies",
    )
    args = parser.parse_args()

    runner = Runner()
    started = time.monotonic()
    if args.checks:
        quality(runner)
        return summary(runner, started)
    select = ["-m", args.kind] if args.kind else []
    # pytest exits 5 when it selected no test: a package may have no test of a kind
    ok_codes = (0, 5) if args.kind else (0,)
    lint = not args.no_lint and not args.kind
    if not args.only and not args.kind:
        # one implementation for sync and async: the generated sync twins must be current
        runner.run("generated sync twins are current", ["bash", "tools/unasync", "--check"])
    if not args.kind:
        # the catalog of the workspace's engines in core is generated from the pyprojects (cheap)
        runner.run(
            "generated engine catalog is current",
            [sys.executable, "tools/gen_engines.py", "--check"],
        )
        # the contributors tables in README.md and docs/ are generated from .all-contributorsrc
        runner.run(
            "contributors table is current", [sys.executable, "tools/contributors.py", "--check"]
        )
    packages = [p for p in ordered_packages() if not args.only or p["name"] in args.only]
    if args.only and not args.kind:
        # the full run checks every package's fragments through pre-commit
        runner.run(
            "changelog fragments render (towncrier build --draft)",
            [
                "uv", "run", "--quiet", "--isolated", "--only-group", "quality",
                "python", "tools/changelog.py", "check",
                *(Path(str(p["path"])).name for p in packages),
            ],
        )  # fmt: skip
    for info in packages:
        name, path, module = str(info["name"]), Path(str(info["path"])), info["import"]
        rel = path.relative_to(ROOT)
        cov = [
            f"--cov={module}",
            "--cov-report=term-missing:skip-covered",
            f"--cov-fail-under={COVERAGE}",
        ]
        if (module is None and info["thin"]) or args.kind:
            cov = []  # no code of its own, or a part of the tests: no coverage gate
        runner.run(
            f"{name}: tests" + (f" ({args.kind})" if args.kind else ""),
            [*uv_env(info, "dev"), "pytest", f"{rel}/tests", *cov, *select],
            pytest_run=True,
            ok_codes=ok_codes,
        )
        doctests = doctest_cmd(info)
        if doctests and args.kind in (None, "unit"):
            runner.run(f"{name}: doctests", doctests, pytest_run=True, ok_codes=(0, 5))
        if not lint:
            continue
        targets = [f"{rel}/{d}" for d in ("src", "tests") if (path / d).is_dir()]
        mypy = [
            *uv_env(info, "dev", "lint"),
            "mypy",
            "--strict",
            "--cache-dir",
            f".mypy_cache/{name}",
        ]
        runner.run(f"{name}: mypy --strict (3.13)", [*mypy, "--python-version", "3.13", *targets])
        runner.run(f"{name}: mypy --strict (3.10)", [*mypy, "--python-version", "3.10", *targets])
        ruff = ["uv", "run", "--quiet", "--isolated", "--only-group", "lint"]
        runner.run(f"{name}: ruff check", [*ruff, "ruff", "check", str(rel)])
        runner.run(f"{name}: ruff format", [*ruff, "ruff", "format", "--check", str(rel)])
        if (path / "src").is_dir():
            runner.run(f"{name}: bandit", [*ruff, "bandit", "-q", "-r", f"{rel}/src"])

    if not args.no_cross and not args.only and (ROOT / "tests").is_dir():
        # the documentation site, strict: a broken link, reference or nav entry fails; the
        # browser test in tests/test_docs_site.py then opens this build
        site = Path(tempfile.mkdtemp(prefix="twat-cache-docs-"))
        atexit.register(shutil.rmtree, site, ignore_errors=True)
        docs = ["uv", "run", "--quiet", "--isolated", "--only-group", "docs"]
        if runner.run(
            "docs: mkdocs build --strict",
            [*docs, "mkdocs", "build", "--strict", "--site-dir", str(site)],
        ):
            os.environ["TWAT_CACHE_DOCS_SITE"] = str(site)
        cross = [
            "uv",
            "run",
            "--quiet",
            "--package",
            "twat-cache",
            "--isolated",
            "--all-extras",
            "--group",
            "dev",
            "--group",
            "cross",
            "--group",
            "docs",  # the docs' examples and the browser check of the built site
        ]
        runner.run(
            "cross-package tests" + (f" ({args.kind})" if args.kind else ""),
            [*cross, "pytest", "tests", *select],
            pytest_run=True,
            ok_codes=ok_codes,
        )
        plugin = ["uv", "run", "--quiet", "--isolated", "--group", "dev"]
        plugin += [
            "--with-editable",
            "examples/plugin-engine",
            "--with-editable",
            "packages/twat-cache-core",
            "--with-editable",
            "packages/twat-cache",
        ]
        runner.run(
            "examples/plugin-engine: tests (a third-party engine)",
            [*plugin, "pytest", "examples/plugin-engine/tests", *select],
            pytest_run=True,
            ok_codes=ok_codes,
        )
        if lint:
            ruff = ["uv", "run", "--quiet", "--isolated", "--only-group", "lint"]
            runner.run("tools: ruff check", [*ruff, "ruff", "check", "tools", "tests", "examples"])
            runner.run(
                "tools: ruff format",
                [*ruff, "ruff", "format", "--check", "tools", "tests", "examples"],
            )
            quality(runner)
    return summary(runner, started)


def summary(runner: Runner, started: float) -> int:
    print("\n=== summary")
    for label, elapsed, ok in runner.steps:
        print(f"{'ok    ' if ok else 'FAILED'} {elapsed:7.1f} s  {label}")
    failed = ", ".join(runner.failures) or "none"
    print(f"total {time.monotonic() - started:.0f} s; failed steps: {failed}")
    print(f"{runner.passed} passed, {runner.failed} failed")
    return 1 if runner.failures else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())
