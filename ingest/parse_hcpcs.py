"""HCPCS Level II parser: the ANWEB fixed-width file into one record per procedure code and modifier."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest.layouts import load_layout
from ingest.model import COLUMNS, ParseError, Release
from ingest.readers import read_official_text

RECORD_IDS = {"3": "procedure", "4": "procedure", "7": "modifier", "8": "modifier"}
FIRST_LINE = {"3", "7"}
ACTION_CODES = set("ABCDFNPRST")
COVERAGE_CODES = set("CDIMS")
_PROCEDURE = re.compile(r"[A-Z]\d{4}")
_MODIFIER = re.compile(r"[0-9A-Z]{2}")

def _is_record(line: str) -> bool:
    return len(line) >= 11 and line[5:10].isdigit() and line[10] in RECORD_IDS


def parse_anweb(path: Path) -> pd.DataFrame:
    """One row per code (procedures and modifiers), long descriptor joined across continuation lines.

    Disclaimer lines before the first record are skipped; after it, every line must be a record.
    Lines shorter than 320 characters (2017 continuation lines) are padded before slicing.
    Checks run column-wise over all lines first; only a file that fails is walked line by line.
    """
    layout = load_layout("hcpcs_anweb")
    text = read_official_text(path, layout.encoding, "a HCPCS ANWEB file of 320-character records")
    lines = text.splitlines()
    first = next((i for i, line in enumerate(lines) if _is_record(line)), None)
    if first is None:
        raise ParseError(path, None, "expected HCPCS records (record id 3 or 7 in column 11), found none")
    body = lines[first:]
    records = [line[10:11] for line in body]
    heads = [i for i, r in enumerate(records) if r in FIRST_LINE]
    if not (set(records) <= RECORD_IDS.keys() and "".join(line[5:10] for line in body).isdigit()
            and max(map(len, body)) <= layout.record_length and all(len(body[i]) >= 293 for i in heads)):
        _raise_first_bad_record(path, first, body, layout)
    f = {fl.name: fl.slice for fl in layout.fields}
    head_lines = [body[i] for i in heads]
    cols = {name: [line[f[name]].strip() for line in head_lines]
            for name in ("code", "short_desc", "coverage", "betos", "add_date", "action_effective_date",
                         "termination_date", "action_code")}
    line_numbers = [first + i + 1 for i in heads]
    kinds = [RECORD_IDS[records[i]] for i in heads]
    _check_values(path, cols, kinds, line_numbers, layout)
    xref = slice(layout.field("xref1").start - 1, layout.field("xref5").end)
    cols["xrefs"] = [_xrefs(line[xref]) for line in head_lines]
    if not heads or heads[0] != 0:
        raise ParseError(path, first + 1, "expected record id 3 or 7 before its continuation lines")
    # Long descriptor: the non-blank segments of the head line and of its continuation lines, joined by a
    # blank. Each line's head is found by a running count; the joins run in Arrow, one list per head.
    is_head = np.zeros(len(body), dtype=bool)
    is_head[heads] = True
    group = np.cumsum(is_head) - 1
    line_codes = np.array([line[0:5].strip() for line in body], dtype=object)
    wrong = np.flatnonzero(line_codes != np.array(cols["code"], dtype=object)[group])
    if len(wrong):
        i = int(wrong[0])
        raise ParseError(path, first + i + 1, f"expected a continuation line of {cols['code'][group[i]]}, "
                                              f"found {line_codes[i]!r}")
    desc_slice = f["long_desc"]
    segments = [line[desc_slice].strip() for line in body]
    keep = np.array([bool(seg) for seg in segments])
    offsets = np.searchsorted(group[keep], np.arange(len(heads) + 1)).astype(np.int32)
    kept = pa.array([seg for seg in segments if seg], pa.string())
    long_desc = pc.binary_join(pa.ListArray.from_arrays(pa.array(offsets), kept), " ")
    data = {"code": cols.pop("code"), "kind": kinds, **cols}
    # through Arrow: the same str columns as pd.DataFrame(data) makes, in half the time
    arrays = {name: pa.array(values, pa.string()) for name, values in data.items()}
    for name in ("add_date", "action_effective_date", "termination_date"):  # YYYYMMDD -> YYYY-MM-DD
        v = arrays[name]
        iso = pc.binary_join_element_wise(*(pc.utf8_slice_codeunits(v, a, b) for a, b in ((0, 4), (4, 6), (6, 8))),
                                          "-")
        arrays[name] = pc.if_else(pc.equal(v, ""), "", iso)
    arrays["long_desc"] = long_desc
    arrays["line"] = pa.array(line_numbers, pa.int64())
    return pa.table(arrays).to_pandas()


def _xrefs(area: str) -> str:
    """XREF1-5: five 5-character fields, sometimes with no blank between codes (7697876979)."""
    if area.isspace() or not area:
        return ""
    return " ".join(x for x in (area[i:i + 5].strip() for i in range(0, len(area), 5)) if x)


_DATE = r"(?:(?:19|20)\d{6})?"  # blank, or YYYYMMDD in 19xx/20xx
_VALUE_PATTERNS = {
    "add_date": _DATE,
    "action_effective_date": _DATE,
    "termination_date": _DATE,
    "action_code": f"[{''.join(sorted(ACTION_CODES))}]",
    "coverage": f"[{''.join(sorted(COVERAGE_CODES))}]?",
}


def _all_match(pattern: str, values: list[str]) -> bool:
    """Every value matches: one regex over the values joined by newlines (no value holds one)."""
    return not values or re.fullmatch(f"{pattern}(?:\n{pattern})*", "\n".join(values)) is not None


def _check_values(path: Path, cols: dict[str, list[str]], kinds: list[str], lines: list[int], layout) -> None:
    """Codes, dates, action and coverage codes; the first bad value names its line and field."""
    is_modifier = [k == "modifier" for k in kinds]
    codes = cols["code"]
    procedures = [c for c, m in zip(codes, is_modifier, strict=True) if not m]
    modifiers = [c for c, m in zip(codes, is_modifier, strict=True) if m]
    checks = [("code", None)] if not (_all_match(_PROCEDURE.pattern, procedures)
                                      and _all_match(_MODIFIER.pattern, modifiers)) else []
    checks += [(name, pattern) for name, pattern in _VALUE_PATTERNS.items() if not _all_match(pattern, cols[name])]
    for name, pattern in checks:  # only a file that fails gets here: find the first bad value
        if name == "code":
            n = next(i for i, (v, m) in enumerate(zip(codes, is_modifier, strict=True))
                     if not (_MODIFIER if m else _PROCEDURE).fullmatch(v))
        else:
            n = next(i for i, v in enumerate(cols[name]) if not re.fullmatch(pattern, v))
        fl = layout.field(name)
        where = f"columns {fl.start}-{fl.end}" if fl.end != fl.start else f"column {fl.start}"
        raise ParseError(path, lines[n], f"expected {fl.expected} in {where}, found {cols[name][n]!r}")
    if len(set(cols["code"])) != len(cols["code"]):
        seen: dict[str, int] = {}
        for code, line in zip(cols["code"], lines, strict=True):
            if code in seen:
                raise ParseError(path, line, f"expected each code once; {code} is already on line {seen[code]}")
            seen[code] = line


def _raise_first_bad_record(path: Path, first: int, body: list[str], layout) -> None:
    for i, line in enumerate(body):
        number = first + i + 1
        if not line.strip():
            raise ParseError(path, number, "expected a HCPCS record, found a blank line")
        if len(line) > layout.record_length:
            raise ParseError(path, number, f"expected a {layout.record_length}-character record, "
                                           f"found {len(line)} characters")
        if not line[5:10].isdigit():
            raise ParseError(path, number, f"expected a 5-digit sequence number in columns 6-10, "
                                           f"found {line[5:10]!r}")
        if line[10:11] not in RECORD_IDS:
            raise ParseError(path, number, f"expected record id 3, 4, 7 or 8 in column 11, "
                                           f"found {line[10:11]!r}")
        if line[10] in FIRST_LINE and len(line) < 293:
            raise ParseError(path, number, f"expected a {layout.record_length}-character record, found "
                                           f"{len(line)} characters (truncated?)")
    raise ParseError(path, None, "expected HCPCS records")  # pragma: no cover


def release_table(records: pd.DataFrame, release: Release) -> pd.DataFrame:
    """The normalised release table: a code is billable unless terminated before the release date."""
    term = records["termination_date"]
    ended = (term != "") & (term < release.id)
    table = pd.DataFrame(
        {
            "system": "hcpcs",
            "release": release.id,
            "code": records["code"],
            "display_code": records["code"],
            "kind": records["kind"],
            "billable": (~ended).map({True: "1", False: "0"}),
            "short_desc": records["short_desc"],
            "long_desc": records["long_desc"],
            "effective_start": records["add_date"].where(records["add_date"] != "", release.id),
            "effective_end": term,
            "status": ended.map({True: "discontinued", False: "active"}),
            "action_code": records["action_code"],
            "add_date": records["add_date"],
            "action_effective_date": records["action_effective_date"],
            "termination_date": term,
            "xrefs": records["xrefs"],
            "coverage": records["coverage"],
            "betos": records["betos"],
        }
    )
    for col in COLUMNS:
        if col not in table:
            table[col] = ""
    return table.loc[:, list(COLUMNS)].astype(str).sort_values("code", kind="stable", ignore_index=True)
