"""The gates on the real releases in ../shared/data/cms: every release gate passes on ICD-10-CM FY2024-FY2026
and HCPCS 2017-2019; broken copies of FY2026 fail; the sample inventory's deleted codes come with their
replacements. (How long validating FY2026 takes is the benchmark's "validate" stage, target median <= 1.5 s.)"""

from __future__ import annotations

import os

import pytest

from checks.runner import Gates, run_checks
from ingest.store import read_release
from tests.conftest import CODESETS

pytestmark = pytest.mark.realdata

@pytest.fixture(scope="module")
def gates():
    return Gates()


def test_every_release_gate_passes_on_the_real_releases(real_releases, gates):
    report = run_checks(CODESETS, releases=real_releases, suites=("release",), gates=gates)
    assert report.success, report.failed
    targets = {r["target"] for r in report.rows}
    assert targets == {"icd10cm 2023-10-01 (FY2024)", "icd10cm 2024-10-01 (FY2025)", "icd10cm 2025-10-01 (FY2026)",
                       "hcpcs 2017-01-01 (HCPCS 2017)", "hcpcs 2018-01-01 (HCPCS 2018)",
                       "hcpcs 2019-01-01 (HCPCS 2019)"}
    drift = {r["target"]: r["status"] for r in report.rows if r["gate"] == "drift"}
    assert drift == {"icd10cm 2023-10-01 (FY2024)": "not checked", "icd10cm 2024-10-01 (FY2025)": "passed",
                     "icd10cm 2025-10-01 (FY2026)": "passed", "hcpcs 2017-01-01 (HCPCS 2017)": "not checked",
                     "hcpcs 2018-01-01 (HCPCS 2018)": "passed", "hcpcs 2019-01-01 (HCPCS 2019)": "passed"}
    fy2026 = [r for r in report.rows if r["target"] == "icd10cm 2025-10-01 (FY2026)"]
    assert {r["gate"] for r in fy2026} >= {"columns", "code_pattern", "unique_codes", "short_desc_present",
                                           "long_desc_present", "billable", "effective_start_date",
                                           "effective_end_date", "start_before_end", "drift"}


def _copy_with(real_releases, tmp_path, edit):
    """A releases folder with FY2024 and FY2025 linked (FY2025 is stored as its changes against FY2024) and
    FY2026 written whole, rewritten by `edit(lines) -> lines`."""
    from ingest.store import read_release_bytes

    out = tmp_path / "releases"
    (out / "icd10cm").mkdir(parents=True)
    for name in ("2023-10-01.csv", "2023-10-01.manifest.json", "2024-10-01.changes.csv", "2024-10-01.manifest.json"):
        os.link(real_releases / "icd10cm" / name, out / "icd10cm" / name)
    table = read_release_bytes(real_releases, "icd10cm", "2025-10-01")[1]
    lines = table.decode("utf-8").splitlines(keepends=True)
    (out / "icd10cm" / "2025-10-01.csv").write_text("".join(edit(lines)), encoding="utf-8")
    return out


def test_fy2026_with_40_percent_of_its_lines_removed_fails_the_drift_gate(real_releases, gates, tmp_path):
    out = _copy_with(real_releases, tmp_path, lambda lines: [ln for i, ln in enumerate(lines) if i % 5 not in (1, 3)])
    report = run_checks(CODESETS, releases=out, release=["FY2026"], suites=("release",), gates=gates)
    assert {r["gate"] for r in report.failed} == {"drift"}
    [drift] = report.failed
    assert drift["target"] == "icd10cm 2025-10-01 (FY2026)" and drift["observed"] < 0.65 * 98_186


def test_fy2026_with_a_duplicated_code_fails_uniqueness(real_releases, gates, tmp_path):
    out = _copy_with(real_releases, tmp_path, lambda lines: lines[:1000] + [lines[999]] + lines[1000:])
    report = run_checks(CODESETS, releases=out, release=["FY2026"], suites=("release",), gates=gates)
    assert {r["gate"] for r in report.failed} == {"unique_codes"}
    [unique] = report.failed
    code = read_release(real_releases, "icd10cm", "2025-10-01")["code"].iloc[998]  # line 999 of the file
    assert unique["failing_sample"] == [code] and unique["failing_count"] == 2


def test_the_sample_inventory_on_fy2026_lists_deleted_codes_with_replacements(real_releases, gates):
    report = run_checks(CODESETS, releases=real_releases, inventory=CODESETS / "inventory", on="2025-10-01",
                        suites=("inventory",), gates=gates)
    rows = {r["gate"]: r for r in report.rows}
    icd = rows["icd10cm_billable"]
    assert sorted(icd["failing_sample"]) == ["E7801", "G35", "R102"]
    assert {"G35A", "G35B0", "G35D"} <= {r["code"] for r in icd["replacements"]["G35"]}
    assert {"E78010", "E78011", "E78019"} <= {r["code"] for r in icd["replacements"]["E7801"]}
    assert {"R1020", "R1024"} <= {r["code"] for r in icd["replacements"]["R102"]}
    assert rows["icd10cm_exists"]["success"] is True
    hcpcs = rows["hcpcs_billable"]
    assert hcpcs["failing_sample"] == ["K0903"] and [r["code"] for r in hcpcs["replacements"]["K0903"]] == ["A5514"]
    assert rows["hcpcs_exists"]["failing_sample"] == ["G2212"]  # added 2021, after the newest file here
    assert rows["hcpcs_modifiers"]["success"] is True


def test_the_playbooks_cite_codes_of_the_real_releases(real_releases, gates):
    report = run_checks(CODESETS, releases=real_releases, playbooks=CODESETS.parent / "playbooks",
                        suites=("playbooks",), gates=gates)
    failed = {(r["target"].rsplit("/", 1)[-1], r["gate"]): r["failing_sample"] for r in report.failed}
    assert failed == {("dme.yml", "icd10cm_billable"): ["G35"], ("imaging.yml", "icd10cm_billable"): ["R102"],
                      ("laboratory.yml", "icd10cm_billable"): ["E7801"], ("office-em.yml", "hcpcs_exists"): ["G2212"]}
