"""`codegov lookup` and `codegov scrub` end to end, on the fixture tables and on the ingested sample mirror."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest

from codegov.commands import lookup as lookup_cmd
from codegov.commands import scrub as scrub_cmd
from tests.conftest import SAMPLE, make_sample_codesets
from tests.test_claims_rules import FIXTURES, OWN_FILES, PATH_RULES, with_reference


@pytest.fixture(scope="module")
def sample_codesets(tmp_path_factory):
    """A codesets folder with the sample mirror ingested (the demo's setup): the code sets, and the stored
    sample NCCI PTP and MUE quarters (2026 Q3 and Q4) the shipped rule file reads in force."""
    return make_sample_codesets(tmp_path_factory.mktemp("claims") / "codesets", rules=True, edits=True)


def test_commands_follow_the_cli_contract():
    for module in (lookup_cmd, scrub_cmd):
        assert module.HELP and module.__doc__
        assert callable(module.add_arguments) and callable(module.run)
    import subprocess
    import sys

    # the command modules import only the standard library at top level
    code = ("import sys; import codegov.commands.lookup, codegov.commands.scrub; "
            "print(any(m in sys.modules for m in ('pandas', 'numpy', 'yaml', 'claims', 'ingest.history')))")
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"


def test_lookup_text_and_json(codegov):
    status, out, _ = codegov("--codesets", FIXTURES, "lookup", "g35", "--on", "2025-11-12")
    assert status == 3  # not valid on the date: codegov.options.POLICY
    assert out.splitlines()[0] == "G35  icd10cm  deleted"
    assert "replacements: G35.A (children), G35.D (children)" in out
    status, out, _ = codegov("--codesets", FIXTURES, "lookup", "E11.9", "--on", "2025-06-01", "--format", "json")
    data = json.loads(out)
    assert (data["status"], data["billable"], data["release"]) == ("valid", True, "2024-10-01")
    status, out, _ = codegov("--codesets", FIXTURES, "lookup", "99213")
    assert "cpt  unknown" in out and "AMA" in out


def test_lookup_bad_date_is_a_usage_error(codegov, capsys):
    with pytest.raises(SystemExit) as exc:
        codegov("lookup", "E11.9", "--on", "2025-13-01")
    assert exc.value.code == 2
    assert "expected a date as YYYY-MM-DD" in capsys.readouterr().err


def test_scrub_formats_exit_codes_and_input_untouched(codegov, tmp_path):
    claims = tmp_path / "errors.csv"
    shutil.copy(FIXTURES / "errors.csv", claims)
    before = hashlib.sha256(claims.read_bytes()).hexdigest()
    args = ("--codesets", FIXTURES, "scrub", claims, "--rules", PATH_RULES)
    status, out, err = codegov(*args, "--format", "csv")
    assert status == 0
    found = pd.read_csv(pd.io.common.StringIO(out), dtype=str, keep_default_na=False)
    expected = pd.read_csv(FIXTURES / "errors.expected.csv", dtype=str, keep_default_na=False)
    assert found[["claim_id", "line", "rule"]].equals(expected)
    assert "16 finding(s): 15 error(s), 1 warning(s)" in err
    assert codegov(*args, "--format", "json", "--fail-on", "error")[0] == 3  # codegov.options.POLICY
    status, out, _ = codegov(*args, "--format", "md", "--output", tmp_path / "out.md")
    assert status == 0 and out == ""
    assert (tmp_path / "out.md").read_text().startswith("# Claim scrub findings")
    assert codegov("--codesets", FIXTURES, "scrub", FIXTURES / "clean.csv", "--rules", PATH_RULES,
                   "--fail-on", "warning")[0] == 0
    assert hashlib.sha256(claims.read_bytes()).hexdigest() == before


def test_scrub_chunked_output_is_identical(codegov):
    args = ("--codesets", FIXTURES, "scrub", FIXTURES / "errors.csv", "--rules", PATH_RULES)
    assert codegov(*args, "--chunk-lines", "2")[1] == codegov(*args)[1]


def test_scrub_errors_are_one_line(codegov, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("claim_id,line\nC1,1\n")
    status, out, err = codegov("--codesets", FIXTURES, "scrub", bad, "--rules", PATH_RULES)
    assert status == 1 and out == ""
    assert err.startswith("Error: ") and "bad.csv:1: missing required column(s)" in err
    assert err.count("\n") == 1
    status, _, err = codegov("--codesets", FIXTURES, "scrub", tmp_path / "none.csv", "--rules", PATH_RULES)
    assert status == 1 and "none.csv" in err


DEMO_FINDINGS = [
    ("D1010", "2", "ncci-ptp"), ("D1011", "1", "timed-units-8-minute"), ("D1014", "1", "therapy-gp-modifier"),
    ("D1017", "1", "code-invalid-on-dos"), ("D1018", "1", "em-modifier-25"), ("D1019", "1", "sex-diagnosis"),
    ("D1021", "1", "code-invalid-on-dos")]


def test_demo_claims_on_the_sample_mirror(codegov, sample_codesets):
    """The demo: ingest the sample mirror, scrub the demo claims with the default rule file.

    The default rule file reads the stored NCCI quarters in force on each date of service; the demo claims
    date from 2025-03 to 2026-03, before the stored sample quarters (2026 Q3 and Q4). So no PTP or MUE table
    answers for them: the planted PTP error D1010 (an edit of the older sample table) is not found, and the
    notes say the 40 lines were not checked. The next test finds it with that table given by path."""
    status, out, err = codegov("--codesets", sample_codesets, "scrub", SAMPLE / "claims" / "claims.csv")
    assert status == 0
    found = pd.read_csv(pd.io.common.StringIO(out), dtype=str, keep_default_na=False)
    assert list(zip(found["claim_id"], found["line"], found["rule"], strict=True)) == DEMO_FINDINGS[1:]
    assert "replace with R10.20, R10.21, R10.22, R10.23, R10.24" in out
    assert "HCPCS Level II release covers were not checked" in err
    assert "note: ncci-ptp: 40 lines on dates no stored NCCI PTP quarter covers were not checked" in err
    assert "note: mue-units: 40 lines on dates no stored MUE quarter covers were not checked" in err
    assert "note: NCCI PTP quarters stored (practitioner): 2026 Q3, 2026 Q4, in force 2026-07-01 to 2027-01-28" in err


def test_demo_claims_with_the_older_sample_tables_by_path(codegov, sample_codesets, tmp_path):
    """The demo's planted findings, D1010 among them, with the older hand-written PTP and MUE samples given by
    path (as an organisation gives its own files)."""
    rules = with_reference(OWN_FILES, tmp_path)
    status, out, err = codegov("--codesets", sample_codesets, "scrub", SAMPLE / "claims" / "claims.csv",
                               "--rules", rules)
    assert status == 0
    found = pd.read_csv(pd.io.common.StringIO(out), dtype=str, keep_default_na=False)
    assert list(zip(found["claim_id"], found["line"], found["rule"], strict=True)) == DEMO_FINDINGS
    assert "97530 billed with 97140 (line 1) on 2025-07-08" in out
    assert "ncci-ptp:" not in err and "mue-units:" not in err


def test_lookup_on_the_sample_mirror(codegov, sample_codesets):
    status, out, _ = codegov("--codesets", sample_codesets, "lookup", "G9890", "--on", "2018-06-01")
    assert status == 0 and "Bridge payment" in out
    status, out, _ = codegov("--codesets", sample_codesets, "lookup", "C9744", "--on", "2019-06-01")
    assert "replacements: 76978 (xref), 76979 (xref)" in out
    status, out, _ = codegov("--codesets", sample_codesets, "lookup", "66", "--on", "2024-07-01")
    assert out.splitlines()[0] == "66  pos  not-yet-effective"
