"""Each scrubber edit on planted errors (exact rule, claim, line), a clean file, payer overrides, rule file checks."""

from __future__ import annotations

import atexit
import functools
import io
import json
import re
import shutil
import tempfile
from pathlib import Path

import pandas as pd
import pytest
import yaml

from claims.output import render
from claims.read import CLAIM_COLUMNS
from claims.rules import RULES, expand_codes, load_rules, rule_pages
from claims.scrub import Scrubber
from ingest.history import ReleaseHistory
from ingest.model import CodegovError
from tests.conftest import CODESETS, ROOT

FIXTURES = ROOT / "tests" / "fixtures" / "claims"
RULES_FILE = CODESETS / "rules" / "scrub.yml"  # the shipped rule file: ptp and mue in force, stored quarters
HEADER = ",".join(CLAIM_COLUMNS)
OLD_PTP = CODESETS / "sample" / "ncci" / "ccipra-sample-f1.txt"
OLD_MUE = CODESETS / "sample" / "mue" / "MCR_MUE_PractitionerServices_Eff_01-01-2025_sample.csv"


def with_reference(reference: str, folder: Path, name: str = "scrub.yml") -> Path:
    """The shipped rule file with another `reference:` section; everything else as written (comments,
    aliases, line order), so tests that edit its text see the shipped text."""
    text, n = re.subn(r"^reference:\n(?:[ \t].*\n)*", lambda _: reference, RULES_FILE.read_text(encoding="utf-8"),
                      count=1, flags=re.M)
    assert n == 1, "the shipped rule file has no reference: section"
    path = Path(folder) / name
    path.write_text(text, encoding="utf-8")
    return path


# The fixture claims date from 2025, before the stored sample quarters (2026 Q3 and Q4): the PTP and MUE
# errors they plant (E04, E05, the N and M claims) are edits of the older hand-written sample tables, which
# these tests give by path, as an organisation gives its own files. The stored quarters are tested in
# tests/test_claims_edits_store.py. No fee schedule quarter covers 2025 either: the rule file's lists
# (minor_procedures, bilateral_codes) stand in for it (pfs_fallback: lists), as the shipped rule file says;
# the fee schedule itself is tested in tests/test_claims_professional.py.
OWN_FILES = (f"reference:\n  ncci_ptp: [{json.dumps(str(OLD_PTP))}]\n"
             f"  mue: [{json.dumps(str(OLD_MUE))}]\n  pfs_fallback: lists\n")
_RULES_DIR = tempfile.mkdtemp(prefix="codegov-test-rules-")
atexit.register(shutil.rmtree, _RULES_DIR, True)
PATH_RULES = with_reference(OWN_FILES, Path(_RULES_DIR))


@functools.lru_cache(maxsize=1)
def fixture_history() -> ReleaseHistory:
    """Small release tables in the store layout: tests/fixtures/claims/releases/<system>/<release>.csv."""
    return ReleaseHistory.from_store(FIXTURES)


def make_scrubber(rules: Path = PATH_RULES, payer_rules=()) -> Scrubber:
    return Scrubber.from_files(rules, list(payer_rules), fixture_history())


def triples(findings: pd.DataFrame) -> list[tuple[str, str, str]]:
    return [tuple(r) for r in findings[["claim_id", "line", "rule"]].itertuples(index=False)]


def claims_csv(tmp_path: Path, lines: list[str], name: str = "claims.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join([HEADER, *lines]) + "\n", encoding="utf-8")
    return path


def clean_lines() -> list[str]:
    return (FIXTURES / "clean.csv").read_text().splitlines()[1:]


def error_claims() -> dict[str, list[str]]:
    """Lines of errors.csv by claim id."""
    out: dict[str, list[str]] = {}
    for line in (FIXTURES / "errors.csv").read_text().splitlines()[1:]:
        out.setdefault(line.split(",")[0], []).append(line)
    return out


EXPECTED = pd.read_csv(FIXTURES / "errors.expected.csv", dtype=str, keep_default_na=False)


def test_clean_file_gives_no_findings():
    assert len(make_scrubber().scrub_file(FIXTURES / "clean.csv")) == 0


def test_errors_file_gives_exactly_the_planted_findings():
    findings = make_scrubber().scrub_file(FIXTURES / "errors.csv")
    assert triples(findings) == [tuple(r) for r in EXPECTED.itertuples(index=False)]
    assert set(findings["severity"]) == {"error", "warning"}
    assert findings.loc[findings["rule"] == "sex-diagnosis", "severity"].tolist() == ["warning"]


PROFESSIONAL = pd.read_csv(FIXTURES / "professional.expected.csv", dtype=str, keep_default_na=False)


def test_every_rule_has_a_planted_error():
    """Here, or in the professional claims file (tests/test_claims_professional.py) for the rules that need the
    fee schedule and add-on edits of a stored quarter (its claims date from 2026 Q3 and Q4)."""
    assert set(EXPECTED["rule"]) | set(PROFESSIONAL["rule"]) == set(RULES)


@pytest.mark.parametrize("rule", sorted(set(EXPECTED["rule"])))
def test_one_planted_error_in_a_clean_file(tmp_path, rule):
    """The clean file plus the claim(s) planted for one rule: exactly that rule's findings."""
    expected = EXPECTED[EXPECTED["rule"] == rule]
    planted = [line for claim in dict.fromkeys(expected["claim_id"]) for line in error_claims()[claim]]
    if rule == "therapy-kx-threshold":  # the threshold is crossed by the patient's earlier claims too
        planted = error_claims()["E08A"] + error_claims()["E08B"] + planted
    findings = make_scrubber().scrub_file(claims_csv(tmp_path, clean_lines() + planted))
    assert triples(findings) == [tuple(r) for r in expected.itertuples(index=False)]


def messages(findings: pd.DataFrame) -> dict[tuple[str, str, str], tuple[str, str]]:
    return {(c, ln, r): (m, f) for c, ln, r, m, f in
            findings[["claim_id", "line", "rule", "message", "fix"]].itertuples(index=False)}


def test_messages_and_fixes_name_the_problem_and_the_replacement():
    m = messages(make_scrubber().scrub_file(FIXTURES / "errors.csv"))
    assert m[("E01", "1", "code-invalid-on-dos")] == (
        "diagnosis G35 is not valid on 2025-11-12: it became a header on 2025-10-01 and needs more characters",
        "replace with G35.A, G35.D")
    assert m[("E04", "2", "ncci-ptp")][0].startswith("97530 billed with 97140 (line 1) on 2025-08-05")
    assert m[("E05", "1", "mue-units")][0] == (
        "97110: 5 units on 2025-08-12 (lines 1, 2) exceed the MUE of 4 (adjudication indicator 3, Clinical: Data)")
    # the CMS method gives the visit's 2 units to the codes by their minutes (20 of 97110, 10 of 97140)
    assert m[("E06", "1", "timed-units-8-minute")] == (
        "97110: 2 units billed on 2025-09-02, but its 20 of the visit's 30 timed minutes support 1 (CMS 8-minute "
        "rule: the visit's timed minutes give its units, shared by each code's minutes)",
        "bill 1 unit of 97110 and 1 unit of 97140 (2 timed units for 30 timed minutes)")
    assert "$3,000.00 in 2025, above the $2,410.00 KX threshold" in m[("E08C", "1", "therapy-kx-threshold")][0]
    assert m[("E13", "1", "malformed-field")] == (
        "date_of_service '2025-02-30' is not a date (YYYY-MM-DD or MM/DD/YYYY)", "")


def line(claim, n, payer, pos, code, mods="", units="1", minutes="", dx="I10", dos="2025-06-03", sex="F",
         patient=None, charge="100.00", npi="1234567893"):
    """One service line; each claim is its own patient's unless `patient` says otherwise (the global period,
    add-on and KX rules compare the claims of a patient)."""
    patient = patient or "P-" + re.sub(r"\W", "", claim)
    return ",".join([claim, str(n), patient, sex, dos, payer, pos, code, mods, units, minutes, charge, dx, npi])


def scrub_lines(tmp_path, lines, **kw) -> list[tuple[str, str, str]]:
    return triples(make_scrubber(**kw).scrub_file(claims_csv(tmp_path, lines)))


def test_code_invalid_on_dos_covers_procedures_diagnoses_and_place_of_service(tmp_path):
    lines = [line("A1", 1, "MEDICARE", "11", "G0283", "GP", dx="E11", dos="2025-06-03"),  # header
             line("A2", 1, "MEDICARE", "11", "99213", dx="G35.A", dos="2025-06-03"),  # not yet effective
             line("A3", 1, "MEDICARE", "27", "99213", dos="2025-06-03"),  # POS not in the release
             line("A4", 1, "MEDICARE", "11", "9921", dos="2025-06-03"),  # not a CPT/HCPCS shape
             line("A5", 1, "MEDICARE", "11", "99213", dx="I10", dos="2024-06-03")]  # no ICD release: skipped
    s = make_scrubber()
    f = s.scrub_file(claims_csv(tmp_path, lines))
    assert triples(f) == [("A1", "1", "code-invalid-on-dos"), ("A2", "1", "code-invalid-on-dos"),
                          ("A3", "1", "code-invalid-on-dos"), ("A4", "1", "code-invalid-on-dos")]
    m = f["message"].tolist()
    assert m[0].endswith("E11 is not valid on 2025-06-03: a header that needs more characters")
    assert f["fix"].iloc[0] == "replace with E11.9"
    assert m[1].endswith("not effective until 2025-10-01")
    assert m[2].startswith("place of service 27 is not valid")
    assert m[3] == "procedure 9921 is not valid on 2025-06-03: not a CPT or HCPCS Level II code"
    assert any("no loaded ICD-10-CM release covers" in n for n in s.notes())


def test_telehealth_rules_follow_the_payer(tmp_path):
    lines = [line("T1", 1, "MEDICARE", "02", "99213"),  # Medicare: POS 02 alone is enough
             line("T2", 1, "ACME_COMMERCIAL", "02", "99213"),  # ACME wants 95 too
             line("T3", 1, "MEDICARE", "10", "20610", "RT", dx="M17.11"),  # not on Medicare's telehealth list
             line("T4", 1, "OTHER_PAYER", "12", "99213", "95")]  # 95 with an in-person POS
    assert scrub_lines(tmp_path, lines) == [("T2", "1", "telehealth-pos-modifier"),
                                            ("T3", "1", "telehealth-pos-modifier"),
                                            ("T4", "1", "telehealth-pos-modifier")]


def test_bilateral_one_line_with_rt_and_lt_and_the_rt_lt_payer(tmp_path):
    lines = [line("B1", 1, "MEDICARE", "11", "20610", "RT LT", dx="M17.11"),
             line("B2", 1, "ACME_COMMERCIAL", "11", "20610", "50", dx="M17.11"),
             line("B3", 1, "MEDICARE", "11", "20610", "RT", dx="M17.11", dos="2025-06-03"),
             line("B3", 2, "MEDICARE", "11", "20610", "LT", dx="M17.11", dos="2025-06-04")]  # other day
    assert scrub_lines(tmp_path, lines) == [("B1", "1", "bilateral-modifier"), ("B2", "1", "bilateral-modifier")]


@pytest.mark.parametrize("mods_b, mods_a, flagged", [
    ("GP", "GP", True), ("GP 59", "GP", False), ("GP XS", "GP", False), ("GP", "GP XE", False),
    ("GP RT", "GP LT", False), ("GP RT", "GP RT", True), ("GP LT", "GP", False),
])
def test_ncci_indicator_1_is_bypassed_by_distinct_or_different_anatomic_modifiers(tmp_path, mods_b, mods_a,
                                                                                   flagged):
    lines = [line("N1", 1, "MEDICARE", "11", "97140", mods_a, "1", "15", dx="M54.50"),
             line("N1", 2, "MEDICARE", "11", "97530", mods_b, "1", "15", dx="M54.50")]
    assert scrub_lines(tmp_path, lines) == ([("N1", "2", "ncci-ptp")] if flagged else [])


def test_ncci_indicator_0_ignores_modifiers_and_dates_bound_the_edit(tmp_path):
    lines = [line("N2", 1, "MEDICARE", "11", "36591", dx="E11.9"),
             line("N2", 2, "MEDICARE", "11", "36415", "59", dx="E11.9"),  # indicator 0: 59 does not help
             line("N3", 1, "MEDICARE", "11", "97116", "GP", "1", "15", dx="M54.50"),  # edit deleted 2021-01-01
             line("N3", 2, "MEDICARE", "11", "97530", "GP", "1", "15", dx="M54.50"),
             line("N4", 1, "MEDICARE", "11", "36591", dx="E11.9", dos="2025-06-03"),  # other date of service
             line("N4", 2, "MEDICARE", "11", "36415", dx="E11.9", dos="2025-06-04")]
    assert scrub_lines(tmp_path, lines) == [("N2", "2", "ncci-ptp")]


def test_mue_line_edit_counts_each_line(tmp_path):
    lines = [line("M1", 1, "MEDICARE", "11", "20610", "50", "3", dx="M17.11"),  # MAI 1, MUE 2
             line("M2", 1, "MEDICARE", "11", "20610", "RT", "2", dx="M17.11"),
             line("M2", 2, "MEDICARE", "11", "20610", "RT", "2", dx="M17.11")]  # 4 in the day, 2 per line: ok
    assert [t for t in scrub_lines(tmp_path, lines) if t[2] == "mue-units"] == [("M1", "1", "mue-units")]


def test_mue_table_in_force_by_date(tmp_path):
    later = tmp_path / "MCR_MUE_PractitionerServices_Eff_07-01-2025.csv"
    later.write_text('"notice",,,\n"HCPCS/\nCPT Code","Practitioner Services MUE Values","MUE Adjudication '
                     'Indicator","MUE Rationale"\n97110,6,"3 Date of Service Edit: Clinical",Clinical: Data\n')
    rules = yaml.safe_load(RULES_FILE.read_text())
    rules["reference"] = {"ncci_ptp": [], "mue": [
        {"path": str(CODESETS / "sample" / "mue" / "MCR_MUE_PractitionerServices_Eff_01-01-2025_sample.csv")},
        {"path": str(later)}]}
    rule_file = tmp_path / "rules.yml"
    rule_file.write_text(yaml.safe_dump(rules))
    lines = [line("U1", 1, "MEDICARE", "11", "97110", "GP", "5", "75", dx="M54.50", dos="2025-06-30"),
             line("U2", 1, "MEDICARE", "11", "97110", "GP", "5", "75", dx="M54.50", dos="2025-07-01")]
    assert scrub_lines(tmp_path, lines, rules=rule_file) == [("U1", "1", "mue-units")]


@pytest.mark.parametrize("minutes, units, flagged", [
    (("7",), ("1",), True), (("8",), ("1",), False), (("22",), ("2",), True), (("23",), ("2",), False),
    (("10", "10"), ("1", "1"), True),  # 20 minutes in total support 1 unit, 2 billed
    (("12", "12"), ("1", "1"), False),  # 24 minutes in total: 2 units
    (("", "30"), ("1", "2"), True),  # minutes missing on a timed line count 0
])
def test_eight_minute_rule_adds_timed_minutes_before_units(tmp_path, minutes, units, flagged):
    codes = ["97110", "97140"]
    lines = [line("R1", i + 1, "MEDICARE", "11", codes[i], "GP", u, m, dx="M54.50")
             for i, (m, u) in enumerate(zip(minutes, units, strict=True))]
    found = [t for t in scrub_lines(tmp_path, lines) if t[2] == "timed-units-8-minute"]
    assert found == ([("R1", "1", "timed-units-8-minute")] if flagged else [])


def test_per_code_payer_checks_each_line(tmp_path):
    lines = [line("R2", 1, "ACME_COMMERCIAL", "11", "97110", "GP", "1", "7", dx="M54.50"),
             line("R2", 2, "ACME_COMMERCIAL", "11", "97140", "GP", "1", "8", dx="M54.50")]
    assert scrub_lines(tmp_path, lines) == [("R2", "1", "timed-units-8-minute")]


def test_gp_rule_is_medicare_only_and_checks_pt_evaluations(tmp_path):
    lines = [line("G1", 1, "ACME_COMMERCIAL", "11", "97110", "", "1", "15", dx="M54.50"),
             line("G2", 1, "MEDICARE", "11", "97161", "GO", dx="M54.50"),
             line("G3", 1, "MEDICARE", "11", "97110", "GO", "1", "15", dx="M54.50")]
    assert scrub_lines(tmp_path, lines) == [("G2", "1", "therapy-gp-modifier")]


def test_kx_threshold_per_patient_year_and_bucket(tmp_path):
    big = "2400.00"
    lines = [line("K1", 1, "MEDICARE", "11", "97110", "GP", "1", "15", dx="M54.50", charge=big, patient="PK"),
             line("K2", 1, "MEDICARE", "11", "97110", "GO", "1", "15", dx="M54.50", charge=big, patient="PK"),
             line("K3", 1, "MEDICARE", "11", "97112", "GP", "1", "15", dx="M54.50", charge="20.00", patient="PK"),
             line("K4", 1, "MEDICARE", "11", "97112", "GP", "1", "15", dx="M54.50", charge="20.00",
                  patient="PK", dos="2026-01-05"),
             line("K5", 1, "MEDICARE", "11", "97112", "GP", "1", "15", dx="M54.50", charge="5000.00",
                  patient="PK", dos="2020-01-05")]  # no threshold for 2020 in the rule file: not checked
    assert scrub_lines(tmp_path, lines) == [("K3", "1", "therapy-kx-threshold")]


def test_em_modifier_25_only_with_a_minor_procedure_on_the_same_claim_and_date(tmp_path):
    lines = [line("V1", 1, "MEDICARE", "11", "99213"), line("V1", 2, "MEDICARE", "11", "36415"),
             line("V2", 1, "MEDICARE", "11", "99214", dos="2025-06-03"),
             line("V2", 2, "MEDICARE", "11", "20610", "RT", dx="M17.11", dos="2025-06-04")]
    assert scrub_lines(tmp_path, lines) == []


def test_sex_diagnosis_checks_every_diagnosis_and_skips_unknown_sex(tmp_path):
    lines = [line("S1", 1, "MEDICARE", "11", "99213", dx="I10;N83.201", sex="M"),
             line("S2", 1, "MEDICARE", "11", "99213", dx="N83.201", sex="U"),
             line("S3", 1, "ACME_COMMERCIAL", "11", "99213", dx="N83.201", sex="m")]
    f = make_scrubber().scrub_file(claims_csv(tmp_path, lines))
    assert triples(f) == [("S1", "1", "sex-diagnosis"), ("S3", "1", "sex-diagnosis")]
    assert f["severity"].tolist() == ["warning", "error"]  # ACME_COMMERCIAL raises it to an error


def test_unknown_modifier_shapes_and_no_fallback_list(tmp_path):
    """A Level II modifier is checked against the HCPCS release in force; on a date no loaded release covers,
    or with no readable date, it is not checked (there is no list to wave it through) and the notes say so."""
    lines = [line("X1", 1, "MEDICARE", "11", "99213", "25 GT"),  # GT: not in the fixture HCPCS release
             line("X2", 1, "MEDICARE", "11", "99213", "2G5"),
             line("X3", 1, "MEDICARE", "11", "99213", "GT", dos="2024-06-03", dx=""),  # no release: not checked
             line("X4", 1, "MEDICARE", "11", "99213", "GP XX", dos="2025-02-30"),  # no date: not checked
             line("X5", 1, "MEDICARE", "11", "99213", "1P 8P"),  # CPT Category II modifiers
             line("X6", 1, "MEDICARE", "11", "99213", "XX", dos="2024-06-03")]  # not checked either
    s = make_scrubber()
    f = s.scrub_file(claims_csv(tmp_path, lines))
    assert triples(f) == [("X1", "1", "unknown-modifier"), ("X2", "1", "unknown-modifier"),
                          ("X3", "1", "missing-diagnosis"), ("X4", "1", "malformed-field")]
    assert f["message"].iloc[0] == ("modifier GT on 99213 (2025-06-03): neither a CPT modifier nor a HCPCS Level II "
                                    "modifier in the release in force")
    assert "not a modifier" in f["message"].iloc[1]
    notes = s.notes()
    assert ("unknown-modifier: 2 Level II modifiers on dates no loaded HCPCS Level II release covers were not "
            "checked") in notes
    assert "unknown-modifier: 2 Level II modifiers on lines with no readable date were not checked" in notes
    assert any(n.startswith("HCPCS Level II releases loaded: 2025-01-01") for n in notes)


@pytest.mark.parametrize("chunk_lines", [None, 1])
def test_kx_totals_follow_the_date_of_service_not_the_file_order(tmp_path, chunk_lines):
    """The later date crosses the threshold, whatever the order of the claims in the file (and its chunks)."""
    lines = [line("K2", 1, "MEDICARE", "11", "97110", "GP", "1", "15", dx="M54.50", charge="1500.00", patient="PK",
                  dos="2025-08-20"),
             line("K1", 1, "MEDICARE", "11", "97110", "GP", "1", "15", dx="M54.50", charge="1000.00", patient="PK",
                  dos="2025-07-10")]
    found = triples(make_scrubber().scrub_file(claims_csv(tmp_path, lines), chunk_lines=chunk_lines))
    assert found == [("K2", "1", "therapy-kx-threshold")]


def test_a_payer_override_with_from_and_to_applies_on_its_dates_only(tmp_path):
    extra = tmp_path / "payers.yml"
    extra.write_text("payers:\n  MEDICARE:\n    sex-diagnosis: [{from: 2024-10-01, enabled: false}]\n"
                     "    missing-diagnosis: [{to: 2024-12-31, severity: warning}, {from: 2025-01-01, to: 2025-06-30, "
                     "enabled: false}]\n")
    lines = [line("S1", 1, "MEDICARE", "11", "99213", dx="N83.201", sex="M", dos="2024-09-30"),
             line("S2", 1, "MEDICARE", "11", "99213", dx="N83.201", sex="M", dos="2024-10-01"),
             line("D1", 1, "MEDICARE", "11", "99213", dx="", dos="2024-12-31"),
             line("D2", 1, "MEDICARE", "11", "99213", dx="", dos="2025-06-30"),
             line("D3", 1, "MEDICARE", "11", "99213", dx="", dos="2025-07-01"),
             line("D4", 1, "MEDICARE", "11", "99213", dx="", dos="2025-02-30")]  # no date: the undated settings
    f = make_scrubber(payer_rules=[extra]).scrub_file(claims_csv(tmp_path, lines))
    assert [(c, r, s) for c, _, r, s in f[["claim_id", "line", "rule", "severity"]].itertuples(index=False)] == [
        ("D1", "missing-diagnosis", "warning"), ("D3", "missing-diagnosis", "error"),
        ("D4", "malformed-field", "error"), ("D4", "missing-diagnosis", "error"), ("S1", "sex-diagnosis", "warning")]
    with pytest.raises(CodegovError, match=r"payers.yml: payers.MEDICARE.sex-diagnosis\[1\]: dates from 2025-01-01 "
                                           r"overlap the override for from 2024-10-01"):
        extra.write_text("payers:\n  MEDICARE:\n    sex-diagnosis: [{from: 2024-10-01, enabled: false}, "
                         "{from: 2025-01-01, severity: error}]\n")
        load_rules(RULES_FILE, [extra])


def test_payer_rules_file_overrides_and_disables(tmp_path):
    extra = tmp_path / "payers.yml"
    extra.write_text("payers:\n  MEDICARE:\n    em-modifier-25: {enabled: false}\n"
                     "    sex-diagnosis: {severity: error, message: 'check {code} ({sex})'}\n")
    lines = error_claims()["E09"] + error_claims()["E10"]
    f = make_scrubber(payer_rules=[extra]).scrub_file(claims_csv(tmp_path, lines))
    assert triples(f) == [("E10", "1", "sex-diagnosis")]
    assert (f["severity"].iloc[0], f["message"].iloc[0]) == ("error", "check N83.201 (M)")


@pytest.mark.parametrize("edit, error", [
    (lambda d: d["rules"].update({"no-such-rule": {}}), "no-such-rule: no such rule"),
    (lambda d: d["rules"]["mue-units"].update(severity="fatal"), "severity must be error or warning"),
    (lambda d: d["rules"]["missing-diagnosis"].update(message="{nope}"), "unknown field(s) nope"),
    (lambda d: d["rules"]["missing-diagnosis"]["params"].update(extra=1), "unknown parameter(s) extra"),
    (lambda d: d["rules"]["em-modifier-25"]["params"].update(em_codes=[99213]), "quoted strings"),
    (lambda d: d["rules"]["bilateral-modifier"]["params"].update(style="both"), "expected one of modifier-50"),
    (lambda d: d["rules"].pop("ncci-ptp"), "rules ncci-ptp are missing"),
    (lambda d: d["payers"]["MEDICARE"].update({"mue-units": {"params": {"x": 1}}}), "unknown parameter(s) x"),
])
def test_rule_file_mistakes_are_one_clear_error(tmp_path, edit, error):
    data = yaml.safe_load(RULES_FILE.read_text())
    edit(data)
    path = tmp_path / "rules.yml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CodegovError, match="rules.yml") as exc:
        load_rules(path)
    assert error in str(exc.value)


def test_code_ranges_expand():
    assert expand_codes(["99202-99205", "G0438-G0439", "97161"], "x") == {
        "99202", "99203", "99204", "99205", "G0438", "G0439", "97161"}
    with pytest.raises(CodegovError, match="same shape"):
        expand_codes(["99205-9920"], "x")


def test_the_rule_file_documents_every_rule_and_the_cms_sources():
    text = RULES_FILE.read_text()
    ruleset = load_rules(RULES_FILE)
    assert list(ruleset.rules) == list(RULES)
    assert all(s.doc and s.message and s.title for s in ruleset.rules.values())
    assert "Medicare NCCI Procedure to" in text and "Medically Unlikely Edits (MUEs)" in text
    assert ruleset.rules["therapy-kx-threshold"].params["thresholds"][2024] == 2330
    assert ruleset.rules["therapy-kx-threshold"].params["thresholds"][2025] == 2410


def test_rule_pages_are_generated_from_the_rule_file():
    pages = rule_pages(load_rules(RULES_FILE))
    assert set(pages) == {"index.md"} | {f"{r}.md" for r in RULES}
    for rule_id in RULES:
        assert f"[`{rule_id}`]({rule_id}.md)" in pages["index.md"]
        assert pages[f"{rule_id}.md"].startswith(f"# `{rule_id}`")
    assert "| MEDICARE | all dates | `enabled` | `True` |" in pages["therapy-gp-modifier.md"]


def test_render_formats():
    findings = make_scrubber().scrub_file(FIXTURES / "errors.csv")
    csv_text = render(findings, "csv")
    assert pd.read_csv(io.StringIO(csv_text), dtype=str, keep_default_na=False).shape == (len(findings), 7)
    import json

    data = json.loads(render(findings, "json"))
    assert data["summary"]["findings"] == len(findings) and data["summary"]["warnings"] == 1
    assert data["findings"][0] == {k: (int(v) if k == "row" else v) for k, v in findings.iloc[0].items()}
    md = render(findings, "md")
    assert md.startswith("# Claim scrub findings") and "| E04 | 2 | ncci-ptp | error |" in md
    assert render(findings.iloc[:0], "md").count("|") == 0


def test_markdown_findings_escape_what_a_claims_file_holds():
    """A claims file is outside input: a claim id or message cannot become a link, HTML or a new cell in the
    Markdown findings (the one escaper, playbooks.text.md_cell, as in the PR body and the site)."""
    findings = make_scrubber().scrub_file(FIXTURES / "errors.csv").iloc[:1].copy()
    findings["claim_id"] = "[x](https://evil.example)<img src=x>|`y`"
    findings["message"] = "line one\nline two *starred*"
    md = render(findings, "md")
    row = md.splitlines()[-1]
    assert row.startswith("| \\[x\\](https://evil.example)&lt;img src=x&gt;\\|\\`y\\` | ")
    assert "| line one line two \\*starred\\* |" in row
    assert row.count(" | ") == 5  # six cells, the escaped bar inside the first one
