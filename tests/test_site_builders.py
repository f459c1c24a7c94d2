"""The site built by MkDocs and by Zensical from one mkdocs.yml, with the navigation `codegov render` writes
(no hook): every generated page reachable from the built site's navigation, the coders' pages first and one
section for maintainers, the home page's freshness block, nothing fetched from outside; the nav order; and
a Zensical build in a real browser with every other request blocked.

Zensical is a test dependency (pyproject.toml's test and zensical extras): without it the Zensical tests
skip, and fail under CI=true.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import threading
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import pytest
import yaml

from playbooks.site import LOOKUP_PAGE, MAINTAINERS, NAV_FILE, site_nav
from tests.conftest import ROOT, make_sample_codesets, site_project
from tests.test_site_browser import INVENTORY, _QuietHandler, _shot

TOP = ["Home", "Lookup", "Playbooks", "Change notices", "What changed for you", "Inventory lookup",
       "Code-update program", MAINTAINERS]
MAINTAINER_PAGES = ["Checks", "Releases", "Release history", "Edit tables", "Claim scrubber rules", "Performance"]


def need_zensical() -> None:
    if importlib.util.find_spec("zensical") is None:
        if os.environ.get("CI"):  # pyproject.toml installs it: a CI run without it must not pass by skipping
            pytest.fail("zensical is not installed; `pip install -e '.[test]'` (make test) installs it")
        pytest.skip("zensical is not installed")


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The sample rendered into a site project of its own (mkdocs.yml, site_src, site_src/generated)."""
    from codegov.update import render_folder

    tmp = tmp_path_factory.mktemp("builders")
    codesets = make_sample_codesets(tmp / "codesets", inventory=INVENTORY, rules=True, edits=True)
    folder = site_project(tmp / "project")
    render_folder(codesets, folder / "site_src" / "generated", playbooks_dir=ROOT / "playbooks",
                  inventory=codesets / "inventory" / "inventory.csv", checks=tmp / "no-checks.json")
    return folder


@pytest.fixture(scope="module")
def built(project):
    """builder -> the built site folder; each builder builds once (Zensical on first use)."""
    from playbooks.build import build_site

    sites: dict[str, Path] = {}

    def get(builder: str) -> Path:
        if builder == "zensical":
            need_zensical()
        if builder not in sites:
            sites[builder] = build_site(project / "mkdocs.yml", site_dir=project / f"site-{builder}", strict=True,
                                        builder=builder)
        return sites[builder]

    return get


class _NavLinks(HTMLParser):
    """The links of a page's navigation: the tabs and the primary sidebar nav (nested navs included)."""

    def __init__(self):
        super().__init__()
        self.stack: list[bool] = []
        self.links: list[tuple[str, str]] = []  # (href, text)
        self._href: str | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "nav":
            classes = (a.get("class") or "").split()
            self.stack.append(bool({"md-tabs", "md-nav--primary"} & set(classes)) or any(self.stack))
        elif tag == "a" and any(self.stack) and a.get("href") is not None:
            self._href, self._text = a["href"], []

    def handle_data(self, data):
        if self._href is not None:
            self._text.append(data)

    def handle_endtag(self, tag):
        if tag == "nav" and self.stack:
            self.stack.pop()
        elif tag == "a" and self._href is not None:
            self.links.append((self._href, " ".join("".join(self._text).split())))
            self._href = None


def nav_links(site: Path, url: str) -> list[tuple[str, str]]:
    """(site-relative URL, link text) of the navigation links on the page at `url` ("" is the home page)."""
    parser = _NavLinks()
    parser.feed((site / url / "index.html").read_text(encoding="utf-8"))
    out = []
    for href, text in parser.links:
        target = urlsplit(urljoin(f"http://site/{url}", href))
        if target.netloc == "site" and not href.startswith("#"):
            out.append((target.path.lstrip("/"), text))
    return out


def reachable(site: Path) -> set[str]:
    """Every page reached from the home page by following navigation links only."""
    seen, todo = {""}, [""]
    while todo:
        url = todo.pop()
        for target, _ in nav_links(site, url):
            if target not in seen and (site / target / "index.html").is_file():
                seen.add(target)
                todo.append(target)
    return seen


def generated_urls(project: Path) -> set[str]:
    """The URL of every generated page (use_directory_urls: generated/x.md and generated/x/index.md are
    generated/x/)."""
    docs = project / "site_src"
    urls = set()
    for path in (docs / "generated").rglob("*.md"):
        rel = path.relative_to(docs)
        if any(part.startswith(".") for part in rel.parts):
            continue
        urls.add(str(rel.parent) + "/" if rel.name == "index.md" else str(rel.with_suffix("")) + "/")
    return urls


@pytest.mark.parametrize("builder", ["mkdocs", "zensical"])
def test_every_generated_page_is_reachable_from_the_nav(built, project, builder):
    site = built(builder)
    expected = generated_urls(project)
    # the lookup page, 6 playbook pages, 5 notice pages, 5 edit-table pages, 19 rule pages; checks, history, inventory,
    # releases, what changed; and the 5 playbooks' print cards, which are not in the nav but linked from
    # their playbook's page (a card is a page to print, beside the full one)
    assert len(expected) == 46
    cards = {u for u in expected if u.startswith("generated/playbooks/") and u.endswith("-card/")}
    assert len(cards) == 5
    got = reachable(site)
    assert expected - cards - got == set()
    for card in cards:
        playbook = card.removesuffix("-card/") + "/"
        assert playbook in got
        html = (site / playbook / "index.html").read_text(encoding="utf-8")
        assert f'href="../{card.rsplit("/", 2)[-2]}/"' in html, card
    assert {"code-update-program/", "performance/"} <= got


@pytest.mark.parametrize("builder", ["mkdocs", "zensical"])
def test_built_nav_puts_coders_first_and_maintainers_in_one_section(built, builder):
    site = built(builder)
    tabs = [text for _, text in _tab_links(site)]
    assert tabs == TOP
    texts = [text for _, text in nav_links(site, "generated/checks/")]
    for title in MAINTAINER_PAGES:
        assert title in texts, title
    assert [t for t in texts if t in MAINTAINER_PAGES] == MAINTAINER_PAGES  # in that order


def _tab_links(site: Path) -> list[tuple[str, str]]:
    html = (site / "index.html").read_text(encoding="utf-8")
    tabs = html[html.index('class="md-tabs"'):]
    tabs = tabs[:tabs.index("</nav>")]
    parser = _NavLinks()
    parser.feed("<nav class='md-tabs'>" + tabs + "</nav>")
    return parser.links


@pytest.mark.parametrize("builder", ["mkdocs", "zensical"])
def test_home_page_has_the_freshness_block_and_nothing_loads_from_outside(built, builder):
    site = built(builder)
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "<!-- codegov:freshness -->" not in home and "--8&lt;--" not in home and "--8<--" not in home
    assert "Newest release loaded" in home and "Publishers last checked" in home
    for built_page in site.rglob("*.html"):
        text = built_page.read_text(encoding="utf-8")
        outside = re.findall(r'<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)="(https?:)?//[^"]*"', text)
        assert outside == [], built_page
        assert "fonts.googleapis.com" not in text and "fonts.gstatic.com" not in text, built_page
    assert not list(site.rglob(".nav.yml")) and not list(site.rglob(".home.md"))  # dot files stay out


def test_nav_file_is_what_mkdocs_yml_inherits(project):
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    assert f"INHERIT: site_src/generated/{NAV_FILE}" in config
    assert not re.search(r"^(nav|hooks):", config, re.M)  # an inherited list: MkDocs replaces, Zensical appends
    nav = yaml.safe_load((project / "site_src" / "generated" / NAV_FILE).read_text(encoding="utf-8"))["nav"]
    assert [next(iter(e)) for e in nav] == TOP
    assert [next(iter(e)) for e in nav[-1][MAINTAINERS]] == MAINTAINER_PAGES
    assert nav[0] == {"Home": "index.md"}


def test_site_nav_order_lookup_first_and_unknown_sections_after_the_coders_pages():
    sections = [{"Playbooks": [{"Overview": "playbooks/index.md"}]}, {"Checks": "checks.md"},
                {"Change notices": ["notices/index.md"]}, {"What changed for you": "what-changed.md"},
                {"Inventory lookup": "inventory.md"}, {"Release history": "history.md"},
                {"Code lookup": [LOOKUP_PAGE, "lookup/help.md"]}, {"Edit tables": ["edits/index.md"]},
                {"Denials": "denials.md"}]
    hand = {"index.md": "Home", "code-update-program.md": "Code-update program", "performance.md": "Performance",
            "team.md": "Our team"}
    pages = {"playbooks/index.md", "checks.md", LOOKUP_PAGE, "lookup/help.md"}
    assert site_nav(sections, pages, hand) == [
        {"Home": "index.md"},
        {"Lookup": "generated/lookup/index.md"},
        {"Playbooks": [{"Overview": "generated/playbooks/index.md"}]},
        {"Change notices": ["generated/notices/index.md"]},
        {"What changed for you": "generated/what-changed.md"},
        {"Inventory lookup": "generated/inventory.md"},
        {"Code-update program": "code-update-program.md"},
        {"Code lookup": ["generated/lookup/help.md"]},  # the lookup page itself moved to the front
        {"Denials": "generated/denials.md"},  # a section no list names: after the coders' pages, generated first
        {"Our team": "team.md"},
        {MAINTAINERS: [{"Checks": "generated/checks.md"}, {"Release history": "generated/history.md"},
                       {"Edit tables": ["generated/edits/index.md"]}, {"Performance": "performance.md"}]},
    ]
    # without the lookup page, no Lookup entry; without maintainers' pages, no maintainers' section
    assert site_nav([{"Playbooks": "playbooks/index.md"}], {"playbooks/index.md"}, {"index.md": "Home"}) == [
        {"Home": "index.md"}, {"Playbooks": "generated/playbooks/index.md"}]


def test_hand_written_pages_are_found_with_their_titles(tmp_path):
    from playbooks.write import hand_written_pages

    docs = tmp_path / "docs"
    (docs / "generated").mkdir(parents=True)
    (docs / "guides").mkdir()
    (docs / ".private").mkdir()
    (docs / "performance.md").write_text("# Speed\n")
    (docs / "guides" / "denials.md").write_text("---\nhide: [navigation]\n---\n\n# Working denials\n")
    (docs / "notes.md").write_text("no heading\n")
    (docs / "generated" / "checks.md").write_text("# Checks\n")
    (docs / ".private" / "x.md").write_text("# X\n")
    assert hand_written_pages(docs) == {}  # no index.md: not a docs folder
    (docs / "index.md").write_text("# Welcome\n")
    assert hand_written_pages(docs) == {"index.md": "Home", "guides/denials.md": "Working denials",
                                        "notes.md": "Notes", "performance.md": "Performance"}


def test_site_command_builds_with_zensical_when_asked(codegov, project, monkeypatch):
    need_zensical()
    status, out, err = codegov("site", "--builder", "zensical", "--config", project / "mkdocs.yml",
                               "--site-dir", project / "site-cli")
    assert status == 0, err
    assert "site built by zensical in " in out and (project / "site-cli" / "index.html").is_file()
    assert not (project / ".codegov-zensical.yml").exists()  # the child configuration is removed
    monkeypatch.setenv("CODEGOV_SITE_BUILDER", "hugo")
    status, out, err = codegov("site", "--config", project / "mkdocs.yml")
    assert status == 1 and "site builder 'hugo' (from $CODEGOV_SITE_BUILDER): expected one of mkdocs, zensical" in err
    status, out, err = codegov("site", "--builder", "zensical", "--config", project / "mkdocs.yml",
                               "--site-dir", project.parent / "outside")
    assert status == 1 and "Zensical builds only inside the folder of its configuration" in err


def test_zensical_strict_build_fails_on_a_broken_link(codegov, project, tmp_path):
    need_zensical()
    import shutil

    other = site_project(tmp_path / "broken")
    shutil.copytree(project / "site_src" / "generated", other / "site_src" / "generated")
    (other / "site_src" / "performance.md").write_text("# Performance\n\nSee [a page that is not there](missing.md).\n")
    status, out, err = codegov("site", "--builder", "zensical", "--config", other / "mkdocs.yml")
    assert status == 1
    assert "Error: zensical: performance.md:3:32: page does not exist; 1 issue found\n" in err


# -- the Zensical build in a browser -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(built):
    handler = functools.partial(_QuietHandler, directory=str(built("zensical")))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@pytest.mark.browser
def test_zensical_site_in_a_browser_offline(page, server):  # the page fixture: tests/conftest.py
    page.goto(f"{server}/")
    assert "Coding playbooks" in page.title()
    tabs = page.locator(".md-tabs__link")
    assert [t.strip() for t in tabs.all_inner_texts()] == TOP
    assert "Not current" in page.locator("article").inner_text()
    _shot(page, "20-zensical-home")
    page.goto(f"{server}/generated/checks/")
    assert page.locator(".md-nav--primary").get_by_text("Release history").first.is_visible()
    _shot(page, "21-zensical-checks-nav")
