"""Inventory gates: codes exist and are billable in the release in force on the inventory's date, with the
replacements of a deleted code; modifiers are known; POS codes are assigned; CPT is not checked."""

from __future__ import annotations

import pandas as pd
import pytest

from checks.runner import Gates, run_checks
from tests.conftest import CODESETS

HEADER = "system,code,specialty,service_line,owner,notes\n"


@pytest.fixture(scope="module")
def gates():
    return Gates()


def inventory(tmp_path, *lines: str):
    path = tmp_path / "inventory.csv"
    path.write_text(HEADER + "".join(f"{line},spec,,Owner,\n" for line in lines), encoding="utf-8")
    return path


def check(releases, gates, inv, on="2025-10-01"):
    report = run_checks(CODESETS, releases=releases, inventory=inv, on=on, suites=("inventory",), gates=gates)
    return report, {r["gate"]: r for r in report.rows}


GOOD = ("icd10cm,M54.50", "icd10cm,I10", "hcpcs,E0143", "hcpcs,GP", "cpt,97110", "cpt,25", "pos,11", "pos,02")


def test_a_current_inventory_passes(sample_releases, gates, tmp_path):
    report, rows = check(sample_releases, gates, inventory(tmp_path, *GOOD))
    assert report.success, report.failed
    assert {g for g, r in rows.items() if r["status"] == "passed"} == {
        "inventory_loads", "icd10cm_exists", "icd10cm_billable", "hcpcs_exists", "hcpcs_billable", "hcpcs_modifiers",
        "pos_assigned", "cpt_modifiers"}
    assert rows["cpt_codes"]["status"] == "not checked" and rows["cpt_codes"]["success"] is True
    assert rows["cpt_codes"]["observed"] == 1
    assert rows["icd10cm_exists"]["target"] == "inventory.csv on 2025-10-01"


def test_a_code_deleted_in_fy2026_fails_with_its_replacements(sample_releases, gates, tmp_path):
    inv = inventory(tmp_path, *GOOD, "icd10cm,G35", "icd10cm,R10.2")
    report, rows = check(sample_releases, gates, inv)
    assert not report.success and report.suite_success("inventory") is False
    billable = rows["icd10cm_billable"]
    assert billable["success"] is False and billable["failing_count"] == 2
    assert sorted(billable["failing_sample"]) == ["G35", "R102"]
    assert {r["code"] for r in billable["replacements"]["G35"]} >= {"G35A", "G35B0", "G35C0", "G35D"}
    assert [r["code"] for r in billable["replacements"]["R102"]] == ["R1020", "R1021", "R1022", "R1023", "R1024"]
    assert {r["display_code"] for r in billable["replacements"]["R102"]} == {"R10.20", "R10.21", "R10.22",
                                                                              "R10.23", "R10.24"}
    assert "2025-10-01" in billable["code_notes"]["G35"] and "expanded" in billable["code_notes"]["G35"]
    assert rows["icd10cm_exists"]["success"] is True  # still in the table, as a header: only billable fails


def test_the_release_in_force_on_the_date_decides(sample_releases, gates, tmp_path):
    inv = inventory(tmp_path, *GOOD, "icd10cm,G35", "icd10cm,R10.2")
    report, rows = check(sample_releases, gates, inv, on="2025-09-30")
    assert report.success, report.failed  # FY2025 is in force: both still billable
    assert "icd10cm 2024-10-01" in rows["icd10cm_billable"]["details"]
    assert rows["icd10cm_billable"]["target"] == "inventory.csv on 2025-09-30"


def test_unknown_codes_modifiers_and_unassigned_pos_fail(sample_releases, gates, tmp_path):
    inv = inventory(tmp_path, *GOOD, "icd10cm,Q99.99", "hcpcs,C9029", "hcpcs,E9999", "hcpcs,ZZ", "cpt,64",
                    "pos,35")
    report, rows = check(sample_releases, gates, inv)
    assert {r["gate"] for r in report.failed} == {"icd10cm_exists", "hcpcs_exists", "hcpcs_billable",
                                                  "hcpcs_modifiers", "cpt_modifiers", "pos_assigned"}
    assert rows["icd10cm_exists"]["failing_sample"] == ["Q9999"]
    assert rows["hcpcs_exists"]["failing_sample"] == ["E9999"]
    assert rows["hcpcs_billable"]["failing_sample"] == ["C9029"]  # discontinued in the 2019 file
    assert "discontinued" in rows["hcpcs_billable"]["code_notes"]["C9029"]
    assert rows["hcpcs_modifiers"]["failing_sample"] == ["ZZ"]
    assert rows["cpt_modifiers"]["failing_sample"] == ["64"]
    assert rows["pos_assigned"]["failing_sample"] == ["35"]


def test_damaged_inventory_lines_fail_the_load_gate(sample_releases, gates, tmp_path):
    inv = inventory(tmp_path, *GOOD, "cpt,1.00E+05", "pos,2")
    report, rows = check(sample_releases, gates, inv)
    loads = rows["inventory_loads"]
    assert loads["success"] is False and loads["failing_count"] == 1
    assert loads["failing_sample"] == ["line 10: 1.00E+05"]
    assert {r["gate"] for r in report.failed} == {"inventory_loads"}  # "2" became POS 02: a warning only


def test_inventory_as_a_data_frame_and_no_release_for_a_code_set(sample_releases, gates):
    rows_df = pd.DataFrame({"system": ["icd10cm", "pos"], "code": ["E119", "11"]}, dtype=str)
    report, rows = check(sample_releases, gates, rows_df, on="2023-01-01")  # before any ICD or POS 2023 release
    assert report.success
    assert rows["icd10cm_exists"]["status"] == "not checked"
    assert rows["pos_assigned"]["status"] == "passed"  # POS January 2022 is in force
    assert "pos 2022-01-01" in rows["pos_assigned"]["details"]


def test_default_date_is_the_newest_icd10cm_release(sample_releases, gates, tmp_path):
    report = run_checks(CODESETS, releases=sample_releases, inventory=inventory(tmp_path, *GOOD),
                        suites=("inventory",), gates=gates)
    assert report.checked["on"] == "2025-10-01"
