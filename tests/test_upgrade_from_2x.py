"""Upgrading an environment that has twat-cache 2.7.5 (from the package index) to this workspace.

The wheels of every workspace package are built once; then, in fresh virtual environments:

* pip: install 2.7.5 from the index, upgrade with a plain ``pip install -U "twat-cache[disk]"``
  (no version pin: 3.x must win because it is higher), and the result must work;
* uv: the same with ``uv pip install -U``;
* a bare environment: ``pip install "twat-cache[disk,redis]"`` must pick 3.x, not 2.7.5.

"Works" means: ``import twat_cache`` gives 3.x, a decorated function caches on disk, every file
listed in the RECORD of twat-cache (and of twat-cache-core and the engines) exists, and no
module of 2.x is left behind. The index is needed: an unreachable index fails the test, saying
which command could not reach it (it is never skipped).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OLD = "2.7.5"
# 2.7.5 imports klepto at import time without declaring it; a working 2.x environment has it
OLD_REQUIREMENTS = [f"twat-cache=={OLD}", "klepto"]
STEP_TIMEOUT = 240

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Run inside the upgraded environment; prints one JSON object.
CHECK = r"""
import importlib.metadata as md, json, pathlib, sys
import twat_cache
from twat_cache import ucache

calls = []

@ucache("disk://" + sys.argv[1], ttl=60)
def double(x):
    calls.append(x)
    return 2 * x

results = [double(21), double(21)]
report = {"version": twat_cache.__version__, "results": results, "calls": calls, "dists": {}}
for name in sys.argv[2:]:
    dist = md.distribution(name)
    files = dist.files or []
    report["dists"][name] = {
        "version": dist.version,
        "files": len(files),
        "missing": [str(f) for f in files if not pathlib.Path(f.locate()).exists()],
    }
package = pathlib.Path(twat_cache.__file__).parent
recorded = {str(f) for f in md.distribution("twat-cache").files or []}
report["unrecorded"] = sorted(
    str(p.relative_to(package.parent)) for p in package.rglob("*.py")
    if str(p.relative_to(package.parent)) not in recorded
)
print(json.dumps(report))
"""


def _clean_env(tmp: Path) -> dict[str, str]:
    """An environment in which only the index and our wheel folder are seen."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_", "VIRTUAL_ENV"))}
    env["PIP_CONFIG_FILE"] = os.devnull  # the machine's pip.conf (extra indexes, constraints)
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["UV_NO_CONFIG"] = "1"
    if "PIP_CERT" in os.environ:  # the machine's CA bundle, needed to reach the index
        env["PIP_CERT"] = os.environ["PIP_CERT"]
        env["SSL_CERT_FILE"] = os.environ["PIP_CERT"]
    env["HOME"] = str(tmp / "home")
    return env


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=STEP_TIMEOUT, check=False
    )
    assert proc.returncode == 0, f"{' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def _uv() -> str:
    uv = shutil.which("uv")
    assert uv, "uv is not on PATH (tools/test puts it there)"
    return uv


@pytest.fixture(scope="module")
def index_reachable(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The package index answers: uv resolves twat-cache 2.x there, as the tests will."""
    tmp = tmp_path_factory.mktemp("probe")
    (tmp / "home").mkdir()
    wanted = tmp / "probe.in"
    wanted.write_text(f"twat-cache=={OLD}\n")
    cmd = [_uv(), "pip", "compile", "--no-deps", "--quiet", str(wanted)]
    proc = subprocess.run(
        cmd, env=_clean_env(tmp), cwd=tmp, capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        reason = proc.stderr.strip().splitlines()[-1:] or ["no answer"]
        pytest.fail(
            f"the package index is unreachable: {' '.join(cmd)} (uv's default index, the "
            f"machine's UV_*/PIP_* settings left out) could not resolve twat-cache=={OLD}: "
            f"{reason[0]}"
        )


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory: pytest.TempPathFactory, index_reachable: None) -> Path:
    out = tmp_path_factory.mktemp("wheels")
    _run(
        [_uv(), "build", "--all-packages", "--wheel", "--out-dir", str(out)], dict(os.environ), ROOT
    )
    names = sorted(p.name for p in out.glob("*.whl"))
    assert any(n.startswith("twat_cache-3.") for n in names), names
    assert any(n.startswith("twat_cache_core-1.") for n in names), names
    return out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "home").mkdir()
    return _clean_env(tmp_path)


def _check(python: Path, tmp: Path, env: dict[str, str], *dists: str) -> dict[str, object]:
    out = _run([str(python), "-c", CHECK, str(tmp / "cache"), *dists], env, tmp)
    report: dict[str, object] = json.loads(out.strip().splitlines()[-1])
    return report


def _assert_upgraded(report: dict[str, object], *dists: str) -> None:
    assert str(report["version"]).startswith("3."), report
    assert report["results"] == [42, 42]
    assert report["calls"] == [21], "the second call must be a hit"
    for name in dists:
        info = report["dists"][name]  # type: ignore[index]
        assert info["missing"] == [], f"{name}: files in RECORD are missing: {info['missing']}"
        assert info["files"] > 0
    assert report["unrecorded"] == [], f"modules left behind by 2.x: {report['unrecorded']}"


def _install_old(cmd: list[str], python: Path, env: dict[str, str], tmp: Path) -> None:
    _run([*cmd, *OLD_REQUIREMENTS], env, tmp)
    # a working 2.x environment to start from (2.7.5's own __version__ says 0.0.0)
    probe = "import importlib.metadata as md, twat_cache; print(md.version('twat-cache'))"
    version = _run([str(python), "-c", probe], env, tmp)
    assert OLD in version, version


def test_pip_upgrades_2x_in_place(wheelhouse: Path, env: dict[str, str], tmp_path: Path) -> None:
    _run([sys.executable, "-m", "venv", str(tmp_path / "venv")], env, tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet"]
    _install_old(pip, python, env, tmp_path)

    _run([*pip, "-U", "--find-links", str(wheelhouse), "twat-cache[disk]"], env, tmp_path)

    dists = ("twat-cache", "twat-cache-core", "twat-cache-disk")
    _assert_upgraded(_check(python, tmp_path, env, *dists), *dists)
    _run([str(python), "-m", "pip", "check"], env, tmp_path)


def test_uv_upgrades_2x_in_place(wheelhouse: Path, env: dict[str, str], tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    _run([_uv(), "venv", "--quiet", "--python", sys.executable, str(venv)], env, tmp_path)
    python = venv / "bin" / "python"
    uv_pip = [_uv(), "pip", "install", "--quiet", "--python", str(python)]
    _install_old(uv_pip, python, env, tmp_path)

    _run([*uv_pip, "-U", "--find-links", str(wheelhouse), "twat-cache[disk]"], env, tmp_path)

    dists = ("twat-cache", "twat-cache-core", "twat-cache-disk")
    _assert_upgraded(_check(python, tmp_path, env, *dists), *dists)


def test_pip_picks_3x_in_a_bare_environment(
    wheelhouse: Path, env: dict[str, str], tmp_path: Path
) -> None:
    _run([sys.executable, "-m", "venv", str(tmp_path / "venv")], env, tmp_path)
    python = tmp_path / "venv" / "bin" / "python"
    _run(
        [str(python), "-m", "pip", "install", "--quiet", "--find-links", str(wheelhouse),
         "twat-cache[disk,redis]"],
        env,
        tmp_path,
    )  # fmt: skip
    dists = ("twat-cache", "twat-cache-core", "twat-cache-disk", "twat-cache-redis")
    report = _check(python, tmp_path, env, *dists)
    _assert_upgraded(report, *dists)
    engines = _run([str(python), "-m", "twat_cache"], env, tmp_path)
    assert "twat-cache-redis" in engines, engines
