"""`codegov check` end to end on the sample: files written, exit status, summary, Markdown, lazy imports."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from checks.report import render_markdown
from checks.runner import ROW_KEYS
from tests.conftest import CODESETS, ROOT


def test_release_gates_pass_on_the_sample_and_reruns_are_byte_identical(codegov, sample_releases, tmp_path):
    out = tmp_path / "checks"
    args = ("--codesets", CODESETS, "check", "--releases", sample_releases, "--suite", "release", "--out", out)
    status, stdout, stderr = codegov(*args)
    assert status == 0, stdout + stderr
    assert stderr == ""  # no progress bars, no warnings
    out = out / "partial"  # one suite: a partial run, which never replaces <out>/results.json
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data["success"] is True and data["summary"]["failed"] == 0
    assert all(tuple(r) == ROW_KEYS for r in data["rows"])
    assert {r["suite"] for r in data["rows"]} == {"release"}
    assert "icd10cm 2025-10-01 (FY2026)" in stdout and "gates passed" in stdout
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert codegov(*args)[0] == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    md = (out / "results.md").read_text(encoding="utf-8")
    assert md.startswith("## Validation gates") and "All " in md


def test_a_stale_inventory_fails_the_run_with_one_error_line(codegov, sample_releases, tmp_path):
    inv = tmp_path / "inventory.csv"
    inv.write_text("system,code,specialty,service_line,owner,notes\nicd10cm,G35,neuro,,Owner,\n"
                   "icd10cm,I10,neuro,,Owner,\n", encoding="utf-8")
    out = tmp_path / "checks"
    status, stdout, stderr = codegov("--codesets", CODESETS, "check", "--releases", sample_releases,
                                     "--inventory", inv, "--suite", "inventory", "--out", out)
    assert status == 3  # a failed gate: codegov.options.POLICY
    out = out / "partial"  # one suite: a partial run
    assert stderr.startswith("Error: ") and stderr.count("\n") == 1
    assert "FAILED inventory inventory.csv on 2025-10-01: icd10cm_billable code: 1 failing: G35" in stdout
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    [row] = [r for r in data["rows"] if not r["success"]]
    assert row["failing_sample"] == ["G35"] and "G35A" in {r["code"] for r in row["replacements"]["G35"]}
    md = (out / "results.md").read_text(encoding="utf-8")
    assert "### Codes no longer valid, with their replacements" in md
    assert "| G35 | expanded in icd10cm 2025-10-01 (FY2026) | G35.A, G35.B0" in md


def test_on_an_earlier_date_the_same_inventory_passes(codegov, sample_releases, tmp_path):
    inv = tmp_path / "inventory.csv"
    inv.write_text("system,code,specialty,service_line,owner,notes\nicd10cm,G35,neuro,,Owner,\n", encoding="utf-8")
    status, stdout, _ = codegov("--codesets", CODESETS, "check", "--releases", sample_releases, "--inventory", inv,
                                "--suite", "inventory", "--on", "2025-01-15", "--out", tmp_path / "c")
    assert status == 0 and "inventory.csv on 2025-01-15" in stdout


def test_release_and_system_select_one_table(codegov, sample_releases, tmp_path):
    status, stdout, _ = codegov("--codesets", CODESETS, "check", "--releases", sample_releases, "--suite", "release",
                                "--system", "icd10cm", "--release", "FY2026", "--out", tmp_path / "c")
    assert status == 0
    data = json.loads((tmp_path / "c" / "partial" / "results.json").read_text(encoding="utf-8"))
    assert {r["target"] for r in data["rows"]} == {"icd10cm 2025-10-01 (FY2026)"}


@pytest.mark.parametrize("args, message", [
    (("--on", "2025-13-01"), "not a date"),
    (("--drift", "5"), "outside 0..1"),
    (("--release", "FY1999"), "no ingested release named FY1999"),
])
def test_bad_options_are_one_line(codegov, sample_releases, tmp_path, args, message):
    try:
        status, _, stderr = codegov("--codesets", CODESETS, "check", "--releases", sample_releases,
                                    "--out", tmp_path / "c", *args)
    except SystemExit as exc:  # argparse rejects the value
        status, stderr = exc.code, ""
        assert status == 2
        return
    assert status == 1 and message in stderr and stderr.count("\n") == 1


def test_nothing_ingested_is_an_error(codegov, tmp_path):
    status, _, stderr = codegov("--codesets", CODESETS, "check", "--releases", tmp_path / "none",
                                "--out", tmp_path / "c")
    assert status == 1 and "codegov ingest" in stderr


def test_markdown_lists_failures_first_and_counts_per_target():
    data = {"success": False, "summary": {"gates": 3, "passed": 1, "failed": 1, "not checked": 1},
            "checked": {"validated": ["hcpcs 2019-01-01"], "on": "2025-10-01", "inventory": "inv", "playbooks": None},
            "rows": [
                {"suite": "release", "target": "hcpcs 2019-01-01", "expectation": "expect_column_values_to_be_unique",
                 "gate": "unique_codes", "column": "code", "success": False, "status": "failed", "failing_count": 2,
                 "failing_sample": ["E0110"], "failing_codes": ["E0110"], "details": "each code appears once",
                 "observed": None, "replacements": {}, "code_notes": {}},
                {"suite": "release", "target": "hcpcs 2019-01-01", "expectation": "not checked", "gate": "drift",
                 "column": "", "success": True, "status": "not checked", "failing_count": 0, "failing_sample": [],
                 "failing_codes": [], "details": "drift gate: no earlier hcpcs release", "observed": None,
                 "replacements": {}, "code_notes": {}},
                {"suite": "inventory", "target": "inv on 2025-10-01",
                 "expectation": "expect_column_values_to_be_in_set", "gate": "icd10cm_billable", "column": "code",
                 "success": True, "status": "passed", "failing_count": 0,
                 "failing_sample": [], "failing_codes": [], "details": "billable | yes", "observed": None,
                 "replacements": {}, "code_notes": {}},
            ]}
    md = render_markdown(data)
    assert "**1 of 3 gates failed**" in md
    assert "| release | hcpcs 2019-01-01 | each code appears once (`unique_codes`) | code | 2 | E0110 (+1 more) |" in md
    assert "- hcpcs 2019-01-01: drift gate: no earlier hcpcs release" in md
    assert "| inventory | inv on 2025-10-01 | 1 | 0 | 0 |" in md


def test_the_check_command_module_imports_neither_pandas_nor_great_expectations():
    code = ("import sys, argparse; import codegov.commands.check as c; c.add_arguments(argparse.ArgumentParser()); "
            "import checks; bad = [m for m in ('great_expectations', 'pandas') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_nothing_is_written_to_the_working_folder(sample_releases, tmp_path, monkeypatch):
    from checks.runner import Gates, run_checks

    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    run_checks(CODESETS, releases=sample_releases, suites=("release",), gates=Gates())
    assert list(work.iterdir()) == []
