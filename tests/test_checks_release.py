"""Release-table gates: the sample passes; each gate fails on a table broken for it, and only that gate."""

from __future__ import annotations

import pandas as pd
import pytest

from checks.pandas_baseline import validate_release_pandas
from checks.runner import ROW_KEYS, Gates, run_checks, validate_release, validate_releases
from checks.suites import ISO_DATE, drift_band
from ingest.store import read_release
from tests.conftest import CODESETS


@pytest.fixture(scope="module")
def gates():
    return Gates()


@pytest.fixture
def hcpcs(sample_releases):
    return read_release(sample_releases, "hcpcs", "2019-01-01")


@pytest.fixture
def icd(sample_releases):
    return read_release(sample_releases, "icd10cm", "2025-10-01")


def failing(rows):
    return {r["gate"] for r in rows if not r["success"]}


def row(rows, gate):
    [hit] = [r for r in rows if r["gate"] == gate]
    return hit


def verdicts(rows):
    return [(r["gate"], r["success"], r["failing_count"], r["failing_sample"]) for r in rows]


@pytest.mark.parametrize("system, release", [("icd10cm", "2024-10-01"), ("icd10cm", "2025-10-01"),
                                             ("hcpcs", "2018-01-01"), ("hcpcs", "2019-01-01"),
                                             ("pos", "2024-08-01")])
def test_sample_release_tables_pass_every_gate_and_match_the_pandas_baseline(sample_releases, gates, system,
                                                                             release):
    table = read_release(sample_releases, system, release)
    rows = validate_release(table, system, release, previous=("2000-01-01", len(table)), gates=gates)
    assert failing(rows) == set()
    assert {r["gate"] for r in rows} >= {"columns", "unique_codes", "short_desc_present", "long_desc_present",
                                         "billable", "effective_start_date", "effective_end_date",
                                         "start_before_end", "drift"}
    assert all(tuple(r) == ROW_KEYS for r in rows)
    assert verdicts(rows) == verdicts(validate_release_pandas(table, system, release,
                                                              previous=("2000-01-01", len(table))))


def _set(table, code, column, value):
    table = table.copy()
    table.loc[table["code"] == code, column] = value
    return table


DAMAGES = {
    # name: (damage, gate that must fail, a value that must be in its failing sample)
    "missing-column": (lambda t: t.drop(columns=["betos"]), "columns", "missing betos"),
    "extra-column": (lambda t: t.assign(notes=""), "columns", "unexpected notes"),
    "columns-out-of-order": (lambda t: t[["code", *[c for c in t.columns if c != "code"]]], "columns",
                             "columns out of order"),
    "procedure-code-pattern": (lambda t: _set(t, "E0100", "code", "E01000"), "code_pattern_procedure", "E01000"),
    "modifier-code-pattern": (lambda t: _set(t, "GP", "code", "G-P"), "code_pattern_modifier", "G-P"),
    "duplicated-code": (lambda t: pd.concat([t, t[t["code"] == "E0110"]]).sort_values("code"), "unique_codes",
                        "E0110"),
    "blank-short-descriptor": (lambda t: _set(t, "E0105", "short_desc", ""), "short_desc_present", None),
    "whitespace-long-descriptor": (lambda t: _set(t, "E0105", "long_desc", "   "), "long_desc_present", None),
    "billable-not-0-or-1": (lambda t: _set(t, "E0143", "billable", "Y"), "billable", "Y"),
    "date-does-not-parse": (lambda t: _set(t, "E0143", "add_date", "2019-02-29"), "add_date_date", "2019-02-29"),
    "date-in-another-format": (lambda t: _set(t, "E0143", "effective_start", "01/01/2019"), "effective_start_date",
                               "01/01/2019"),
    "missing-start-date": (lambda t: _set(t, "E0143", "effective_start", ""), "effective_start_present", None),
    "end-before-start": (lambda t: _set(t, "C9029", "effective_end", "1999-12-31"), "start_before_end",
                         None),
    "wrong-system": (lambda t: _set(t, "E0143", "system", "icd10cm"), "system", "icd10cm"),
    "wrong-release": (lambda t: _set(t, "E0143", "release", "2018-01-01"), "release", "2018-01-01"),
    "unknown-kind": (lambda t: _set(t, "E0143", "kind", "code"), "kind", "code"),
}


def damaged(hcpcs, name):
    """The sample's HCPCS 2019 broken by DAMAGES[name], as a release of its own: (id, table, previous, target).
    Its release column says its id (but for wrong-release, whose one wrong row is the damage); every other
    one has a previous release to measure drift against."""
    i = list(DAMAGES).index(name)
    rid = f"2019-d{i:02d}"
    bad = DAMAGES[name][0](hcpcs).reset_index(drop=True)
    if "release" in bad.columns:
        bad = bad.assign(release=rid) if name != "wrong-release" else bad.assign(
            release=bad["release"].where(bad["release"] != "2019-01-01", rid))
    return rid, bad, ("2018-01-01", len(hcpcs)) if i % 2 else None, f"hcpcs {name}"


# The rows each damaged table gets validated alone, kept for the test that validates them together
ALONE: dict[str, list] = {}


@pytest.mark.parametrize("name", list(DAMAGES))
def test_each_gate_fails_on_a_table_broken_for_it(hcpcs, gates, name):
    _, gate, value = DAMAGES[name]
    rid, bad, previous, target = damaged(hcpcs, name)
    rows = validate_release(bad, "hcpcs", rid, previous=previous, gates=gates, target=target)
    ALONE[name] = rows
    assert failing(rows) == {gate}
    hit = row(rows, gate)
    assert hit["status"] == "failed" and hit["failing_count"] >= 1 and hit["suite"] == "release"
    if value is not None:
        assert value in hit["failing_sample"]
    if gate not in ("columns", "unique_codes"):
        assert len(hit["failing_codes"]) == 1  # the code of the broken row, so a reader can find it
    if gate != "columns" or name == "extra-column":
        baseline = validate_release_pandas(bad, "hcpcs", rid, previous=previous)
        assert verdicts(rows) == verdicts(baseline)


def test_releases_validated_together_give_each_release_the_rows_it_gets_alone(hcpcs, gates):
    """validate_releases stacks the tables of one code set into one GX run: every release's rows (pass or
    fail, counts, samples, codes, observed values) must be what validating it alone gives."""
    tables = [damaged(hcpcs, name) for name in DAMAGES]
    tables.append(("2019-01-01", hcpcs, ("2018-01-01", len(hcpcs)), "hcpcs clean"))
    tables.append(("2019-50-01", hcpcs.iloc[: len(hcpcs) // 2].assign(release="2019-50-01"),
                   ("2018-01-01", len(hcpcs)), "hcpcs halved"))
    together = validate_releases(tables, "hcpcs", gates=gates)
    for rid, table, previous, target in tables:
        # alone: the rows test_each_gate_fails_on_a_table_broken_for_it got for this very table, when it ran
        alone = ALONE.get(target.removeprefix("hcpcs ")) or validate_release(table, "hcpcs", rid, previous=previous,
                                                                             gates=gates, target=target)
        assert [r.to_dict() for r in together[rid]] == [r.to_dict() for r in alone], target
    assert failing(together["2019-01-01"]) == set() and failing(together["2019-50-01"]) == {"drift"}


def test_dotted_icd10cm_code_fails_the_code_pattern(icd, gates):
    bad = _set(icd, "E119", "code", "E11.9")
    rows = validate_release(bad, "icd10cm", "2025-10-01", gates=gates)
    assert failing(rows) == {"code_pattern"}
    assert row(rows, "code_pattern")["failing_sample"] == ["E11.9"]


def test_a_release_with_40_percent_of_its_lines_removed_fails_the_drift_gate(hcpcs, gates):
    kept = hcpcs.iloc[: round(len(hcpcs) * 0.6)]
    rows = validate_release(kept, "hcpcs", "2019-01-01", previous=("2018-01-01", len(hcpcs)), gates=gates)
    assert failing(rows) == {"drift"}
    drift = row(rows, "drift")
    assert drift["failing_sample"] == [len(kept)] and drift["observed"] == len(kept)
    ok = validate_release(hcpcs.iloc[:-1], "hcpcs", "2019-01-01", previous=("2018-01-01", len(hcpcs)), gates=gates)
    assert failing(ok) == set()


def test_drift_band_is_inclusive_and_configurable():
    assert drift_band(100, 0.05) == (95, 105)
    assert drift_band(97_584, 0.05) == (92_705, 102_463)
    assert drift_band(200, 0.5) == (100, 300)


def test_a_table_without_its_code_column_is_reported_not_raised(hcpcs, gates):
    rows = validate_release(hcpcs.drop(columns=["code"]), "hcpcs", "2019-01-01", gates=gates)
    assert {"columns", "unique_codes", "code_pattern_procedure"} <= failing(rows)
    assert "could not run" in row(rows, "unique_codes")["details"]


@pytest.mark.parametrize("text, ok", [("2024-02-29", True), ("2000-02-29", True), ("1900-02-29", False),
                                      ("2023-02-29", False), ("2025-04-31", False), ("2025-12-31", True),
                                      ("2025-13-01", False), ("25-01-01", False), ("2025-1-01", False)])
def test_iso_date_pattern_is_a_calendar(text, ok):
    import re

    assert bool(re.fullmatch(ISO_DATE, text)) is ok


def test_run_checks_on_disk_drift_and_selection(sample_releases, tmp_path, gates):
    import shutil

    out = tmp_path / "releases"
    shutil.copytree(sample_releases, out)
    report = run_checks(CODESETS, releases=out, suites=("release",), gates=gates)
    assert report.success
    drift = [r for r in report.rows if r["gate"] == "drift"]
    assert {r["status"] for r in drift} == {"not checked"}  # the sample is too small for a percentage band
    from ingest.build import store_whole

    store_whole(out, "hcpcs", "2019-01-01")  # a full table (a later release is stored as its changes)
    path = out / "hcpcs" / "2019-01-01.csv"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(lines[: 1 + round((len(lines) - 1) * 0.6)]), encoding="utf-8")
    # stored whole, as a truncated file would be if it got past the proofs: its manifest vouches for it
    import hashlib
    import json

    manifest = out / "hcpcs" / "2019-01-01.manifest.json"
    meta = json.loads(manifest.read_text())
    meta["table_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest.write_text(json.dumps(meta))
    report = run_checks(CODESETS, releases=out, systems=["hcpcs"], release=["2019"], suites=("release",),
                        drift_min_rows=0, gates=gates)
    assert {r["target"] for r in report.rows} == {"hcpcs 2019-01-01 (HCPCS 2019)"}
    assert not report.success and {r["gate"] for r in report.failed} == {"drift"}
    assert report.suite_success("release") is False


def test_the_callers_table_is_not_changed(hcpcs, gates):
    before = hcpcs.copy()
    validate_release(_set(hcpcs, "E0105", "short_desc", ""), "hcpcs", "2019-01-01", gates=gates)
    validate_release(hcpcs, "hcpcs", "2019-01-01", gates=gates)
    assert hcpcs.equals(before)


def test_one_runs_memos_give_the_rows_gx_gives_without_them(hcpcs, monkeypatch):
    """checks.context.one_run builds each Expectation's configuration and each row condition's filtered frame
    once per run: every damaged table gets exactly the rows of GX's own code, which is back after. One
    validate_releases covers them: a table of other columns alone (one of the three: the same suite), the rest
    in one stacked run (whose rows equal each table's own run: test_releases_validated_together_give_each_...)."""
    import contextlib

    from great_expectations.execution_engine.pandas_execution_engine import PandasExecutionEngine
    from great_expectations.expectations.expectation import Expectation

    import checks.context

    gx_property = Expectation.__dict__["configuration"]
    gx_filter = PandasExecutionEngine.__dict__["_apply_row_condition_filter"]
    names = [n for n in DAMAGES if n not in ("extra-column", "columns-out-of-order")]
    tables = [damaged(hcpcs, name) for name in names]
    memo = validate_releases(tables, "hcpcs", gates=Gates())
    assert Expectation.__dict__["configuration"] is gx_property
    assert PandasExecutionEngine.__dict__["_apply_row_condition_filter"] is gx_filter
    monkeypatch.setattr(checks.context, "one_run", contextlib.nullcontext)
    plain = validate_releases(tables, "hcpcs", gates=Gates())
    assert {k: [r.to_dict() for r in v] for k, v in memo.items()} == \
        {k: [r.to_dict() for r in v] for k, v in plain.items()}
    assert len(plain) == len(names)
    assert all(any(not r.to_dict()["success"] for r in rows) for rows in plain.values())  # each fails a gate


def test_the_validator_gives_the_rows_of_the_validation_definitions_data_docs_are_built_from(hcpcs, tmp_path):
    """Gates without Data Docs run GX's validator on the batch; with them, ValidationDefinition.run (which
    stores the results the docs read): the same rows, every gate failing on a damaged table, and the docs."""
    tables = [damaged(hcpcs, name) for name in ("missing-column", "procedure-code-pattern", "duplicated-code",
                                                "end-before-start", "wrong-release")]
    direct = validate_releases(tables, "hcpcs", gates=Gates())
    docs = Gates(data_docs=tmp_path / "docs")
    stored = validate_releases(tables, "hcpcs", gates=docs)
    assert {k: [r.to_dict() for r in v] for k, v in direct.items()} == \
        {k: [r.to_dict() for r in v] for k, v in stored.items()}
    assert docs.build_data_docs().is_file()


DEFERRED_SCRIPT = r"""
import sys
from checks.context import DEFERRED, Gates
from checks.runner import validate_release
from ingest.store import read_release

Gates()
rows = validate_release(read_release(sys.argv[1], "hcpcs", "2019-01-01"), "hcpcs", "2019-01-01")
assert rows and all(r["success"] for r in rows), rows
left = [n for n in DEFERRED if type(sys.modules[n]).__name__ != "_DeferredModule"]
assert not left, f"ran: {left}"
import asyncio.events  # a submodule runs its package first
import asyncio

assert type(sys.modules["asyncio"]) is type(sys) and asyncio.run(asyncio.sleep(0, "slept")) == "slept"
from scipy import stats
assert round(float(stats.entropy([1, 1])), 6) == 0.693147
import altair
assert altair.Chart.__name__ == "Chart" and type(sys.modules["altair"]) is type(sys)
print("ok")
"""


def test_what_gx_imports_for_unused_expectations_is_deferred_and_runs_when_used(sample_releases):
    """checks.context.DEFERRED: a whole release validation runs none of them; each works when used."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    proc = subprocess.run([sys.executable, "-c", DEFERRED_SCRIPT, str(sample_releases)], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert (proc.returncode, proc.stdout.strip()) == (0, "ok"), proc.stderr
