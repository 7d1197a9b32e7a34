"""The default folder of file-based engines: platformdirs' rules, without platformdirs."""

from __future__ import annotations

from pathlib import Path, PurePosixPath, PureWindowsPath

import pytest
from twat_cache.paths import default_folder, default_folder_for


@pytest.mark.parametrize(
    ("platform", "environ", "home", "expected"),
    [
        ("linux", {}, "/home/ann", PurePosixPath("/home/ann/.cache/twat-cache")),
        ("linux", {"XDG_CACHE_HOME": "/var/x"}, "/home/ann", PurePosixPath("/var/x/twat-cache")),
        # a relative XDG_CACHE_HOME is invalid (XDG spec) and ignored, as platformdirs does
        (
            "linux",
            {"XDG_CACHE_HOME": "rel"},
            "/home/ann",
            PurePosixPath("/home/ann/.cache/twat-cache"),
        ),
        ("freebsd14", {}, "/home/ann", PurePosixPath("/home/ann/.cache/twat-cache")),
        ("darwin", {}, "/Users/ann", PurePosixPath("/Users/ann/Library/Caches/twat-cache")),
        ("darwin", {"XDG_CACHE_HOME": "/xdg"}, "/Users/ann", PurePosixPath("/xdg/twat-cache")),
        (
            "win32",
            {"LOCALAPPDATA": r"C:\Users\ann\AppData\Local"},
            r"C:\Users\ann",
            PureWindowsPath(r"C:\Users\ann\AppData\Local\twat-cache\twat-cache\Cache"),
        ),
        (
            "win32",
            {"XDG_CACHE_HOME": "/ignored"},
            r"C:\Users\ann",
            PureWindowsPath(r"C:\Users\ann\AppData\Local\twat-cache\twat-cache\Cache"),
        ),
    ],
)
def test_default_folder_follows_each_platforms_convention(
    platform: str, environ: dict[str, str], home: str, expected: object
) -> None:
    assert default_folder_for(platform, environ, home) == expected


def test_default_folder_reads_this_process_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("LOCALAPPDATA", str(tmp_path))
    folder = default_folder()
    assert folder.is_relative_to(tmp_path)
    assert "twat-cache" in folder.parts
    assert not folder.exists()  # naming it creates nothing
