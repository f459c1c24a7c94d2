"""Reader for the CMS Medically Unlikely Edit (MUE) tables in their official CSV layout."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pandas as pd

from ingest.model import ParseError

_CODE = re.compile(r"[0-9A-Z]{5}")
_EFFECTIVE_IN_NAME = re.compile(r"Eff[_-](\d{2})-(\d{2})-(\d{4})", re.IGNORECASE)
MAI_NAMES = {1: "line edit", 2: "date of service edit: policy", 3: "date of service edit: clinical"}


def effective_from_name(path: str | Path) -> dt.date | None:
    """CMS names MUE files ..._Eff_01-01-2026.csv: the quarter they apply from."""
    m = _EFFECTIVE_IN_NAME.search(Path(path).name)
    if not m:
        return None
    month, day, year = (int(g) for g in m.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _norm(cell: str) -> str:
    return " ".join(cell.split()).upper()


def read_mue(path: str | Path, effective: dt.date | None = None) -> pd.DataFrame:
    """One MUE table: columns code, mue (int), mai (1, 2 or 3), rationale, effective (date), line.

    The file opens with an AMA notice (one quoted cell, possibly over several lines), then the header row
    HCPCS/CPT Code, <Setting> Services MUE Values, MUE Adjudication Indicator, MUE Rationale (the first cell
    may hold a line break), then one row per code. The indicator cell is its digit and text
    ("3 Date of Service Edit: Clinical").
    """
    path = Path(path)
    effective = effective or effective_from_name(path)
    if effective is None:
        raise ParseError(path, None, "expected the effective date in the file name (..._Eff_MM-DD-YYYY.csv) "
                                     "or an `effective:` date for it in the rule file")
    rows: list[tuple[str, int, int, str, int]] = []
    with path.open(newline="", encoding="cp1252", errors="replace") as fh:
        reader = csv.reader(fh)
        cols = None
        for record in reader:
            line = reader.line_num
            if cols is None:
                cells = [_norm(c) for c in record]
                if cells and cells[0].startswith("HCPCS") and "CPT" in cells[0]:
                    find = {name: next((i for i, c in enumerate(cells) if key in c), None)
                            for name, key in (("mue", "MUE VALUE"), ("mai", "ADJUDICATION INDICATOR"),
                                              ("rationale", "RATIONALE"))}
                    if find["mue"] is None or find["mai"] is None:
                        raise ParseError(path, line, "expected columns '... MUE Values' and 'MUE Adjudication "
                                                     f"Indicator' in the header, found {record}")
                    cols = find
                continue
            if not any(c.strip() for c in record):
                continue
            code = record[0].strip().upper()
            if not _CODE.fullmatch(code):
                raise ParseError(path, line, f"expected a HCPCS/CPT code (5 letters/digits), found {record[0]!r}")
            try:
                value = int(record[cols["mue"]].strip())
                mai = int(record[cols["mai"]].strip()[:1])
            except (ValueError, IndexError):
                raise ParseError(path, line, "expected an MUE value (whole number) and an adjudication "
                                             f"indicator starting 1, 2 or 3, found {record}") from None
            if mai not in MAI_NAMES or value < 0:
                raise ParseError(path, line, f"expected adjudication indicator 1, 2 or 3, found {record}")
            rationale = record[cols["rationale"]].strip() if cols["rationale"] is not None and \
                cols["rationale"] < len(record) else ""
            rows.append((code, value, mai, rationale, line))
        if cols is None:
            raise ParseError(path, None, "expected a header row starting 'HCPCS/CPT Code' (the CMS MUE layout)")
    frame = pd.DataFrame(rows, columns=["code", "mue", "mai", "rationale", "line"])
    frame = frame.astype({"code": object, "rationale": object})
    dup = frame["code"].duplicated()
    if dup.any():
        bad = frame[dup].iloc[0]
        raise ParseError(path, int(bad["line"]), f"expected one row per code, {bad['code']} appears again")
    frame["effective"] = pd.Timestamp(effective)
    return frame
