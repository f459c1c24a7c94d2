"""The built site in a real browser: Debian's chromium driven by Playwright, with every request off 127.0.0.1 blocked.

Builds the site from the bundled sample (ingest -> render -> mkdocs) into tmp_path, serves it on
127.0.0.1, opens the home page, a playbook, a change notice and the release history, finds a deleted
code through the search box, looks codes up on the lookup page (the same answers as `codegov lookup`) and
from the search box, and fails on any console error, page error or outside request.
Screenshots go to test-artifacts/screenshots/.
"""

from __future__ import annotations

import functools
import http.server
import re
import threading

import pytest

from tests.conftest import ROOT, make_sample_codesets, site_project

SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"

INVENTORY = """system,code,specialty,service_line,owner,notes
icd10cm,G35,DME,Mobility,DME intake lead,power mobility for MS patients
icd10cm,R10.2,Imaging,Ultrasound,Imaging coding lead,pelvic | transvaginal <US>
icd10cm,E78.01,Laboratory,Lipids,Lab manager,
icd10cm,M54.50,Physical therapy,Spine,Rehab coding lead,
hcpcs,C9029,Imaging,Drugs,Imaging coding lead,
hcpcs,E0114,DME,Mobility,DME intake lead,
cpt,97110,Physical therapy,Timed,Rehab coding lead,
cpt,97530,Physical therapy,Timed,Rehab coding lead,
cpt,20610,Office E/M,Procedures,Revenue cycle manager,
pos,11,Office E/M,Office,Revenue cycle manager,
"""

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def site_codesets(tmp_path_factory):
    """The sample's codesets folder with its releases and edit tables ingested."""
    return make_sample_codesets(tmp_path_factory.mktemp("site") / "codesets", inventory=INVENTORY, edits=True)


@pytest.fixture(scope="module")
def built_site(site_codesets):
    """The sample pipeline up to the built site, in a temporary folder; nothing in the work tree is touched."""
    from codegov.update import render_folder
    from playbooks.build import build_site

    codesets = site_codesets
    tmp = codesets.parent
    project = site_project(tmp / "project")
    render_folder(codesets, project / "site_src" / "generated", playbooks_dir=ROOT / "playbooks",
                inventory=codesets / "inventory" / "inventory.csv", checks=tmp / "no-checks.json")
    return build_site(project / "mkdocs.yml", site_dir=tmp / "site", strict=True)


@pytest.fixture(scope="module")
def server(built_site):
    handler = functools.partial(_QuietHandler, directory=str(built_site))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass


def _shot(page, name: str, full_page: bool = False) -> None:
    """A screenshot of the page as it settles: CSS transitions and animations run to their end first
    (animations="disabled"), so no test waits a fixed time for a panel to finish opening."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full_page, animations="disabled")


def pdf_pages(pdf: bytes) -> int:
    """The number of pages of a PDF chromium printed: its page objects (/Type /Page, not /Pages), checked
    against the page tree's /Count (chromium writes no object streams, so both are plain text)."""
    objects = len(re.findall(rb"/Type\s*/Page(?![A-Za-z])", pdf))
    counts = {int(n) for n in re.findall(rb"/Type\s*/Pages\b[^>]*?/Count\s+(\d+)", pdf)} | \
        {int(n) for n in re.findall(rb"/Count\s+(\d+)[^>]*?/Type\s*/Pages\b", pdf)}
    assert counts == {objects}, (objects, counts)
    return objects


def print_card(page, server: str, playbook: str, prefix: str = "") -> int:
    """Open a playbook's print card, keep a screenshot of it as printed and the PDF chromium prints of it;
    return the PDF's number of pages. (A page already on the card, having followed its link, is not loaded again.)"""
    url = f"{server}/generated/playbooks/{playbook}-card/"
    if page.url != url:
        page.goto(url)
    page.emulate_media(media="print")
    assert not page.locator(".md-header").is_visible() and not page.locator(".md-sidebar--primary").is_visible()
    _shot(page, f"{prefix}card-{playbook}-print", full_page=True)
    pdf = page.pdf(format="Letter", print_background=True)
    (SCREENSHOTS / f"{prefix}card-{playbook}.pdf").write_bytes(pdf)
    page.emulate_media(media="screen")
    return pdf_pages(pdf)


def test_a_request_off_127_0_0_1_is_blocked_and_kept(page, server):
    """The `page` fixture's guard: a request anywhere but the test's server is refused and kept, so the
    test fails (here the problems are read, then forgiven)."""
    page.goto(f"{server}/")
    outside = "https://cdn.example.org/font.woff2"
    assert page.evaluate("url => fetch(url).then(() => 'fetched', () => 'refused')", outside) == "refused"
    assert page.problems["blocked"] == [outside]
    assert page.evaluate("url => fetch(url).then(r => r.status)", f"{server}/") == 200  # its own server: allowed
    assert page.problems["blocked"] == [outside]
    page.problems["blocked"].clear()
    page.problems["console"].clear()  # chromium logs the refused load as an error


def test_home_playbook_and_notice_render_offline(page, server):
    page.goto(f"{server}/")
    assert "Coding playbooks" in page.title()
    assert page.locator(".md-tabs").is_visible()
    _shot(page, "01-home")

    page.goto(f"{server}/generated/playbooks/imaging/")
    warning = page.locator(".admonition.warning").first
    assert warning.is_visible()
    assert "R10.2" in warning.inner_text()
    assert "R10.20" in warning.inner_text()
    assert page.locator("table").first.is_visible()
    _shot(page, "02-playbook-imaging")

    page.goto(f"{server}/generated/notices/icd10cm-2025-10-01/")
    deleted = page.locator(".cg-deleted table").first  # the notice's deleted codes (playbooks/templates)
    text = deleted.inner_text()
    for code in ("G35", "R10.2", "E78.01", "G35.A", "R10.20", "E78.010"):
        assert code in text
    _shot(page, "03-notice-icd10cm-fy2026")

    page.goto(f"{server}/generated/history/")
    assert page.locator(".cg-chart svg").first.is_visible()
    _shot(page, "04-history")


def test_edit_table_pages(page, server):
    page.goto(f"{server}/generated/edits/")
    assert "NCCI PTP 2026 Q4" in page.locator("table").first.inner_text()
    page.goto(f"{server}/generated/edits/ptp-2026-10-01/")
    added = page.locator("table").first.inner_text()
    assert "97110" in added and "97530" in added and "outpatient hospital" in added
    _shot(page, "05-edits-ptp")
    page.goto(f"{server}/generated/edits/pfs-2026-10-01/")
    text = page.locator("article").inner_text()
    assert "$59.79" in text and "$61.12" in text and "+$1.33" in text
    _shot(page, "06-edits-pfs")


def test_search_box_finds_a_deleted_code(page, server):
    page.goto(f"{server}/")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    # Typed key by key: Material's search listens to keyboard events, which fill() does not send.
    page.locator("input.md-search__input").press_sequentially("R10.2", delay=30)
    # the lookup's entry comes at once; Material's results when its index is built and says how many it found
    page.locator(".md-search-result__meta", has_text=re.compile(r"\d+ matching document")).wait_for(timeout=15_000)
    found = page.locator(".md-search-result").inner_text()
    assert "R10.2" in found
    assert "change notice" in found.lower()
    _shot(page, "05-search-r10-2")


PLAYBOOKS = sorted(p.stem for p in (ROOT / "playbooks").glob("*.yml"))


@pytest.mark.parametrize("playbook", PLAYBOOKS)
def test_each_playbook_print_card_prints_on_at_most_two_pages(page, server, playbook):
    page.goto(f"{server}/generated/playbooks/{playbook}/")
    card = page.locator(f"article a[href$='{playbook}-card/']").first
    assert card.is_visible()  # linked from the full page
    card.click()
    page.wait_for_url(f"**/playbooks/{playbook}-card/")
    assert "print card" in page.locator("h1").inner_text()
    assert page.locator("h2", has_text="Key rules").is_visible()
    _shot(page, f"card-{playbook}")
    assert print_card(page, server, playbook) <= 2


def test_the_playbook_index_links_each_print_card_once(page, server):
    page.goto(f"{server}/generated/playbooks/")
    for playbook in PLAYBOOKS:
        assert page.locator(f"article a[href$='{playbook}-card/']").count() == 1


def test_notice_is_wide_and_links_its_csv(page, server):
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{server}/generated/notices/icd10cm-2025-10-01/")
    assert page.locator("article").bounding_box()["width"] > 1000  # not Material's 61rem text column
    assert not page.locator(".md-sidebar--secondary").is_visible()  # no table of contents beside it
    link = page.locator("article a[href$='.csv']").first
    response = page.request.get(link.evaluate("a => a.href"))
    assert response.ok
    assert response.text().splitlines()[0].startswith("system,from,to,change,code,display_code")
    assert ",deleted,G35,G35," in response.text()
    _shot(page, "07-notice-wide")


# -- the code lookup (generated/lookup/, playbooks/lookup.py, site_src/javascripts/lookup.js) ---------------


def _cli_answer(codesets, code: str, on: str) -> dict:
    """What `codegov lookup CODE --on ON --format json` prints, with the edit tables' lines of its text form."""
    import datetime as dt

    from ingest.edits import EditTables, answer_lines, code_answer
    from ingest.repository import ReleaseRepository

    repo = ReleaseRepository(codesets / "releases", codesets)
    v = repo.history().lookup(code, dt.date.fromisoformat(on))
    data = v.to_dict()
    if len(v.code) == 5:
        data["edits"] = answer_lines(code_answer(EditTables(repo.out), v.code, dt.date.fromisoformat(on)))
    return data


def _look_up(page, code: str, on: str) -> str:
    page.locator("#cg-lookup-code").fill(code)
    page.locator("#cg-lookup-on").fill(on)
    page.locator("#cg-lookup button[type=submit]").click()
    answer = page.locator(f".cg-answer[data-code='{code}'][data-on='{on}']")
    answer.wait_for(state="visible", timeout=10_000)
    return answer.inner_text()


def test_lookup_page_answers_as_the_command_line(page, server, site_codesets):
    page.goto(f"{server}/generated/lookup/")
    text = _look_up(page, "G35", "2025-09-30")
    assert "valid" in text and "billable" in text
    assert "G35 is valid and billable on 2025-09-30 (ICD-10-CM release 2024-10-01)" in text
    assert page.evaluate("location.hash") == "#G35@2025-09-30"
    _shot(page, "07-lookup-g35-valid")

    text = _look_up(page, "G35", "2025-10-01")
    assert "G35 became a header on 2025-10-01: it needs more characters; replaced by G35.A, G35.B0, G35.B1, " \
           "G35.B2, G35.C0 (+3 more)" in text
    reps = page.locator(".cg-answer__reps li").all_inner_texts()
    assert reps == [f"{c} (children)" for c in ("G35.A", "G35.B0", "G35.B1", "G35.B2", "G35.C0", "G35.C1",
                                                 "G35.C2", "G35.D")]
    assert "Release in force: 2025-10-01 (FY2026); since 2025-10-01" in text
    _shot(page, "08-lookup-g35-deleted")

    text = _look_up(page, "J45.909", "2025-10-01")
    assert "J45.909 is in no loaded ICD-10-CM release (2024-10-01 to 2025-10-01)" in text  # not in the sample

    text = _look_up(page, "97110", "2026-10-01")  # CPT: never validated, but the edit tables answer
    assert "NCCI PTP 2026 Q4: 1 hospital, 1 practitioner PTP edit(s) in force" in text
    assert "PFS 2026 D (October): 97110 status A" in text

    # the page's answers are the command line's, field for field
    cases = [("G35", "2025-09-30"), ("G35", "2025-10-01"), ("g35.a", "2025-09-30"), ("E7801", "2025-10-01"),
             ("E78.0", "2025-10-01"), ("J45.909", "2025-10-01"), ("J45.909", "1999-12-31"), ("K0903", "2019-01-01"),
             ("G9890", "2018-06-01"), ("G9890", "2019-03-01"), ("E0114", "2026-10-01"), ("GP", "2019-01-01"),
             ("2", "2024-09-01"), ("11", "2030-01-01"), ("97110", "2026-07-15"), ("97530", "2026-10-01"),
             ("AB-1", "2025-01-01")]
    for code, on in cases:
        got = page.evaluate("([c, d]) => window.codegovLookup(c, d)", [code, on])
        assert got == _cli_answer(site_codesets, code, on), (code, on)


def test_lookup_link_opens_the_answer(page, server):
    page.goto(f"{server}/generated/lookup/#G35@2025-10-01")
    answer = page.locator(".cg-answer[data-code='G35'][data-on='2025-10-01']")
    answer.wait_for(state="visible", timeout=10_000)
    assert answer.get_attribute("data-status") == "deleted"
    assert page.locator("#cg-lookup-code").input_value() == "G35"
    assert page.locator("#cg-lookup-on").input_value() == "2025-10-01"
    page.locator(".cg-answer__reps a", has_text="G35.A").click()  # a replacement opens its own answer
    page.locator(".cg-answer[data-code='G35.A'][data-on='2025-10-01']").wait_for(state="visible", timeout=10_000)
    assert page.locator(".cg-answer").get_attribute("data-status") == "valid"


@pytest.mark.parametrize(("typed", "shot"),
                         [("E7801", "09-search-lookup-e7801"), ("J45.909", "10-search-lookup-j45909")])
def test_search_box_offers_the_lookup(page, server, typed, shot):
    page.goto(f"{server}/generated/playbooks/")
    page.locator("label.md-search__icon, .md-search__input").first.click()
    page.locator("input.md-search__input").press_sequentially(typed, delay=30)
    hit = page.locator(".md-search-result__item.cg-lookup-hit")
    hit.wait_for(state="visible", timeout=15_000)
    # Material renders its own results once the query settles, and then says how many it found: ours stays first
    page.locator(".md-search-result__meta", has_text=re.compile(r"matching document")).wait_for(timeout=15_000)
    first = page.locator(".md-search-result__list > li").first
    assert first.inner_text().startswith(f"Look up {typed}")
    if typed == "J45.909":  # no page mentions it: the lookup is the only way to it
        assert page.locator(".md-search-result__meta").inner_text() == "No matching documents"
        assert page.locator(".md-search-result__list > li").count() == 1
    _shot(page, shot)
    first.locator("a").click()
    answer = page.locator(f".cg-answer[data-code='{typed}']")
    answer.wait_for(state="visible", timeout=10_000)
    assert page.url.startswith(f"{server}/generated/lookup/#{typed}")
