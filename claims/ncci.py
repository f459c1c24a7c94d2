"""Reader for the CMS NCCI procedure-to-procedure (PTP) edit files in their official tab-delimited layout."""

from __future__ import annotations

import io
import re
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from claims.read import object_frame
from ingest.model import ParseError

PTP_COLUMNS = ("column1", "column2", "prior_1996", "effective", "deletion", "modifier_indicator", "rationale")
HEADER_SEARCH_LINES = 50
_CODE = r"[0-9A-Z]{5}"


def _header_index(lines: list[str], path: Path) -> int:
    for i, line in enumerate(lines[:HEADER_SEARCH_LINES]):
        low = line.lower()
        if "column 1" in low and "column 2" in low:
            return i
    raise ParseError(path, None, "expected a header line with 'Column 1' and 'Column 2' within the first "
                                 f"{HEADER_SEARCH_LINES} lines (the CMS NCCI PTP tab-delimited layout)")


def read_ptp(path: str | Path) -> pd.DataFrame:
    """One PTP file: columns column1, column2, prior_1996 (bool), effective, deletion (datetime64; NaT = none),
    modifier_indicator ('0', '1' or '9'), rationale, line (1-based line in the file)."""
    path = Path(path)
    text = path.read_bytes().decode("cp1252", errors="replace")
    lines = text.splitlines()
    head = _header_index(lines, path)
    body = "\n".join(lines[head + 1:])
    frame = pd.read_csv(io.StringIO(body), sep="\t", header=None, dtype=str, keep_default_na=False,
                        na_filter=False, quoting=3, skip_blank_lines=False, names=list(range(7)),
                        usecols=list(range(7)), engine="c", on_bad_lines="error") if body.strip() else \
        pd.DataFrame({i: pd.Series(dtype=str) for i in range(7)})
    frame = frame.fillna("").apply(lambda col: col.str.strip())
    frame.columns = list(PTP_COLUMNS)
    frame["line"] = np.arange(len(frame)) + head + 2
    blank = (frame[list(PTP_COLUMNS)] == "").all(axis=1)
    frame = frame[~blank]
    # Header continuation rows ("*=no data", "1=allowed" under the header) have no column 1 code.
    is_data = frame["column1"].str.fullmatch(_CODE)
    first_data = int(np.argmax(is_data.to_numpy())) if is_data.any() else len(frame)
    lead = frame.iloc[:first_data]
    frame = frame.iloc[first_data:].reset_index(drop=True)
    if not is_data.any() and len(lead) and (lead["column1"] != "").any():
        bad = lead[lead["column1"] != ""].iloc[0]
        raise ParseError(path, int(bad["line"]), f"expected a column 1 code (5 letters/digits), "
                                                 f"found {bad['column1']!r}")
    checks = [
        ("column1", frame["column1"].str.fullmatch(_CODE), "a column 1 code (5 letters/digits)"),
        ("column2", frame["column2"].str.fullmatch(_CODE), "a column 2 code (5 letters/digits)"),
        ("effective", frame["effective"].str.fullmatch(r"\d{8}"), "an effective date YYYYMMDD"),
        ("deletion", frame["deletion"].str.fullmatch(r"\d{8}|\*|"), "a deletion date YYYYMMDD or *"),
        ("modifier_indicator", frame["modifier_indicator"].isin(["0", "1", "9"]),
         "a modifier indicator 0, 1 or 9"),
    ]
    for column, ok, expected in checks:
        if not ok.all():
            bad = frame[~ok].iloc[0]
            raise ParseError(path, int(bad["line"]), f"expected {expected}, found {bad[column]!r}")
    effective = pd.to_datetime(frame["effective"], format="%Y%m%d", errors="coerce")
    deletion = pd.to_datetime(frame["deletion"].where(frame["deletion"].str.fullmatch(r"\d{8}"), None),
                              format="%Y%m%d", errors="coerce")
    bad_dates = effective.isna() | (deletion.isna() & frame["deletion"].str.fullmatch(r"\d{8}"))
    if bad_dates.any():
        bad = frame[bad_dates].iloc[0]
        raise ParseError(path, int(bad["line"]), f"expected calendar dates, found {bad['effective']!r} / "
                                                 f"{bad['deletion']!r}")
    return object_frame({
        "column1": frame["column1"].astype(object), "column2": frame["column2"].astype(object),
        "prior_1996": (frame["prior_1996"] == "*").to_numpy(),
        "effective": effective.to_numpy("datetime64[ns]"), "deletion": deletion.to_numpy("datetime64[ns]"),
        "modifier_indicator": frame["modifier_indicator"].astype(object),
        "rationale": frame["rationale"].astype(object), "line": frame["line"].to_numpy(),
    })


def read_ptp_files(paths: Iterable[str | Path]) -> pd.DataFrame:
    """All parts of a quarter (f1..f4) as one table."""
    frames = [read_ptp(p) for p in paths]
    if not frames:
        return read_ptp_empty()
    return pd.concat(frames, ignore_index=True)


def read_ptp_empty() -> pd.DataFrame:
    return object_frame({
        "column1": pd.Series(dtype=object), "column2": pd.Series(dtype=object),
        "prior_1996": pd.Series(dtype=bool), "effective": pd.Series(dtype="datetime64[ns]"),
        "deletion": pd.Series(dtype="datetime64[ns]"), "modifier_indicator": pd.Series(dtype=object),
        "rationale": pd.Series(dtype=object), "line": pd.Series(dtype=np.int64),
    })


def part_name(path: str | Path) -> str:
    """'ccipra-v321r0-f1.txt' -> 'ccipra-v321r0' (the parts of one quarter share it)."""
    return re.sub(r"-f\d+$", "", Path(path).stem)
