"""The HCPCS self-proof: the real 2018 and 2019 releases pass against their xlsx copies, transaction reports and
the release before; a cut file, a lost record group, a lost or doubled continuation line are refused with the
file and the line or code named. The sample mirror passes and says what it could not compare."""

from __future__ import annotations

import datetime as dt
import shutil

import openpyxl
import pytest

from ingest.model import CodegovError, ParseError, Release
from ingest.parse_hcpcs import parse_anweb, release_table
from ingest.proof_hcpcs import prove_hcpcs, read_xlsx_copy
from tests.conftest import SAMPLE, shared

ANWEB = {"2017-01": "HCPC17_CONTR_ANWEB.txt", "2018-01": "HCPC2018_CONTR_ANWEB_disc.txt",
         "2019-01": "HCPC2019_CONTR_ANWEB.txt"}


def _table(path, year: str):
    return release_table(parse_anweb(path), Release("hcpcs", dt.date(int(year[:4]), 1, 1)))


def _prove(path, year: str, previous=None):
    return prove_hcpcs({"anweb": path}, _table(path, year), previous, f"{year}-01")


@pytest.fixture(scope="module")
def real_2018():
    return _table(shared("hcpcs", "2018-01", ANWEB["2018-01"]), "2018-01")


@pytest.fixture
def copy_2019(tmp_path):
    """The real 2019 release folder copied (writable) into tmp_path; returns the ANWEB copy and its lines."""
    folder = tmp_path / "2019-01"
    folder.mkdir()
    for f in shared("hcpcs", "2019-01").iterdir():
        shutil.copyfile(f, folder / f.name)
    anweb = folder / ANWEB["2019-01"]
    return anweb, anweb.read_bytes().split(b"\r\n")[:-1]


def _write(path, lines: list[bytes]):
    path.write_bytes(b"".join(line + b"\r\n" for line in lines))


# -- the real releases --------------------------------------------------------------------------------------

@pytest.mark.realdata
def test_real_2018_and_2019_pass_and_say_what_was_proven(real_2018):
    table_2017 = _table(shared("hcpcs", "2017-01", ANWEB["2017-01"]), "2017-01")
    evidence_2018 = prove_hcpcs({"anweb": shared("hcpcs", "2018-01", ANWEB["2018-01"])}, real_2018, table_2017,
                                "2018-01-01")
    assert len(evidence_2018) == 5
    assert "every A code added after 2017-01-01 (152 new" in evidence_2018[3]
    assert "its 152 ADD codes are the A codes and its 40 Discontinued codes the D codes" in evidence_2018[4]
    path = shared("hcpcs", "2019-01", ANWEB["2019-01"])
    table = _table(path, "2019-01")
    evidence = prove_hcpcs({"anweb": path}, table, real_2018, "2019-01-01")
    assert evidence == [
        "record structure of HCPC2019_CONTR_ANWEB.txt: 6,800 codes (6,440 procedures, 360 modifiers) in 11,622 "
        "records on lines 9-11,630 (4,822 continuation lines), each continuation after its code's first line with "
        "the same code and record id, sequence numbers in order by 100s, the last line a whole record",
        "xlsx copy HCPC2019_CONTR_ANWEB.xlsx: the same 6,800 codes (6,440 procedures, 360 modifiers), the same "
        "kind, short descriptor, long descriptor, action code, added date, termination date for each (runs of "
        "blanks aside)",
        "action codes: 228 A (added) codes, each with an added date equal to its action effective date and no "
        "termination date; 49 D (discontinued) codes, each with a termination date",
        "action codes against 2018-01-01: every A code added after 2018-01-01 (224 new, 2 reused with a new added "
        "date, 2 already listed there with a later added date); 466 codes terminated in 2018-01-01 still listed "
        "with the same termination date",
        "transaction report HCPC2019_Trans_Alpha.xlsx (sheet 'Changes by Action Code'): 6,800 codes, all in the "
        "release; its 228 ADD codes are the A codes and its 49 Discontinued codes the D codes",
    ]


@pytest.mark.realdata
def test_2017_passes_without_a_previous_release():
    evidence = _prove(shared("hcpcs", "2017-01", ANWEB["2017-01"]), "2017-01")
    assert "the same 6,498 codes" in evidence[1]
    assert evidence[3] == "action codes against the previous release: no previous release given; not compared"


@pytest.mark.realdata
def test_the_xlsx_copy_joins_a_continued_long_descriptor():
    """The 2019 copy continues G0503's descriptor on a RECID 4 row; joined, it is the ANWEB descriptor."""
    copy = read_xlsx_copy(shared("hcpcs", "2019-01", "HCPC2019_CONTR_ANWEB.xlsx"))
    assert len(copy) == 6800
    assert copy["G0503"]["long_desc"].endswith("other treatment goals and are prepared for discharge from active "
                                               "treatment")
    assert (copy["G0503"]["row"], copy["A1"]["row"]) == (2254, 9)


@pytest.mark.realdata
def test_2019_with_its_last_200_lines_cut_is_refused(copy_2019):
    anweb, lines = copy_2019
    _write(anweb, lines[:-200])
    kept = parse_anweb(anweb)["code"].tolist()  # the cut file still parses: its last line is a whole record
    full = parse_anweb(shared("hcpcs", "2019-01", ANWEB["2019-01"]))["code"].tolist()
    first_lost = full[len(kept)]
    with pytest.raises(ParseError) as err:
        _prove(anweb, "2019-01")
    assert err.value.path == str(anweb) and err.value.line == len(lines) - 200
    assert f"expected {first_lost} (row" in err.value.expected
    assert "HCPC2019_CONTR_ANWEB.xlsx" in err.value.expected and "V5364" in err.value.expected
    assert f"{len(full) - len(kept)} codes" in err.value.expected


@pytest.mark.realdata
@pytest.mark.parametrize("where", ["first", "middle", "last"])
def test_a_lost_record_group_is_refused_naming_the_code(copy_2019, where):
    anweb, lines = copy_2019
    records = parse_anweb(anweb)
    k = {"first": 0, "middle": len(records) // 2, "last": len(records) - 1}[where]
    code, start = records["code"][k], int(records["line"][k])
    end = int(records["line"][k + 1]) if k + 1 < len(records) else len(lines) + 1
    _write(anweb, lines[:start - 1] + lines[end - 1:])
    with pytest.raises(ParseError) as err:
        _prove(anweb, "2019-01")
    assert f"expected {code} (row " in err.value.expected and "HCPC2019_CONTR_ANWEB.xlsx" in err.value.expected
    assert err.value.path == str(anweb) and err.value.line == (start if where != "last" else start - 1)


@pytest.mark.realdata
def test_a_duplicated_continuation_line_is_refused_naming_the_line(copy_2019):
    anweb, lines = copy_2019
    at = next(i for i, ln in enumerate(lines) if ln.startswith(b"G0503002004"))  # G0503: 16 continuation lines
    _write(anweb, lines[:at + 1] + [lines[at]] + lines[at + 1:])
    for attempt in (lambda: parse_anweb(anweb), lambda: prove_hcpcs({"anweb": anweb}, _table(
            shared("hcpcs", "2019-01", ANWEB["2019-01"]), "2019-01"), None, "2019-01-01")):
        with pytest.raises(ParseError) as err:
            attempt()
        assert (err.value.path, err.value.line) == (str(anweb), at + 2)
        assert "expected sequence number 00300" in err.value.expected and "G0503" in err.value.expected
        assert "found 00200; a repeated continuation line?" in err.value.expected


@pytest.mark.realdata
def test_a_lost_continuation_line_is_refused(copy_2019):
    """One in the middle breaks the sequence; the last one of a group leaves the descriptor short of the xlsx."""
    anweb, lines = copy_2019
    at = next(i for i, ln in enumerate(lines) if ln.startswith(b"G0503003004"))
    _write(anweb, lines[:at] + lines[at + 1:])
    with pytest.raises(ParseError, match=rf"HCPC2019_CONTR_ANWEB.txt:{at + 1}: expected sequence number 00300.*found "
                                         r"00400; a continuation line missing"):
        parse_anweb(anweb)
    last = next(i for i, ln in enumerate(lines) if ln.startswith(b"G0503017004"))
    _write(anweb, lines[:last] + lines[last + 1:])
    head = next(i for i, ln in enumerate(lines) if ln.startswith(b"G0503001003")) + 1
    with pytest.raises(ParseError) as err:
        _prove(anweb, "2019-01")
    assert err.value.line == head
    assert "expected the long descriptor of G0503 in row 2254 of the xlsx copy" in err.value.expected
    assert err.value.expected.endswith("this file gives '...ent goals and are prepared for'")


@pytest.mark.realdata
def test_a_file_cut_inside_a_line_is_refused(copy_2019):
    anweb, lines = copy_2019
    at = next(i for i, ln in enumerate(lines) if ln.startswith(b"G0503005004"))
    anweb.write_bytes(b"".join(ln + b"\r\n" for ln in lines[:at]) + lines[at][:60])  # no line break at the end
    with pytest.raises(ParseError) as err:
        parse_anweb(anweb)
    assert err.value.line == at + 1
    assert err.value.expected == ("expected a whole 320-character record on the last line, found 60 characters and "
                                  "no line break (the file cut short?)")


@pytest.mark.realdata
def test_2017_trimmed_continuation_lines_are_whole_at_the_end(tmp_path):
    """2017 cuts continuation lines to 91 characters: a file ending in one without a line break is whole."""
    lines = shared("hcpcs", "2017-01", ANWEB["2017-01"]).read_bytes().split(b"\r\n")[:-1]
    path = tmp_path / ANWEB["2017-01"]
    last = max(i for i, ln in enumerate(lines) if ln[10:11] == b"4")
    path.write_bytes(b"".join(ln + b"\r\n" for ln in lines[:last]) + lines[last])
    assert len(lines[last]) == 91 and len(parse_anweb(path)) > 6000
    path.write_bytes(b"".join(ln + b"\r\n" for ln in lines[:last]) + lines[last][:80])
    with pytest.raises(ParseError, match="expected a whole 91-character record on the last line, found 80"):
        parse_anweb(path)


# -- the sample mirror and hand-made copies (no real data needed) -------------------------------------------

SAMPLE_ANWEB = {y: SAMPLE / "hcpcs" / y / name for y, name in ANWEB.items() if y != "2017-01"}


def test_the_sample_mirror_passes_and_says_what_it_could_not_compare():
    previous = _table(SAMPLE_ANWEB["2018-01"], "2018-01")
    first = _prove(SAMPLE_ANWEB["2018-01"], "2018-01")
    assert first[1:] == [
        "xlsx copy: no xlsx copy in the release; not compared",
        "action codes: 9 A (added) codes, each with an added date equal to its action effective date and no "
        "termination date; 1 D (discontinued) code, each with a termination date",
        "action codes against the previous release: no previous release given; not compared",
        "transaction report: none in the release; not compared"]
    evidence = _prove(SAMPLE_ANWEB["2019-01"], "2019-01", previous)
    assert evidence[0].startswith("record structure of HCPC2019_CONTR_ANWEB.txt: 58 codes (34 procedures, 24 "
                                  "modifiers) in 114 records on lines 9-122")
    assert evidence[3] == ("action codes against 2018-01-01: every A code added after 2018-01-01 (6 new, 2 reused "
                           "with a new added date, 0 already listed there with a later added date); 1 code "
                           "terminated in 2018-01-01 still listed with the same termination date")


def _sample_copy(tmp_path, year="2019-01"):
    folder = tmp_path / year
    folder.mkdir()
    anweb = folder / SAMPLE_ANWEB[year].name
    shutil.copyfile(SAMPLE_ANWEB[year], anweb)
    return anweb


def _write_xlsx_copy(anweb, rows_from=None):
    """An xlsx copy of a sample ANWEB file in the 2019 layout: disclaimer rows, then the header on row 3."""
    records = parse_anweb(anweb) if rows_from is None else rows_from
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["***Disclaimers"])
    sheet.append([])
    sheet.append(["HCPC", "SEQNUM", "RECID", "LONG DESCRIPTION", "SHORT DESCRIPTION", "ADD DT", "ACT EFF DT",
                  "TERM DT", "ACTION CD"])
    for r in records.itertuples():
        sheet.append([r.code.rjust(5), "0010", "7" if r.kind == "modifier" else "3", r.long_desc, r.short_desc,
                      r.add_date.replace("-", ""), "", r.termination_date.replace("-", ""), r.action_code])
    path = anweb.with_suffix(".xlsx")
    book.save(path)
    return path


def _write_transactions(anweb, labels: dict[str, str] | None = None):
    names = {"A": "ADD", "D": "Discontinued", "N": "No Change", "C": "Long Description Change",
             "S": "Short Description Change"}
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Changes by HCPCS Code"
    sheet.append(["HCPCS/MOD", "TYPE OF CHANGE"])
    for r in parse_anweb(anweb).itertuples():
        sheet.append([r.code.rjust(5), (labels or {}).get(r.code, names[r.action_code])])
    path = anweb.parent / "HCPC2019_Trans_Alpha.xlsx"
    book.save(path)
    return path


def test_an_xlsx_copy_and_transaction_report_beside_the_sample_are_compared(tmp_path):
    anweb = _sample_copy(tmp_path)
    _write_xlsx_copy(anweb)
    _write_transactions(anweb)
    evidence = _prove(anweb, "2019-01", _table(SAMPLE_ANWEB["2018-01"], "2018-01"))
    assert evidence[1].startswith("xlsx copy HCPC2019_CONTR_ANWEB.xlsx: the same 58 codes (34 procedures, "
                                  "24 modifiers)")
    assert evidence[4] == ("transaction report HCPC2019_Trans_Alpha.xlsx (sheet 'Changes by HCPCS Code'): 58 codes, "
                           "all in the release; its 8 ADD codes are the A codes and its 4 Discontinued codes the D "
                           "codes")


def test_a_short_descriptor_unlike_the_xlsx_copy_is_refused_naming_code_and_row(tmp_path):
    anweb = _sample_copy(tmp_path)
    records = parse_anweb(anweb)
    records.loc[records["code"] == "G9890", "short_desc"] = "Something else"
    _write_xlsx_copy(anweb, records)
    line = int(records.set_index("code").loc["G9890", "line"])
    row = 4 + records.index[records["code"] == "G9890"][0]
    with pytest.raises(ParseError) as err:
        _prove(anweb, "2019-01")
    assert (err.value.path, err.value.line) == (str(anweb), line)
    assert err.value.expected == (f"expected the short descriptor of G9890 in row {row} of the xlsx copy "
                                  f"HCPC2019_CONTR_ANWEB.xlsx, 'Something else'; this file gives 'Em bridge payment'")


def test_a_code_only_in_the_anweb_file_is_refused(tmp_path):
    anweb = _sample_copy(tmp_path)
    records = parse_anweb(anweb)
    _write_xlsx_copy(anweb, records[records["code"] != "G9891"])
    with pytest.raises(ParseError, match=r"expected only the codes of the xlsx copy HCPC2019_CONTR_ANWEB.xlsx; G9891 "
                                         r"is not there"):
        _prove(anweb, "2019-01")


def test_a_transaction_report_that_disagrees_is_refused(tmp_path):
    anweb = _sample_copy(tmp_path)
    records = parse_anweb(anweb)
    row = {code: 2 + i for i, code in enumerate(records["code"])}  # the header on row 1
    report = _write_transactions(anweb, {"G9890": "No Change"})
    with pytest.raises(ParseError) as err:
        _prove(anweb, "2019-01")
    assert (err.value.path, err.value.line) == (str(anweb), int(records.set_index("code").loc["G9890", "line"]))
    assert err.value.expected == ("G9890 has action code A; expected HCPC2019_Trans_Alpha.xlsx to list it as ADD, "
                                  f"found it as 'No Change' on row {row['G9890']}")
    _write_transactions(anweb, {"E0218": "Discontinued"})
    with pytest.raises(ParseError) as err:
        _prove(anweb, "2019-01")
    assert (err.value.path, err.value.line) == (str(report), row["E0218"])
    assert "E0218 is listed as 'Discontinued'" in err.value.expected and "is C, not D" in err.value.expected


@pytest.mark.parametrize(
    "columns, value, code, expected",
    [
        (["add_date", "action_effective_date"], "2018-01-01", "G9890",  # reused in 2019; in 2018 added 2018-01-01
         "G9890: expected the added date of an added code (action code A) to be after the previous release "
         "2018-01-01, found 2018-01-01 (already in 2018-01-01 with the same added date)"),
        ("termination_date", "", "C9029",
         "C9029: expected a termination date (columns 285-292) for action code D (discontinued), found none"),
        ("termination_date", "2019-06-30", "CQ",
         "CQ: expected no termination date for action code A (added), found 2019-06-30"),
        ("action_effective_date", "2019-04-01", "CQ",
         "CQ: expected the action effective date of an added code (action code A) to be its added date 2019-01-01, "
         "found 2019-04-01"),
        ("termination_date", "", "G0202",
         "G0202: expected the termination date 2017-12-31 it has in 2018-01-01 (action code N, not R reactivated), "
         "found none"),
    ],
    ids=["added-before-the-previous-release", "discontinued-without-date", "added-with-termination",
         "added-effective-date", "termination-dropped"],
)
def test_action_codes_that_contradict_the_release_or_the_one_before_are_refused(columns, value, code, expected):
    table = _table(SAMPLE_ANWEB["2019-01"], "2019-01")
    table.loc[table["code"] == code, columns] = value
    with pytest.raises(ParseError) as err:
        prove_hcpcs({"anweb": SAMPLE_ANWEB["2019-01"]}, table, _table(SAMPLE_ANWEB["2018-01"], "2018-01"),
                    "2019-01-01")
    assert err.value.expected == expected


def test_a_table_not_built_from_the_file_or_release_is_refused():
    table_2018 = _table(SAMPLE_ANWEB["2018-01"], "2018-01")
    with pytest.raises(CodegovError, match="expected the release table built from this file"):
        prove_hcpcs({"anweb": SAMPLE_ANWEB["2019-01"]}, table_2018, None, "2019-01-01")
    with pytest.raises(CodegovError, match="expected a table of release 2019-01-01, found release"):
        prove_hcpcs({"anweb": SAMPLE_ANWEB["2018-01"]}, table_2018, None, "2019-01-01")
    table = _table(SAMPLE_ANWEB["2019-01"], "2019-01")
    with pytest.raises(CodegovError, match="expected the table of one release before 2019-01-01"):
        prove_hcpcs({"anweb": SAMPLE_ANWEB["2019-01"]}, table, table, "2019-01-01")
