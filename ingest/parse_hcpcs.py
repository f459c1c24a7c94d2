"""HCPCS Level II parser: the ANWEB fixed-width file into one record per procedure code and modifier."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ingest.layouts import load_layout
from ingest.model import COLUMNS, ParseError, Release
from ingest.readers import read_official_text

RECORD_IDS = {"3": "procedure", "4": "procedure", "7": "modifier", "8": "modifier"}
FIRST_LINE = {"3", "7"}
ACTION_CODES = set("ABCDFNPRST")
COVERAGE_CODES = set("CDIMS")
_DATE = re.compile(r"(?:19|20)\d{6}|")

def _is_record(line: str) -> bool:
    return len(line) >= 11 and line[5:10].isdigit() and line[10] in RECORD_IDS


def _iso(yyyymmdd: str) -> str:
    return f"{yyyymmdd[:4]}-{yyyymmdd[4:6]}-{yyyymmdd[6:]}" if yyyymmdd else ""


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
    kinds = [RECORD_IDS[records[i]] for i in heads]
    cols["xrefs"] = [" ".join(line[f[f"xref{k}"]].strip() for k in range(1, 6)).strip() for line in head_lines]
    cols["xrefs"] = [" ".join(x.split()) for x in cols["xrefs"]]
    # Long descriptor: the head line's segment plus every continuation line up to the next head.
    desc_slice = f["long_desc"]
    bounds = heads + [len(body)]
    long_desc = []
    for n, (a, b) in enumerate(zip(bounds, bounds[1:], strict=False)):
        code = cols["code"][n]
        for i in range(a + 1, b):
            if body[i][0:5].strip() != code:
                raise ParseError(path, first + i + 1,
                                 f"expected a continuation line of {code}, found {body[i][0:5].strip()!r}")
        long_desc.append(" ".join(s for s in (body[i][desc_slice].strip() for i in range(a, b)) if s))
    if heads and heads[0] != 0:
        raise ParseError(path, first + 1, "expected record id 3 or 7 before its continuation lines")
    out = pd.DataFrame({"code": cols["code"], "kind": kinds, **{k: v for k, v in cols.items() if k != "code"},
                        "long_desc": long_desc, "line": [first + i + 1 for i in heads]})
    _check_values(path, out, layout)
    for name in ("add_date", "action_effective_date", "termination_date"):
        out[name] = [_iso(v) for v in out[name]]
    return out


def _check_values(path: Path, out: pd.DataFrame, layout) -> None:
    """Codes, dates, action and coverage codes; the first bad value names its line and field."""
    checks = [
        ("code", out["code"].str.fullmatch(r"[A-Z]\d{4}").where(out["kind"] == "procedure",
                                                                 out["code"].str.fullmatch(r"[0-9A-Z]{2}"))),
        ("add_date", out["add_date"].str.fullmatch(_DATE.pattern)),
        ("action_effective_date", out["action_effective_date"].str.fullmatch(_DATE.pattern)),
        ("termination_date", out["termination_date"].str.fullmatch(_DATE.pattern)),
        ("action_code", out["action_code"].isin(ACTION_CODES)),
        ("coverage", out["coverage"].isin(COVERAGE_CODES | {""})),
    ]
    for name, ok in checks:
        if not ok.all():
            row = out.loc[~ok.astype(bool)].iloc[0]
            fl = layout.field(name)
            where = f"columns {fl.start}-{fl.end}" if fl.end != fl.start else f"column {fl.start}"
            raise ParseError(path, int(row["line"]), f"expected {fl.expected} in {where}, found {row[name]!r}")
    dup = out["code"].duplicated()
    if dup.any():
        row = out.loc[dup].iloc[0]
        first_line = int(out.loc[out["code"] == row["code"], "line"].iloc[0])
        raise ParseError(path, int(row["line"]), f"expected each code once; {row['code']} is already on "
                                                 f"line {first_line}")


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
