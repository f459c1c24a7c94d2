"""The pull-request body, action first: its opening section on the sample (golden), the links to the notice
pages on the update branch, whether merging is blocked, provenance, and on the real update its length
before the folded lists and each code once."""

from __future__ import annotations

import datetime as dt
import os
import re
from collections import Counter
from pathlib import Path

import pytest

from playbooks.report import PageLinks, merge_status, opening_section, render_markdown
from tests.conftest import CODESETS, ROOT, SAMPLE, make_sample_codesets

GOLDEN = Path(__file__).resolve().parent / "golden" / "pr-opening-sample.md"
RUN_DATE = dt.date(2026, 12, 1)
GITHUB = {"GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "CODEGOV_BRANCH"}


def unfolded(body: str) -> str:
    """The text a reviewer sees before unfolding anything: the body without its <details> blocks."""
    return re.sub(r"<details>.*?</details>", "", body, flags=re.S)


def codes_in(text: str) -> Counter:
    """Every ICD-10-CM, HCPCS Level II or CPT code written in the text (G35, G35.B0, K0903, 97110)."""
    return Counter(re.findall(r"(?<![\w.])(?:[A-Z][0-9][0-9A-Z](?:\.[0-9A-Z]{1,4})?|[A-Z][0-9]{4}|[0-9]{4}[0-9FTU])"
                              r"(?![\w.])", text))


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory):
    """`codegov update` on the sample (code sets and edit tables, the sample inventory, the checks), run from
    a folder of its own so the notice links are the working copy's relative paths."""
    from codegov.update import UpdateOptions, run_update

    folder = tmp_path_factory.mktemp("pr-body")
    codesets = make_sample_codesets(folder / "codesets", edits=True)
    (codesets / "discovery.toml").write_bytes((CODESETS / "discovery.toml").read_bytes())
    (folder / "playbooks").mkdir()
    for book in (ROOT / "playbooks").glob("*.yml"):
        (folder / "playbooks" / book.name).write_bytes(book.read_bytes())
    saved = {k: os.environ.pop(k) for k in GITHUB if k in os.environ}
    cwd = Path.cwd()
    os.chdir(folder)
    try:
        opts = UpdateOptions(codesets=codesets, mirror=SAMPLE, offline=True, build=Path("build"),
                             inventory=CODESETS / "inventory", playbooks=Path("playbooks"), site=False,
                             docs_dir=Path("site_src"), releases_dir=codesets / "releases", on=RUN_DATE, workers=1)
        result = run_update(opts)
        body = (folder / "build" / "report" / "pr-body.md").read_text(encoding="utf-8")
    finally:
        os.chdir(cwd)
        os.environ.update(saved)
    return result, body, folder


def test_the_opening_section_matches_golden(sample_run):
    _, body, _ = sample_run
    text = opening_section(body)
    if os.environ.get("CODEGOV_UPDATE_GOLDEN") == "1":  # review the diff of the golden file, then commit it
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_the_opening_leads_with_the_summary_then_the_checklist_then_the_verdict_then_the_banner(sample_run):
    _, body, _ = sample_run
    opening = opening_section(body)
    marks = ["# Code-set update\n", "## Summary", "## Owner checklist", "## Merging", "**Nothing blocks merging:**",
             "> [!WARNING]"]
    assert [opening.index(m) for m in marks] == sorted(opening.index(m) for m in marks)
    assert opening.index("> [!WARNING]") < body.index("\n## ICD-10-CM")
    # one checkbox per owner and action, naming where; K0903 replaced by A5514 in the inventory
    assert ("- [ ] **DME intake lead**: replace `K0903` (discontinued 2019-01-01) with A5514 (same descriptor, added "
            "2019-01-01) in the inventory\n") in opening
    assert ("- [ ] **DME intake lead**: replace `G35` (a header from 2025-10-01: bill a child code) with "
            "G35.A,") in opening
    assert "in the inventory and playbooks/dme.yml\n" in opening
    # each change notice linked where the workflow commits it (site_src/generated/ on the update branch)
    assert "[change notice](<site_src/generated/notices/icd10cm-2025-10-01.md>)" in opening
    assert "[notice](<site_src/generated/edits/ptp-2026-10-01.md>)" in opening


def test_the_linked_notice_pages_are_the_ones_the_run_rendered(sample_run):
    _, body, folder = sample_run
    links = re.findall(r"\]\(<(site_src/generated/[^>]+)>\)", body)
    assert len(links) >= 7
    assert all((folder / link).is_file() for link in links), [link for link in links if not (folder / link).is_file()]


def test_no_code_appears_twice_before_the_folded_lists(sample_run):
    _, body, _ = sample_run
    twice = {code: n for code, n in codes_in(unfolded(body)).items() if n > 1}
    assert twice == {}


def test_every_list_is_folded_and_says_where_the_rest_is_when_cut(sample_run):
    from playbooks.text import environment

    result, body, _ = sample_run
    assert "<details><summary>All 17 added codes (17 in families we bill)</summary>" in body
    assert "<details><summary>All 7 deleted codes (1 we bill), with replacements</summary>" in body
    # a list cut to fit counts what it shows and says where the whole list is
    text = environment().get_template("report.md.j2").render(
        opening="", change_sets=result.change_sets, checks="", max_rows=5, owners={}, provenance=[], edits="",
        links=PageLinks("site_src/generated"))
    head = ("<details><summary>5 of 17 added codes (17 in families we bill) (all in the <a href="
            '"site_src/generated/notices/icd10cm-2025-10-01.md">change notice</a> and report.csv)</summary>')
    block = text.split(head, 1)[1].split("</details>", 1)[0]
    assert len([line for line in block.splitlines() if line.startswith("| `")]) == 5
    # past the last cut, the body is cut to GitHub's limit with a line that says so
    cut = render_markdown(result.change_sets, limit=9_000)
    assert len(cut) <= 9_000
    assert cut.endswith("\n\n_Report cut to fit; the full lists are in report.json and report.csv._\n")


def test_provenance_lists_every_source_file_with_its_sha256(sample_run):
    result, body, _ = sample_run
    prov = body.split("<details><summary>Where the files come from:", 1)[1].split("</details>", 1)[0]
    manifest = result.repo.manifest("hcpcs", "2019-01-01")
    [anweb] = manifest["files"]
    assert (f"| HCPC2019\\_CONTR\\_ANWEB.txt | anweb | {anweb['size']:,} | `{anweb['sha256']}` | **differs** | "
            "a local mirror |  |") in prov  # the sample is not the official file sources.toml pins
    assert "[2019-Alpha-Numeric-HCPCS-File.zip](<https://www.cms.gov/" in prov
    assert "| pos.csv | curated |" in prov and "the curated list, reviewed in git" in prov


def test_links_point_at_the_update_branch_on_github():
    env = {"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "example-org/codegov"}
    links = PageLinks.for_run("site_src/generated", env)
    assert links.notice("hcpcs", "2019-01-01") == \
        "https://github.com/example-org/codegov/blob/codegov/update/site_src/generated/notices/hcpcs-2019-01-01.md"
    links = PageLinks.for_run("site_src/generated", {**env, "CODEGOV_BRANCH": "codes/next"})
    assert links.edits("ptp", "2026-10-01") == \
        "https://github.com/example-org/codegov/blob/codes/next/site_src/generated/edits/ptp-2026-10-01.md"
    assert PageLinks.for_run("site_src/generated", {"GITHUB_REPOSITORY": "example-org/codegov"}).base == \
        "site_src/generated"  # not on GitHub Actions: the working copy's path


def test_a_failed_release_gate_blocks_merging_and_says_which():
    from playbooks.report import render_opening

    rows = [{"suite": "release", "target": "icd10cm 2025-10-01 (FY2026)", "gate": "row_count_drift", "status": "failed",
             "details": "row count within 5% of the previous release; observed 51,000", "failing_count": 1},
            {"suite": "release", "target": "icd10cm 2025-10-01 (FY2026)", "gate": "columns", "status": "passed",
             "details": "", "failing_count": 0},
            {"suite": "inventory", "target": "inventory.csv", "gate": "icd10cm_billable", "status": "failed",
             "details": "", "failing_count": 3}]
    checks = {"rows": rows, "summary": {"gates": 3, "passed": 1, "failed": 2, "not checked": 0}}
    status = merge_status(checks)
    assert status["blocked"] and [r["gate"] for r in status["release"]] == ["row_count_drift"]
    text = render_opening([], checks=checks)
    assert ("**Merging is blocked:** 1 of 2 release-table gates failed, so no page was rendered from the release "
            "they refused:\n\n- icd10cm 2025-10-01 (FY2026): row count within 5% of the previous release "
            "(`row_count_drift`, 1 failing)\n") in text
    assert "1 inventory and playbook gate failed" in text and "Nothing blocks merging" not in text
    assert merge_status(None) is None and "## Merging" not in render_opening([])


def test_official_text_cannot_break_the_checklist_or_a_link():
    from playbooks.text import html_link, md_code, md_link

    assert md_code("G35.B0") == "`G35.B0`" and md_code("1.00E+05`x") == "1.00E+05\\`x"
    assert md_link("a ] b", "https://x.test/a b)<c>") == "[a \\] b](<https://x.test/a%20b%29%3Cc%3E>)"
    assert html_link("<b>", 'https://x.test/?a="1"&b') == '<a href="https://x.test/?a=%221%22&amp;b">&lt;b&gt;</a>'


@pytest.mark.realdata
def test_the_real_update_body_is_short_before_its_folded_lists_and_names_each_code_once(real_update):
    """ICD-10-CM FY2025 -> FY2026 and HCPCS 2018 -> 2019 from ../shared/data/cms, the sample inventory (the
    session's one real update, tests/conftest.py: real_update)."""
    import json

    assert json.loads((real_update / "change-sets.json").read_text(encoding="utf-8")) == [
        ["icd10cm", "FY2025", "FY2026"], ["hcpcs", "HCPCS 2018", "HCPCS 2019"]]
    body = (real_update / "build" / "report" / "pr-body.md").read_text(encoding="utf-8")
    shown = unfolded(body)
    assert len(body) <= 65_536 and len(shown) < 20_000
    assert shown.count("K0903") == 1 and shown.count("A5514") == 1
    assert re.search(r"replace `K0903` \(discontinued 2019-01-01\) with A5514 \(same descriptor, added 2019-01-01\) "
                     r"in the inventory\n", shown)
    twice = {code: n for code, n in codes_in(shown).items() if n > 1}
    assert twice == {}
    assert "**Nothing blocks merging:**" in shown
    assert "| ICD-10-CM | FY2025 → FY2026 | 2025-10-01 | 487 | 28 | 38 | 3 deleted (of 42 we bill) |" in shown
    # cut to fit GitHub's limit, each list says how much of it is shown, and where the rest is
    notice = re.escape(f'<a href="{real_update}/docs/generated/notices/icd10cm-2025-10-01.md">change notice</a>')
    assert re.search(rf"<summary>50 of 487 added codes \(26 in families we bill\) \(all in the {notice} and "
                     rf"report\.csv\)</summary>", body)
    assert "<summary>All 28 deleted codes (3 we bill), with replacements</summary>" in body
