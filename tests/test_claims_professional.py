"""Professional claims against the fee schedule and add-on code edits in force (issue #15): global periods (25,
57, 24, 58/78/79) across the claims of a patient, add-on codes and their primaries, bilateral and PC/TC
indicators, the NCCI-associated modifiers, the CMS 8-minute method per code, KX totals in date order, dated
payer rules (Medicare telehealth), POS and modifier validity by date, and lines no quarter covers.

The stored quarters: the sample NCCI PTP and MUE quarters (2026 Q3, Q4) and hand-written PFS and add-on
quarters in the CMS layouts (tests/fixtures/claims/edits: PFS 2026 C and D, AOC 2026 Q3 and Q4), ingested
with ingest.build_edits.ingest_edit_releases into one releases folder with the fixture code sets. Each case is
a claim of tests/fixtures/claims/professional.csv, with its exact findings in professional.expected.csv.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from claims.rules import RULES, load_rules, rule_pages
from claims.scrub import Scrubber
from ingest.edits import EditTables
from ingest.model import CodegovError
from tests.conftest import SAMPLE
from tests.test_claims_edits_store import ingest_sample_edits
from tests.test_claims_rules import (
    FIXTURES,
    RULES_FILE,
    claims_csv,
    clean_lines,
    fixture_history,
    line,
    triples,
    with_reference,
)

PROFESSIONAL = FIXTURES / "professional.csv"
EXPECTED = pd.read_csv(FIXTURES / "professional.expected.csv", dtype=str, keep_default_na=False)
IN_FORCE = "reference:\n  ptp: in-force\n  mue: in-force\n  pfs: in-force\n  aoc: in-force\n"
# the rules the fee schedule and add-on edits drive, whose findings these tests look at
FEE_RULES = ("em-modifier-25", "em-global-period", "procedure-global-period", "addon-code-primary",
             "bilateral-modifier", "pctc-modifier")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("professional") / "releases"
    shutil.copytree(FIXTURES / "releases", out)
    ingest_sample_edits(out, systems=("ptp", "mue"))
    return ingest_sample_edits(out, mirror=FIXTURES / "edits", systems=("pfs", "aoc"))


def scrubber(store: Path, folder: Path, reference: str = IN_FORCE, payer_rules=()) -> Scrubber:
    rules = with_reference(reference, folder, "professional.yml")
    return Scrubber.from_files(rules, list(payer_rules), fixture_history(), EditTables(store))


def expected(claims=None) -> list[tuple[str, str, str]]:
    rows = [tuple(r) for r in EXPECTED.itertuples(index=False)]
    return [r for r in rows if claims is None or r[0] in claims]


def professional_claims() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for text in PROFESSIONAL.read_text().splitlines()[1:]:
        out.setdefault(text.split(",")[0], []).append(text)
    return out


def found(s: Scrubber, path: Path, rules=None, **kw) -> list[tuple[str, str, str]]:
    return [t for t in triples(s.scrub_file(path, **kw)) if rules is None or t[2] in rules]


@pytest.mark.parametrize("chunk_lines", [None, 1, 7])
def test_the_professional_file_gives_exactly_the_planted_findings(tmp_path, store, chunk_lines):
    """In any chunking: the rules across the claims of a patient see the whole file."""
    s = scrubber(store, tmp_path)
    f = s.scrub_file(PROFESSIONAL, chunk_lines=chunk_lines)
    assert triples(f) == expected()
    severity = dict(zip(triples(f), f["severity"], strict=True))
    assert severity[("PA02", "1", "addon-code-primary")] == "warning"  # edit type 3
    assert {v for k, v in severity.items() if k[0] != "PA02"} == {"error"}


def test_the_clean_file_gives_none_with_the_fee_schedule_in_force(tmp_path, store):
    s = scrubber(store, tmp_path)
    assert triples(s.scrub_file(FIXTURES / "clean.csv")) == []
    assert triples(s.scrub_file(FIXTURES / "clean.csv", chunk_lines=3)) == []


@pytest.mark.parametrize("rule", sorted(set(EXPECTED["rule"])))
def test_each_planted_case_alone_in_the_clean_file(tmp_path, store, rule):
    want = [t for t in expected() if t[2] == rule]
    claims = professional_claims()
    patients = {c.split(",")[2] for k in dict.fromkeys(t[0] for t in want) for c in claims[k]}
    # a case is its claims and every claim of the same patients (the surgery of a post-operative visit)
    planted = [text for lines in claims.values() for text in lines if text.split(",")[2] in patients]
    f = scrubber(store, tmp_path).scrub_file(claims_csv(tmp_path, clean_lines() + planted))
    assert [t for t in triples(f) if t[2] == rule] == want
    assert {t[0] for t in triples(f)} <= {text.split(",")[0] for text in planted}


def messages(s: Scrubber, path: Path) -> dict[tuple[str, str, str], tuple[str, str]]:
    f = s.scrub_file(path)
    return {(c, ln, r): (m, x) for c, ln, r, m, x in f[["claim_id", "line", "rule", "message", "fix"]].itertuples(
        index=False)}


def test_messages_and_fixes_say_what_cms_says(tmp_path, store):
    m = messages(scrubber(store, tmp_path), PROFESSIONAL)
    assert m[("PG02A", "1", "em-modifier-25")] == (
        "E/M 99214 on 2026-07-08 with minor procedure 17000 (claim PG02B) and no modifier 25",
        "append 25 to 99214 if the visit was significant and separately identifiable, else do not bill it")
    assert m[("PG04A", "1", "em-global-period")][0] == (
        "E/M 99222 on 2026-07-19: the day before major surgery 27447 (claim PG04B line 1, global period 090) and "
        "no modifier 57")
    assert m[("PG04A", "1", "em-global-period")][1].startswith("append 57 to 99222 if this visit was the decision")
    assert m[("PG04C", "1", "em-global-period")][0] == (
        "E/M 99213 on 2026-08-10: in the 90-day post-operative period of 27447 on 2026-07-20 (claim PG04B line 1) "
        "and no modifier 24")
    assert "25 is for the day of a minor procedure; the decision for major surgery takes 57" in m[
        ("PG05", "1", "em-global-period")][0]
    assert m[("PG06B", "1", "em-global-period")][0].startswith("E/M 99213 on 2026-07-12: in the 10-day "
                                                               "post-operative period of 17000")
    assert m[("PG04D", "1", "procedure-global-period")][0] == (
        "20610 on 2026-08-24 falls in the 90-day post-operative period of 27447 on 2026-07-20 (claim PG04B line 1) "
        "without modifier 58, 78 or 79")
    assert m[("PA01", "1", "addon-code-primary")][0] == (
        "add-on code 11045 on 2026-07-14 has none of its primary codes (11042) for the patient on that date: edit "
        "type 1: paid only with one of the listed primaries")
    # 99215 stopped being a primary of 99417 on 2026-10-01 (the Q4 file's deletion date)
    assert "99417 on 2026-10-05 has none of its primary codes (99205)" in m[("PA05", "2", "addon-code-primary")][0]
    assert m[("PB01", "1", "bilateral-modifier")] == (
        "77067 on 2026-07-16: modifier 50 on a code that is bilateral by definition (bilateral surgery indicator 2)",
        "bill 77067 once, without 50, RT or LT: its payment already covers both sides")
    assert m[("PB02", "1", "bilateral-modifier")][1] == "bill 73560 on two lines, one with RT and one with LT"
    assert m[("PB03", "1", "bilateral-modifier")] == (
        "27447 on 2026-07-16: billed for both sides on two lines (RT line 1, LT line 2) without modifier 50",
        "bill 27447 once with modifier 50 instead of RT and LT lines")
    assert m[("PP01", "1", "pctc-modifier")] == (
        "93010 on 2026-07-17: modifier 26 does not apply to a professional-component-only code (PC/TC indicator 2)",
        "remove 26: 93010 is itself the professional component")
    assert m[("PP05", "1", "pctc-modifier")][0].endswith("26 and TC on one line: a line bills one component, or the "
                                                         "global service with neither (PC/TC indicator 1)")
    # never "put 59 on the E/M": 59 on an E/M is itself the finding, and the fix is 25 on the E/M
    assert m[("PM01", "1", "ncci-modifier-use")] == (
        "99213 on 2026-07-22: modifier 59 is not used on an E/M visit (NCCI)",
        "remove 59 from 99213; an E/M billed with a procedure on the same day takes 25 when it was significant and "
        "separately identifiable (57 when it was the decision for major surgery)")
    assert "59 and XS on one line" in m[("PM04", "1", "ncci-modifier-use")][0]
    assert "not practitioner claims" in m[("PM05", "1", "ncci-modifier-use")][0]
    assert "billed once on this claim and date" in m[("PM06", "1", "ncci-modifier-use")][0]
    # the CMS example: 33 minutes of 97110 and 7 of 97140 are 2 units of 97110 and 1 of 97140
    assert m[("PT01", "1", "timed-units-8-minute")] == (
        "97110: 3 units billed on 2026-07-23, but its 33 of the visit's 40 timed minutes support 2 (CMS 8-minute "
        "rule: the visit's timed minutes give its units, shared by each code's minutes)",
        "bill 2 units of 97110 and 1 unit of 97140 (3 timed units for 40 timed minutes)")
    assert m[("PT03", "1", "timed-units-8-minute")][1] == "bill 1 unit of 97129 (1 timed unit for 20 timed minutes)"
    assert "reach $2,500.00 in 2026, above the $2,480.00 KX threshold" in m[("PK2", "1", "therapy-kx-threshold")][0]
    assert m[("PH01", "1", "telehealth-pos-modifier")][0] == (
        "99213 on 2023-06-06: telehealth POS 02, but on this date the payer wants the place of service of the "
        "in-person visit with modifier 95")
    assert m[("PS01", "1", "code-invalid-on-dos")][0] == (
        "place of service 10 is not valid on 2021-11-01: not effective until 2022-01-01")


def pg(claim, n, code, dos, mods="", patient="QX", npi="1234567893", payer="MEDICARE", pos="11", units="1",
       minutes="", charge="100.00"):
    return line(claim, n, payer, pos, code, mods, units, minutes, dx="I10", dos=dos, patient=patient,
                charge=charge, npi=npi)


@pytest.mark.parametrize("visit_dos, visit_mods, flagged", [
    ("2026-07-19", "", True), ("2026-07-19", "57", False),  # the day before major surgery
    ("2026-07-20", "", True), ("2026-07-20", "25", True), ("2026-07-20", "57", False),  # the day of
    ("2026-07-18", "", False),  # two days before: not in the global period
    ("2026-07-21", "", True), ("2026-10-18", "", True), ("2026-10-19", "", False),  # days 1, 90, 91 after
    ("2026-08-03", "24", False), ("2026-08-03", "57", True),  # post-operative: 24, not 57
])
def test_major_surgery_global_period(tmp_path, store, visit_dos, visit_mods, flagged):
    lines = [pg("S1", 1, "27447", "2026-07-20", pos="21"), pg("V1", 1, "99213", visit_dos, visit_mods)]
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), ["em-global-period"])
    assert got == ([("V1", "1", "em-global-period")] if flagged else [])


def test_global_periods_match_the_patient_and_the_provider_when_both_name_one(tmp_path, store):
    lines = [pg("A1", 1, "99213", "2026-08-04", patient="QA"), pg("A2", 1, "11102", "2026-08-04", patient="QA"),
             pg("B1", 1, "99213", "2026-08-04", patient="QB"), pg("B2", 1, "11102", "2026-08-04", patient="QC"),
             pg("C1", 1, "99213", "2026-08-04", patient="QD", npi="1111111112"),
             pg("C2", 1, "11102", "2026-08-04", patient="QD"),  # another provider: its own visit
             pg("D1", 1, "99213", "2026-08-04", patient="QE", npi=""),
             pg("D2", 1, "11102", "2026-08-04", patient="QE")]  # no provider on one line: the patient decides
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), FEE_RULES)
    assert got == [("A1", "1", "em-modifier-25"), ("D1", "1", "em-modifier-25")]


def test_the_fee_schedule_quarter_in_force_decides_the_global_days(tmp_path, store):
    """17110 has 010 global days in the July 2026 quarter, 000 from the October one: a visit 5 days after it
    is in its post-operative period only in July."""
    lines = [pg("J1", 1, "17110", "2026-07-06", patient="QJ"), pg("J2", 1, "99213", "2026-07-11", patient="QJ"),
             pg("O1", 1, "17110", "2026-10-06", patient="QO"), pg("O2", 1, "99213", "2026-10-11", patient="QO"),
             pg("P1", 1, "99213", "2026-10-12", patient="QP"), pg("P1", 2, "17110", "2026-10-12", patient="QP")]
    assert found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), FEE_RULES) == [
        ("J2", "1", "em-global-period"), ("P1", "1", "em-modifier-25")]
    pinned = scrubber(store, tmp_path, IN_FORCE.replace("pfs: in-force", "pfs: 2026-C"))
    assert found(pinned, claims_csv(tmp_path, lines), FEE_RULES) == [
        ("J2", "1", "em-global-period"), ("O2", "1", "em-global-period"), ("P1", "1", "em-modifier-25")]


def test_procedures_in_a_post_operative_period(tmp_path, store):
    lines = [pg("S1", 1, "29881", "2026-07-01", pos="21"),
             pg("S2", 1, "20610", "2026-07-02", "RT"),  # day 1 after: needs 58, 78 or 79
             pg("S3", 1, "20610", "2026-07-09", "79 RT"), pg("S4", 1, "20610", "2026-07-10", "58"),
             pg("S5", 1, "71045", "2026-07-03"),  # a diagnostic test (XXX) is not in the package
             pg("S6", 1, "11045", "2026-07-04"), pg("S6", 2, "11042", "2026-07-04", "78"),  # the add-on rides along
             pg("S7", 1, "20610", "2026-09-30")]  # day 91
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), ["procedure-global-period"])
    assert got == [("S2", "1", "procedure-global-period")]


def test_add_on_codes_and_their_primaries_across_claims_of_the_day(tmp_path, store):
    lines = [pg("A1", 1, "99291", "2026-07-15", patient="QA"), pg("A2", 1, "99292", "2026-07-15", patient="QA"),
             pg("B1", 1, "99291", "2026-07-15", patient="QB"), pg("B2", 1, "99292", "2026-07-16", patient="QB"),
             pg("C1", 1, "11045", "2026-07-15", patient="QC"), pg("C1", 2, "11102", "2026-07-15", patient="QC"),
             pg("D1", 1, "97546", "2026-07-15", patient="QD"),  # type 2: the contractor decides
             pg("E1", 1, "99417", "2026-09-30", patient="QE"), pg("E1", 2, "99215", "2026-09-30", patient="QE")]
    s = scrubber(store, tmp_path)
    assert found(s, claims_csv(tmp_path, lines), ["addon-code-primary"]) == [
        ("B2", "1", "addon-code-primary"), ("C1", "1", "addon-code-primary")]
    assert found(s, claims_csv(tmp_path, lines), ["addon-code-primary"], chunk_lines=1) == [
        ("B2", "1", "addon-code-primary"), ("C1", "1", "addon-code-primary")]
    severity = scrubber(store, tmp_path, payer_rules=[_payers(tmp_path, "addon-code-primary: {params: "
                                                                        "{type3_severity: error}}")])
    f = severity.scrub_file(claims_csv(tmp_path, [pg("T1", 1, "96376", "2026-07-15")]))
    assert triples(f) == [("T1", "1", "addon-code-primary")] and f["severity"].tolist() == ["error"]


@pytest.mark.parametrize("mods, code, other, flagged", [
    ("50", "20610", "", False), ("50", "77067", "", True), ("", "77067", "", False), ("50", "73560", "", True),
    ("RT", "73560", "LT", False), ("RT", "77067", "LT", True), ("RT", "20610", "LT", True), ("50", "99213", "", True),
    ("50", "G0283", "", False),  # not on the fee schedule: no indicator, nothing to say
])
def test_bilateral_indicators(tmp_path, store, mods, code, other, flagged):
    lines = [pg("B1", 1, code, "2026-07-16", mods)] + ([pg("B1", 2, code, "2026-07-16", other)] if other else [])
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), ["bilateral-modifier"])
    assert bool(got) == flagged


@pytest.mark.parametrize("code, mods, flagged", [
    ("71045", "26", False), ("71045", "TC", False), ("71045", "26 TC", True), ("93010", "26", True),
    ("93010", "TC", True), ("93005", "TC", True), ("93000", "26", True), ("97110", "GP TC", True),
    ("99213", "26", True), ("99213", "", False),
])
def test_pctc_indicators(tmp_path, store, code, mods, flagged):
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, [pg("P1", 1, code, "2026-07-17", mods)]),
                ["pctc-modifier"])
    assert bool(got) == flagged


@pytest.mark.parametrize("code, mods, flagged", [
    ("99213", "25", False), ("99396", "25", False), ("99222", "57", False), ("11102", "57", True),
    ("99213", "24", False), ("20610", "24", True), ("20610", "79", False), ("99213", "58", True),
    ("99213", "XU", True), ("20610", "XU", False), ("20610", "59 XE", True), ("99304", "27", True),
    ("85025", "91", True), ("80053", "91", True), ("99213", "1P", False),
])
def test_ncci_associated_modifiers_on_the_codes_they_apply_to(tmp_path, store, code, mods, flagged):
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, [pg("M1", 1, code, "2026-07-22", mods)]),
                ["ncci-modifier-use"])
    assert bool(got) == flagged


def test_modifier_91_on_a_repeated_test_and_27_in_the_hospital_setting(tmp_path, store):
    lines = [pg("L1", 1, "85025", "2026-07-22"), pg("L1", 2, "85025", "2026-07-22", "91"),
             pg("L2", 1, "85025", "2026-07-22", "91", units="2"), pg("H1", 1, "99213", "2026-07-22", "27"),
             pg("H2", 1, "20610", "2026-07-22", "27")]
    s = scrubber(store, tmp_path)
    assert found(s, claims_csv(tmp_path, lines), ["ncci-modifier-use"]) == [
        ("H1", "1", "ncci-modifier-use"), ("H2", "1", "ncci-modifier-use")]
    hospital = scrubber(store, tmp_path, "reference:\n  ptp: in-force\n  mue: in-force\n  setting: hospital\n")
    assert found(hospital, claims_csv(tmp_path, lines), ["ncci-modifier-use"]) == [("H2", "1", "ncci-modifier-use")]


def own_ptp(tmp_path: Path) -> Path:
    """A practitioner PTP part in the CMS layout with an E/M as column 2 of a procedure (indicator 1)."""
    lines = (SAMPLE / "ncci" / "ccipra-sample-f1.txt").read_text(encoding="cp1252").splitlines(keepends=True)
    head = "".join(lines[:next(i for i, t in enumerate(lines) if t[:5].isdigit())])  # the header lines
    path = tmp_path / "ccipra-v322r0-f1.txt"
    path.write_bytes((head + "20610\t99213\t\t20000101\t*\t1\tStandards of medical / surgical practice\r\n"
                      "20610\t20611\t\t20000101\t*\t1\tMutually exclusive procedures\r\n").encode("cp1252"))
    return path


@pytest.mark.parametrize("em_mods, proc_mods, flagged", [
    ("", "", True), ("25", "", False), ("57", "", False), ("59", "", True), ("", "59", True), ("", "XS", True),
    ("XU", "", True),
])
def test_ptp_with_an_em_is_bypassed_by_25_on_the_em_never_by_59(tmp_path, store, em_mods, proc_mods, flagged):
    ref = f"reference:\n  ptp: [{json.dumps(str(own_ptp(tmp_path)))}]\n  mue: in-force\n"
    lines = [pg("E1", 1, "20610", "2026-07-22", proc_mods), pg("E1", 2, "99213", "2026-07-22", em_mods)]
    f = scrubber(store, tmp_path, ref).scrub_file(claims_csv(tmp_path, lines))
    ptp = f[f["rule"] == "ncci-ptp"]
    assert bool(len(ptp)) == flagged
    if flagged:
        assert ptp["message"].iloc[0].endswith("modifier indicator 1: no modifier 25 (or 57) on the E/M 99213")
        assert ptp["fix"].iloc[0] == ("if the E/M 99213 was significant and separately identifiable from the "
                                      "procedure, append 25 to it (57 if it was the decision for major surgery); "
                                      "otherwise remove 99213")
        assert "59" not in ptp["fix"].iloc[0]


def test_ptp_between_procedures_still_takes_59_or_an_x_modifier(tmp_path, store):
    ref = f"reference:\n  ptp: [{json.dumps(str(own_ptp(tmp_path)))}]\n  mue: in-force\n"
    lines = [pg("P1", 1, "20610", "2026-07-22"), pg("P1", 2, "20611", "2026-07-22"),
             pg("P2", 1, "20610", "2026-07-22", patient="QY"), pg("P2", 2, "20611", "2026-07-22", "XS", patient="QY")]
    f = scrubber(store, tmp_path, ref).scrub_file(claims_csv(tmp_path, lines))
    ptp = f[f["rule"] == "ncci-ptp"]
    assert triples(ptp) == [("P1", "2", "ncci-ptp")]
    assert ptp["fix"].iloc[0].startswith("if 20611 was a distinct service, append 59 or XE/XS/XP/XU")


@pytest.mark.parametrize("minutes, units, flagged_lines", [
    (("33", "7"), ("2", "1"), []),  # the CMS example: 40 minutes, 3 units, 2 of 97110 and 1 of 97140
    (("33", "7"), ("3", "0"), ["1"]),  # 97110 over its share (the 97140 line not billed)
    (("33", "7"), ("1", "2"), ["2"]),  # 97140 over its share
    (("20", "20"), ("2", "1"), []), (("20", "20"), ("1", "2"), []),  # equal minutes left: either takes the unit
    (("20", "20"), ("2", "2"), ["1"]),  # 4 units for 40 minutes: the visit (no code over its own share)
    (("7", "8"), ("1", "1"), ["1"]),  # 15 minutes: one unit, to the code with the most minutes (97140)
    (("5", "2"), ("1", "1"), ["1", "2"]),  # under 8 minutes in all: no unit, each code is over its share
])
def test_the_cms_8_minute_method_assigns_the_units_by_code(tmp_path, store, minutes, units, flagged_lines):
    codes = ["97110", "97140"]
    lines = [pg("T1", k + 1, codes[k], "2026-07-23", "GP", units=u, minutes=mn)
             for k, (mn, u) in enumerate(zip(minutes, units, strict=True)) if u != "0"]
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), ["timed-units-8-minute"])
    assert [ln for _, ln, _ in got] == flagged_lines


def test_kx_totals_run_in_date_of_service_order_not_file_order(tmp_path, store):
    lines = [pg("K3", 1, "97110", "2026-09-01", "GP", patient="QK", minutes="15", charge="100.00"),
             pg("K2", 1, "97110", "2026-08-20", "GP", patient="QK", minutes="15", charge="1500.00"),
             pg("K1", 1, "97110", "2026-07-10", "GP", patient="QK", minutes="15", charge="1000.00"),
             pg("K4", 1, "97110", "2026-09-02", "GP KX", patient="QK", minutes="15", charge="100.00")]
    s = scrubber(store, tmp_path)
    for chunk_lines in (None, 1):  # K1 crosses nothing; K2 (2,500) crosses 2,480; K3 after it needs KX too
        got = found(s, claims_csv(tmp_path, lines), ["therapy-kx-threshold"], chunk_lines=chunk_lines)
        assert got == [("K2", "1", "therapy-kx-threshold"), ("K3", "1", "therapy-kx-threshold")]


def test_medicare_telehealth_is_checked_by_the_rule_of_its_date(tmp_path, store):
    lines = [pg("T1", 1, "99213", "2019-06-04", pos="02"),  # before the public health emergency: POS 02
             pg("T2", 1, "99213", "2021-06-01", pos="02"),  # PHE: in-person POS with 95 wanted
             pg("T3", 1, "99213", "2023-12-31", mods="95"), pg("T4", 1, "99213", "2023-12-31", mods="95", pos="02"),
             pg("T5", 1, "99213", "2024-01-01", pos="10"), pg("T6", 1, "99213", "2024-01-01", mods="95"),
             pg("T7", 1, "20610", "2022-03-01", mods="95")]  # not on the telehealth list
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), ["telehealth-pos-modifier"])
    assert got == [("T2", "1", "telehealth-pos-modifier"), ("T4", "1", "telehealth-pos-modifier"),
                   ("T6", "1", "telehealth-pos-modifier"), ("T7", "1", "telehealth-pos-modifier")]


def test_pos_validity_follows_the_pos_history_by_date(tmp_path, store):
    lines = [pg("P1", 1, "99213", "2021-11-01", "95", pos="10", payer="ACME_COMMERCIAL"),
             pg("P2", 1, "99213", "2022-01-01", "95", pos="10", payer="ACME_COMMERCIAL"),
             pg("P3", 1, "99213", "2026-07-01", pos="21")]
    got = found(scrubber(store, tmp_path), claims_csv(tmp_path, lines), ["code-invalid-on-dos"])
    assert got == [("P1", "1", "code-invalid-on-dos")]


def test_level2_modifiers_are_checked_on_the_release_in_force_or_not_at_all(tmp_path, store):
    lines = [pg("M1", 1, "71045", "2026-07-17", "TC"), pg("M2", 1, "20610", "2026-07-17", "ZZ"),
             pg("M3", 1, "20610", "2024-07-17", "ZZ"), pg("M4", 1, "99213", "2026-07-17", "2P 3P")]
    s = scrubber(store, tmp_path)
    assert found(s, claims_csv(tmp_path, lines), ["unknown-modifier"]) == [("M2", "1", "unknown-modifier")]
    assert ("unknown-modifier: 1 Level II modifiers on dates no loaded HCPCS Level II release covers were not "
            "checked") in s.notes()


def test_lines_no_fee_schedule_quarter_covers_are_not_checked_unless_the_rule_file_names_lists(tmp_path, store):
    lines = [pg("N1", 1, "99213", "2025-06-03"), pg("N1", 2, "20610", "2025-06-03", "50"),
             pg("N2", 1, "71045", "2025-06-03", "26 TC")]
    s = scrubber(store, tmp_path)
    assert found(s, claims_csv(tmp_path, lines), FEE_RULES) == []
    notes = s.notes()
    assert "em-modifier-25: 2 lines on dates no stored PFS quarter covers were not checked" in notes
    assert "bilateral-modifier: 1 lines on dates no stored PFS quarter covers were not checked" in notes
    assert "pctc-modifier: 1 lines on dates no stored PFS quarter covers were not checked" in notes
    assert "PFS quarters stored: 2026 C (July), 2026 D (October), in force 2026-07-01 to 2027-01-28" in notes
    lists = scrubber(store, tmp_path, IN_FORCE + "  pfs_fallback: lists\n")
    assert found(lists, claims_csv(tmp_path, lines), FEE_RULES) == [("N1", "1", "em-modifier-25")]
    notes = lists.notes()
    assert ("em-modifier-25: 2 lines on dates no stored PFS quarter covers were checked against the rule file's "
            "code lists (reference.pfs_fallback: lists)") in notes
    assert "pctc-modifier: 1 lines on dates no stored PFS quarter covers were not checked" in notes  # no list


def _payers(tmp_path: Path, body: str, name: str = "payers.yml", payer: str = "MEDICARE") -> Path:
    path = tmp_path / name
    path.write_text(f"payers:\n  {payer}:\n    {body}\n")
    return path


def test_a_dated_payer_override_applies_on_its_dates_only(tmp_path, store):
    """Sex edits stay configurable warnings: a payer that dropped its own sex edit on 2024-10-01 (as the MCE's is
    reported deactivated then) says so with a dated override."""
    extra = _payers(tmp_path, "sex-diagnosis: [{from: 2024-10-01, enabled: false}]")
    lines = [line("S1", 1, "MEDICARE", "11", "99213", dx="N83.201", sex="M", dos="2024-09-30"),
             line("S2", 1, "MEDICARE", "11", "99213", dx="N83.201", sex="M", dos="2024-10-01"),
             line("S3", 1, "ACME_COMMERCIAL", "11", "99213", dx="N83.201", sex="M", dos="2024-10-01")]
    f = scrubber(store, tmp_path, payer_rules=[extra]).scrub_file(claims_csv(tmp_path, lines))
    sex = f[f["rule"] == "sex-diagnosis"]
    assert triples(sex) == [("S1", "1", "sex-diagnosis"), ("S3", "1", "sex-diagnosis")]
    assert sex["severity"].tolist() == ["warning", "error"]


def test_dated_overrides_layer_on_the_undated_one_and_merge_across_files(tmp_path):
    extra = _payers(tmp_path, "telehealth-pos-modifier: {from: 2020-03-01, to: 2023-12-31, params: "
                              "{eligible_codes: ['99213']}}")
    ruleset = load_rules(RULES_FILE, [extra])
    entries = ruleset.payers["MEDICARE"]["telehealth-pos-modifier"]
    assert [p.text() for p, _ in entries] == ["all dates", "2020-03-01 to 2023-12-31", "from 2024-01-01"]
    phe = [p for p, _ in entries][1]
    s = ruleset.settings("telehealth-pos-modifier", "MEDICARE", phe)
    assert s.params["style"] == "in-person-pos" and s.params["eligible_codes"] == {"99213"}
    assert s.params["require_modifier"] is False  # from the undated override
    page = rule_pages(ruleset)["telehealth-pos-modifier.md"]
    assert "| MEDICARE | 2020-03-01 to 2023-12-31 | `params.style` | `in-person-pos` |" in page
    assert "| MEDICARE | from 2024-01-01 | `params.style` | `telehealth-pos` |" in page


@pytest.mark.parametrize("body, error", [
    ("sex-diagnosis: [{from: 2024-01-01, enabled: false}, {from: 2024-06-01, to: 2024-12-31, severity: error}]",
     r"payers.MEDICARE.sex-diagnosis\[1\]: dates 2024-06-01 to 2024-12-31 overlap the override for from 2024-01-01"),
    ("sex-diagnosis: {from: 2024-06-01, to: 2024-01-01}",
     r"payers.MEDICARE.sex-diagnosis: to \(2024-01-01\) is before from \(2024-06-01\)"),
    ("sex-diagnosis: {from: 'June 2024'}", r"payers.MEDICARE.sex-diagnosis.from: expected a date YYYY-MM-DD"),
    ("sex-diagnosis: [oops]", r"payers.MEDICARE.sex-diagnosis\[0\]: expected a mapping"),
    ("sex-diagnosis: {from: 2024-06-01, severity: fatal}",
     r"payers.MEDICARE.sex-diagnosis: severity must be error or warning"),
])
def test_dated_override_mistakes_are_one_error_naming_the_file(tmp_path, body, error):
    with pytest.raises(CodegovError, match=rf"payers.yml: {error}"):
        load_rules(RULES_FILE, [_payers(tmp_path, body)])


def test_reference_pfs_and_aoc_mistakes(tmp_path, store):
    for ref, error in [("reference:\n  pfs: [a.csv]\n", r"reference.pfs: expected `in-force` or a stored quarter"),
                       ("reference:\n  pfs_fallback: maybe\n", r"reference.pfs_fallback: expected not-checked")]:
        with pytest.raises(CodegovError, match=error):
            load_rules(with_reference(ref, tmp_path))
    with pytest.raises(CodegovError, match=r"reference.pfs: 2031-A is not a stored PFS RVUs quarter"):
        scrubber(store, tmp_path, IN_FORCE.replace("pfs: in-force", "pfs: 2031-A"))


def test_rule_pages_explain_each_edit_with_its_source():
    pages = rule_pages(load_rules(RULES_FILE))
    for rule_id in RULES:
        assert "Source: " in pages[f"{rule_id}.md"], rule_id
    assert "Pub. 100-04 (Claims Processing Manual) ch. 5, section 20.2" in pages["timed-units-8-minute.md"]
    assert "NCCI Policy Manual for Medicare Services, ch. I" in pages["ncci-modifier-use.md"]
    assert "BILAT SURG" in pages["bilateral-modifier.md"] and "PCTC IND" in pages["pctc-modifier.md"]
    assert "edit types 1, 2 and 3" in pages["addon-code-primary.md"]
    assert "reported deactivated from 2024-10-01" in pages["sex-diagnosis.md"]
    assert "checked per: patient (and provider) across the claims of the file" in pages["em-global-period.md"]
