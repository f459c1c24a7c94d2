"""`codegov render` and `codegov site` on the bundled sample: every page, byte-identical reruns, stale pages
removed, the checks placeholder, the generated nav, and a strict MkDocs build."""

from __future__ import annotations

import json
import shutil

import pytest

from codegov.update import render_folder
from playbooks.hook import on_config
from playbooks.site import NAV_FILE
from playbooks.write import MARKER
from tests.conftest import ROOT, make_sample_codesets

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
    nav = json.loads((out / NAV_FILE).read_text())
    assert nav[0] == {"Lookup": "lookup/index.md"}  # coders first: the code lookup
    assert nav[1]["Playbooks"][0] == {"Overview": "playbooks/index.md"}
    assert {"FY2026": "notices/icd10cm-2025-10-01.md"} in nav[2]["Change notices"][1]["ICD-10-CM"]
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
    assert ("| **failed** | cited codes are billable \\| R10.2 expanded <br><small>expect\\_column\\_values"
            "\\_to\\_be\\_in\\_set · code</small> | imaging | 1 | R10.2 |") in text
    assert "| passed | codes are unique <br><small>" in text
    # failures first within a suite
    assert text.index("## Release tables") < text.index("## Playbooks")
    playbooks = text.split("## Playbooks", 1)[1]
    assert playbooks.index("**failed**") < playbooks.index("not checked")


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


def test_nav_hook_appends_the_generated_pages(tmp_path):
    docs = tmp_path / "docs"
    (docs / "generated").mkdir(parents=True)
    (docs / "generated" / NAV_FILE).write_text(json.dumps([{"Checks": "checks.md"},
                                                           {"Playbooks": [{"A": "playbooks/a.md"}]}]))
    config = {"docs_dir": str(docs), "nav": [{"Home": "index.md"}]}
    assert on_config(config)["nav"] == [{"Home": "index.md"}, {"Checks": "generated/checks.md"},
                                        {"Playbooks": [{"A": "generated/playbooks/a.md"}]}]
    config = {"docs_dir": str(tmp_path / "nothing"), "nav": [{"Home": "index.md"}]}
    assert on_config(config)["nav"] == [{"Home": "index.md"}]


def test_cli_render_then_strict_site_build(codegov, sample, tmp_path):
    docs = tmp_path / "site_src"
    shutil.copytree(ROOT / "site_src", docs, ignore=shutil.ignore_patterns("generated"))
    status, out, err = codegov("--codesets", sample, "site", "--config", ROOT / "mkdocs.yml", "--docs-dir", docs,
                               "--site-dir", tmp_path / "site")
    assert status == 1 and "run `codegov render` first" in err
    status, out, err = codegov("--codesets", sample, "render", "--playbooks", ROOT / "playbooks",
                               "--checks", tmp_path / "absent.json", "--out", docs / "generated")
    assert status == 0, err
    assert "pages written" in out
    status, out, err = codegov("--codesets", sample, "site", "--strict", "--config", ROOT / "mkdocs.yml",
                               "--docs-dir", docs, "--site-dir", tmp_path / "site")
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
    docs = tmp_path / "site_src"
    shutil.copytree(ROOT / "site_src", docs, ignore=shutil.ignore_patterns("generated"))
    render_folder(sample, docs / "generated", playbooks_dir=ROOT / "playbooks")
    (docs / "index.md").write_text("# Home\n\nSee [a page that is not there](missing.md).\n")
    status, out, err = codegov("site", "--config", ROOT / "mkdocs.yml", "--docs-dir", docs,
                               "--site-dir", tmp_path / "site")
    assert status == 1
    assert "missing.md" in err and "Error: mkdocs: Aborted with 1 warnings in strict mode" in err
