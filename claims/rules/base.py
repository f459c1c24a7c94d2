"""What rules see and share: the Context, vectorised helpers over lines, and the Rule base class."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from claims.read import Lines, object_frame
from claims.rules.params import _param
from ingest.history import ReleaseHistory
from ingest.model import CodegovError


@dataclass(frozen=True)
class MueTable:
    """One MUE table and the dates it answers for: [start, end); start None: any date; end None: until the
    next table's start (the last: open)."""

    start: np.datetime64 | None
    end: np.datetime64 | None
    frame: pd.DataFrame  # code, mue, mai, rationale


@dataclass(frozen=True)
class Gap:
    """Lines of the chunk whose date of service no table answers for, and what the note calls them."""

    lines: np.ndarray  # (n,) bool
    what: str


@dataclass
class Context:
    """Reference data the rules read, plus state carried from one chunk to the next.

    ptp, mue and gaps are the NCCI tables for the chunk being scrubbed (claims.reference loads them per
    chunk: for stored quarters, only the chunk's codes and dates)."""

    history: ReleaseHistory
    ptp: pd.DataFrame | None = None  # column1, column2, prior_1996, effective, deletion, modifier_indicator, ...
    mue: list[MueTable] = field(default_factory=list)
    gaps: dict[str, Gap] = field(default_factory=dict)  # ptp | mue -> lines the rule must not check
    state: dict = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # (rule, what) -> lines not checked

    def skip(self, rule: str, what: str, count: int) -> None:
        if count:
            self.skipped[(rule, what)] += int(count)

    def checkable(self, rule: str, system: str, m: np.ndarray) -> np.ndarray:
        """m without the lines no `system` table answers for; those are counted as not checked."""
        gap = self.gaps.get(system)
        if gap is None:
            return m
        self.skip(rule, gap.what, np.count_nonzero(m & gap.lines))
        return m & ~gap.lines


def dates(values: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(values, dtype="datetime64[D]"), unit="D").astype(object)


def mods_isin(lines: Lines, values: Iterable[str]) -> np.ndarray:
    """(n, 4) bool: which modifier slots hold one of values."""
    return lines.mods_isin(values)


def has_mod(lines: Lines, values: Iterable[str]) -> np.ndarray:
    return lines.has_mod(values)


def code_in(lines: Lines, codes: Iterable[str]) -> np.ndarray:
    return lines.code_in(codes)


def _result(i: np.ndarray, **cols) -> pd.DataFrame:
    n = len(i)
    data = {"i": np.asarray(i, dtype=np.int64)}
    for k, v in cols.items():
        data[k] = np.full(n, v, dtype=object) if isinstance(v, str) else np.asarray(v, dtype=object)
    return object_frame(data)


def _ints(values) -> np.ndarray:
    return np.array([str(int(v)) for v in np.asarray(values, dtype=float)], dtype=object)


def _money(values) -> np.ndarray:
    return np.array([f"{v:,.2f}" for v in np.asarray(values, dtype=float)], dtype=object)


def _join_per_group(gid: np.ndarray, values: np.ndarray, sep: str = ", ") -> np.ndarray:
    """For each row, the values of its group joined by `sep` in row order (groupby-transform of str.join,
    without a Python call per group): rows sorted stably by group, strings summed with np.add.reduceat."""
    if not len(gid):
        return np.zeros(0, dtype=object)
    order = np.argsort(gid, kind="stable")
    sorted_gid = gid[order]
    starts = np.flatnonzero(np.r_[True, sorted_gid[1:] != sorted_gid[:-1]])
    sums = np.add.reduceat(values[order].astype(object) + sep, starts)
    lookup = np.empty(int(gid.max()) + 1, dtype=object)
    lookup[sorted_gid[starts]] = [s[: -len(sep)] for s in sums]
    return lookup[gid]


class Rule:
    """An edit: fields its message and fix templates can use, typed params, run() vectorised over lines."""

    id = ""
    title = ""
    scope = "line"  # line | visit (claim and date) | patient-year
    fields: tuple[str, ...] = ()
    param_types: Mapping[str, str] = {}

    def parse_params(self, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        unknown = set(raw) - set(self.param_types)
        if unknown:
            raise CodegovError(f"{where}.params: unknown parameter(s) {', '.join(sorted(unknown))}; "
                               f"{self.id} takes {', '.join(self.param_types) or 'none'}")
        missing = set(self.param_types) - set(raw)
        if missing:
            raise CodegovError(f"{where}.params: missing {', '.join(sorted(missing))}")
        return {k: _param(kind, raw[k], f"{where}.params.{k}") for k, kind in self.param_types.items()}

    def run(self, ctx: Context, lines: Lines, sel: np.ndarray, p: Mapping[str, Any]) -> pd.DataFrame:
        raise NotImplementedError
