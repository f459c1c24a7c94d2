"""The site built from the real releases (ICD-10-CM FY2025 and FY2026, HCPCS 2018 and 2019 from
../shared/data/cms) in chromium at 1400 px: the FY2026 ICD-10-CM notice (487 added codes, 38,000 px tall
before its lists were folded) is at most 6,000 px tall with nothing unfolded, unfolding a chapter and a
category shows that category's codes, the HCPCS 2019 notice is as short, and every playbook's print card
prints on at most 2 pages with the real descriptors. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import functools
import http.server
import threading

import pytest

from tests.conftest import site_project
from tests.test_site_browser import PLAYBOOKS, _QuietHandler, _shot, print_card

pytestmark = [pytest.mark.browser, pytest.mark.realdata]

MAX_HEIGHT = 6_000  # px, before anything is unfolded
WIDTH = 1400


@pytest.fixture(scope="module")
def built_site(tmp_path_factory, real_update):
    """The pages the session's real update rendered (ICD-10-CM FY2025, FY2026 and HCPCS 2018, 2019, the sample
    inventory, its checks), built with MkDocs (strict)."""
    import shutil

    from playbooks.build import build_site

    tmp = tmp_path_factory.mktemp("real-site")
    project = site_project(tmp / "project")
    shutil.copytree(real_update / "docs" / "generated", project / "site_src" / "generated")
    return build_site(project / "mkdocs.yml", site_dir=tmp / "site", strict=True)


@pytest.fixture(scope="module")
def server(built_site):
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0),
                                            functools.partial(_QuietHandler, directory=str(built_site)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def _height(page) -> int:
    return page.evaluate("document.documentElement.scrollHeight")


def test_fy2026_notice_is_short_folded_and_unfolds_a_category(page, server):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(f"{server}/generated/notices/icd10cm-2025-10-01/")
    assert page.locator("article details[open]").count() == 0
    height = _height(page)
    assert height <= MAX_HEIGHT, f"{height} px"
    assert page.locator("article").bounding_box()["width"] > 1000
    _shot(page, "real-notice-icd10cm-fy2026")
    # the 28 deleted codes stay one open table; the 487 added codes are folded by chapter, then category
    assert page.locator(".cg-deleted table tbody tr").count() == 28
    chapter = page.locator("article > details > summary", has_text="Chapter 6 (G00-G99)").first
    assert chapter.inner_text().endswith("(10 added codes)")
    g35 = page.locator("article > details > details > summary", has_text="G35: Multiple sclerosis").first
    assert not g35.is_visible()
    chapter.click()
    assert g35.is_visible() and g35.inner_text() == "G35: Multiple sclerosis (8 added codes)"
    codes = g35.locator("xpath=..").locator("table")
    assert not codes.is_visible()
    g35.click()
    codes.wait_for(state="visible")
    text = codes.inner_text()
    assert "G35.A\tRelapsing-remitting multiple sclerosis" in text
    assert len(codes.locator("tbody tr").all()) == 8
    _shot(page, "real-notice-icd10cm-fy2026-g35-unfolded")


def test_hcpcs_2019_notice_is_short_too(page, server):
    page.set_viewport_size({"width": WIDTH, "height": 900})
    page.goto(f"{server}/generated/notices/hcpcs-2019-01-01/")
    assert page.locator("article details[open]").count() == 0
    assert _height(page) <= MAX_HEIGHT
    section = page.locator("article > details > summary", has_text="J: Drugs administered").first
    section.click()
    assert page.locator("article > details[open] table, article > details[open] details").first.is_visible()
    _shot(page, "real-notice-hcpcs-2019")


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_print_cards_of_the_real_site_print_on_at_most_two_pages(page, server, playbook):
    assert print_card(page, server, playbook, prefix="real-") <= 2
