"""Hostile inventories (issue #13, "nothing wrong gets in"): a broken file is one error line naming the file,
the line and what was expected; a broken row is an issue row; a specialty with a comma stays one specialty on
every page; spreadsheet exports (BOM, CRLF, blank lines) still load as they are."""

from __future__ import annotations

import json

import pytest

from ingest.inventory import load_inventory
from ingest.model import CodegovError, ParseError
from tests.conftest import CODESETS

HEADER = "system,code,specialty,service_line,owner,notes\n"
GOOD = ("cpt,97110,physical therapy,timed therapy,Rehab coding lead,8-minute rule\n"
        "hcpcs,E0143,DME,mobility,DME intake lead,\n"
        "icd10cm,M54.50,physical therapy,,Rehab coding lead,\n")


def write(tmp_path, text: str, name: str = "inventory.csv", encoding: str = "utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def records(inv) -> list[tuple]:
    return [(r["line"], r["system"], r["code"], r["specialty"], r["owner"], r["notes"])
            for r in inv.rows.to_dict("records")]


# 1. a specialty with a comma is one specialty ----------------------------------------------------------------


def test_a_quoted_specialty_with_a_comma_loads_as_one_specialty(tmp_path):
    inv = load_inventory(write(tmp_path, HEADER + 'icd10cm,G35,"Neurology, MS clinic",relapsing,Neuro lead,\n'
                                         'icd10cm,G35,DME,mobility,DME intake lead,"also neuro; see ""MS"""\n'))
    assert inv.issues == []
    assert records(inv) == [(2, "icd10cm", "G35", "Neurology, MS clinic", "Neuro lead", ""),
                            (3, "icd10cm", "G35", "DME", "DME intake lead", 'also neuro; see "MS"')]


def test_an_unquoted_comma_that_shifts_the_columns_is_an_error_row(tmp_path):
    inv = load_inventory(write(tmp_path, HEADER + GOOD + "icd10cm,G35,Neurology, MS clinic,relapsing,Neuro lead,\n"))
    [issue] = inv.issues
    assert issue["line"] == 5 and issue["severity"] == "error" and issue["code"] == "G35"
    assert "7 values where the header has 6 columns" in issue["issue"] and "quote" in issue["issue"]
    assert "G35" not in set(inv.rows["code"])  # "MS clinic" as service line and "relapsing" as owner: never
    assert len(inv.rows) == 3


def test_what_changed_shows_a_specialty_with_a_comma_as_one_section(sample_releases, tmp_path):
    """The page's specialties are the inventory's names, not the pieces of the ", " join of a code's
    specialties (G35 is billed by two specialties, one of which has a comma in its name)."""
    from ingest.repository import ReleaseRepository
    from playbooks.site import Site, gather

    inv = load_inventory(write(tmp_path, HEADER + 'icd10cm,G35,"Neurology, MS clinic",relapsing,Neuro lead,\n'
                                         "icd10cm,G35,DME,mobility,DME intake lead,\n"
                                         "icd10cm,R10.2,Imaging,ultrasound,Imaging coding lead,\n"
                                         'icd10cm,M54.50,"Pain, spine",,Rehab coding lead,\n'))
    assert inv.issues == []
    page = Site(gather(ReleaseRepository(sample_releases, CODESETS), inventory=inv)).what_changed()
    headings = [line for line in page.splitlines() if line.startswith("## ")]
    assert headings == ["## DME { #dme }", "## Imaging { #imaging }",
                        "## Neurology, MS clinic { #neurology-ms-clinic }", "## Pain, spine { #pain-spine }"]
    neuro = page.split("## Neurology, MS clinic", 1)[1].split("\n## ", 1)[0]
    assert "**G35**" in neuro
    dme = page.split("## DME", 1)[1].split("\n## ", 1)[0]
    assert "**G35**" in dme
    assert "| [Neurology, MS clinic](#neurology-ms-clinic) | 1 |" in page


# 2. an unbalanced quote -------------------------------------------------------------------------------------


def test_an_unclosed_quote_names_the_line_where_it_opened(tmp_path):
    path = write(tmp_path, HEADER + "cpt,97110,physical therapy,timed therapy,Rehab coding lead,\n"
                                    'cpt,97112,physical therapy,timed therapy,Rehab coding lead,"GP required\n'
                                    "hcpcs,E0143,DME,mobility,DME intake lead,\n"
                                    "icd10cm,M54.50,physical therapy,,Rehab coding lead,\n")
    with pytest.raises(ParseError) as err:
        load_inventory(path)
    assert err.value.line == 3 and err.value.path == str(path)
    message = str(err.value)
    assert message.startswith(f"{path}:3: a quote opens the 'notes' value and is not closed on this line")
    assert "the rest of the file" in message and "\n" not in message


def test_a_quote_closed_lines_later_names_the_lines_it_swallowed(tmp_path):
    path = write(tmp_path, HEADER + 'cpt,97110,"physical therapy,timed therapy,Rehab coding lead,\n'
                                    "hcpcs,E0143,DME,mobility,DME intake lead,\n"
                                    'icd10cm,M54.50,physical therapy",,Rehab coding lead,\n'
                                    "pos,11,office E/M,,Revenue cycle manager,\n")
    with pytest.raises(ParseError, match=r"inventory\.csv:2: a quote opens the 'specialty' value .* so lines 3 to 4 "
                                         r"is read into that one value"):
        load_inventory(path)
    path = write(tmp_path, HEADER + 'cpt,97110,pt,,Owner,"two\nlines"\nhcpcs,E0143,DME,,Owner,\n')
    with pytest.raises(ParseError, match=r":2: .*'notes'.* so line 3 is read"):
        load_inventory(path)


@pytest.mark.parametrize("tail", ["", "\n", "\r\n", "\n\n"])
def test_an_unclosed_quote_on_the_last_line_is_caught_with_or_without_a_final_newline(tmp_path, tail):
    path = write(tmp_path, HEADER + GOOD + 'pos,11,office E/M,,Revenue cycle manager,"POS 11' + tail)
    with pytest.raises(ParseError, match=r"inventory\.csv:5: a quote opens the 'notes' value"):
        load_inventory(path)


def test_an_unclosed_quote_in_the_header_is_an_error_on_its_line(tmp_path):
    path = write(tmp_path, 'system,code,"specialty,service_line,owner,notes\n' + GOOD)
    with pytest.raises(ParseError, match=r"inventory\.csv:1: a quote opens value 3"):
        load_inventory(path)


def test_the_cli_prints_the_unclosed_quote_as_one_line(codegov, sample_releases, tmp_path):
    path = write(tmp_path, HEADER + 'icd10cm,"G35,neuro,,Owner,\nicd10cm,I10,neuro,,Owner,\n')
    status, _, stderr = codegov("--codesets", CODESETS, "check", "--releases", sample_releases, "--inventory", path,
                                "--suite", "inventory", "--out", tmp_path / "checks")
    assert status == 1
    assert stderr == (f"Error: {path}:2: a quote opens the 'code' value and is not closed on this line, so the rest "
                      f"of the file is read into that one value: expected one row per line; close or remove the "
                      f"quote\n")


# 3. a column named twice ------------------------------------------------------------------------------------


@pytest.mark.parametrize("header, column, where", [
    ("system,code,specialty,service_line,owner,notes,code", "code", "columns 2 and 7"),
    ("system,code,specialty,service_line,owner,notes, Code ", "code", "columns 2 and 7"),
    ("system,code,specialty,owner,owner,notes", "owner", "columns 4 and 5"),
    ("system,code,specialty,service_line,owner,notes,notes", "notes", "columns 6 and 7"),
])
def test_a_column_named_twice_is_an_error_on_line_1(tmp_path, header, column, where):
    path = write(tmp_path, header + "\ncpt,97110,physical therapy,,Rehab coding lead,,97112\n")
    with pytest.raises(ParseError) as err:
        load_inventory(path)
    assert err.value.line == 1
    assert str(err.value) == (f"{path}:1: column {column!r} appears twice in the header ({where}): expected each of "
                              f"system, code, specialty, service_line, owner, notes, annual_volume once")


def test_blank_header_columns_are_not_duplicates(tmp_path):
    """Excel writes a trailing empty column name for a column once used and cleared: not a second column."""
    inv = load_inventory(write(tmp_path, HEADER.rstrip("\n") + ",,\n" + "".join(
        line + ",,\n" for line in GOOD.splitlines())))
    assert inv.issues == [] and len(inv.rows) == 3


# 4. no code rows --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("text", [HEADER, HEADER.rstrip("\n"), HEADER + "\n\n", HEADER + ",,,,,\n\r\n"])
def test_a_header_only_inventory_is_an_error_row(tmp_path, text):
    inv = load_inventory(write(tmp_path, text, name="export.csv"))
    assert inv.rows.empty
    assert inv.issues == [{"line": 1, "system": "", "code": "", "severity": "error",
                           "issue": "export.csv has no code rows (only the header): expected one row per code the "
                                    "organisation bills; an empty inventory is almost always a broken export"}]


def test_rows_that_all_fail_are_reported_as_themselves_not_as_an_empty_file(tmp_path):
    inv = load_inventory(write(tmp_path, HEADER + "cpt,1.00E+05,lab,,Lab manager,\n"))
    assert [i["line"] for i in inv.issues] == [2] and "scientific notation" in inv.issues[0]["issue"]


def test_a_header_only_inventory_fails_the_inventory_check(codegov, sample_releases, tmp_path):
    path = write(tmp_path, HEADER)
    status, stdout, _ = codegov("--codesets", CODESETS, "check", "--releases", sample_releases, "--inventory", path,
                                "--suite", "inventory", "--out", tmp_path / "checks")
    assert status == 3  # a failed gate: codegov.options.POLICY
    assert "FAILED inventory inventory.csv on 2025-10-01: inventory_loads code: 1 failing: line 1" in stdout
    [row] = json.loads((tmp_path / "checks" / "partial" / "results.json").read_text(encoding="utf-8"))["rows"]
    assert row["gate"] == "inventory_loads" and row["success"] is False
    assert "line 1: inventory.csv has no code rows (only the header)" in row["details"]


def test_a_header_only_inventory_is_listed_on_the_sites_inventory_page(tmp_path):
    from playbooks.site import Site, SiteData

    inv = load_inventory(write(tmp_path, HEADER))
    page = Site(SiteData(inventory_rows=inv.rows.to_dict("records"), inventory_issues=inv.issues,
                         inventory_path=str(inv.path))).inventory()
    assert "## Lines that need fixing" in page
    assert "| 1 |  |  | inventory.csv has no code rows (only the header)" in page


def test_an_empty_file_is_still_an_error_naming_the_columns(tmp_path):
    path = write(tmp_path, "")
    with pytest.raises(CodegovError, match=r"inventory\.csv:1: expected columns system, code, .*; missing system"):
        load_inventory(path)


# 5. legitimate spreadsheet exports --------------------------------------------------------------------------


@pytest.mark.parametrize("text", [
    "\ufeff" + HEADER + GOOD,                                  # Excel "CSV UTF-8": a byte-order mark
    (HEADER + GOOD).replace("\n", "\r\n"),                     # Windows line endings
    "\ufeff" + (HEADER + GOOD).replace("\n", "\r\n") + "\r\n\r\n",  # both, and trailing blank lines
    HEADER + GOOD + "\n\n\n",                                  # trailing blank lines
    HEADER + GOOD + ",,,,,\n,,,,,\n",                          # trailing rows of empty cells
    HEADER + GOOD.rstrip("\n"),                                # no final newline
    HEADER.upper().replace(",", " , ") + GOOD,                 # header in capitals, with spaces
])
def test_spreadsheet_exports_load_as_they_are(tmp_path, text):
    inv = load_inventory(write(tmp_path, text))
    assert inv.issues == []
    assert records(inv) == [(2, "cpt", "97110", "physical therapy", "Rehab coding lead", "8-minute rule"),
                            (3, "hcpcs", "E0143", "DME", "DME intake lead", ""),
                            (4, "icd10cm", "M5450", "physical therapy", "Rehab coding lead", "")]


def test_line_numbers_are_the_files_own_after_blank_lines(tmp_path):
    text = "\n" + HEADER + "cpt,97110,pt,,Owner,\n\n\ncpt,1.00E+05,pt,,Owner,\n" + 'hcpcs,E0143,DME,,Owner,"a, b"\n'
    inv = load_inventory(write(tmp_path, text.replace("\n", "\r\n")))
    assert [i["line"] for i in inv.issues] == [6]
    assert records(inv) == [(3, "cpt", "97110", "pt", "Owner", ""), (7, "hcpcs", "E0143", "DME", "Owner", "a, b")]


def test_the_bundled_sample_loads_without_an_issue():
    inv = load_inventory(CODESETS / "inventory")
    assert inv.issues == [] and len(inv.rows) > 100
    assert inv.rows["line"].tolist() == list(range(2, len(inv.rows) + 2))


def test_a_quote_that_swallows_more_than_the_csv_field_limit_still_names_its_line(tmp_path):
    rows = "".join(f"cpt,{97000 + i % 999},physical therapy,timed therapy,Rehab coding lead,row {i}\n"
                   for i in range(3000))
    path = write(tmp_path, HEADER + GOOD + 'pos,11,"office E/M,,Revenue cycle manager,\n' + rows)
    with pytest.raises(ParseError, match=r"inventory\.csv:5: expected CSV text \(field larger than field limit "
                                         r"\(\d+\)\): a quote opened on this line and never closed\?$"):
        load_inventory(path)
