"""HCPCS ANWEB parser on real lines of the 2019 file, and one broken sample per failure mode."""

from __future__ import annotations

import pytest

from ingest.model import ParseError, Release
from ingest.parse_hcpcs import parse_anweb, release_table

# Verbatim 2019 lines (trailing blanks restored by ljust): modifier GP, then G9890 and two continuations.
LINES = [
    '   GP001007Services delivered under an outpatient physical therapy plan of care            Op pt services                                                                                                                            C                                      1999010120030101        N'.ljust(320),
    'G9890001003Bridge payment: a one-time payment for the first medicare diabetes prevention   Em bridge payment           00      9                                                                                                     C                          Y1  1      02018040120180401        A'.ljust(320),
    'G9890002004program (mdpp) core session, core maintenance session, or ongoing maintenance'.ljust(320),
    'G9890003004session furnished by an mdpp supplier to an mdpp beneficiary during months 1-24'.ljust(320),
]
DISCLAIMER = "***Disclaimers\t\t\t\r\n*In some instances, brand names may appear.\xa0 \t\t\r\n\r\n"


def write(tmp_path, lines, head=DISCLAIMER, name="HCPC2019_CONTR_ANWEB.txt"):
    path = tmp_path / name
    path.write_bytes((head + "".join(line + "\r\n" for line in lines)).encode("cp1252"))
    return path


def test_records_joined_disclaimer_skipped(tmp_path):
    df = parse_anweb(write(tmp_path, LINES))
    assert df["code"].tolist() == ["GP", "G9890"]
    assert df["kind"].tolist() == ["modifier", "procedure"]
    g = df.set_index("code").loc["G9890"]
    assert g["long_desc"].startswith("Bridge payment: a one-time payment for the first medicare diabetes prevention "
                                     "program (mdpp) core session")
    assert g["short_desc"] == "Em bridge payment"
    assert (g["add_date"], g["action_effective_date"], g["termination_date"]) == ("2018-04-01", "2018-04-01", "")
    assert (g["action_code"], g["coverage"], g["betos"]) == ("A", "C", "Y1")
    assert g["line"] == 5  # three disclaimer lines, then GP on line 4


def test_a_file_read_again_is_not_parsed_again_and_each_caller_owns_its_table(tmp_path, monkeypatch):
    """The table's build and the release's proof read one ANWEB file: the second read takes the first's result
    (the same bytes), a caller's change to its table is its own, and a file whose bytes changed is parsed again."""
    import ingest.parse_hcpcs as parser

    path = write(tmp_path, LINES)
    parsed = []
    original = parser._parse_anweb_records
    monkeypatch.setattr(parser, "_parse_anweb_records", lambda p: parsed.append(p) or original(p))
    first = parser.parse_anweb_records(path)[0]
    first.loc[first["code"] == "GP", "short_desc"] = "changed by its caller"
    second = parser.parse_anweb_records(path)[0]
    assert len(parsed) == 1
    assert second.set_index("code").loc["GP", "short_desc"] == "Op pt services"
    write(tmp_path, [LINES[0]])
    assert parser.parse_anweb_records(path)[0]["code"].tolist() == ["GP"]
    assert len(parsed) == 2
    parse_anweb(path)
    parse_anweb(path)
    assert len(parsed) == 4  # the plain parser parses every time: the parse benchmark measures a parse


def test_2017_short_continuation_lines_are_padded(tmp_path):
    lines = [LINES[0]] + [LINES[1]] + [line.rstrip() for line in LINES[2:]]
    df = parse_anweb(write(tmp_path, lines, head=""))
    assert df.set_index("code").loc["G9890", "long_desc"].endswith("to an mdpp beneficiary during months 1-24")


def test_release_table_marks_terminated_codes_not_billable(tmp_path):
    lines = list(LINES)
    lines[1] = lines[1][:284] + "20181231" + lines[1][292:]
    df = release_table(parse_anweb(write(tmp_path, lines)), Release("hcpcs", __import__("datetime").date(2019, 1, 1)))
    g = df.set_index("code").loc["G9890"]
    assert (g["billable"], g["status"], g["effective_end"]) == ("0", "discontinued", "2018-12-31")
    assert df.set_index("code").loc["GP", "billable"] == "1"


@pytest.mark.parametrize(
    "mutate, line, expected",
    [
        (lambda ls: ls[:2] + [ls[2][:10] + "9" + ls[2][11:]] + ls[3:], 6, "record id 3, 4, 7 or 8"),
        (lambda ls: ls[:1] + [ls[1][:200]] + ls[2:], 5, "truncated"),
        (lambda ls: ls[:1] + [" " + ls[1][:-1]] + ls[2:], 5, "record id 3, 4, 7 or 8"),
        (lambda ls: ls[:1] + [ls[1][:292] + "Q" + ls[1][293:]] + ls[2:], 5, "action code"),
        (lambda ls: ls[:1] + [ls[1][:268] + "2018-4-1" + ls[1][276:]] + ls[2:], 5, "added date"),
        (lambda ls: ls[:1] + ls[2:], 5, "continuation line of GP"),
        (lambda ls: ls + [ls[1]], 8, "G9890 is already on line 5"),
        (lambda ls: ls[:2] + [""] + ls[2:], 6, "blank line"),
        (lambda ls: ls[2:], 4, "record id 3 or 7 before its continuation lines"),
    ],
    ids=["unknown-record-id", "truncated", "shifted-column", "action-code", "date", "orphan-continuation",
         "duplicate", "blank-line", "continuation-lines-only"],
)
def test_broken_anweb_names_file_line_and_expectation(tmp_path, mutate, line, expected):
    path = write(tmp_path, mutate(list(LINES)))
    with pytest.raises(ParseError) as err:
        parse_anweb(path)
    assert (err.value.line, expected in err.value.expected) == (line, True), str(err.value)


def test_empty_and_html(tmp_path):
    with pytest.raises(ParseError, match="empty"):
        parse_anweb(write(tmp_path, [], head=""))
    with pytest.raises(ParseError, match="HTML page"):
        parse_anweb(write(tmp_path, [], head="<html><body>Access denied</body></html>"))
    with pytest.raises(ParseError, match="found none"):
        parse_anweb(write(tmp_path, [], head="***Disclaimers only\r\n"))


def test_cp1252_bytes_in_descriptors_are_decoded_where_they_stand(tmp_path):
    """Lines with non-ASCII bytes are sliced as text, so a two-byte UTF-8 form cannot shift later fields."""
    lines = list(LINES)
    lines[1] = lines[1][:20] + "\u201c" + lines[1][21:]  # a cp1252 curly quote (byte 0x93) in the long descriptor
    lines[2] = lines[2][:11] + "\u00a0" + lines[2][11:-1]  # a no-break space (0xa0) before a continuation segment
    df = parse_anweb(write(tmp_path, lines)).set_index("code")
    assert df.loc["G9890", "long_desc"].startswith("Bridge pa\u201cment: a one-time")
    assert "program (mdpp) core session" in df.loc["G9890", "long_desc"]  # the no-break space was stripped
    assert (df.loc["G9890", "short_desc"], df.loc["G9890", "add_date"]) == ("Em bridge payment", "2018-04-01")
    assert df.loc["GP", "long_desc"] == parse_anweb(write(tmp_path, LINES)).set_index("code").loc["GP", "long_desc"]


@pytest.mark.parametrize(
    "damage, line, expected",
    [
        (lambda b: b.replace(b"G9890001003", b"G98\xe90001003", 1), 5, "a HCPCS code"),
        (lambda b: b.replace(b"Bridge payment", b"Bridge pa\x81ment", 1), 5, "cp1252 text, found byte 0x81"),
        (lambda b: b.replace(b"Bridge payment", b"Bridge pa\x1fment", 1), 5, "control byte 0x1f"),
    ],
    ids=["non-ascii-code", "undefined-cp1252-byte", "control-byte"],
)
def test_bad_bytes_name_their_line(tmp_path, damage, line, expected):
    path = write(tmp_path, LINES)
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(ParseError) as err:
        parse_anweb(path)
    assert (err.value.line, expected in err.value.expected) == (line, True), str(err.value)
