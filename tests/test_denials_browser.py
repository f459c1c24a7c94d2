"""The denial dashboard of the sample in a real browser (Debian chromium through Playwright, every request off
127.0.0.1 blocked; the fixtures of test_site_browser): the planted denials of the sample's deleted codes are
on the page, with their chart and the numbers beside it."""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import CODESETS, ROOT, SAMPLE, make_sample_codesets, site_project
from tests.test_site_browser import _shot, server  # noqa: F401 - the fixture used by name

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def built_site(tmp_path_factory):
    """The sample with its remittances, rendered and built into a temporary folder."""
    from codegov.update import render_folder
    from playbooks.build import build_site

    tmp = tmp_path_factory.mktemp("denials-site")
    codesets = make_sample_codesets(tmp / "codesets", inventory=(CODESETS / "inventory" / "inventory.csv").read_text(),
                                    rules=True, edits=True)
    shutil.copytree(CODESETS / "denials", codesets / "denials")
    project = site_project(tmp / "project")
    render_folder(codesets, project / "site_src" / "generated", playbooks_dir=ROOT / "playbooks",
                  inventory=codesets / "inventory" / "inventory.csv", checks=tmp / "no-checks.json",
                  remits=SAMPLE / "remits")
    return build_site(project / "mkdocs.yml", site_dir=tmp / "site", strict=True)


def test_denial_dashboard_shows_the_planted_denials(page, server):  # noqa: F811 - the imported fixture
    page.goto(f"{server}/generated/denials/")
    article = page.locator("article").inner_text()
    assert "Preventable share: 7 of 11 denied lines (63.6%)" in article
    window = page.locator("table").nth(0).inner_text()
    assert "2025-10-01 to 2025-12-29" in window and "71.4%" in window and "$680.00" in window
    chart = page.locator(".cg-chart svg").first
    assert chart.is_visible()
    assert "Invalid or deleted code" in chart.inner_html()
    beside = page.locator(".cg-beside table").first.inner_text()
    assert "Invalid or deleted code" in beside and "$640.00" in beside
    denied = page.locator("table").last.inner_text()
    for claim, code in (("R1010", "R10.2"), ("R1011", "E78.01"), ("R1012", "G35"), ("R1013", "R10.2")):
        row = next(line for line in denied.splitlines() if line.startswith(claim))
        assert code in row and "Invalid or deleted code" in row and "code-invalid-on-dos" in row
    _shot(page, "07-denials")

    page.goto(f"{server}/generated/denials/top/")
    assert "R10.2" in page.locator("table").nth(1).inner_text()
    page.goto(f"{server}/generated/denials/em-levels/")
    assert page.locator(".cg-chart svg").first.is_visible()
    assert "+26.0 pts" in page.locator("article").inner_text()
    _shot(page, "08-denials-em")
