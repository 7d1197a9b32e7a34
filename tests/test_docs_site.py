"""The built documentation site, opened page by page in a real browser.

`mkdocs build --strict` writes the site (or TWAT_CACHE_DOCS_SITE names one already built, as
tools/test does); a local http.server on 127.0.0.1 serves it the way mike deploys it (the
site under a version folder, `versions.json` next to it); Debian's chromium (installed by the
harness with apt-get when missing), driven through Playwright, opens every page at 1400x900
and fails on:

- a console error or an uncaught exception;
- a request that leaves 127.0.0.1 (the site works offline: no web fonts, no CDN), except the
  contributors' avatar images, answered with a blank pixel;
- a request the server answers with an error, an image that does not load;
- an internal link to a page or file the site does not have;
- a code block or a table wider than the text column (it would scroll sideways).

Screenshots of the home page and of an API page go to test-artifacts/ (or
TEST_ARTIFACTS_DIR).
"""

from __future__ import annotations

import base64
import functools
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parent.parent
VERSION = "dev"  # the folder mike would deploy this build to
VIEWPORT = {"width": 1400, "height": 900}

# every wide code block, with the width it needs and the width it has
_WIDE_CODE = """() => Array.from(document.querySelectorAll('.md-content pre > code'))
  .filter(code => code.offsetParent !== null && code.scrollWidth > code.clientWidth + 1)
  .map(code => `${code.scrollWidth}px in ${code.clientWidth}px: `
    + code.textContent.split('\\n').reduce((a, b) => (b.length > a.length ? b : a), ''))"""
# every table that needs more than the column (it would scroll sideways)
_WIDE_TABLES = """() => Array.from(document.querySelectorAll('.md-content .md-typeset__scrollwrap'))
  .filter(wrap => wrap.offsetParent !== null && wrap.scrollWidth > wrap.clientWidth + 1)
  .map(wrap => `${wrap.scrollWidth}px in ${wrap.clientWidth}px: `
    + wrap.querySelector('tr').textContent.trim().slice(0, 80))"""
_BROKEN_IMAGES = """() => Array.from(document.images)
  .filter(img => !img.complete || img.naturalWidth === 0).map(img => img.src)"""
# contributors' avatars are content, served by GitHub: answered here with a blank pixel (the
# tests stay offline); anything else from another host fails the test
AVATAR_HOSTS = {"github.com", "avatars.githubusercontent.com"}
_PIXEL = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAQAAAC1HAwCAAAAC0lEQVR42mNkYAAAAAYAAjCB0C8AAAAASUVORK5CYII="
)
_LINKS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    given = os.environ.get("TWAT_CACHE_DOCS_SITE")
    if given:
        path = Path(given)
        assert (path / "index.html").is_file(), f"TWAT_CACHE_DOCS_SITE={given} holds no site"
        return path
    path = tmp_path_factory.mktemp("site")
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-3000:]
    return path


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def served(site: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The site at http://127.0.0.1:PORT/dev/, as mike lays out a deployed version."""
    root = tmp_path_factory.mktemp("deployed")
    (root / VERSION).symlink_to(site, target_is_directory=True)
    versions = [{"version": VERSION, "title": VERSION, "aliases": ["latest"]}]
    (root / "versions.json").write_text(json.dumps(versions))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/{VERSION}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright
    from twat_cache_harness.install import ensure_binary

    chromium = ensure_binary("chromium", "chromium")  # Debian's package, installed when missing
    with sync_playwright() as playwright:
        # Playwright's own browser download is not used: Debian's chromium, without its sandbox
        # (the tests may run as root)
        launched = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            yield launched
        finally:
            launched.close()


def pages(site: Path) -> list[str]:
    """Every page of the site, as a path under the version folder."""
    found = [p.relative_to(site).as_posix() for p in site.rglob("index.html")]
    return sorted(p.removesuffix("index.html") for p in found)


def target_exists(site: Path, base: str, url: str) -> bool:
    path = urlsplit(url).path.removeprefix(urlsplit(base).path)
    file = site / path
    return (file / "index.html").is_file() if path.endswith("/") or not path else file.exists()


def test_every_page_renders_cleanly(site: Path, served: str, browser: Any) -> None:
    context = browser.new_context(viewport=VIEWPORT)
    problems: list[str] = []
    current = {"page": ""}

    def note(kind: str, text: str) -> None:
        problems.append(f"{current['page'] or '/'}: {kind}: {text}")

    def route(route: Any) -> None:
        host = urlsplit(route.request.url).hostname
        if host == "127.0.0.1":
            route.continue_()
        elif route.request.resource_type == "image" and host in AVATAR_HOSTS:
            route.fulfill(status=200, content_type="image/png", body=_PIXEL)
        else:
            note("request leaving 127.0.0.1", route.request.url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda m: m.type == "error" and note("console error", m.text))
    page.on("pageerror", lambda e: note("uncaught exception", str(e)))
    page.on("response", lambda r: r.status >= 400 and note(f"HTTP {r.status}", r.url))
    all_pages = pages(site)
    assert len(all_pages) >= 40  # every section of the nav built
    try:
        for path in all_pages:
            current["page"] = path
            page.goto(served + path, wait_until="load")
            for wide in page.evaluate(_WIDE_CODE):
                note("code block wider than the text column", wide)
            for wide in page.evaluate(_WIDE_TABLES):
                note("table wider than the text column", wide)
            for image in page.evaluate(_BROKEN_IMAGES):
                note("image not loaded", image)
            for link in set(page.evaluate(_LINKS)):
                if link.startswith(served) and not target_exists(site, served, link):
                    note("broken internal link", link)
        # the pictures a reader sees first, kept for the reviewers of a change
        artifacts = Path(os.environ.get("TEST_ARTIFACTS_DIR", ROOT / "test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        for name, path in (("docs-home.png", ""), ("docs-api.png", "api/")):
            page.goto(served + path, wait_until="networkidle")
            page.screenshot(path=str(artifacts / name), full_page=False)
            assert (artifacts / name).stat().st_size > 10_000  # a rendered page, not a blank one
    finally:
        context.close()
    assert not problems, "\n".join(problems)


def test_the_home_page_shows_engines_install_and_speed(served: str, browser: Any) -> None:
    page = browser.new_page(viewport=VIEWPORT)
    try:
        page.goto(served, wait_until="networkidle")
        text = page.inner_text(".md-content")
        for engine in ("memory://", "disk://", "sqlite://", "redis://", "memcached://"):
            assert engine in text
        assert 'pip install "twat-cache[disk,redis]"' in text
        chart = page.locator("img[src$='benchmarks.png']")
        assert chart.evaluate("img => img.naturalWidth") > 300
        # the logo in the header, and the version selector mike's versions.json feeds
        assert page.locator(".md-header .md-logo img").count() == 1
        page.wait_for_selector(".md-version", timeout=10_000)
    finally:
        page.close()


def test_target_exists(tmp_path: Path) -> None:
    (tmp_path / "faq").mkdir()
    (tmp_path / "faq" / "index.html").write_text("x")
    (tmp_path / "a.png").write_text("x")
    base = "http://127.0.0.1:1/dev/"
    assert target_exists(tmp_path, base, base + "faq/")
    assert target_exists(tmp_path, base, base + "a.png")
    assert not target_exists(tmp_path, base, base + "nope/")
    assert not target_exists(tmp_path, base, base + "b.png")
