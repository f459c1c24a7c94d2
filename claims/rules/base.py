"""What rules see and share: the Context, vectorised helpers over lines, and the Rule base class."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claims.read import Lines
from claims.rules.params import _param
from ingest.frames import object_frame
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


@dataclass(frozen=True)
class FeeLines:
    """The fee-schedule indicators of each line of a chunk, from the stored PFS quarter in force on its date
    (the code's global row, modifier blank): '' where no quarter covers the date or the code is not in it.

    Each indicator is a pd.Categorical over its few distinct values, '' first (code 0): compared on those
    values and taken back onto the lines by their integer codes (one_of, blank_outside), never a Python string
    per line; np.asarray(values[i], dtype=object) gives the strings of lines i."""

    covered: np.ndarray  # (n,) bool: a stored PFS quarter is in force on the line's date
    found: np.ndarray  # (n,) bool: and the line's code has a row in it
    global_days: pd.Categorical  # 000, 010, 090, XXX, YYY, ZZZ, MMM
    pctc: pd.Categorical  # PC/TC indicator 0-9
    bilat: pd.Categorical  # bilateral surgery indicator 0, 1, 2, 3, 9
    status: pd.Categorical  # status code (A, B, C, I, ...)
    release: pd.Categorical  # the quarter's label

    @classmethod
    def none(cls, n: int) -> FeeLines:
        blank = indicator(np.full(n, -1, dtype=np.int64), np.zeros(0, dtype=object))
        return cls(np.zeros(n, bool), np.zeros(n, bool), blank, blank, blank, blank, blank)


def indicator(at_row: np.ndarray, values: np.ndarray) -> pd.Categorical:
    """The values of rows at_row (-1: none, '') as a pd.Categorical with '' its first category: the distinct
    values found once on the rows, each line given its value's code."""
    codes, uniques = pd.factorize(np.concatenate([np.array([""], dtype=object), np.asarray(values, dtype=object)]))
    codes = codes.astype(np.int16 if len(uniques) < 2 ** 15 else np.int64)
    return pd.Categorical.from_codes(np.concatenate([codes[1:], codes[:1]])[at_row], uniques)


def blank_outside(values: pd.Categorical, m: np.ndarray) -> pd.Categorical:
    """values where m, '' (the first category, indicator) elsewhere."""
    return pd.Categorical.from_codes(np.where(m, values.codes, 0).astype(values.codes.dtype), values.categories)


PFS_UNCOVERED = "lines on dates no stored PFS quarter covers"
PFS_FALLBACK = "lines on dates no stored PFS quarter covers, checked against the rule file's code lists instead"


@dataclass
class Context:
    """Reference data the rules read, plus state carried from one chunk to the next.

    ptp, mue, fee, aoc and gaps are the reference tables for the chunk being scrubbed (claims.reference loads
    them per chunk: for stored quarters, only the chunk's codes and dates)."""

    history: ReleaseHistory
    ptp: pd.DataFrame | None = None  # column1, column2, prior_1996, effective, deletion, modifier_indicator, ...
    mue: list[MueTable] = field(default_factory=list)
    fee: FeeLines | None = None  # the fee-schedule indicators per line
    aoc: pd.DataFrame | None = None  # addon, primary, edit_type, effective, deletion: the add-on edits in force
    gaps: dict[str, Gap] = field(default_factory=dict)  # ptp | mue | pfs | aoc -> lines no table answers for
    state: dict = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # (rule, what) -> lines not checked
    # answers that depend only on the reference data (a code's texts on a date), kept across partitions
    memo: dict = field(default_factory=dict)
    pfs_fallback: str = "not-checked"  # reference.pfs_fallback: not-checked | lists
    setting: str = "practitioner"  # reference.setting
    fee_stored: bool = False  # some stored PFS quarter can answer (in force on some date, or pinned)

    def skip(self, rule: str, what: str, count: int) -> None:
        if count:
            self.skipped[(rule, what)] += int(count)

    def fee_for(self, n: int) -> FeeLines:
        return self.fee if self.fee is not None and len(self.fee.covered) == n else FeeLines.none(n)

    def fee_or_lists(self, rule: str, m: np.ndarray, has_lists: bool = True) -> tuple[np.ndarray, np.ndarray]:
        """Which lines of m the fee schedule answers for, and which the rule's code lists stand in for.

        (pfs, lists): pfs, the lines a stored PFS quarter covers; lists, the others when the rule file says
        `pfs_fallback: lists` and the rule has lists (counted in the notes as checked against the lists),
        none otherwise (counted as not checked)."""
        covered = self.fee_for(len(m)).covered
        rest = m & ~covered
        if self.pfs_fallback == "lists" and has_lists:
            self.skip(rule, PFS_FALLBACK, np.count_nonzero(rest))
            return m & covered, rest
        self.skip(rule, PFS_UNCOVERED, np.count_nonzero(rest))
        return m & covered, np.zeros(len(m), bool)

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


def one_of(values: np.ndarray | pd.Categorical, options) -> np.ndarray:
    """values (an object array of strings, or a pd.Categorical of them) isin options: for a long array, the
    distinct values compared once (numpy compares object arrays a Python string at a time, each option a pass);
    else a comparison per option for a few of them, by hashing for more (np.isin would sort the objects)."""
    options = list(options)
    if isinstance(values, pd.Categorical):  # compared on its categories, taken back by its codes
        return np.append(one_of(np.asarray(values.categories, dtype=object), options), False)[values.codes]
    values = np.asarray(values, dtype=object)
    if len(values) > 1000:
        ids, uniques = pd.factorize(values)  # (use_na_sentinel=False would scan the array for NA first)
        if not (ids < 0).any() and len(uniques) < len(values):  # (a missing value: compared one by one below;
            # all values distinct: compared as they are, never factorized again)
            return one_of(np.asarray(uniques, dtype=object), options)[ids]
    if len(options) > 8:
        return pd.Index(options, dtype=object).get_indexer(values) >= 0
    out = np.zeros(len(values), bool)
    for o in options:
        out |= values == o
    return out


def join_text(*pieces) -> np.ndarray:
    """Literal strings and object arrays of strings (all of one length) joined element-wise, as an object
    array: "remove " + code + "; ..." in one pass of pyarrow's binary_join_element_wise, where numpy's object
    addition makes a new Python string per piece and element."""
    arrays = [p for p in pieces if not isinstance(p, str)]
    n = len(arrays[0]) if arrays else 0
    if not arrays or not n:
        return np.full(n, "".join(p for p in pieces if isinstance(p, str)), dtype=object)
    try:
        joined = pc.binary_join_element_wise(*[p if isinstance(p, str) else pa.array(p, type=pa.string())
                                               for p in pieces if not isinstance(p, str) or p], "")
        return joined.to_numpy(zero_copy_only=False).astype(object)
    except (pa.ArrowException, UnicodeError):  # a string Arrow cannot hold (a lone surrogate): added in Python
        out = np.full(n, "", dtype=object)
        for p in pieces:
            out = out + p
        return out


def texts(template: str, i: np.ndarray, **arrays) -> np.ndarray:
    """The template ('bill {code} once') filled for lines i from full-length arrays (or plain strings): the
    strings are made for those lines only, never for the whole chunk."""
    out = np.full(len(i), "", dtype=object)
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        out = out + literal
        if name is not None:
            v = arrays[name]
            out = out + (v if isinstance(v, str) else np.asarray(v, dtype=object)[i].astype(str).astype(object))
    return out


def _ints(values) -> np.ndarray:
    """str(int(v)) of each value, as an object array: by numpy for the whole numbers it holds exactly (the usual
    units and minutes), by Python for any other."""
    values = np.asarray(values, dtype=float)
    exact = np.isfinite(values) & (np.abs(values) < 2.0 ** 53)
    if exact.all():
        return np.trunc(values).astype(np.int64).astype(str).astype(object)
    return np.array([str(int(v)) for v in values], dtype=object)


def _money(values) -> np.ndarray:
    return np.array([f"{v:,.2f}" for v in np.asarray(values, dtype=float)], dtype=object)


def _join_per_group(gid: np.ndarray, values: np.ndarray, sep: str = ", ") -> np.ndarray:
    """For each row, the values of its group joined by `sep` in row order (groupby-transform of str.join,
    without a Python call per group: join_by_group)."""
    if not len(gid):
        return np.zeros(0, dtype=object)
    groups, joined = join_by_group(gid, values, sep)
    lookup = np.empty(int(gid.max()) + 1, dtype=object)
    lookup[groups] = joined
    return lookup[gid]


def join_by_group(gid: np.ndarray, values: np.ndarray, sep: str = ", ", distinct: bool = False
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(the groups in ascending order, each one's values joined by `sep` in row order): groupby(sort=True).agg of
    str.join, without a Python call per group; distinct: each value once, where it first appears (the join of
    dict.fromkeys), in Python for the groups of more than one row only."""
    if not len(gid):
        return np.zeros(0, dtype=np.asarray(gid).dtype), np.zeros(0, dtype=object)
    order = np.argsort(gid, kind="stable")
    sorted_gid, ordered = gid[order], np.asarray(values, dtype=object)[order]
    starts = np.flatnonzero(np.r_[True, sorted_gid[1:] != sorted_gid[:-1]])
    ends = np.r_[starts[1:], len(order)]
    if distinct:
        out = ordered[starts].copy()
        for k in np.flatnonzero(ends - starts > 1).tolist():
            out[k] = sep.join(dict.fromkeys(ordered[starts[k]:ends[k]].tolist()))
    else:
        out = np.array([s[: -len(sep)] for s in np.add.reduceat(ordered + sep, starts)], dtype=object)
    return sorted_gid[starts], out


class Rule:
    """An edit: fields its message and fix templates can use, typed params, run() vectorised over lines."""

    id = ""
    title = ""
    scope = "line"  # line | visit (claim and date) | patient-day | patient-year | patient-period | provider-day
    fields: tuple[str, ...] = ()
    param_types: Mapping[str, str] = {}
    # A rule across a patient's claims (global periods, add-on primaries, the KX year-to-date totals in date
    # order) works in two steps on a partition (claims.partition: every line of its patients, from anywhere
    # in the file): collect() keeps what the rule needs of its lines (a small frame, one row per line of
    # interest, with the line's position `i`), and finish() compares them and returns results whose `i` are
    # rows of that frame. The PTP and MUE rules look across claims too (run(), by patient, provider and date).
    across_claims = False

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

    def collect(self, ctx: Context, lines: Lines, sel: np.ndarray, p: Mapping[str, Any]) -> pd.DataFrame:
        raise NotImplementedError

    def finish(self, ctx: Context, events: pd.DataFrame, p: Mapping[str, Any]) -> pd.DataFrame:
        raise NotImplementedError


def line_events(lines: Lines, i: np.ndarray, **cols) -> pd.DataFrame:
    """The rows a rule across claims keeps of lines i: the line's identity (claim, line, row, patient and its
    integer key, provider's integer key, day, code, date text) and the rule's own columns."""
    f = lines.frame
    i = np.asarray(i, dtype=np.int64)
    data = {"i": i, "claim_id": f["claim_id"].to_numpy(object)[i], "line": f["line"].to_numpy(object)[i],
            "row": f["row"].to_numpy(np.int64)[i], "patient": f["patient_id"].to_numpy(object)[i],
            "pkey": f["patient_key"].to_numpy(np.int64)[i],
            "nkey": f["npi_key"].to_numpy(np.int64)[i], "day": f["day"].to_numpy(np.int64)[i],
            "code": f["code"].to_numpy(object)[i], "dos": f["dos_text"].to_numpy(object)[i]}
    for k, v in cols.items():
        data[k] = np.full(len(i), v, dtype=object) if isinstance(v, str) else np.asarray(v)
    return object_frame(data)


def runs(count: np.ndarray) -> np.ndarray:
    """0, 1, ..., count[k] - 1 for each k, concatenated."""
    total = int(count.sum())
    return np.arange(total) - np.repeat(np.cumsum(count) - count, count)


def key_pairs(ka: np.ndarray, kb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(ia, ib): every pair of positions with ka[ia] == kb[ib] (non-negative integer keys), in order of ia, then
    ib: the rows of pandas' inner merge on the key, in its order, without a DataFrame or a hash table. The
    positions of kb are sorted by key (stable) and each key of ka takes its run of them: the runs counted
    (bincount) where the keys are dense, as a partition's patient, visit and provider-day keys are (claims.read:
    factorized), else found by binary search."""
    ka, kb = np.asarray(ka, np.int64), np.asarray(kb, np.int64)
    if not len(ka) or not len(kb):
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    ob = np.argsort(kb, kind="stable")
    top = int(max(ka.max(), kb.max())) + 1
    if top <= 4 * (len(ka) + len(kb)) + 1024:
        per_key = np.bincount(kb, minlength=top)
        lo, count = (np.cumsum(per_key) - per_key)[ka], per_key[ka]
    else:
        sk = kb[ob]
        lo = np.searchsorted(sk, ka, side="left")
        count = np.searchsorted(sk, ka, side="right") - lo
    return np.repeat(np.arange(len(ka)), count), ob[np.repeat(lo, count) + runs(count)]


def same_patient_pairs(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Pairs of rows of two event frames for the same patient and provider: the same NPI, or either blank
    (a file without provider_npi matches on the patient alone). Columns ea, eb (row positions) and the days
    da, db, in order of ea, then eb."""
    ea, eb = key_pairs(a["pkey"].to_numpy(np.int64), b["pkey"].to_numpy(np.int64))
    # the provider ids compared as integers (claims.read: one per stripped NPI of the partition, blank -1)
    na, nb = a["nkey"].to_numpy(np.int64)[ea], b["nkey"].to_numpy(np.int64)[eb]
    keep = (na == nb) | (na < 0) | (nb < 0)
    ea, eb = ea[keep], eb[keep]
    return object_frame({"ea": ea, "eb": eb, "da": a["day"].to_numpy(np.int64)[ea],
                         "db": b["day"].to_numpy(np.int64)[eb]})
