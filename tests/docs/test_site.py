"""The built documentation site: it builds without a warning, every internal
link and anchor resolves, and no page loads anything from the network.

Links are checked offline, in the HTML Sphinx wrote (``sphinx-build -b
linkcheck`` would go online): each relative ``href`` or ``src`` must name a
file of the site, and each ``#fragment`` an ``id`` in that file. External
links (``https://...``) are links a reader may follow, not checked; an
asset (script, stylesheet, image, font) from the network fails the test.
"""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
HTML = DOCS / "_build" / "html"
BUILD_TIMEOUT = 300
# The CSS functions and at-rules that fetch: url(...) and @import "...".
CSS_FETCH = re.compile(r"""url\(\s*['"]?([^'")\s]+)|@import\s+['"]([^'"]+)""")


class Page(HTMLParser):
    """The ids of an HTML page, its links and the assets it loads."""

    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.links: list[str] = []
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        for name in ("id", "name"):
            if name in values and (name == "id" or tag == "a"):
                self.ids.add(values[name])
        if tag == "a" and "href" in values:
            self.links.append(values["href"])
        elif tag == "link" and "href" in values:
            # A stylesheet, icon or preload is fetched; rel="next" and the like are links.
            fetched = {"stylesheet", "icon", "preload", "modulepreload", "manifest"}
            is_asset = fetched & set(values.get("rel", "").split())
            (self.assets if is_asset else self.links).append(values["href"])
        for name in ("src", "srcset", "data"):
            if name in values and tag in {"script", "img", "iframe", "source", "object", "embed"}:
                self.assets.append(values[name].split()[0] if values[name] else "")
        if "style" in values:
            self.assets.extend(
                found[0] or found[1] for found in CSS_FETCH.findall(values["style"])
            )


def parse(path: Path) -> Page:
    """The parsed HTML page at ``path``."""
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def is_remote(url: str) -> bool:
    """Whether fetching ``url`` goes to the network."""
    return urlsplit(url).scheme in {"http", "https"} or url.startswith("//")


def broken_links(site: Path) -> list[str]:
    """Every relative link of the site's HTML pages that names no file, or
    an anchor the file does not have, as ``page: link``."""
    pages = {path: parse(path) for path in site.rglob("*.html")}
    problems = []
    for path, page in sorted(pages.items()):
        for link in page.links + page.assets:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//") or not link:
                continue  # mailto:, https: (external), or the page itself
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if target.is_dir():
                target = target / "index.html"
            where = f"{path.relative_to(site)}: {link}"
            if not target.is_file():
                problems.append(f"{where} (no file {target})")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else parse(target).ids
                if unquote(parts.fragment) not in ids:
                    problems.append(f"{where} (no id {parts.fragment!r})")
    return problems


def remote_assets(site: Path) -> list[str]:
    """Every asset a page or stylesheet of the site fetches from the network."""
    found = [
        f"{path.relative_to(site)}: {asset}"
        for path in site.rglob("*.html")
        for asset in parse(path).assets
        if is_remote(asset)
    ]
    for path in site.rglob("*.css"):
        for match in CSS_FETCH.findall(path.read_text(encoding="utf-8", errors="replace")):
            url = match[0] or match[1]
            if is_remote(url):
                found.append(f"{path.relative_to(site)}: {url}")
    return found


@pytest.fixture(scope="module")
def site() -> Path:
    """The site, built as ``make docs`` builds it (warnings are errors),
    into the same directory: after ``make docs`` Sphinx only checks that
    nothing changed. The build is incremental, so a page that warned in an
    earlier build and has not changed since does not warn again: the check
    that nothing warns is ``make docs``, which builds afresh (``-E``)."""
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-b",
            "html",
            "-W",
            "--keep-going",
            "-n",
            "-q",
            DOCS,
            HTML,
        ],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert build.returncode == 0, f"the docs build failed:\n{build.stderr}"
    assert build.stderr == "", f"the docs build warned:\n{build.stderr}"
    return HTML


def test_every_internal_link_and_anchor_resolves(site: Path) -> None:
    assert len(list(site.rglob("*.html"))) > 20
    assert broken_links(site) == []


def test_no_page_loads_anything_from_the_network(site: Path) -> None:
    assert remote_assets(site) == []


def test_every_page_is_in_the_table_of_contents(site: Path) -> None:
    # Sphinx warns of a page outside every toctree (a warning fails the
    # build), so each source page must have become an HTML page.
    sources = {
        path.relative_to(DOCS).with_suffix(".html")
        for path in DOCS.rglob("*.md")
        if "_build" not in path.parts
    }
    built = {path.relative_to(site) for path in site.rglob("*.html")}
    assert sources <= built


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param(
            {"a.html": '<a href="b.html#x">b</a>', "b.html": '<p id="x"></p>'}, [], id="resolves"
        ),
        pytest.param(
            {"a.html": '<a href="c.html">c</a>'}, ["a.html: c.html (no file"], id="missing-file"
        ),
        pytest.param(
            {"a.html": '<a href="b.html#y">b</a>', "b.html": '<p id="x"></p>'},
            ["a.html: b.html#y (no id 'y')"],
            id="missing-anchor",
        ),
        pytest.param(
            {"a.html": '<a href="#top">t</a><span id="top"></span>'}, [], id="same-page-anchor"
        ),
        pytest.param(
            {"a.html": '<a href="#nowhere">t</a>'},
            ["a.html: #nowhere (no id 'nowhere')"],
            id="same-page-missing-anchor",
        ),
        pytest.param(
            {"a.html": '<a href="https://example.com/x#y">x</a><a href="mailto:a@b">m</a>'},
            [],
            id="external-not-followed",
        ),
        pytest.param(
            {
                "sub/a.html": '<a href="../b.html">b</a><a href="./">here</a>',
                "b.html": "",
                "sub/index.html": "",
            },
            [],
            id="relative-paths-and-directories",
        ),
        pytest.param(
            {"a.html": '<img src="img/x.png">'}, ["a.html: img/x.png (no file"], id="missing-image"
        ),
    ],
)
def test_broken_links_finds_missing_files_and_anchors(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    problems = broken_links(tmp_path)
    assert len(problems) == len(expected)
    for problem, start in zip(problems, expected, strict=True):
        assert problem.startswith(start)


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        pytest.param({"a.html": '<script src="_static/x.js"></script>'}, [], id="local-script"),
        pytest.param(
            {"a.html": '<script src="https://cdn.example/x.js"></script>'},
            ["a.html: https://cdn.example/x.js"],
            id="cdn-script",
        ),
        pytest.param(
            {"a.html": '<link rel="stylesheet" href="//fonts.example/css">'},
            ["a.html: //fonts.example/css"],
            id="protocol-relative-stylesheet",
        ),
        pytest.param(
            {"a.html": '<link rel="next" href="https://example.com/">'}, [], id="link-not-fetched"
        ),
        pytest.param(
            {"a.css": "@import 'https://fonts.example/a.css'; b { background: url(x.png) }"},
            ["a.css: https://fonts.example/a.css"],
            id="css-import",
        ),
        pytest.param(
            {"a.html": "<div style=\"background: url('http://example.com/i.png')\"></div>"},
            ["a.html: http://example.com/i.png"],
            id="inline-style",
        ),
    ],
)
def test_remote_assets_finds_what_is_fetched_from_the_network(
    tmp_path: Path, files: dict[str, str], expected: list[str]
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    assert remote_assets(tmp_path) == expected
