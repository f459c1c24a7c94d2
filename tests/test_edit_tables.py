"""The edit tables (NCCI PTP, MUE, add-on codes, PFS RVUs) on the hand-written samples: every field parsed,
every proof, storage, date-of-service answers at the edges, every change kind, and the golden PR section."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from ingest import edit_store
from ingest.build_edits import build_edit_release, ingest_edit_releases, store_edit_release
from ingest.discover import discover_mirror
from ingest.edit_changes import edit_changes, replacement_payments
from ingest.edits import EditTables, code_answer, pair_answer
from ingest.inventory import load_inventory
from ingest.model import ChecksumChanged, CodegovError, ParseError
from ingest.parse_edits import parse_aoc, parse_mue, parse_pfs, parse_ptp
from ingest.sources import load_sources
from playbooks.edits import edits_markdown
from tests.conftest import ROOT

SAMPLE = ROOT / "codesets" / "sample"
EDITS = ("ptp", "mue", "aoc", "pfs")
GOLDEN = ROOT / "tests" / "golden" / "edits-sample.md"
Q3, Q4 = dt.date(2026, 7, 1), dt.date(2026, 10, 1)


def sources_for(mirror: Path):
    s = load_sources(ROOT / "codesets")
    s.merge(discover_mirror(mirror, s.rules, EDITS))
    return s


def ingest_all(mirror: Path, out: Path):
    s = sources_for(mirror)
    releases = [r for system in EDITS for r in s.releases(system)]
    return list(ingest_edit_releases(s, releases, out, mirror=mirror, cache=out / "cache", offline=True))


@pytest.fixture(scope="module")
def stored(tmp_path_factory):
    out = tmp_path_factory.mktemp("edits") / "releases"
    ingest_all(SAMPLE, out)
    return out


@pytest.fixture
def mirror(tmp_path):
    """A writable copy of the sample mirror's edit tables."""
    for system in EDITS:
        shutil.copytree(
            SAMPLE / system,
            tmp_path / "mirror" / system,
            ignore=lambda d, names: [n for n in names if (Path(d) / n).is_file() and Path(d) == SAMPLE / "mue"],
        )
    return tmp_path / "mirror"


# -- every field parsed ------------------------------------------------------------------------------------


def test_ptp_fields():
    t = parse_ptp(SAMPLE / "ptp/2026-Q4/ccipra-v323r0-f1.txt", "practitioner").to_pylist()
    assert len(t) == 7
    row = next(r for r in t if r["column1"] == "76700" and r["column2"] == "76705")
    assert row == {
        "setting": "practitioner",
        "column1": "76700",
        "column2": "76705",
        "prior_1996": True,
        "effective": dt.date(1996, 1, 1),
        "deletion": dt.date(2026, 10, 1),
        "modifier_indicator": "1",
        "rationale": "Misuse of Column Two code with Column One code",
    }
    active = next(r for r in t if r["column1"] == "20610")
    assert active["deletion"] is None and active["prior_1996"] is False and active["modifier_indicator"] == "1"


def test_mue_fields_latin1_notice_and_setting():
    t = parse_mue(SAMPLE / "mue/2026-Q4/MCR_MUE_PractitionerServices_Eff_10-01-2026.csv", "practitioner").to_pylist()
    assert t[0] == {
        "setting": "practitioner",
        "code": "0001U",
        "mue": 1,
        "mai": 2,
        "rationale": "Code Descriptor / CPT Instruction",
    }
    assert {r["code"]: (r["mue"], r["mai"]) for r in t}["97110"] == (6, 3)
    with pytest.raises(ParseError, match="expected the Practitioner Services MUE table"):
        parse_mue(SAMPLE / "mue/2026-Q4/MCR_MUE_DMESupplierServices_Eff_10-01-2026.csv", "practitioner")


def test_aoc_fields_julian_dates_and_contractor_primaries():
    t = parse_aoc(SAMPLE / "aoc/2026-Q4/AOC_V2026Q4-F-MCR.txt").to_pylist()
    ended = next(r for r in t if (r["addon"], r["primary"]) == ("99417", "99215"))
    assert ended["effective"] == dt.date(2021, 1, 1) and ended["deletion"] == dt.date(2026, 10, 1)  # 2026274
    assert ended["edit_type"] == 1
    open_list = next(r for r in t if r["addon"] == "97546")
    assert open_list["primary"] == "CCCCC" and open_list["edit_type"] == 2
    assert open_list["notes"] == "Contractor defines primary codes"


def test_pfs_fields_and_no_description():
    t = parse_pfs(SAMPLE / "pfs/2026-D/PPRRVU2026_Oct_nonQPP.csv")
    assert "description" not in t.column_names  # the AMA descriptors are never read into a table
    rows = {(r["code"], r["modifier"]): r for r in t.to_pylist()}
    g = rows[("20610", "")]
    assert (g["status"], g["work_rvu"], g["nonfac_pe_rvu"], g["fac_pe_rvu"], g["mp_rvu"]) == (
        "A",
        0.79,
        0.95,
        0.37,
        0.09,
    )
    assert (g["nonfac_total"], g["fac_total"], g["global_days"], g["bilat_surg"], g["mult_proc"]) == (
        1.83,
        1.25,
        "000",
        "1",
        "2",
    )
    assert (g["pre_op"], g["intra_op"], g["post_op"], g["asst_surg"], g["co_surg"], g["team_surg"]) == (
        0.0,
        1.0,
        0.0,
        "1",
        "0",
        "0",
    )
    assert (g["conv_factor"], g["supervision"], g["imaging_family"]) == (33.4009, "09", "99")
    assert rows[("71045", "TC")]["fac_na"] == "NA" and rows[("71045", "26")]["pctc"] == "1"


# -- bad input: one line naming file and line; nothing stored --------------------------------------------


def edit_line(path: Path, number: int, new: str) -> None:
    lines = path.read_bytes().split(b"\r\n")
    lines[number - 1] = new.encode()
    path.write_bytes(b"\r\n".join(lines))


@pytest.mark.parametrize(
    "line, expected",
    [
        ("20611\t20610\t\t20150101\t*\t0", "expected 7 tab-separated fields"),
        ("20611\t20610\t\t20151301\t*\t0\tx", "expected an effective date YYYYMMDD, found '20151301'"),
        ("20611\t20610\t\t20150101\t*\t5\tx", "expected a modifier indicator 0, 1 or 9, found '5'"),
        ("2061\t20610\t\t20150101\t*\t0\tx", "expected a column 1 code"),
    ],
)
def test_bad_ptp_line_names_file_and_line(tmp_path, line, expected):
    path = tmp_path / "ccipra-v322r0-f1.txt"
    shutil.copy(SAMPLE / "ptp/2026-Q3/ccipra-v322r0-f1.txt", path)
    edit_line(path, 9, line)
    with pytest.raises(ParseError) as err:
        parse_ptp(path, "practitioner")
    assert err.value.line == 9 and expected in str(err.value) and str(path) in str(err.value)


def test_pfs_column_out_of_place_is_refused(tmp_path):
    path = tmp_path / "PPRRVU2026_Jul_nonQPP.csv"
    text = (SAMPLE / "pfs/2026-C/PPRRVU2026_Jul_nonQPP.csv").read_text(encoding="latin-1")
    text = text.replace(
        "20610,,(CPT descriptor withheld),A,,0.75,0.95", "20610,,(CPT descriptor withheld),A,,0.95,0.75"
    )
    text = text.replace(
        "20610,,(CPT descriptor withheld),A,,0.95,0.75,,0.37,,0.09,1.79",
        "20610,,(CPT descriptor withheld),A,,0.95,0.75,,0.37,,0.09,2.79",
    )
    path.write_text(text, encoding="latin-1")
    with pytest.raises(ParseError, match=r":12: expected NON-FACILITY TOTAL = WORK \+ PE \+ MP RVU"):
        parse_pfs(path)


def test_missing_part_and_wrong_quarter_are_refused(mirror, tmp_path):
    (mirror / "ptp/2026-Q3/ccipra-v322r0-f1.txt").unlink()
    with pytest.raises(CodegovError, match=r"lack part\(s\) f1"):
        ingest_all(mirror, tmp_path / "out")
    shutil.copy(SAMPLE / "ptp/2026-Q3/ccipra-v322r0-f1.txt", mirror / "ptp/2026-Q3/")
    for f in (mirror / "ptp/2026-Q4").iterdir():  # the Q3 files filed as Q4
        f.unlink()
    for f in (SAMPLE / "ptp/2026-Q3").iterdir():
        shutil.copy(f, mirror / "ptp/2026-Q4" / f.name)
    s = sources_for(mirror)
    release = s.resolve("ptp", "2026Q4")
    with pytest.raises(ParseError, match="expected NCCI version 323 for ptp NCCI PTP 2026 Q4"):
        build_edit_release(s, release, mirror / "ptp/2026-Q4")
    (mirror / "mue/2026-Q4/MCR_MUE_PractitionerServices_Eff_10-01-2026.csv").rename(
        mirror / "mue/2026-Q4/MCR_MUE_PractitionerServices_Eff_07-01-2026.csv"
    )
    with pytest.raises(ParseError, match="expected an MUE table effective 2026-10-01"):
        build_edit_release(s, s.resolve("mue", "2026Q4"), mirror / "mue/2026-Q4")


def test_a_truncated_quarter_is_refused_and_nothing_is_written(mirror, tmp_path):
    out = tmp_path / "out"
    s = sources_for(mirror)
    q3 = s.resolve("mue", "2026Q3")
    store_edit_release(build_edit_release(s, q3, mirror / "mue/2026-Q3"), out)
    path = mirror / "mue/2026-Q4/MCR_MUE_PractitionerServices_Eff_10-01-2026.csv"
    data = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join(data[:6]) + b"\r\n")  # 4 of the 13 practitioner rows
    q4 = s.resolve("mue", "2026Q4")
    from ingest.build_edits import previous_stored

    built = build_edit_release(s, q4, mirror / "mue/2026-Q4")
    with pytest.raises(ParseError, match="expected about the 12 practitioner rows of MUE 2026 Q3; found 4"):
        store_edit_release(built, out, previous=previous_stored(out, q4))
    assert edit_store.list_releases(out, "mue") == ["2026-07-01"]


# -- storage ------------------------------------------------------------------------------------------------


def test_store_is_sorted_verified_and_rerun_writes_nothing(stored, tmp_path):
    assert edit_store.list_releases(stored, "ptp") == ["2026-07-01", "2026-10-01"]
    t = pq.read_table(edit_store.table_path(stored, "ptp", "2026-10-01")).to_pylist()
    keys = [(r["setting"], r["column1"], r["column2"]) for r in t]
    assert keys == sorted(keys)
    manifest = edit_store.StoredEdits(stored, "ptp", "2026-10-01").manifest
    assert manifest["rows_by_setting"] == {"hospital": 4, "practitioner": 15}
    assert [f["role"] for f in manifest["files"]] == ["hospital-f1", "practitioner-f1", "practitioner-f2"]
    again = ingest_all(SAMPLE, stored)
    assert not any(res.changed for _, res in again)
    copy = tmp_path / "releases"
    shutil.copytree(stored, copy)
    path = edit_store.table_path(copy, "ptp", "2026-10-01")
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(CodegovError, match="not the file its manifest records"):
        EditTables(copy).stored("ptp", "2026-10-01")


def test_a_reissued_file_with_another_table_is_refused(mirror, tmp_path):
    out = tmp_path / "out"
    ingest_all(mirror, out)
    path = mirror / "ptp/2026-Q4/ccipra-v323r0-f2.txt"
    path.write_bytes(path.read_bytes().replace(b"99214\t99211\t\t20100101\t*\t0", b"99214\t99211\t\t20100101\t*\t1"))
    with pytest.raises(ChecksumChanged, match="ccipra-v323r0-f2.txt: sha256"):
        ingest_all(mirror, out)


def test_readers_take_only_the_codes_asked_for(stored):
    e = EditTables(stored)
    t = e.stored("ptp", "2026-10-01").read(column1=["97110"], column2=["97530", "97110"])
    assert {(r["setting"], r["column1"], r["column2"]) for r in t.to_pylist()} == {
        ("hospital", "97110", "97530"),
        ("practitioner", "97110", "97530"),
    }
    assert e.rows("mue", "2026-10-01", ["97110"], setting="practitioner").to_pylist()[0]["mue"] == 6


# -- date of service ----------------------------------------------------------------------------------------


def test_windows_and_edges(stored):
    e = EditTables(stored)
    assert e.in_force("ptp", dt.date(2026, 6, 30)) is None
    assert e.in_force("ptp", dt.date(2026, 9, 30)).release == "2026-07-01"
    assert e.in_force("ptp", Q4).release == "2026-10-01"
    assert e.in_force("pfs", Q4).label == "PFS 2026 D (October)"
    new_edit = pair_answer(e, "97110", "97530", dt.date(2026, 9, 30))
    assert new_edit["ptp"] == []
    on_q4 = pair_answer(e, "97530", "97110", Q4)
    assert [(r["setting"], r["column1"], r["in_force"]) for r in on_q4["ptp"]] == [
        ("hospital", "97110", True),
        ("practitioner", "97110", True),
    ]
    deleted = pair_answer(e, "76700", "76705", Q4)["ptp"]
    assert [(r["deletion"], r["in_force"]) for r in deleted] == [("2026-10-01", False)]  # deleted from its date
    before = pair_answer(e, "76700", "76705", dt.date(2026, 9, 30))["ptp"]
    assert [r["in_force"] for r in before] == [True]


def test_scrubber_frames_clip_each_quarter(stored):
    e = EditTables(stored)
    frame = e.ptp_frame(["76700", "76705"], dt.date(2026, 8, 1), dt.date(2026, 11, 1))
    assert len(frame) == 1  # Q3's row ends where Q4 begins; Q4's own row was deleted on its first day
    assert (str(frame["effective"][0].date()), str(frame["deletion"][0].date())) == ("2026-07-01", "2026-10-01")
    mue = e.mue_frames(["97110"], dt.date(2026, 8, 1), dt.date(2026, 11, 1))
    assert [(str(t["effective"][0].date()), int(t["mue"][0])) for t in mue] == [("2026-07-01", 4), ("2026-10-01", 6)]


def test_code_answer(stored):
    a = code_answer(EditTables(stored), "99417", dt.date(2026, 12, 1))["tables"]
    assert a["aoc"]["primaries"] == ["99205"]  # 99215 ended 2026-10-01
    assert a["pfs"]["rows"][0]["status"] == "I"
    a = code_answer(EditTables(stored), "20610", dt.date(2026, 9, 1))["tables"]
    assert a["pfs"]["rows"][0]["payment_nonfacility"] == round(1.79 * 33.4009, 2)
    assert a["mue"]["rows"] == [
        {"setting": "hospital", "code": "20610", "mue": 2, "mai": 3, "rationale": "Anatomic Consideration"},
        {"setting": "practitioner", "code": "20610", "mue": 2, "mai": 3, "rationale": "Anatomic Consideration"},
    ]


def test_lookup_cli_pair(stored, codegov):
    status, out, _ = codegov("--releases", stored, "lookup", "97110", "97530", "--on", "2026-10-01")
    assert status == 0
    assert "practitioner: 97110 is column 1, 97530 column 2 (denied); modifier 1" in out
    status, out, _ = codegov("--releases", stored, "lookup", "76700", "--on", "2026-09-30")
    assert "76700 / 76705  modifier 1 (a modifier allowed) since 1996-01-01" in out


# -- quarter to quarter against the inventory ---------------------------------------------------------------


def changes(stored, system):
    return edit_changes(EditTables(stored), system, load_inventory(ROOT / "codesets" / "inventory"))


def kinds(ec):
    return sorted(
        (r["kind"], r["code"], r["other"], r["setting"], r["before"], r["after"])
        for r in ec.rows.to_dict(orient="records")
    )


def test_every_ptp_change_kind(stored):
    assert kinds(changes(stored, "ptp")) == [
        ("edit added", "20610", "17110", "practitioner", "", "modifier 1"),
        ("edit added", "97110", "97530", "hospital", "", "modifier 1"),
        ("edit added", "97110", "97530", "practitioner", "", "modifier 1"),
        ("edit deleted", "76700", "76705", "practitioner", "modifier 1", ""),
        ("modifier indicator changed", "71046", "71045", "practitioner", "0", "1"),
    ]


def test_every_mue_and_aoc_change_kind(stored):
    assert kinds(changes(stored, "mue")) == [
        ("MUE added", "97535", "", "practitioner", "", "4 (MAI 3)"),
        ("MUE adjudication changed", "20611", "", "practitioner", "MAI 3", "MAI 2"),
        ("MUE value changed", "36415", "", "practitioner", "2", "3"),
        ("MUE value changed", "97110", "", "practitioner", "4", "6"),
        ("MUE value changed", "A4253", "", "dme", "2", "3"),
    ]
    assert kinds(changes(stored, "aoc")) == [
        ("primary added", "G2212", "99387", "", "", "type 3"),
        ("primary removed", "99417", "99215", "", "type 1", ""),
    ]


def test_fee_schedule_indicators_and_payment(stored, tmp_path):
    ec = changes(stored, "pfs")
    assert ("indicator changed", "17110", "", "", "010", "000") in kinds(ec)
    assert ("code added", "97535", "", "", "", "status A") in kinds(ec)
    pay = ec.payments.set_index("code")
    assert (pay.loc["20610", "nonfac_before"], pay.loc["20610", "nonfac_after"]) == (59.79, 61.12)
    # the sample inventory's annual_volume: the largest yearly effect first (97110: -$0.67 x 5,200)
    assert list(ec.payments["code"][:2]) == ["97110", "20610"]
    assert ec.payments["annual_effect"][0] == round(-0.67 * 5200, 2)
    inv = tmp_path / "inventory.csv"
    inv.write_text(
        "system,code,specialty,owner,annual_volume\ncpt,97110,physical therapy,Rehab,1200\n"
        "cpt,20610,orthopedics,Ortho,100\n",
        encoding="utf-8",
    )
    ec = edit_changes(EditTables(stored), "pfs", load_inventory(inv))
    assert ec.payments[["code", "annual_effect"]].values.tolist() == [
        ["97110", round(-0.67 * 1200, 2)],
        ["20610", 133.0],
    ]
    side = replacement_payments(EditTables(stored), [("17110", "20610")], "2026-07-01", "2026-10-01")
    assert side.to_dict(orient="records") == [
        {
            "deleted": "17110",
            "replacement": "20610",
            "deleted_nonfac": 79.16,
            "replacement_nonfac": 61.12,
            "deleted_fac": 44.09,
            "replacement_fac": 41.75,
        }
    ]


def test_pr_section_matches_golden(stored):
    text = edits_markdown([changes(stored, s) for s in EDITS])
    if os.environ.get("CODEGOV_UPDATE_GOLDEN") == "1":  # review the diff of the golden file, then commit it
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8")


def test_a_replaced_code_is_priced_beside_its_replacement_in_the_report(stored):
    ec = changes(stored, "pfs")
    ec.replacements = replacement_payments(EditTables(stored), [("17110", "20610")], ec.from_release, ec.to_release)
    text = edits_markdown([ec])
    assert "Deleted codes beside their replacements" in text
    assert "| `17110` | $79.16 | $44.09 | `20610` | $61.12 | $41.75 |" in text
