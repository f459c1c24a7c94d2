"""Check results as report rows: one row per expectation per target, and the CheckReport they make.

A row: suite, target, expectation (the GX type), gate (a stable key), column, success, status (passed |
failed | not checked), failing_count, failing_sample (at most 20 distinct values), failing_codes (codes
of failing rows, when the table has codes), details (what the gate checks, for a reader), observed,
and for the codes of a code list that are not valid in the release replacements ({code: [replacement,
...]}) and code_notes ({code: what happened to it}). Bad data is rows, never exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

SAMPLE = 20  # failing values kept per row
ROW_KEYS = ("suite", "target", "expectation", "gate", "column", "success", "status", "failing_count",
            "failing_sample", "failing_codes", "details", "observed", "replacements", "code_notes")
STATUSES = ("passed", "failed", "not checked")


@dataclass(eq=False)
class CheckRow(Mapping):
    """One expectation on one target. Its fields are typed; it also reads as a mapping of ROW_KEYS (in that
    order), which is its JSON form and what the report templates read."""

    suite: str
    target: str
    expectation: str
    gate: str
    column: str = ""
    success: bool = True
    status: str = ""  # passed | failed | not checked; empty: from success
    failing_count: int = 0
    failing_sample: list = field(default_factory=list)
    failing_codes: list = field(default_factory=list)
    details: str = ""
    observed: Any = None
    replacements: dict = field(default_factory=dict)  # code -> [replacement dicts] (code lists)
    code_notes: dict = field(default_factory=dict)  # code -> what happened to it (code lists)

    def __post_init__(self) -> None:
        self.success = bool(self.success)
        self.status = self.status or ("passed" if self.success else "failed")
        if self.status not in STATUSES:
            raise ValueError(f"check row status {self.status!r}: expected one of {', '.join(STATUSES)}")
        self.failing_count = int(self.failing_count)

    def __getitem__(self, key: str):
        if key not in ROW_KEYS:
            raise KeyError(key)
        return getattr(self, key)

    def __iter__(self):
        return iter(ROW_KEYS)

    def __len__(self) -> int:
        return len(ROW_KEYS)

    def __eq__(self, other) -> bool:
        return isinstance(other, Mapping) and dict(self.items()) == dict(other.items())

    __hash__ = None

    def plain(self) -> CheckRow:
        """The same row with JSON-safe values (numpy scalars to Python, tuples to lists, NaN to None)."""
        return CheckRow(**{k: _plain(getattr(self, k)) for k in ROW_KEYS})

    def to_dict(self) -> dict:
        return {k: _plain(getattr(self, k)) for k in ROW_KEYS}


@dataclass
class CheckReport:
    rows: list[CheckRow] = field(default_factory=list)
    checked: dict = field(default_factory=dict)  # what was checked: releases folder, date, inventory, drift

    @property
    def success(self) -> bool:
        return all(r["success"] for r in self.rows)

    def suite_success(self, suite: str) -> bool:
        return all(r["success"] for r in self.rows if r["suite"] == suite)

    @property
    def failed(self) -> list[CheckRow]:
        return [r for r in self.rows if not r["success"]]

    def summary(self) -> dict:
        counts = {"gates": len(self.rows), "passed": 0, "failed": 0, "not checked": 0}
        for r in self.rows:
            counts[r["status"]] += 1
        return counts

    def to_dict(self) -> dict:
        return {"success": self.success, "summary": self.summary(), "checked": self.checked,
                "rows": [r.to_dict() for r in self.rows]}


def _row(suite: str, target: str, expectation: str, gate: str, *, column: str = "", success: bool = True,
         status: str | None = None, failing_count: int = 0, failing_sample: list | None = None,
         failing_codes: list | None = None, details: str = "", observed=None,
         replacements: dict | None = None, code_notes: dict | None = None) -> CheckRow:
    return CheckRow(suite, target, expectation, gate, column=column, success=success, status=status or "",
                    failing_count=failing_count, failing_sample=list(failing_sample or []),
                    failing_codes=list(failing_codes or []), details=details, observed=observed,
                    replacements=dict(replacements or {}), code_notes=dict(code_notes or {}))


def not_checked(suite: str, target: str, gate: str, details: str, *, column: str = "", observed=None) -> CheckRow:
    return _row(suite, target, "not checked", gate, column=column, details=details, status="not checked",
                observed=observed)


def _plain(value):
    """JSON-safe: numpy scalars to Python, tuples to lists, NaN/None to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _distinct(values, limit: int = SAMPLE) -> list:
    seen, out = set(), []
    for v in values:
        key = repr(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
            if len(out) == limit:
                break
    return out


def _exception_message(info) -> str:
    if not isinstance(info, dict):
        return ""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "error")
    for inner in info.values():
        if isinstance(inner, dict) and inner.get("raised_exception"):
            return str(inner.get("exception_message") or "error")
    return ""


def result_rows(result, suite: str, target: str) -> list[CheckRow]:
    """One row per expectation of a GX suite validation result (in the order GX returns them)."""
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        meta, kwargs, res = dict(cfg.meta or {}), dict(cfg.kwargs), dict(r.result or {})
        column = kwargs.get("column") or ", ".join(kwargs[k] for k in ("column_A", "column_B") if k in kwargs)
        common = {"column": column, "details": meta.get("check", "")}
        error = _exception_message(r.exception_info)
        if error:
            rows.append(_row(suite, target, cfg.type, meta.get("gate", cfg.type), success=False, failing_count=0,
                             **{**common, "details": f"{common['details']}: could not run: {error}"}))
            continue
        observed = _plain(res.get("observed_value"))
        if cfg.type == "expect_table_columns_to_match_ordered_list":
            expected, found = list(kwargs["column_list"]), list(observed or [])
            sample = [f"missing {c}" for c in expected if c not in found]
            sample += [f"unexpected {c}" for c in found if c not in expected]
            if not sample and expected != found:
                sample = ["columns out of order"]
            rows.append(_row(suite, target, cfg.type, meta["gate"], success=r.success, failing_count=len(sample),
                             failing_sample=sample, observed=found, **common))
        elif "unexpected_count" in res:
            values = res.get("unexpected_list", res.get("partial_unexpected_list")) or []
            values = [f"{b} > {a}" if isinstance(v, (list, tuple)) and len(v) == 2 and (a := v[0]) is not None
                      and (b := v[1]) is not None else v for v in values]
            index = res.get("unexpected_index_list", res.get("partial_unexpected_index_list")) or []
            codes = [i["code"] for i in index if isinstance(i, dict) and "code" in i]
            rows.append(_row(suite, target, cfg.type, meta["gate"], success=r.success,
                             failing_count=_plain(res["unexpected_count"]),
                             failing_sample=[v for v in _plain(_distinct(values)) if v is not None],
                             failing_codes=_plain(_distinct(codes)), **common))
        else:  # table-level: row count
            rows.append(_row(suite, target, cfg.type, meta["gate"], success=r.success,
                             failing_count=0 if r.success else 1,
                             failing_sample=[] if r.success else [observed], observed=observed, **common))
    return rows

