"""ICD-10-CM parsers on small inline samples of the official formats, one broken sample per failure mode."""

from __future__ import annotations

import pytest

from ingest.model import ParseError
from ingest.parse_icd10cm import dotted, parse_addenda, parse_codes, parse_order, undotted

ORDER = (
    "00001 A00     0 Cholera                                                      Cholera\r\n"
    "00002 A000    1 Cholera due to Vibrio cholerae 01, biovar cholerae           "
    "Cholera due to Vibrio cholerae 01, biovar cholerae\r\n"
    "00003 A001    1 Cholera due to Vibrio cholerae 01, biovar eltor              "
    "Cholera due to Vibrio cholerae 01, biovar eltor\r\n"
    "00004 A009    1 Cholera, unspecified                                         Cholera, unspecified\r\n"
)
CODES = (
    "A000    Cholera due to Vibrio cholerae 01, biovar cholerae\r\n"
    "A001    Cholera due to Vibrio cholerae 01, biovar eltor\r\n"
    "A009    Cholera, unspecified\r\n"
)


def write(tmp_path, name, text, encoding="ascii"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def test_order_file_rows_flags_and_descriptions(tmp_path):
    df = parse_order(write(tmp_path, "icd10cm_order_2026.txt", ORDER))
    assert df["code"].tolist() == ["A00", "A000", "A001", "A009"]
    assert df["billable"].tolist() == ["0", "1", "1", "1"]
    assert df["short_desc"].iloc[0] == "Cholera"
    assert df["long_desc"].iloc[3] == "Cholera, unspecified"
    assert df["order_no"].iloc[1] == "00002"


def test_codes_file(tmp_path):
    df = parse_codes(write(tmp_path, "icd10cm_codes_2026.txt", CODES))
    assert df["code"].tolist() == ["A000", "A001", "A009"]
    assert df["long_desc"].iloc[2] == "Cholera, unspecified"


def test_lf_only_line_endings_parse_too(tmp_path):
    df = parse_order(write(tmp_path, "icd10cm-order-2026.txt", ORDER.replace("\r\n", "\n")))
    assert len(df) == 4


def test_dots_are_added_in_one_place():
    assert dotted("E119") == "E11.9"
    assert dotted("A00") == "A00"
    assert dotted("S301XXA") == "S30.1XXA"
    assert undotted(" e11.9 ") == "E119"


@pytest.mark.parametrize(
    "broken, line, expected",
    [
        # a shifted column: one blank too many before the code
        (ORDER.replace("00003 A001    1", "00003  A001   1"), 3, "ICD-10-CM code"),
        # a truncated last line (download cut mid-line)
        (ORDER[: ORDER.rindex("Cholera, unspecified")], 4, "long description"),
        # an order number that is not five digits
        (ORDER.replace("00002 A000", "0002X A000"), 2, "5-digit order number"),
        # a billable flag that is neither 0 nor 1
        (ORDER.replace("A001    1", "A001    Y"), 3, "billable flag 1 or 0"),
        # a blank line in the middle
        (ORDER.replace("\r\n00003", "\r\n\r\n00003"), 3, "blank line"),
        # a duplicate code
        (ORDER + ORDER.splitlines(keepends=True)[1].replace("00002", "00005"), 5, "A000 is already on line 2"),
    ],
    ids=["shifted-column", "truncated", "order-number", "flag", "blank-line", "duplicate"],
)
def test_broken_order_file_names_file_line_and_expectation(tmp_path, broken, line, expected):
    path = write(tmp_path, "icd10cm_order_2026.txt", broken)
    with pytest.raises(ParseError) as err:
        parse_order(path)
    assert err.value.line == line
    assert expected in err.value.expected
    assert str(err.value).startswith(f"{path}:{line}: expected")


def test_empty_file(tmp_path):
    with pytest.raises(ParseError, match="the file is empty") as err:
        parse_order(write(tmp_path, "icd10cm_order_2026.txt", ""))
    assert err.value.line is None


def test_html_page_saved_as_the_file(tmp_path):
    page = "<!DOCTYPE html><html><head><title>Page not found</title></head><body></body></html>"
    with pytest.raises(ParseError, match="got an HTML page") as err:
        parse_codes(write(tmp_path, "icd10cm_codes_2026.txt", page))
    assert err.value.line == 1


def test_non_ascii_byte_names_its_line(tmp_path):
    path = tmp_path / "icd10cm_codes_2026.txt"
    path.write_bytes(CODES.encode() .replace(b"eltor", b"elt\xe9r"))
    with pytest.raises(ParseError, match="byte 0xe9") as err:
        parse_codes(path)
    assert err.value.line == 2


def test_addenda_codes_and_order_styles(tmp_path):
    codes = write(tmp_path, "icd10cm_codes_addenda_2026.txt",
                  "Delete:      B880    Other acariasis\r\n"
                  "Add:         B8801   Infestation by Demodex mites\r\n"
                  "Revise from: A000    Old title\r\n"
                  "Revise to:   A000    New title\r\n"
                  "\r\n  1 additions\r\n")
    df = parse_addenda(codes)
    assert df[["action", "code"]].values.tolist() == [
        ["delete", "B880"], ["add", "B8801"], ["revise_from", "A000"], ["revise_to", "A000"]]
    assert df["long_desc"].tolist()[1] == "Infestation by Demodex mites"
    order = write(tmp_path, "icd10cm_order_addenda_2026.txt",
                  "Delete:      1 G35     Multiple sclerosis" + " " * 42 + "Multiple sclerosis\r\n"
                  "Add:         0 G35     Multiple sclerosis" + " " * 42 + "Multiple sclerosis\r\n")
    df = parse_addenda(order)
    assert df[["action", "code", "billable"]].values.tolist() == [["delete", "G35", "1"], ["add", "G35", "0"]]
    assert df["short_desc"].iloc[0] == "Multiple sclerosis"
