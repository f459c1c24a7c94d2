"""`codegov render` and `codegov site` on the bundled sample: every page, byte-identical reruns, stale pages
removed, the checks placeholder, the generated nav, and a strict MkDocs build."""

from __future__ import annotations

import json

import pytest
import yaml

from codegov.update import render_folder
from playbooks.site import NAV_FILE
from playbooks.write import MARKER
from tests.conftest import ROOT, make_sample_codesets, site_project

INVENTORY = """system,code,specialty,service_line,owner,notes
icd10cm,G35,DME,Mobility,DME intake lead,
icd10cm,R10.2,Imaging,Ultrasound,Imaging coding lead,pelvic | transvaginal <US>
icd10cm,Z83.718,Laboratory,Screening,Lab manager,
hcpcs,C9029,Imaging,Drugs,Imaging coding lead,
hcpcs,G9890,Office E/M,Diabetes prevention,Revenue cycle manager,
cpt,97110,Physical therapy,Timed,Rehab coding lead,
cpt,415,Laboratory,Venipuncture,Lab manager,lost leading zero
"""


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The sample ingested into a codesets folder of our own, with a small inventory."""

    tmp = tmp_path_factory.mktemp("render")
    codesets = make_sample_codesets(tmp / "codesets", inventory=INVENTORY)
    return codesets


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_render_writes_every_page_and_a_rerun_changes_nothing(sample, tmp_path):
    out = tmp_path / "generated"
    inventory = sample / "inventory" / "inventory.csv"
    first = render_folder(sample, out, playbooks_dir=ROOT / "playbooks", inventory=inventory,
                        checks=tmp_path / "absent.json")
    pages = {str(p.relative_to(out)) for p in first.written}
    assert {"playbooks/index.md", "playbooks/imaging.md", "playbooks/dme.md", "notices/index.md",
            "notices/icd10cm-2025-10-01.md", "notices/hcpcs-2019-01-01.md", "notices/pos-2024-08-01.md",
            "what-changed.md", "checks.md", "history.md", "inventory.md", NAV_FILE} <= pages
    assert (out / MARKER).exists()
    before = snapshot(out)
    mtimes = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    second = render_folder(sample, out, playbooks_dir=ROOT / "playbooks", inventory=inventory,
                         checks=tmp_path / "absent.json")
    assert second.written == [] and second.removed == []
    assert snapshot(out) == before
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == mtimes


def test_pages_show_the_sample_changes(sample, tmp_path):
    out = tmp_path / "generated"
    render_folder(sample, out, playbooks_dir=ROOT / "playbooks", inventory=sample / "inventory" / "inventory.csv",
                checks=tmp_path / "absent.json")
    notice = (out / "notices" / "icd10cm-2025-10-01.md").read_text()
    for code in ("G35", "R10.2", "E78.01"):
        assert f"| **{code}** |" in notice
    assert "**G35.A** Relapsing-remitting multiple sclerosis" in notice
    imaging = (out / "playbooks" / "imaging.md").read_text()
    assert '!!! warning "R10.2 is no longer billable"' in imaging
    dme = (out / "playbooks" / "dme.md").read_text()
    assert '!!! warning "G35 is no longer billable"' in dme
    changed = (out / "what-changed.md").read_text()
    assert "## Imaging { #imaging }" in changed and "| **R10.2** |" in changed
    assert "## Office E/M { #office-em }" in changed and "G9890" in changed  # reused in HCPCS 2019
    inventory = (out / "inventory.md").read_text()
    assert "pelvic \\| transvaginal &lt;US&gt;" in inventory
    assert "| **97110** <br><small>CPT</small> | *therapeutic exercise* | not checked (no CPT data) |" in inventory
    assert "## Lines that need fixing" in inventory and "415" in inventory
    history = (out / "history.md").read_text()
    assert '<svg xmlns="http://www.w3.org/2000/svg"' in history and "FY2026" in history
    checks = (out / "checks.md").read_text()
    assert "The checks have not run for this build" in checks
    nav = yaml.safe_load((out / NAV_FILE).read_text())["nav"]  # no index.md beside out: generated pages only
    assert nav[0] == {"Lookup": "generated/lookup/index.md"}  # coders first: the code lookup
    assert nav[1]["Playbooks"][0] == {"Overview": "generated/playbooks/index.md"}
    assert {"FY2026": "generated/notices/icd10cm-2025-10-01.md"} in nav[2]["Change notices"][1]["ICD-10-CM"]
    assert "# Code lookup" in (out / "lookup" / "index.md").read_text()
    assert (out / "lookup" / "data" / "meta.json").exists() and (out / "lookup" / "data" / "icd10cm-G3.json").exists()


def test_checks_page_shows_the_results_file(sample, tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"success": False, "checked": {"releases": "codesets/releases", "drift": {}},
                                   "rows": [
        {"suite": "release", "target": "icd10cm 2025-10-01", "expectation": "expect_column_values_to_be_unique",
         "column": "code", "success": True, "status": "passed", "failing_count": 0, "failing_sample": [],
         "details": "codes are unique"},
        {"suite": "playbooks", "target": "imaging", "expectation": "expect_column_values_to_be_in_set",
         "column": "code", "success": False, "status": "failed", "failing_count": 1, "failing_sample": ["R10.2"],
         "details": "cited codes are billable | R10.2 expanded"},
        {"suite": "playbooks", "target": "imaging", "expectation": "not checked", "column": "code",
         "success": True, "status": "not checked", "failing_count": 0, "failing_sample": [], "details": "CPT"},
    ]}))
    out = tmp_path / "generated"
    render_folder(sample, out, playbooks_dir=ROOT / "playbooks", checks=results)
    text = (out / "checks.md").read_text()
    assert '!!! failure "1 of 3 checks failed"' in text
    assert "1 check could not run on this data" in text
    assert "    | releases | codesets/releases |" in text and "drift" not in text
    assert ("    1 passed, 1 not checked. Each failure below says what to do; the passed checks are folded at the "
            "end.") in text
    # failures first, with what to do; then what was not checked; the passed checks folded last
    assert ("## Failed: what to do\n\n### Playbooks\n\n#### imaging: cited codes are billable \\| R10.2 expanded "
            '{ #failed-imaging data-toc-label="imaging" }\n\n'
            "**1 failing**\n\nFailing values: R10.2\n\n**What to do:** The playbook's owner edits `imaging`: replace "
            "each code with one of its replacements, or remove it.") in text
    assert ('??? note "1 check could not run on this data"\n    - imaging: CPT\n') in text
    assert ('??? success "Release tables: 1 passed"\n    | Result | Check | Target |\n    | --- | --- | --- |\n'
            "    | passed | codes are unique <br><small>") in text
    assert text.index("## Failed") < text.index("## Not checked") < text.index("## Passed")
    assert "hide:" not in text  # the maintainers' section is in the sidebar


def test_checks_page_lists_replacements_and_orders_the_suites_as_they_block(sample, tmp_path):
    rows = [
        {"suite": "playbooks", "target": "playbooks/dme.yml", "gate": "icd10cm_billable", "column": "code",
         "expectation": "expect_column_values_to_be_in_set", "success": False, "status": "failed",
         "failing_count": 1, "failing_sample": ["G35"], "failing_codes": [],
         "details": "every ICD-10-CM code is billable in icd10cm 2025-10-01 (current release); G35 expanded",
         "replacements": {"G35": [{"code": "G35A", "display_code": "G35.A"},
                                  {"code": "G35B0", "display_code": "G35.B0"}]},
         "code_notes": {"G35": "expanded in icd10cm 2025-10-01 (FY2026)"}},
        {"suite": "freshness", "target": "hcpcs in force 2026-12-01", "gate": "in_force_ingested", "success": False,
         "status": "failed", "failing_count": 1, "failing_sample": ["2026-10-01"],
         "details": "HCPCS Level II: the newest ingested release is 2019-01-01 (HCPCS 2019); 2026-10-01 is in force"},
        {"suite": "release", "target": "icd10cm 2025-10-01 (FY2026)", "gate": "drift", "success": False,
         "status": "failed", "failing_count": 1, "failing_sample": [60000], "details": "row count within 5%"},
    ] + [{"suite": "release", "target": f"pos {i}", "gate": "unique_codes", "success": True, "status": "passed",
          "details": "each code appears once"} for i in range(130)]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"success": False, "checked": {"inventory": "codesets/inventory/inventory.csv"},
                                   "rows": rows}))
    out = tmp_path / "generated"
    render_folder(sample, out, playbooks_dir=ROOT / "playbooks", checks=results)
    text = (out / "checks.md").read_text()
    assert ('!!! failure "3 of 133 checks failed"\n    130 passed. Each failure below says what to do; the passed '
            "checks are folded at the end.") in text
    failed = text[text.index("## Failed"):text.index("## Passed")]
    assert failed.index("### Release tables") < failed.index("### Freshness") < failed.index("### Playbooks")
    assert ("#### playbooks/dme.yml: every ICD-10-CM code is billable in icd10cm 2025-10-01 (current release) "
            '{ #failed-playbooksdmeyml-icd10cmbillable data-toc-label="playbooks/dme.yml · icd10cm_billable" }\n\n'
            ) in text  # a short anchor and table of contents entry
    assert ("**1 failing** · gate `icd10cm_billable`\n\n| Code | What happened | Replacements |\n| --- | --- | --- |\n"
            "| **G35** | expanded in icd10cm 2025-10-01 (FY2026) | G35.A, G35.B0 |") in text
    assert "**What to do:** Ingest the release in force: `codegov ingest --system hcpcs`" in text
    assert "claims dated from 2026-10-01 on are judged against an older release" in text
    assert ("**What to do:** The row count moved further from the previous release's than the drift band allows"
            in text and "`codegov ingest --system icd10cm --release 2025-10-01`" in text)
    assert text.count("| passed | each code appears once |") == 130
    assert text.index("## Failed") < text.index('??? success "Release tables: 130 passed"')


def test_stale_pages_are_removed_and_foreign_folders_refused(sample, tmp_path):
    from ingest.model import CodegovError

    out = tmp_path / "generated"
    render_folder(sample, out, playbooks_dir=ROOT / "playbooks")
    stale = out / "notices" / "icd10cm-2020-10-01.md"
    stale.write_text("old")
    (out / "old-folder").mkdir()
    (out / "old-folder" / "page.md").write_text("old")
    result = render_folder(sample, out, playbooks_dir=ROOT / "playbooks")
    assert stale in result.removed and not stale.exists() and not (out / "old-folder").exists()

    foreign = tmp_path / "site_src"
    foreign.mkdir()
    (foreign / "index.md").write_text("hand-written")
    with pytest.raises(CodegovError, match="not a folder codegov render created"):
        render_folder(sample, foreign, playbooks_dir=ROOT / "playbooks")
    assert (foreign / "index.md").read_text() == "hand-written"


def test_cli_render_then_strict_site_build(codegov, sample, tmp_path):
    project = site_project(tmp_path)
    docs = project / "site_src"
    status, out, err = codegov("--codesets", sample, "site", "--config", project / "mkdocs.yml",
                               "--site-dir", tmp_path / "site")
    assert status == 1 and "run `codegov render` first" in err
    status, out, err = codegov("--codesets", sample, "render", "--playbooks", ROOT / "playbooks",
                               "--checks", tmp_path / "absent.json", "--out", docs / "generated")
    assert status == 0, err
    assert "pages written" in out
    status, out, err = codegov("--codesets", sample, "site", "--strict", "--config", project / "mkdocs.yml",
                               "--site-dir", tmp_path / "site")
    assert status == 0, err
    site = tmp_path / "site"
    for page in ("index.html", "code-update-program/index.html", "generated/playbooks/imaging/index.html",
                 "generated/notices/icd10cm-2025-10-01/index.html", "generated/history/index.html",
                 "search/search_index.json"):
        assert (site / page).exists(), page
    home = (site / "index.html").read_text()
    assert "fonts.googleapis.com" not in home and "unpkg.com" not in home
    assert 'href="generated/notices/"' in home and 'href="generated/playbooks/"' in home  # generated nav tabs
    index = json.loads((site / "search" / "search_index.json").read_text())
    assert any("G35" in d["text"] and d["location"].startswith("generated/notices/") for d in index["docs"])


def test_strict_site_build_fails_on_a_broken_link(codegov, sample, tmp_path):
    project = site_project(tmp_path)
    docs = project / "site_src"
    render_folder(sample, docs / "generated", playbooks_dir=ROOT / "playbooks")
    (docs / "index.md").write_text("# Home\n\nSee [a page that is not there](missing.md).\n")
    status, out, err = codegov("site", "--config", project / "mkdocs.yml", "--site-dir", tmp_path / "site")
    assert status == 1
    assert "missing.md" in err and "Error: mkdocs: Aborted with 1 warnings in strict mode" in err


def test_history_charts_share_one_scale_with_numbers_beside_the_bars():
    """POS "1 added" is drawn 487 times shorter than ICD-10-CM's 487, not as long (one scale per code set)."""
    import re

    from playbooks.site import CHART_MIN_BAR, Site, SiteData, chart_layout

    def cs(system, to, added, deleted=0):
        return {"system": system, "to": to, "to_label": "", "summary": {"added": added, "deleted": deleted},
                "revised": [], "deleted": []}

    releases = {"icd10cm": [{"system": "icd10cm", "id": i, "label": lab, "title": lab, "rows": 1, "billable": 1}
                            for i, lab in (("2024-10-01", "FY2025"), ("2025-10-01", "FY2026"))],
                "pos": [{"system": "pos", "id": i, "label": i, "title": i, "rows": 1, "billable": 1}
                        for i in ("2023-10-01", "2024-08-01")]}
    data = SiteData(releases=releases, change_sets=[cs("icd10cm", "2025-10-01", 487, 28),
                                                    cs("pos", "2024-08-01", 1)])
    page = Site(data).history()
    assert "one linear scale, from 0 to 487 codes" in page
    bars = re.findall(r'<rect x="130" y="[\d.]+" width="([\d.]+)" height="16" class="cg-(\w+)"><title>([^<]+)</title>',
                      page)
    widths = {title: float(w) for w, _, title in bars}
    assert widths == {"2025-10-01: 487 added": 534.0, "2025-10-01: 28 deleted": 30.7, "2025-10-01: 0 revised": 0.0,
                      "2024-08-01: 1 added": 2.0, "2024-08-01: 0 deleted": 0.0, "2024-08-01: 0 revised": 0.0}
    assert page.count('class="cg-value">487</text>') == 1 and page.count('class="cg-value">1</text>') == 1
    assert page.count("scale: 0 to 487 codes, all code sets") == 2
    # alone, a chart scales to its own largest count; given the page's, to that
    assert chart_layout([{"label": "x", "added": 1, "deleted": 0, "revised": 0}])["groups"][0]["bars"][0]["w"] == 534
    layout = chart_layout([{"label": "x", "added": 1, "deleted": 0, "revised": 0}], biggest=487)
    assert [b["w"] for b in layout["groups"][0]["bars"]] == [CHART_MIN_BAR, 0, 0]
