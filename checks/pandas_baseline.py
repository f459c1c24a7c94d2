"""The release-table gates written directly in pandas: the benchmark's baseline and a cross-check of the suite.

`validate_release_pandas` takes what `checks.runner.validate_release` takes and returns rows with the same
gate keys, success, failing_count and failing_sample, so a test can compare the two row for row.
"""

from __future__ import annotations

from checks.suites import (
    BILLABLE,
    CODE_PATTERNS,
    DATE_COLUMNS,
    DEFAULT_DRIFT,
    DESCRIPTOR_COLUMNS,
    ISO_DATE,
    KINDS,
    drift_band,
    release_frame,
)
from ingest.model import COLUMNS
from ingest.systems import REGISTRY

SAMPLE = 20


def _distinct(values) -> list:
    out = []
    for v in values:
        if v not in out:
            out.append(v)
            if len(out) == SAMPLE:
                break
    return out


def _map_row(gate: str, column: str, frame, bad) -> dict:
    """A column-map gate: `bad` marks failing rows (nulls never fail, as in Great Expectations)."""
    bad = bad.fillna(False).astype(bool)
    values = frame.loc[bad, column].dropna().tolist()  # a null is not a value to show
    codes = frame.loc[bad, "code"].tolist() if "code" in frame.columns else []
    return {"gate": gate, "column": column, "success": not bad.any(), "failing_count": int(bad.sum()),
            "failing_sample": _distinct(values), "failing_codes": _distinct(codes)}


def validate_release_pandas(table, system: str, release_id: str, *, previous: tuple[str, int] | None = None,
                            drift: float = DEFAULT_DRIFT) -> list[dict]:
    frame = release_frame(table)
    rows = []
    found = list(frame.columns)
    missing = [f"missing {c}" for c in COLUMNS if c not in found] + [f"unexpected {c}" for c in found
                                                                      if c not in COLUMNS]
    if not missing and found != list(COLUMNS):
        missing = ["columns out of order"]
    rows.append({"gate": "columns", "column": "", "success": not missing, "failing_count": len(missing),
                 "failing_sample": missing, "failing_codes": []})
    rows.append(_map_row("system", "system", frame, ~frame["system"].isin([system])))
    rows.append(_map_row("release", "release", frame, ~frame["release"].isin([release_id])))
    code = frame["code"]
    for (sys_, kind), pattern in CODE_PATTERNS.items():
        if sys_ != system:
            continue
        bad = ~code.str.contains(pattern, regex=True)
        if kind:
            bad &= frame["kind"] == kind
        rows.append(_map_row(f"code_pattern_{kind}" if kind else "code_pattern", "code", frame, bad & code.notna()))
    rows.append(_map_row("unique_codes", "code", frame, code.duplicated(keep=False) & code.notna()))
    rows.append(_map_row("kind", "kind", frame, ~frame["kind"].isin(KINDS[system]) & frame["kind"].notna()))
    for column in DESCRIPTOR_COLUMNS:
        rows.append(_map_row(f"{column}_present", column, frame, frame[column].isna()))
    rows.append(_map_row("billable", "billable", frame, ~frame["billable"].isin(BILLABLE) & frame["billable"].notna()))
    if not REGISTRY[system].undocumented_starts:
        rows.append(_map_row("effective_start_present", "effective_start", frame, frame["effective_start"].isna()))
    for column in DATE_COLUMNS[system]:
        values = frame[column]
        rows.append(_map_row(f"{column}_date", column, frame, ~values.str.contains(ISO_DATE, regex=True)
                             & values.notna()))
    start, end = frame["effective_start"], frame["effective_end"]
    bad = (start > end) & start.notna() & end.notna()
    pairs = [f"{s} > {e}" for s, e in zip(start[bad], end[bad], strict=True)]
    rows.append({"gate": "start_before_end", "column": "effective_end, effective_start", "success": not bad.any(),
                 "failing_count": int(bad.sum()), "failing_sample": _distinct(pairs),
                 "failing_codes": _distinct(frame.loc[bad, "code"].tolist())})
    if previous is not None:
        low, high = drift_band(previous[1], drift)
        ok = low <= len(frame) <= high
        rows.append({"gate": "drift", "column": "", "success": ok, "failing_count": 0 if ok else 1,
                     "failing_sample": [] if ok else [len(frame)], "failing_codes": []})
    return rows
