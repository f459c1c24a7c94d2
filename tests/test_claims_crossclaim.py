"""Edits across claims (issue #15): NCCI PTP edits and date-of-service MUEs (adjudication indicators 2 and 3) per
beneficiary, rendering provider and date of service, whatever claims the lines are on and wherever they are in
the file (claims.partition groups the file by patient); MUE indicator 1 per line. And a file shuffled out of
claim order, its claims split over partition and read-block boundaries, gives the same findings.

The stored quarters are the sample NCCI quarters (2026 Q3 and Q4): from 2026-10-01 97110 (column 1) / 97530
(column 2) is a PTP edit with modifier indicator 1, and the MUE of 97110 is 6 units, adjudication indicator 3.
"""

from __future__ import annotations

import random
import shutil
from pathlib import Path

import pyarrow as pa
import pytest

import claims.partition as partition
from claims.partition import iter_partitions
from claims.scrub import Scrubber
from ingest.edits import EditTables
from ingest.model import ParseError
from tests.test_claims_edits_store import ingest_sample_edits
from tests.test_claims_professional import PROFESSIONAL
from tests.test_claims_professional import scrubber as professional_scrubber
from tests.test_claims_professional import store as professional_store  # noqa: F401 - a fixture
from tests.test_claims_rules import FIXTURES, HEADER, claims_csv, clean_lines, fixture_history, line, with_reference

IN_FORCE = "reference:\n  ptp: in-force\n  mue: in-force\n  pfs: in-force\n  aoc: in-force\n"
EDIT_RULES = ("ncci-ptp", "mue-units")
DOS = "2026-10-01"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("crossclaim") / "releases"
    shutil.copytree(FIXTURES / "releases", out)
    return ingest_sample_edits(out, systems=("ptp", "mue", "aoc", "pfs"))


def scrubber(store: Path, folder: Path, reference: str = IN_FORCE) -> Scrubber:
    return Scrubber.from_files(with_reference(reference, folder), history=fixture_history(), edits=EditTables(store))


def pt(claim, code, patient, npi="1234567893", dos=DOS, units="1", n=1):
    return line(claim, n, "MEDICARE", "11", code, "GP", units, str(15 * int(units)), dx="M54.50", dos=dos,
                patient=patient, npi=npi)


def findings(s: Scrubber, path: Path, **kw) -> list[tuple[str, str, str, str]]:
    f = s.scrub_file(path, **kw)
    return [(c, ln, r, m) for c, ln, r, m in f[["claim_id", "line", "rule", "message"]].itertuples(index=False)]


def planted_lines() -> list[str]:
    return [
        # PTP across two claims: same patient, provider and date -> the column 2 code is flagged
        pt("X1", "97110", "P-X"), pt("X2", "97530", "P-X"),
        # a different rendering provider, or another date: no edit
        pt("Y1", "97110", "P-Y", npi="1111111112"), pt("Y2", "97530", "P-Y", npi="2222222224"),
        pt("Z1", "97110", "P-Z"), pt("Z2", "97530", "P-Z", dos="2026-10-02"),
        # MUE of 97110: 6 units, indicator 3 (date of service): 4 + 3 units on two claims of the day
        pt("M1", "97110", "P-M", units="4"), pt("M2", "97110", "P-M", units="3"),
        # the same units by two providers: each provider's day is within the MUE
        pt("N1", "97110", "P-N", units="4", npi="1111111112"), pt("N2", "97110", "P-N", units="3", npi="2222222224"),
    ]


def test_ptp_and_mue_across_claims_by_patient_provider_and_date(tmp_path, store):
    s = scrubber(store, tmp_path)
    path = claims_csv(tmp_path, clean_lines() + planted_lines())
    got = findings(s, path)
    assert [(c, ln, r) for c, ln, r, _ in got] == [("M1", "1", "mue-units"), ("M2", "1", "mue-units"),
                                                   ("X2", "1", "ncci-ptp")]
    messages = {c: m for c, _, _, m in got}
    # the findings name both claims and lines
    assert messages["X2"].startswith("97530 billed with 97110 (line 1 of claim X1) on 2026-10-01: NCCI PTP edit, "
                                     "modifier indicator 1")
    assert messages["M1"] == ("97110: 7 units on 2026-10-01 (claim M1 line 1, claim M2 line 1) exceed the MUE of 6 "
                              "(adjudication indicator 3, Clinical: Data)")
    assert messages["M2"] == messages["M1"]


@pytest.mark.parametrize("chunk_lines", [None, 1, 2, 5])
def test_the_cross_claim_findings_in_any_order_and_any_partitioning(tmp_path, store, chunk_lines):
    s = scrubber(store, tmp_path)
    lines = clean_lines() + planted_lines()
    want = findings(s, claims_csv(tmp_path, lines), chunk_lines=None)
    random.Random(15).shuffle(lines)
    assert findings(s, claims_csv(tmp_path, lines, "shuffled.csv"), chunk_lines=chunk_lines) == want


def test_mue_line_edit_indicator_1_is_not_added_across_lines_or_claims(tmp_path, store):
    """An MUE with adjudication indicator 1 is a claim line edit: 4 + 3 units of a code whose MUE is 6 pass, on
    one claim or two; 7 units on one line do not."""
    text = (Path(__file__).parent.parent / "codesets" / "sample" / "mue" / "2026-Q4" /
            "MCR_MUE_PractitionerServices_Eff_10-01-2026.csv").read_bytes()
    own = tmp_path / "MCR_MUE_PractitionerServices_Eff_10-01-2026.csv"
    own.write_bytes(text.replace(b"97110,6,3 Date of Service Edit: Clinical", b"97110,6,1 Line Edit"))
    s = scrubber(store, tmp_path, f"reference:\n  ptp: in-force\n  mue:\n    - {own}\n")
    lines = [pt("L1", "97110", "P-L", units="4"), pt("L2", "97110", "P-L", units="3"),
             pt("K1", "97110", "P-K", units="4"), pt("K1", "97110", "P-K", units="3", n=2),
             pt("J1", "97110", "P-J", units="7")]
    got = [t for t in findings(s, claims_csv(tmp_path, lines)) if t[2] in EDIT_RULES]
    assert got == [("J1", "1", "mue-units", "97110: 7 units on this line exceed the MUE of 6 (adjudication "
                                            "indicator 1, Clinical: Data)")]


def test_the_clean_claims_give_no_findings_beside_the_planted_ones(tmp_path, store):
    s = scrubber(store, tmp_path)
    assert findings(s, claims_csv(tmp_path, clean_lines())) == []
    planted = {text.split(",")[0] for text in planted_lines()}
    got = findings(s, claims_csv(tmp_path, clean_lines() + planted_lines()), chunk_lines=3)
    assert {c for c, *_ in got} <= planted


def without_row(f) -> list[tuple]:
    return sorted(f[["claim_id", "line", "rule", "severity", "message", "fix"]].itertuples(index=False, name=None))


@pytest.mark.parametrize("chunk_lines", [None, 3, 8])
def test_a_shuffled_planted_file_gives_the_same_findings(tmp_path, professional_store, chunk_lines,  # noqa: F811
                                                         monkeypatch):
    """The professional file (every planted case of issue #15) with its lines shuffled: claims split apart,
    over partitions (chunk_lines) and over pyarrow's read blocks (a block of a few hundred bytes), gives the
    same findings, message for message, as the file in claim order."""
    s = professional_scrubber(professional_store, tmp_path)
    want = without_row(s.scrub_file(PROFESSIONAL, chunk_lines=None))
    assert len(want) > 30
    lines = PROFESSIONAL.read_text().splitlines()[1:] + clean_lines()
    random.Random(7).shuffle(lines)
    shuffled = claims_csv(tmp_path, lines, "shuffled.csv")
    monkeypatch.setattr(partition, "READ_BLOCK_BYTES", 512)
    clean = {text.split(",")[0] for text in clean_lines()}
    got = [t for t in without_row(s.scrub_file(shuffled, chunk_lines=chunk_lines)) if t[0] not in clean]
    assert got == want


def test_partitions_hold_every_line_of_their_patients_in_claim_order(tmp_path):
    lines = clean_lines() + planted_lines()
    random.Random(3).shuffle(lines)
    path = claims_csv(tmp_path, lines)
    parts = list(iter_partitions(path, chunk_lines=4))
    # 17 partitions for about 4 lines each (68 lines); a partition no patient hashes to is not handed on
    assert partition.partition_count(len(lines), 4) == 17
    assert 1 < len(parts) <= 17
    seen: set[str] = set()
    rows = []
    for t in parts:
        patients = set(t.column("patient_id").to_pylist())
        assert not patients & seen  # a patient in one partition only
        seen |= patients
        keys = list(zip(t.column("claim_id").to_pylist(), map(int, t.column("line").to_pylist()), strict=True))
        assert keys == sorted(keys)
        rows += t.column("_row").to_pylist()
    assert sorted(rows) == list(range(2, len(lines) + 2))  # every record once, with its record number


def test_a_file_pyarrow_refuses_is_read_by_pandas_with_the_same_result(tmp_path, store):
    """A row with fewer fields than the header (pandas fills them empty) and a line of spaces."""
    s = scrubber(store, tmp_path)
    lines = planted_lines()
    want = findings(s, claims_csv(tmp_path, lines, "plain.csv"), chunk_lines=2)
    short = lines[4].rsplit(",", 1)[0]  # Z1 without its provider_npi field
    assert HEADER.count(",") == short.count(",") + 1
    path = claims_csv(tmp_path, [*lines[:4], short, "   ", *lines[5:]])
    got = findings(s, path, chunk_lines=2)
    assert [t[:3] for t in got] == [t[:3] for t in want] == [("M1", "1", "mue-units"), ("M2", "1", "mue-units"),
                                                            ("X2", "1", "ncci-ptp")]


def two_patient_claim_lines(split: bool, n: int) -> list[str]:
    """Claim K's lines 1 and 3 are patient P-K's, line 2 another patient's: one in another of n partitions
    (split) or in the same one; claims of other patients around it."""
    def part(patient: str) -> int:
        return int(partition.partition_of(pa.table({"patient_id": [patient]}), n)[0])

    other = next(p for p in (f"P-{k}" for k in range(100)) if (part(p) != part("P-K")) == split)
    return [pt("A1", "97110", "P-A"), pt("K", "97110", "P-K", n=1), pt("B1", "97110", "P-B"),
            pt("K", "97530", f" {other} ", n=2), pt("K", "97112", "P-K", n=3), pt("C1", "97110", "P-C")]


@pytest.mark.parametrize(("chunk_lines", "split"), [(None, False), (2, True), (2, False)])
def test_a_claim_whose_lines_carry_two_patient_ids_is_an_error_naming_the_file_claim_and_lines(
        tmp_path, store, chunk_lines, split):
    """Lines are grouped by patient, so a claim of two patient ids would be split between partitions (or read as
    two patients' claims) without anyone noticing: it is an error, in one partition or many, whichever patient
    the partitions put where."""
    lines = two_patient_claim_lines(split, partition.partition_count(6, chunk_lines))
    other = lines[3].split(",")[2].strip()
    path = claims_csv(tmp_path, lines)
    with pytest.raises(ParseError) as err:
        scrubber(store, tmp_path).scrub_file(path, chunk_lines=chunk_lines)
    assert str(err.value) == (
        f"{path}:5: claim K has lines of 2 patients, P-K (lines 3, 6) and {other} (line 5): the lines of a claim "
        "are one patient's (correct the patient_id, or give the other patient's lines a claim of their own)")


def test_split_claim_found_in_the_partition_pass_with_many_partitions(tmp_path):
    """The claim's two patients in two of many partitions: found when the spill files are written."""
    lines = two_patient_claim_lines(True, partition.partition_count(26, 3)) + [
        pt(f"F{k}", "97110", f"P-F{k}") for k in range(20)]
    with pytest.raises(ParseError, match=r"claims.csv:5: claim K has lines of 2 patients, P-K \(lines 3, 6\)"):
        list(iter_partitions(claims_csv(tmp_path, lines), chunk_lines=3))
