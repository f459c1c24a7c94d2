"""Place of Service: the curated pos.csv, its release tables, and the CMS page parser and check."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from lxml import etree

from ingest.model import COLUMNS, ParseError, Release
from ingest.parse_pos import compare_pos_page, parse_cms_pos_page, pos_release_table, read_pos_csv
from tests.conftest import CODESETS, SAMPLE, shared

POS_CSV = CODESETS / "pos.csv"
PAGE = SAMPLE / "pos" / "place-of-service-codes.html"
ASSIGNED = sorted(
    f"{n:02d}"
    for first, last in [(1, 27), (31, 34), (41, 42), (49, 58), (60, 62), (65, 66), (71, 72), (81, 81), (99, 99)]
    for n in range(first, last + 1)
)
PAGE_CODES = ["01", "02", "09", "10", "11", "22", "23", "27", "58", "66", "99"]

SMALL_CSV = (
    "code,name,description,effective_start,effective_end,notes\n"
    "02,Telehealth,Through a telecommunication system.,2017-01-01,2021-12-31,old wording\n"
    "02,Telehealth Provided Other than in Patient's Home,\"Not at home, by telecommunication.\",2022-01-01,,\n"
    "10,Telehealth Provided in Patient's Home,At home.,2022-01-01,,\n"
    "11,Office,\"Location, other than a hospital.\",2003-01-01,,\n"
)


@pytest.fixture(scope="module")
def pos():
    return read_pos_csv(POS_CSV)


@pytest.fixture(scope="module")
def page():
    return parse_cms_pos_page(PAGE.read_text(encoding="utf-8"), PAGE)


def in_force(pos: pd.DataFrame, day: str) -> pd.DataFrame:
    return pos_release_table(pos, Release("pos", dt.date.fromisoformat(day))).set_index("code")


# --- the curated list -------------------------------------------------------------------------------------

def test_curated_list_is_text_with_zero_padded_codes(pos):
    assert list(pos.columns) == ["code", "name", "description", "effective_start", "effective_end", "notes"]
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in pos.dtypes)
    assert pos["code"].str.fullmatch(r"\d{2}").all()
    assert pos["notes"].str.len().gt(0).all()


def test_all_52_assigned_codes_in_force_on_2024_08_01(pos):
    assert in_force(pos, "2024-08-01").index.tolist() == ASSIGNED


@pytest.mark.parametrize(("code", "start"), [("10", "2022-01-01"), ("27", "2023-10-01"),
                                              ("58", "2020-01-01"), ("66", "2024-08-01")])
def test_added_codes_absent_before_their_effective_date(pos, code, start):
    day_before = (dt.date.fromisoformat(start) - dt.timedelta(days=1)).isoformat()
    assert code not in in_force(pos, day_before).index
    assert code in in_force(pos, start).index


def test_02_revision_is_two_rows(pos):
    assert in_force(pos, "2021-12-31").loc["02", "short_desc"] == "Telehealth"
    after = in_force(pos, "2022-01-01").loc["02"]
    assert after["short_desc"] == "Telehealth Provided Other than in Patient’s Home"
    assert after["effective_start"] == "2022-01-01"
    assert pos.loc[pos["code"] == "02", "effective_end"].tolist() == ["2021-12-31", ""]


def test_release_table_schema(pos):
    table = pos_release_table(pos, Release("pos", dt.date(2024, 8, 1)))
    assert tuple(table.columns) == COLUMNS
    assert all(pd.api.types.is_string_dtype(dtype) for dtype in table.dtypes)
    assert not table.isna().any().any()
    assert table["code"].tolist() == sorted(table["code"])
    first = table.iloc[0]
    assert (first["system"], first["release"], first["code"], first["display_code"], first["kind"]) == (
        "pos", "2024-08-01", "01", "01", "pos")
    assert (first["billable"], first["status"], first["short_desc"]) == ("1", "active", "Pharmacy")
    assert (table[["action_code", "xrefs", "order_no"]] == "").all().all()


def test_release_table_refuses_another_system(pos):
    with pytest.raises(ValueError, match="expected a pos release"):
        pos_release_table(pos, Release("hcpcs", dt.date(2019, 1, 1)))


def test_small_csv_reads(tmp_path):
    path = tmp_path / "pos.csv"
    path.write_text(SMALL_CSV, encoding="utf-8")
    df = read_pos_csv(path)
    assert df["code"].tolist() == ["02", "02", "10", "11"]
    assert df["description"].iloc[3] == "Location, other than a hospital."
    assert df["effective_end"].tolist() == ["2021-12-31", "", "", ""]


@pytest.mark.parametrize(("old", "new", "line", "expected"), [
    ("effective_end", "end", 1, "expected header"),
    ("\n11,Office,", "\n11,Office,extra,", 5, "expected 6 fields"),
    ("\n11,Office", "\n1,Office", 5, "expected a two-digit code"),
    ("\n10,Telehealth", "\nX0,Telehealth", 4, "expected a two-digit code"),
    ("2003-01-01", "2003-13-01", 5, "expected effective_start as YYYY-MM-DD"),
    ("2021-12-31", "12/31/2021", 2, "expected effective_end as YYYY-MM-DD"),
    ("2017-01-01,2021-12-31", "2022-01-01,2021-12-31", 2, "expected effective_start 2022-01-01 on or before"),
    ("10,Telehealth Provided in", "02,Telehealth Provided in", 4, "expected one row per (code, effective_start)"),
    ("2021-12-31", "2022-06-30", 3, "expected non-overlapping intervals for code 02; overlaps line 2"),
    (",2021-12-31,", ",,", 3, "expected non-overlapping intervals for code 02"),
])
def test_broken_csv_names_file_line_and_expectation(tmp_path, old, new, line, expected):
    assert old in SMALL_CSV
    path = tmp_path / "pos.csv"
    path.write_text(SMALL_CSV.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(ParseError) as caught:
        read_pos_csv(path)
    assert caught.value.line == line
    assert expected in caught.value.expected
    assert str(caught.value).startswith(f"{path}:{line}: expected")


# --- the CMS page -----------------------------------------------------------------------------------------

def test_page_assigned_codes_only(page):
    assert list(page.columns) == ["code", "name", "description", "effective_note"]
    assert page["code"].tolist() == PAGE_CODES


def test_page_cells_are_cleaned(page):
    rows = page.set_index("code")
    assert rows.loc["01", "name"] == "Pharmacy"
    assert rows.loc["66", "name"] == "Programs of All-Inclusive Care for the Elderly (PACE) Center"
    assert rows.loc["09", "name"] == "Prison/ Correctional Facility"
    assert rows.loc["01", "description"].endswith("directly to patients.")
    assert rows.loc["01", "effective_note"] == "(Effective October 1, 2003)"
    assert rows.loc["02", "effective_note"] == (
        "(Effective January 1, 2017) "
        "(Description change effective January 1, 2022, and applicable for Medicare April 1, 2022.)")
    assert rows.loc["11", "effective_note"] == ""
    assert not rows["description"].str.contains("ffective", regex=False).any()
    assert rows.loc["58", "description"].endswith("Medication Assisted Treatment (MAT).")


def test_assigned_range_rows_expand():
    html = ("<table><tr><th>Place of Service Code(s)</th><th>Name</th><th>Description</th></tr>"
            "<tr><td>43-44</td><td>Hypothetical Place</td><td>Test. (Effective May 1, 2030)</td></tr>"
            "<tr><td>45-48</td><td>Unassigned</td><td>N/A</td></tr></table>")
    page = parse_cms_pos_page(html)
    assert page["code"].tolist() == ["43", "44"]
    assert page["effective_note"].tolist() == ["(Effective May 1, 2030)"] * 2


def row_line(html: str, code: str) -> int:
    """1-based line of the <tr> that opens the sample page's row for a code (the line above its code cell)."""
    return html.splitlines().index(f'<th scope="row">{code}</th>')


@pytest.mark.parametrize(("old", "new", "code", "expected"), [
    ("<td>Office</td>\n", "", "11", "expected 3 cells (code, name, description), found 2"),
    ('<th scope="row">99</th>', '<th scope="row">9A</th>', "99", "expected a code like 02 or a range"),
    ('<th scope="row">11</th>', '<th scope="row">10</th>', "11", "expected each code once, 10 repeats"),
])
def test_broken_page_names_line(old, new, code, expected):
    html = PAGE.read_text(encoding="utf-8")
    assert html.count(old) == 1
    with pytest.raises(ParseError) as caught:
        parse_cms_pos_page(html.replace(old, new), PAGE)
    assert caught.value.line == row_line(html, code)
    assert expected in caught.value.expected


def test_page_without_the_table():
    with pytest.raises(ParseError, match=r"^<page>: expected a table"):
        parse_cms_pos_page("<html><body><table><tr><td>x</td></tr></table></body></html>")


def test_sample_page_agrees_with_curated_list(page, pos):
    issues = compare_pos_page(page, pos, dt.date(2024, 8, 1))
    assert {row["issue"] for row in issues} == {"not on CMS page"}
    assert [row["code"] for row in issues] == [code for code in ASSIGNED if code not in PAGE_CODES]


def test_compare_flags_what_a_curator_must_update(page, pos):
    changed = page.copy()
    changed.loc[changed["code"] == "99", "name"] = "Other Place"
    changed.loc[len(changed)] = ["67", "New Place", "A new place.", "(Effective January 1, 2030)"]
    issues = {row["code"]: row for row in compare_pos_page(changed, pos, dt.date(2021, 6, 1))}
    assert issues["67"] == {"code": "67", "issue": "not in curated list", "page": "New Place", "curated": ""}
    assert issues["99"]["issue"] == "name differs"
    assert issues["02"] == {"code": "02", "issue": "name differs",
                            "page": "Telehealth Provided Other than in Patient’s Home", "curated": "Telehealth"}
    not_curated = {code for code, row in issues.items() if row["issue"] == "not in curated list"}
    assert not_curated == {"10", "27", "66", "67"}
    assert issues["12"] == {"code": "12", "issue": "not on CMS page", "page": "", "curated": "Home"}
    assert "22" not in issues and "09" not in issues


# --- third-party transcriptions in ../shared (fixtures and a cross-check, not the source of truth) ----------

@pytest.mark.realdata
def test_hl7_codesystem_has_the_same_52_codes_and_names(pos):
    root = etree.parse(str(shared("pos", "hl7-utg", "cs-CMS-PlaceofServiceCodes.xml"))).getroot()
    fhir = {"f": "http://hl7.org/fhir"}
    concepts = [(c.find("f:code", fhir).get("value"), c.find("f:display", fhir).get("value").replace("*", ""))
                for c in root.iterfind("f:concept", fhir)]
    hl7 = pd.DataFrame(concepts, columns=["code", "name"])
    assert sorted(hl7["code"]) == ASSIGNED
    issues = compare_pos_page(hl7, pos, dt.date(2024, 8, 1))
    assert [(row["code"], row["page"]) for row in issues] == [("18", "Worksite")]


@pytest.mark.realdata
def test_2017_scrape_matches_the_curated_list_in_force_then(pos):
    scraped = pd.read_json(shared("pos", "2017-02", "codes.json"), dtype=str)
    current = in_force(pos, "2017-02-01")
    assert sorted(scraped["placeOfServiceCode"]) == current.index.tolist()
    assert current.loc["02", "short_desc"] == "Telehealth"
