"""Community files: the contributors tables (tools/contributors) and the GitHub issue forms."""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


def _tool() -> ModuleType:
    spec = importlib.util.spec_from_file_location("contributors", ROOT / "tools/contributors.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


contributors = _tool()


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the config and the files it fills, to change freely."""
    config = json.loads((ROOT / ".all-contributorsrc").read_text(encoding="utf-8"))
    for name in [".all-contributorsrc", *config["files"]]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def _add(project: Path, login: str, name: str, kinds: list[str]) -> None:
    path = project / ".all-contributorsrc"
    config = json.loads(path.read_text(encoding="utf-8"))
    config["contributors"].append(
        {
            "login": login,
            "name": name,
            "avatar_url": f"https://github.com/{login}.png?size=100",
            "profile": f"https://github.com/{login}",
            "contributions": kinds,
        }
    )
    path.write_text(json.dumps(config, indent=2), encoding="utf-8")


def test_the_checked_in_tables_are_current() -> None:
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "tools/contributors.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_a_new_contributor_makes_the_check_fail_until_regenerated(project: Path) -> None:
    _add(project, "ada", "Ada <Lovelace>", ["bug", "test"])
    assert contributors.main(["--root", str(project), "--check"]) == 1
    assert contributors.main(["--root", str(project)]) == 0
    assert contributors.main(["--root", str(project), "--check"]) == 0
    for name in ("README.md", "docs/contributors.md"):
        text = (project / name).read_text(encoding="utf-8")
        table = text[text.index(contributors.START) : text.index(contributors.END)]
        assert "Ada &lt;Lovelace&gt;" in table  # escaped: a name cannot inject HTML
        assert '<span title="Bug reports">🐛</span>' in table
        assert table.index("Ada") < table.index("Adam Twardoch")  # sorted by name
        assert text.count(contributors.START) == 1


def test_rows_hold_contributors_per_line(project: Path) -> None:
    for i in range(8):
        _add(project, f"user{i}", f"User {i}", ["code"])
    contributors.main(["--root", str(project)])
    table = (project / "README.md").read_text(encoding="utf-8")
    assert table.count("<tr>") == 2  # 9 people, 7 per line


def test_unknown_contribution_and_missing_markers_are_reported(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _add(project, "bob", "Bob", ["coding"])
    assert contributors.main(["--root", str(project)]) == 2
    assert "unknown contribution 'coding'" in capsys.readouterr().err
    config = json.loads((project / ".all-contributorsrc").read_text(encoding="utf-8"))
    config["contributors"].pop()
    (project / ".all-contributorsrc").write_text(json.dumps(config), encoding="utf-8")
    (project / "README.md").write_text("# no markers\n", encoding="utf-8")
    assert contributors.main(["--root", str(project)]) == 2
    assert "add the markers" in capsys.readouterr().err


FORM_TYPES = {"markdown", "textarea", "input", "dropdown", "checkboxes"}


@pytest.mark.parametrize("name", ["bug_report.yml", "feature_request.yml"])
def test_issue_forms_are_valid(name: str) -> None:
    form = yaml.safe_load((ROOT / ".github/ISSUE_TEMPLATE" / name).read_text(encoding="utf-8"))
    assert form["name"]
    assert form["description"]
    ids = [item["id"] for item in form["body"] if "id" in item]
    assert len(ids) == len(set(ids))
    for item in form["body"]:
        assert item["type"] in FORM_TYPES
        if item["type"] != "markdown":
            assert item["attributes"]["label"], item
            assert "id" in item, item
        if item["type"] == "dropdown":
            assert item["attributes"]["options"], item


def test_issue_chooser_config_and_pr_template() -> None:
    config = yaml.safe_load((ROOT / ".github/ISSUE_TEMPLATE/config.yml").read_text("utf-8"))
    assert config["blank_issues_enabled"] is False
    assert all(link["url"].startswith("https://") for link in config["contact_links"])
    template = (ROOT / ".github/pull_request_template.md").read_text(encoding="utf-8")
    assert "changelog.d" in template
