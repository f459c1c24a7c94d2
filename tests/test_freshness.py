"""Freshness: every known release with its state, the release in force on a date, and the gate, banner and
warning when it is not ingested (the bundled sample on 2026-12-01: ICD-10-CM FY2027 and HCPCS October 2026
are in force, neither is in the sample)."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
import yaml

from codegov.cli import main
from ingest import freshness
from ingest.repository import ReleaseRepository
from ingest.sources import load_sources
from tests.conftest import CODESETS, ROOT, make_sample_codesets
from tests.test_discover import write_fy2027

TODAY = dt.date(2026, 12, 1)


@pytest.fixture(scope="module")
def codesets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fresh") / "codesets"
    folder.mkdir()
    shutil.copy(CODESETS / "discovery.toml", folder)
    return make_sample_codesets(folder)


def states(codesets, on=TODAY):
    sources = load_sources(codesets)
    repo = ReleaseRepository(codesets / "releases", codesets, sources=sources)
    return freshness.check(sources, repo, on)


def test_every_known_release_has_a_state_and_one_is_in_force(codesets):
    statuses, fresh = states(codesets)
    by = {(s.system, s.id): s for s in statuses}
    assert by[("icd10cm", "2025-10-01")].state == "ingested" and by[("icd10cm", "2025-10-01")].sha256
    assert by[("icd10cm", "2026-04-01")].state == "listed"
    fy2027 = by[("icd10cm", "2026-10-01")]
    assert (fy2027.label, fy2027.state, fy2027.in_force) == ("FY2027", "due", True)
    assert by[("hcpcs", "2026-10-01")].in_force and by[("hcpcs", "2026-10-01")].state == "due"
    assert (by[("hcpcs", "2027-01-01")].state, by[("hcpcs", "2027-01-01")].label) == ("expected", "HCPCS January 2027")
    assert sum(s.in_force for s in statuses) == 3  # one per code set
    gate = {f.system: f for f in fresh}
    assert not gate["icd10cm"].ok and not gate["hcpcs"].ok and gate["pos"].ok
    assert gate["hcpcs"].message == ("HCPCS Level II: the newest ingested release is 2019-01-01 (HCPCS 2019); "
                                     "2026-10-01 (HCPCS October 2026) is in force on 2026-12-01 (due, not ingested)")


def test_on_an_earlier_date_the_ingested_release_is_in_force(codesets):
    _, fresh = states(codesets, dt.date(2019, 6, 1))
    assert {f.system: (f.in_force, f.ok) for f in fresh}["hcpcs"] == ("2019-01-01", True)


def test_ingesting_the_release_in_force_makes_the_code_set_current(codesets, tmp_path):
    mirror = tmp_path / "mirror"
    write_fy2027(mirror / "icd10cm" / "FY2027")
    out = tmp_path / "releases"
    shutil.copytree(codesets / "releases", out)
    assert main(["--codesets", str(codesets), "--releases", str(out), "ingest", "--mirror", str(mirror),
                 "--offline", "--system", "icd10cm"]) == 0
    sources = load_sources(codesets)
    _, fresh = freshness.check(sources, ReleaseRepository(out, codesets, sources=sources), TODAY, ["icd10cm"])
    assert fresh[0].ok and fresh[0].in_force == "2026-10-01"


def test_releases_command_formats_and_fail_stale(codesets, capsys):
    common = ["--codesets", str(codesets), "--releases", str(codesets / "releases"), "releases", "--offline",
              "--on", "2026-12-01"]
    assert main([*common, "--format", "json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["on"] == "2026-12-01"
    assert {f["system"]: f["ok"] for f in data["freshness"]} == {"icd10cm": False, "hcpcs": False, "pos": True}
    assert {r["state"] for r in data["releases"]} == {"ingested", "listed", "due", "expected"}
    assert main([*common, "--format", "csv", "--system", "pos"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "system,id,label,state,in_force,detail,sha256,ingested_at,source"
    assert all(line.startswith("pos,") for line in lines[1:])
    assert main([*common, "--fail-stale"]) == 3  # a finding: codegov.options.POLICY
    text = capsys.readouterr().out
    assert "> [!WARNING]" in text and "| icd10cm | 2026-10-01 (in force) | FY2027 | due |" in text
    assert main([*common, "--fail-stale", "--system", "pos"]) == 0


def test_check_fails_on_a_stale_code_set(codesets, tmp_path, capsys):
    out = tmp_path / "checks"
    assert main(["--codesets", str(codesets), "--releases", str(codesets / "releases"), "check", "--suite",
                 "freshness", "--on", "2026-12-01", "--out", str(out)]) == 3  # codegov.options.POLICY
    rows = json.loads((out / "partial" / "results.json").read_text())["rows"]  # a partial run: out/partial
    assert {(r["target"], r["status"]) for r in rows} == {
        ("icd10cm in force 2026-12-01", "failed"), ("hcpcs in force 2026-12-01", "failed"),
        ("pos in force 2026-12-01", "passed")}
    assert main(["--codesets", str(codesets), "--releases", str(codesets / "releases"), "check", "--suite",
                 "freshness", "--on", "2019-06-01", "--system", "hcpcs", "--out", str(out)]) == 0


def test_pr_body_and_home_page_open_with_the_banner(codesets, tmp_path):
    from codegov.update import UpdateOptions, run_update

    opts = UpdateOptions(codesets=codesets, mirror=CODESETS / "sample", offline=True, build=tmp_path / "build",
                         inventory=CODESETS / "inventory",
                         checks=False, site=False, docs_dir=tmp_path / "docs", releases_dir=codesets / "releases",
                         on=TODAY, workers=1)
    result = run_update(opts)
    assert any(line.startswith("stale   HCPCS Level II: the newest ingested release is 2019-01-01")
               for line in result.log)
    body = (tmp_path / "build" / "report" / "pr-body.md").read_text()
    assert body.index("[!WARNING]") < body.index("## ICD-10-CM")
    assert "2026-10-01 (FY2027) is in force on 2026-12-01" in body
    generated = tmp_path / "docs" / "generated"
    home = (generated / ".home.md").read_text()
    assert home.startswith('!!! warning "Not current"')
    assert "| HCPCS Level II | HCPCS 2019 (2019-01-01) | HCPCS October 2026 (2026-10-01) **not loaded** |" in home
    releases = (generated / "releases.md").read_text()
    assert "| hcpcs | 2027-01-01 | HCPCS January 2027 | expected |" in releases
    nav = yaml.safe_load((generated / ".nav.yml").read_text())["nav"]
    assert {"Releases": "generated/releases.md"} in nav[-1]["For maintainers"]
    # the home page includes the block under its title (pymdownx.snippets: no hook)
    assert '# Coding playbooks and code-set changes\n\n--8<-- "generated/.home.md"\n' in (
        ROOT / "site_src" / "index.md").read_text()


def test_a_failed_release_gate_renders_no_page(tmp_path, monkeypatch):
    """The release gates stop the run before any page is rendered from a release they refused; the report
    (what a person reads to see why) is still written."""
    import checks.runner
    from codegov.update import UpdateOptions, run_update

    class Refused:
        def to_dict(self):
            return {"suites": [], "summary": {"passed": 0, "failed": 1, "not checked": 0}}

        def suite_success(self, suite):
            return False

        def summary(self):
            return {"passed": 0, "failed": 1, "not checked": 0}

    monkeypatch.setattr(checks.runner, "run_checks", lambda **kwargs: Refused())
    monkeypatch.setattr("checks.report.render_markdown", lambda data, heading="##": "## Checks\n\n1 failed\n")
    monkeypatch.setattr("checks.report.write_results", lambda data, out: [])
    codesets = tmp_path / "codesets"
    codesets.mkdir()
    for name in ("sources.toml", "pos.csv", "discovery.toml"):
        shutil.copy(CODESETS / name, codesets)
    opts = UpdateOptions(codesets=codesets, mirror=CODESETS / "sample", offline=True, build=tmp_path / "build",
                         inventory=CODESETS / "inventory", site=True, docs_dir=tmp_path / "docs",
                         releases_dir=codesets / "releases", on=TODAY, workers=1)
    result = run_update(opts)
    assert not result.checks_passed
    assert "render  skipped: a release gate failed, and no page is rendered from a release it refused" in result.log
    assert not (tmp_path / "docs" / "generated").exists()
    assert (tmp_path / "build" / "report" / "pr-body.md").is_file()
