"""Place of Service: the curated codesets/pos.csv, its release tables, and the CMS POS web page check."""

from __future__ import annotations

import copy
import csv
import datetime as dt
import re
from pathlib import Path

import lxml.html
import pandas as pd

from ingest.model import COLUMNS, ParseError, Release

POS_CSV_COLUMNS = ("code", "name", "description", "effective_start", "effective_end", "notes")
PAGE_COLUMNS = ("code", "name", "description", "effective_note")

_CODE = re.compile(r"\d{2}")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PAGE_CODE_CELL = re.compile(r"(?P<first>\d{2})(?:\s*-\s*(?P<last>\d{2}))?")
# "(Effective January 1, 2003)", "(Description change effective ...)", "(This code is available for use ...)"
_EFFECTIVE_NOTE = re.compile(r"\((?:[^()]*\b(?:effective|available)\b[^()]*)\)", re.IGNORECASE)
# Typography the CMS page changes without changing meaning.
_PUNCTUATION = str.maketrans({"\u2019": "'", "\u2018": "'", "\u2013": "-", "\u2014": "-"})


def read_pos_csv(path: str | Path) -> pd.DataFrame:
    """Read and validate the curated POS list: one row per (code, validity interval), every value a str.

    An empty effective_start means CMS documents no start date: the code was in effect before the earliest
    documented date (the first release, see release_dates), and no date is invented for it."""
    path = Path(path)
    rows: list[list[str]] = []
    intervals: dict[str, list[tuple[str, str, int]]] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header != list(POS_CSV_COLUMNS):
            raise ParseError(path, 1, f"expected header {','.join(POS_CSV_COLUMNS)}")
        for row in reader:
            line = reader.line_num
            if len(row) != len(POS_CSV_COLUMNS):
                raise ParseError(path, line, f"expected {len(POS_CSV_COLUMNS)} fields, found {len(row)}")
            code, name, _description, start, end, _notes = row
            if not _CODE.fullmatch(code):
                raise ParseError(path, line, f"expected a two-digit code like 02, found {code!r}")
            if not name.strip():
                raise ParseError(path, line, f"expected a name for code {code}")
            _check_date(path, line, "effective_start", start, required=False)
            _check_date(path, line, "effective_end", end, required=False)
            if end and start > end:
                raise ParseError(path, line,
                                 f"expected effective_start {start} on or before effective_end {end}")
            for other_start, other_end, other_line in intervals.get(code, []):
                if start == other_start:
                    raise ParseError(path, line, f"expected one row per (code, effective_start); "
                                                 f"{code} {start} repeats line {other_line}")
                if _overlaps(start, end, other_start, other_end):
                    raise ParseError(path, line, f"expected non-overlapping intervals for code {code}; "
                                                 f"overlaps line {other_line}")
            intervals.setdefault(code, []).append((start, end, line))
            rows.append(row)
    return pd.DataFrame(rows, columns=list(POS_CSV_COLUMNS), dtype=str)


def _check_date(path: Path, line: int, column: str, value: str, *, required: bool) -> None:
    if not value and not required:
        return
    if not (_ISO_DATE.fullmatch(value) and _is_calendar_date(value)):
        raise ParseError(path, line, f"expected {column} as YYYY-MM-DD, found {value!r}")


def _is_calendar_date(value: str) -> bool:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _overlaps(start: str, end: str, other_start: str, other_end: str) -> bool:
    """Closed ISO-date intervals; an empty end is open."""
    return (not other_end or start <= other_end) and (not end or other_start <= end)


def release_dates(pos_df: pd.DataFrame) -> list[dt.date]:
    """The effective dates of the Place of Service releases the curated list gives: every documented start,
    and the day after every end (a code retired or a description replaced). The first is the earliest
    documented date; codes with no documented start are in every release from it on."""
    days = {dt.date.fromisoformat(s) for s in pos_df["effective_start"] if s}
    days |= {dt.date.fromisoformat(e) + dt.timedelta(days=1) for e in pos_df["effective_end"] if e}
    return sorted(days)


def _in_force(pos_df: pd.DataFrame, on: dt.date) -> pd.DataFrame:
    day = on.isoformat()
    started = pos_df["effective_start"] <= day  # "" (start not documented) sorts first: in force from the first
    not_ended = (pos_df["effective_end"] == "") | (day <= pos_df["effective_end"])
    mask = started & not_ended
    return pos_df[mask].sort_values("code", kind="stable").reset_index(drop=True)


def pos_release_table(pos_df: pd.DataFrame, release: Release) -> pd.DataFrame:
    """The normalised release table (ingest.model.COLUMNS) of the POS codes in force on release.effective."""
    if release.system != "pos":
        raise ValueError(f"expected a pos release, got {release}")
    current = _in_force(pos_df, release.effective)
    values = {
        "system": "pos",
        "release": release.id,
        "code": current["code"],
        "display_code": current["code"],
        "kind": "pos",
        "billable": "1",
        "short_desc": current["name"],
        "long_desc": current["description"],
        "effective_start": current["effective_start"],
        "effective_end": current["effective_end"],
        "status": "active",
    }
    table = pd.DataFrame({column: values.get(column, "") for column in COLUMNS}, index=current.index)
    return table.astype(str)


def parse_cms_pos_page(html: str, path: str | Path = "<page>") -> pd.DataFrame:
    """Assigned codes from the CMS "Place of Service Code Set" page: code, name, description, effective_note.

    Range rows ("35-40") are expanded only when assigned; "Unassigned" rows are skipped. Footnote stars are
    stripped from codes and names, and "(Effective ...)" notes move from the description to effective_note.
    """
    table = _find_pos_table(lxml.html.fromstring(html), path)
    records: dict[str, tuple[str, str, str, str]] = {}
    for row in table.iter("tr"):
        cells = row.xpath("./th|./td")
        texts = [_cell_text(cell) for cell in cells]
        if texts and texts[0].lower().startswith("place of service code"):
            continue
        if len(cells) != 3:
            raise ParseError(path, row.sourceline,
                             f"expected 3 cells (code, name, description), found {len(cells)}")
        code_text, name, description = texts
        code_text, name = _without_stars(code_text), _without_stars(name)
        if name.lower() == "unassigned":
            continue
        match = _PAGE_CODE_CELL.fullmatch(code_text)
        if not match:
            raise ParseError(path, row.sourceline, f"expected a code like 02 or a range like 35-40, "
                                                   f"found {code_text!r}")
        notes = _EFFECTIVE_NOTE.findall(description)
        description = " ".join(_EFFECTIVE_NOTE.sub(" ", description).split())
        first, last = int(match["first"]), int(match["last"] or match["first"])
        for number in range(first, last + 1):
            code = f"{number:02d}"
            if code in records:
                raise ParseError(path, row.sourceline, f"expected each code once, {code} repeats")
            records[code] = (code, name, description, " ".join(notes))
    return pd.DataFrame(sorted(records.values()), columns=list(PAGE_COLUMNS), dtype=str)


def _find_pos_table(document: lxml.html.HtmlElement, path: str | Path) -> lxml.html.HtmlElement:
    for table in document.iter("table"):
        first_row = next(table.iter("tr"), None)
        if first_row is not None:
            cells = first_row.xpath("./th|./td")
            if cells and _cell_text(cells[0]).lower().startswith("place of service code"):
                return table
    raise ParseError(path, None, "expected a table whose header starts 'Place of Service Code(s)'")


def _cell_text(cell: lxml.html.HtmlElement) -> str:
    """Cell text with each <br> read as a space and whitespace (including no-break spaces) collapsed."""
    cell = copy.deepcopy(cell)
    for br in cell.iter("br"):
        br.tail = " " + (br.tail or "")
    return " ".join(cell.text_content().split())


def _without_stars(text: str) -> str:
    """Drop footnote markers: "Pharmacy**" -> "Pharmacy"."""
    return text.replace("*", "").strip()


def compare_pos_page(page_df: pd.DataFrame, pos_df: pd.DataFrame, on: dt.date) -> list[dict[str, str]]:
    """Differences between the CMS page and the curated codes in force on a date, sorted by code.

    Each row is {code, issue, page, curated} with issue "not in curated list", "not on CMS page" or
    "name differs" (case, whitespace and typographic quotes and dashes are ignored); page and curated hold
    the names on each side ("" where absent).
    """
    page_names = dict(zip(page_df["code"], page_df["name"], strict=True))
    curated = _in_force(pos_df, on)
    curated_names = dict(zip(curated["code"], curated["name"], strict=True))
    issues = []
    for code in sorted(page_names.keys() | curated_names.keys()):
        page_name, curated_name = page_names.get(code, ""), curated_names.get(code, "")
        if code not in curated_names:
            issue = "not in curated list"
        elif code not in page_names:
            issue = "not on CMS page"
        elif _name_key(page_name) != _name_key(curated_name):
            issue = "name differs"
        else:
            continue
        issues.append({"code": code, "issue": issue, "page": page_name, "curated": curated_name})
    return issues


def _name_key(name: str) -> str:
    return "".join(name.translate(_PUNCTUATION).casefold().split())
