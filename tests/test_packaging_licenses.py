"""Every published package carries the MIT license: a LICENSE file, in its wheel and sdist."""

from __future__ import annotations

from importlib.metadata import distribution
from pathlib import Path

import pytest
import tomllib

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = sorted(p for p in (ROOT / "packages").iterdir() if (p / "pyproject.toml").exists())


def test_the_root_license_is_mit_with_the_original_copyright() -> None:
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Adam Twardoch" in text.splitlines()[2]


@pytest.mark.parametrize("package", PACKAGES, ids=lambda p: p.name)
def test_each_package_ships_the_license(package: Path) -> None:
    assert (package / "LICENSE").read_text() == (ROOT / "LICENSE").read_text()
    project = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]  # what hatchling puts in wheel and sdist
    # the installed distribution (every extra is installed here) declares it in its metadata
    assert distribution(project["name"]).metadata.get_all("License-File") == ["LICENSE"]
