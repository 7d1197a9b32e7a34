"""twat-cache-core is a thin name: installing it brings the twat_cache API from twat-cache 3.x."""

from importlib.metadata import distribution

import twat_cache
from packaging.requirements import Requirement
from packaging.version import Version


def test_core_requires_twat_cache_3() -> None:
    requirements = [Requirement(r) for r in distribution("twat-cache-core").requires or []]
    [code] = [r for r in requirements if r.name == "twat-cache" and r.marker is None]
    installed = Version(distribution("twat-cache").version)
    assert installed.major == 3
    assert installed in code.specifier
    assert Version("2.7.5") not in code.specifier  # the 2.x line has another API


def test_core_ships_no_files_of_its_own() -> None:
    files = distribution("twat-cache-core").files or []
    assert not [f for f in files if str(f).startswith("twat_cache/")]
    # twat_cache reports the version of the distribution that carries it
    assert twat_cache.__version__ == distribution("twat-cache").version


def test_the_api_imports_and_caches() -> None:
    from twat_cache import ucache

    calls: list[int] = []

    @ucache()
    def double(x: int) -> int:
        calls.append(x)
        return 2 * x

    assert double(4) == 8
    assert double(4) == 8
    assert calls == [4]
