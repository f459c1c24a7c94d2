"""ICD-10-CM parsers: order file, codes file, addenda and conversion table, into plain tables."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest.fixedwidth import field, read_lines
from ingest.layouts import load_layout
from ingest.model import COLUMNS, ParseError, Release
from ingest.readers import read_official_text
from ingest.systems import ICD10CM


def dotted(code: str) -> str:
    """E119 -> E11.9; three-character categories have no dot (the registry's display form)."""
    return ICD10CM.display_official(code)


def undotted(code: str) -> str:
    return ICD10CM.normalize(code)


def _unique(path: Path, table: pa.Table) -> pa.Table:
    if pc.count_distinct(table.column("code")).as_py() != table.num_rows:
        _check_unique(path, table.column("code").to_pandas())
    return table


def _check_unique(path: Path, codes: pd.Series) -> None:
    dup = codes.duplicated()
    if dup.any():
        second = int(dup.to_numpy().argmax())
        code = codes.iloc[second]
        first = int((codes == code).to_numpy().argmax())
        raise ParseError(path, second + 1, f"expected each code once; {code} is already on line {first + 1}")


def parse_order(path: Path) -> pd.DataFrame:
    """The order file: every code and header, in tabular order, with its billable flag."""
    layout = load_layout("icd10cm_order")
    lines = read_lines(path, layout)
    table = pa.table({name: field(lines, layout, name, strip=name != "long_desc")
                      for name in ("order_no", "code", "billable", "short_desc", "long_desc")})
    return _unique(path, table).to_pandas()


def parse_codes(path: Path) -> pd.DataFrame:
    """The codes file: billable codes and their long descriptions."""
    layout = load_layout("icd10cm_codes")
    lines = read_lines(path, layout)
    table = pa.table({name: field(lines, layout, name) for name in ("code", "long_desc")})
    return _unique(path, table).to_pandas()


_ACTIONS = {"Add:": "add", "Delete:": "delete", "Revise from:": "revise_from", "Revise to:": "revise_to"}
_ADDENDA_LINE = re.compile(r"^(Add:|Delete:|Revise from:|Revise to:) *(.*?)\s*$")


def parse_addenda(path: Path) -> pd.DataFrame:
    """An addenda file (codes or order): one row per Add/Delete/Revise line, the summary block skipped.

    Codes addenda records are `code long_desc`; order addenda records are `flag code short long`.
    Columns: line, action, code, billable ('' in codes addenda), short_desc, long_desc.
    """
    text = read_official_text(path, "ascii", "an ICD-10-CM addenda file")
    order_style = "order" in Path(path).name.lower()
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        m = _ADDENDA_LINE.match(line)
        if not m:
            continue
        action, record = _ACTIONS[m.group(1)], line[13:]  # keyword padded to 13 columns
        if order_style:
            flag, code, short, long_ = record[0:1], record[2:9].rstrip(), record[10:70].rstrip(), record[71:]
            if flag not in ("0", "1"):
                raise ParseError(path, number, f"expected billable flag 0 or 1 in column 14, found {flag!r}")
        else:
            flag, code, short, long_ = "", record[0:7].rstrip(), "", record[8:]
        if not re.fullmatch(r"[A-Z][0-9A-Z]{2,6}", code):
            raise ParseError(path, number, f"expected an ICD-10-CM code after {m.group(1)!r}, found {code!r}")
        out.append((number, action, code, flag, short, long_.rstrip()))
    if not out:
        raise ParseError(path, None, "expected Add:/Delete:/Revise lines, found none")
    return pd.DataFrame(out, columns=["line", "action", "code", "billable", "short_desc", "long_desc"])


_CODE = r"[A-Z][0-9A-Z]{2}(?:\.?[0-9A-Z]{1,4})?"
_CONVERSION_CODE = re.compile(_CODE)
# A previous assignment: a code or a range, separated by commas, semicolons, "and" or blanks.
_CONVERSION_ITEM = re.compile(rf"\b({_CODE})(?:\s*-\s*({_CODE}))?\b")


def parse_conversion(path: Path) -> pd.DataFrame:
    """The conversion table (xlsx): current code, effective fiscal year, previous code(s), undotted.

    The sheet's first row is an NCHS notice; the header row holds 'Current code assignment'. Previous
    assignments may be a code, a range (H02.101-H02.106), several codes, or 'None'. Ranges are kept
    as `A-B` here and expanded against a release's codes by the diff.
    """
    try:
        raw = pd.read_excel(path, header=None, dtype=str, engine="calamine").fillna("")
    except Exception as exc:  # calamine's errors name neither the file nor what was expected
        raise ParseError(path, None, f"expected the conversion table workbook (xlsx), could not read it: "
                                     f"{type(exc).__name__}: {exc}") from None
    if raw.shape[1] < 3:
        raise ParseError(path, None, "expected three columns: current code, effective, previous code(s)")
    header_rows = raw.index[raw.iloc[:, 0].str.strip().str.lower() == "current code assignment"]
    if len(header_rows) == 0:
        raise ParseError(path, None, "expected a header row 'Current code assignment | Effective | Previous ...'")
    start = int(header_rows[0])
    out = []
    rows = raw.iloc[start + 1:, :3].to_numpy().tolist()
    for idx, values in enumerate(rows, start=start + 1):
        current, effective, previous = (str(v).strip() for v in values)
        if not current:
            continue
        if not _CONVERSION_CODE.fullmatch(current):
            raise ParseError(path, idx + 1, f"expected an ICD-10-CM code in column A, found {current!r}")
        items = _CONVERSION_ITEM.findall(previous)  # "and" stays lower case, so never a code
        if not items and previous.lower() not in ("", "none"):
            raise ParseError(path, idx + 1, f"expected previous code(s), a range or None in column C, "
                                            f"found {previous!r}")
        prev_codes = " ".join(undotted(a) + (f"-{undotted(b)}" if b else "") for a, b in items)
        out.append((idx + 1, undotted(current), effective, previous, prev_codes))
    return pd.DataFrame(out, columns=["row", "code", "effective", "previous_text", "previous"])


def release_table(order: pd.DataFrame, release: Release, codes: pd.DataFrame | None = None,
                  order_path: Path | None = None, codes_path: Path | None = None) -> pd.DataFrame:
    """The normalised release table from a parsed order file (cross-checked against the codes file)."""
    if codes is not None:
        billable = order.loc[order["billable"] == "1", ["code", "long_desc"]]
        merged = billable.merge(codes, on="code", how="outer", suffixes=("_order", "_codes"), indicator=True)
        mismatch = merged[(merged["_merge"] != "both") | (merged["long_desc_order"] != merged["long_desc_codes"])]
        if len(mismatch):
            code = mismatch["code"].iloc[0]
            raise ParseError(codes_path or "codes file", None,
                             f"expected the same billable codes and long descriptions as {order_path}; "
                             f"{len(mismatch)} differ, first {code}")
    n = len(order)
    billable = order["billable"]
    end = release.end.isoformat() if release.end else ""
    table = pd.DataFrame(
        {
            "system": "icd10cm",
            "release": release.id,
            "code": order["code"],
            "display_code": [dotted(c) for c in order["code"].tolist()],
            "kind": billable.map({"1": "code", "0": "header"}),
            "billable": billable,
            "short_desc": order["short_desc"],
            "long_desc": order["long_desc"],
            "effective_start": release.id,
            "effective_end": end,
            "status": billable.map({"1": "active", "0": "header"}),
            "order_no": order["order_no"],
        },
        index=range(n),
    )
    for col in COLUMNS:
        if col not in table:
            table[col] = ""
    return table.loc[:, list(COLUMNS)].astype(str).sort_values("code", kind="stable", ignore_index=True)
