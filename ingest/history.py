"""Validity by date of service across the release history: look up one code, or validate a column of codes."""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ingest import systems as registry
from ingest.frames import object_frame
from ingest.model import SYSTEM_NAMES, SYSTEMS, CodegovError
from ingest.replacements import ReleaseReplacements

STATUSES = ("valid", "header", "not-yet-effective", "deleted", "unknown")
VALID, HEADER, NOT_YET, DELETED, UNKNOWN = range(5)

# Days since 1970-01-01 stand for dates inside the arrays; these stand for "no date".
NO_START = np.iinfo(np.int64).min
NO_END = np.iinfo(np.int64).max

# How many months the newest release of a code set stays in force when nothing newer is loaded. ICD-10-CM
# rows carry their fiscal year's end (effective_end), which wins; POS snapshots stay in force until replaced.
DEFAULT_HORIZON_MONTHS = {s: registry.REGISTRY[s].horizon_months for s in SYSTEMS}

CPT_MESSAGE = ("CPT codes are not validated: CPT is licensed by the AMA and codegov ships no CPT data; "
               "check it against your organisation's licensed CPT file")

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

ReplacementSource = Callable[[str, str], list[tuple[str, str]]]


@dataclass(frozen=True)
class Validity:
    """What one code means on one date of service, and whether it can be billed."""

    system: str
    code: str
    display_code: str
    status: str  # valid | header | not-yet-effective | deleted | unknown
    billable: bool
    description: str
    release: str | None  # the release in force on the date (None: no loaded release covers it)
    since: dt.date | None  # valid/header: in this state since; deleted: deleted on; not yet: effective on
    replacements: list[tuple[str, str]] = field(default_factory=list)  # (display code, source)
    message: str = ""
    # the publisher documents no start: `since` is the earliest documented date, and the code was in
    # effect before it (POS 11: "in effect before 2003-01-01"), not from it
    since_undocumented: bool = False

    def to_dict(self) -> dict:
        data = asdict(self)
        data["since"] = self.since.isoformat() if self.since else None
        data["replacements"] = [{"code": c, "source": s} for c, s in self.replacements]
        return data


def normalize_code(raw: str, system: str) -> str:
    return registry.normalize(system, raw)


def guess_system(raw: str, history: ReleaseHistory | None = None) -> str:
    """icd10cm, hcpcs, pos or cpt from the code's shape; 'unknown' when it has none of them.

    A letter and four digits is both a HCPCS code and an undotted ICD-10-CM code (A0425): it is the code
    set that holds it in the loaded history, HCPCS when both or neither do.
    """
    code = str(raw).strip().upper()
    icd, hcpcs, pos, cpt = (registry.REGISTRY[s] for s in ("icd10cm", "hcpcs", "pos", "cpt"))
    if re.fullmatch(r"\d{1,2}", code):
        return "pos"
    if "." in code:
        dotted_form = re.fullmatch(r"[0-9A-Z]{3}\.[0-9A-Z]{1,4}", code)
        return "icd10cm" if dotted_form and icd.matches(code) else "unknown"
    if cpt.kind_of(code) == "code":
        return "cpt"
    if hcpcs.kind_of(code) == "procedure":
        if history is not None and not history.knows("hcpcs", code) and history.knows("icd10cm", code):
            return "icd10cm"
        return "hcpcs"
    if hcpcs.kind_of(code) == "modifier" and not icd.matches(code):
        return "hcpcs"
    if icd.matches(code):
        return "icd10cm"
    return "unknown"


def _days(values: pd.Series, missing: int) -> np.ndarray:
    """ISO date strings (or dates) as int64 days since 1970-01-01; empty or malformed -> missing. Each distinct
    value is parsed once (a release's rows share a few dates)."""
    ids, uniques = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=False)
    parsed = pd.to_datetime(pd.Series(uniques, dtype=object).replace("", None), format="%Y-%m-%d",
                            errors="coerce")
    days_u = parsed.to_numpy(dtype="datetime64[D]").astype(np.int64)
    days_u[parsed.isna().to_numpy()] = missing
    return days_u[ids] if len(days_u) else np.zeros(len(ids), np.int64)


@functools.lru_cache(maxsize=4096)  # a few distinct days (release dates, rows' dates) stand for many rows
def _day_to_date(day: int) -> dt.date | None:
    if day in (NO_START, NO_END):
        return None
    return dt.date(1970, 1, 1) + dt.timedelta(days=int(day))


def _date_days(dates: pd.Series) -> np.ndarray:
    """A column of dates (datetime64, date objects or ISO strings) as int64 days; missing -> NO_START."""
    if not pd.api.types.is_datetime64_any_dtype(dates):
        ids, uniques = pd.factorize(pd.Series(dates, dtype=object))
        conv = pd.to_datetime(pd.Series(uniques, dtype=object), format="mixed", errors="coerce")
        values = conv.to_numpy(dtype="datetime64[D]")
        days = np.where(ids >= 0, values[np.maximum(ids, 0)] if len(values) else np.datetime64("NaT"),
                        np.datetime64("NaT")).astype("datetime64[D]")
        return days.astype(np.int64)  # NaT is int64 min, which is NO_START
    return np.asarray(dates, dtype="datetime64[D]").astype(np.int64)


def _last_true_upto(mask: np.ndarray, upto: np.ndarray) -> np.ndarray:
    """Per row, the last column index <= upto[row] where mask is true, -1 if none."""
    n, k = mask.shape
    m = mask & (np.arange(k)[None, :] <= upto[:, None])
    idx = k - 1 - np.argmax(m[:, ::-1], axis=1)
    return np.where(m.any(axis=1), idx, -1)


def _first_true_after(mask: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Per row, the first column index > after[row] where mask is true, -1 if none."""
    n, k = mask.shape
    m = mask & (np.arange(k)[None, :] > after[:, None])
    return np.where(m.any(axis=1), np.argmax(m, axis=1), -1)


class _SystemHistory:
    """One code set's releases as arrays: a (code x release) matrix of row positions into one table."""

    def __init__(self, system: str, tables: Mapping[str, pd.DataFrame], horizon_months: int | None):
        self.system = system
        self.cs = registry.get(system)
        self.release_ids = sorted(tables)
        self.release_days = _days(self.release_ids, NO_START) if self.release_ids else np.zeros(0, np.int64)
        if (self.release_days == NO_START).any():
            bad = [r for r, d in zip(self.release_ids, self.release_days, strict=True) if d == NO_START]
            raise CodegovError(f"{system}: release ids must be ISO effective dates, found {bad}")
        nrel = len(self.release_ids)
        # the releases' rows as one set of columns (numpy object arrays: no frame is built and read back)
        names = ("display_code", "kind", "billable", "desc", "start_s", "end_s", "xrefs", "short", "rel_end_s")
        parts: dict[str, list] = {n: [] for n in ("raw", "rel", *names)}
        for i, rid in enumerate(self.release_ids):
            t = tables[rid]
            n = len(t)

            def col(name, t=t, n=n):
                return t[name].to_numpy(dtype=object) if name and name in t else np.full(n, "", dtype=object)

            desc = t["long_desc"].where(t["long_desc"] != "", t["short_desc"]) if "short_desc" in t else t[
                "long_desc"]
            parts["raw"].append(t["code"].to_numpy(dtype=object))
            parts["rel"].append(np.full(n, i, dtype=np.int64))
            parts["display_code"].append(t["display_code"].to_numpy(dtype=object))
            parts["kind"].append(t["kind"].to_numpy(dtype=object))
            parts["billable"].append((t["billable"] == "1").to_numpy())
            parts["desc"].append(desc.to_numpy(dtype=object))
            parts["start_s"].append(col(self._start_col))
            parts["end_s"].append(col(self._end_col))
            for name, column in (("xrefs", "xrefs"), ("short", "short_desc"), ("rel_end_s", "effective_end")):
                parts[name].append(col(column))
        empty = {"rel": np.array([], dtype=np.int64), "billable": np.array([], dtype=bool)}
        cols = {k: np.concatenate(v) if v else empty.get(k, np.array([], dtype=object)) for k, v in parts.items()}
        # each distinct stored code normalised once (the releases repeat most codes)
        raw_ids, raw_uniques = pd.factorize(cols["raw"], use_na_sentinel=False)
        normalize = self.cs.normalize  # normalize_code without its two calls per code (100,000 per release)
        norm = np.array([normalize(c) for c in raw_uniques] or [""], dtype=object)[raw_ids]
        codes, uniques = pd.factorize(norm)
        rel_all = cols["rel"]
        keep = ~pd.Series(codes * max(nrel, 1) + rel_all).duplicated(keep="last").to_numpy()
        if not keep.all():  # a code twice in one release (a hand-made table): its last row
            codes, uniques = pd.factorize(norm[keep])
        else:
            keep = slice(None)
        self.codes = pd.Index(uniques, dtype=object)
        self.code_id = codes.astype(np.int64)
        self.rel = rel_all[keep]
        self.display = cols["display_code"][keep]
        self.kind = cols["kind"][keep]
        self.billable = cols["billable"][keep].astype(bool)
        self.desc = cols["desc"][keep]  # the tables' own strings (no copy): read by row in ReleaseHistory._detail
        self.xrefs = cols["xrefs"][keep]
        self.short = cols["short"][keep]
        self.end_s = cols["end_s"][keep]
        n_rows = len(self.rel)
        self.start = _days(cols["start_s"][keep], NO_START) if self._start_col else np.full(n_rows, NO_START)
        self.end = _days(self.end_s, NO_END) if self._end_col else np.full(n_rows, NO_END)
        self.presence = np.full((len(uniques), max(nrel, 1)), -1, dtype=np.int64)
        self.presence[self.code_id, self.rel] = np.arange(n_rows)
        # The newest release covers until its rows' effective_end (ICD-10-CM fiscal year) or the horizon.
        self.cover_end = NO_END
        if nrel:
            last = cols["rel_end_s"][keep][self.rel == nrel - 1]
            ends = _days(last[last != ""], NO_END) if self.cs.headers else np.array([], np.int64)
            if len(ends) and (ends != NO_END).any():
                self.cover_end = int(ends[ends != NO_END].max())
            elif horizon_months is not None:
                until = pd.Timestamp(self.release_ids[-1]) + pd.DateOffset(months=int(horizon_months))
                self.cover_end = int(self.release_days[-1]) + (until - pd.Timestamp(self.release_ids[-1])).days - 1

    @property
    def _start_col(self) -> str | None:
        return self.cs.start_column

    @property
    def _end_col(self) -> str | None:
        return self.cs.end_column

    def row_fields(self, row: int) -> dict:
        """The fields of one stored row the replacement rules read (XREF, termination date, short descriptor)."""
        return {"xrefs": self.xrefs[row], "termination_date": self.end_s[row] if self._end_col else "",
                "short_desc": self.short[row]}

    def code_ids(self, codes: np.ndarray) -> np.ndarray:
        return self.codes.get_indexer(codes) if len(self.codes) else np.full(len(codes), -1)

    def resolve(self, cid: np.ndarray, day: np.ndarray) -> dict[str, np.ndarray]:
        """Status of unique (code id, day) pairs: arrays status, row, rel, since, ref_row."""
        n, nrel = len(cid), len(self.release_ids)
        status = np.full(n, UNKNOWN, dtype=np.int64)
        row = np.full(n, -1, dtype=np.int64)
        ref = np.full(n, -1, dtype=np.int64)
        since = np.full(n, NO_START, dtype=np.int64)
        rin = np.searchsorted(self.release_days, day, side="right") - 1 if nrel else np.full(n, -1)
        covered = (day != NO_START) & (rin >= 0) & ~((rin == nrel - 1) & (day > self.cover_end))
        rel = np.where(covered, rin, -1)
        known = covered & (cid >= 0)
        if not known.any():
            return {"status": status, "row": row, "rel": rel, "since": since, "ref_row": ref, "covered": covered,
                    "before": np.zeros(n, dtype=bool)}
        k = np.flatnonzero(known)
        c, d, r = cid[k], day[k], rin[k]
        pres = self.presence[c]  # (m, nrel)
        has = pres >= 0
        ix = np.arange(len(k))
        row0 = pres[ix, r]
        chosen, chosen_rel = row0.copy(), r.copy()
        if self.cs.reuses_codes and nrel > 1:
            # A code (re)added between two loaded files: the next file's row with an add date on or before
            # the date of service is the meaning in force (G9890 in 2018: quarterly change the annual missed).
            nxt = np.minimum(r + 1, nrel - 1)
            row1 = np.where(r + 1 < nrel, pres[ix, nxt], -1)
            add1 = np.where(row1 >= 0, self.start[np.maximum(row1, 0)], NO_START)
            add0 = np.where(row0 >= 0, self.start[np.maximum(row0, 0)], NO_START)
            use1 = (row1 >= 0) & (add1 != NO_START) & (add1 <= d) & ((row0 < 0) | (add1 > add0))
            chosen = np.where(use1, row1, row0)
            chosen_rel = np.where(use1, nxt, r)
        st = np.full(len(k), UNKNOWN, dtype=np.int64)
        sn = np.full(len(k), NO_START, dtype=np.int64)
        undated = np.zeros(len(k), dtype=bool)
        present = chosen >= 0
        safe = np.maximum(chosen, 0)
        rel_day = self.release_days
        if self.cs.headers:
            bill_m = has & self.billable[np.maximum(pres, 0)]
            head_m = has & ~bill_m
            is_bill = present & self.billable[safe]
            st[is_bill] = VALID
            run = _last_true_upto(~bill_m, r)  # start of the current billable run
            sn = np.where(is_bill, rel_day[np.minimum(run + 1, nrel - 1)], sn)
            is_head = present & ~self.billable[safe]
            was_bill = _last_true_upto(bill_m, r)
            became = is_head & (was_bill >= 0)
            st[is_head] = HEADER
            st[became] = DELETED
            sn = np.where(became, rel_day[np.minimum(was_bill + 1, nrel - 1)], sn)
            hrun = _last_true_upto(~head_m, r)
            sn = np.where(is_head & ~became, rel_day[np.minimum(hrun + 1, nrel - 1)], sn)
        else:
            s, e = self.start[safe], self.end[safe]
            gone = present & (e != NO_END) & (e < d)
            early = present & ~gone & (s != NO_START) & (s > d)
            ok = present & ~gone & ~early
            st[ok], st[gone], st[early] = VALID, DELETED, NOT_YET
            run = _last_true_upto(~has, chosen_rel)
            first_day = rel_day[np.minimum(run + 1, nrel - 1)]
            sn = np.where(ok, np.where(s != NO_START, s, first_day), sn)
            # no documented start and in every release from the first: in effect before the first (POS 11)
            undated[ok & (s == NO_START) & (run < 0)] = True
            sn = np.where(gone, e + 1, sn)
            sn = np.where(early, s, sn)
        absent = ~present
        before = _last_true_upto(has, r)
        after = _first_true_after(has, r)
        dele = absent & (before >= 0)
        later = absent & (before < 0) & (after >= 0)
        st[dele], st[later] = DELETED, NOT_YET
        prev_row = pres[ix, np.maximum(before, 0)]
        next_row = pres[ix, np.maximum(after, 0)]
        gone_day = rel_day[np.minimum(before + 1, nrel - 1)]
        if not self.cs.headers:
            e = self.end[np.maximum(prev_row, 0)]
            gone_day = np.where((e != NO_END) & (e + 1 < gone_day), e + 1, gone_day)
        sn = np.where(dele, gone_day, sn)
        nxt_day = rel_day[np.maximum(after, 0)]
        if not self.cs.headers:
            s = self.start[np.maximum(next_row, 0)]
            nxt_day = np.where((s != NO_START) & (s > d), s, nxt_day)
        sn = np.where(later, nxt_day, sn)
        status[k], since[k] = st, sn
        before_first = np.zeros(n, dtype=bool)
        before_first[k] = undated
        row[k] = np.where(present, chosen, -1)
        ref[k] = np.where(present, chosen, np.where(dele, prev_row, np.where(later, next_row, -1)))
        rel[k] = np.where(present, chosen_rel, r)
        return {"status": status, "row": row, "rel": rel, "since": since, "ref_row": ref, "covered": covered,
                "before": before_first}


class ReleaseHistory:
    """Every loaded release of every code set, answering "what did this code mean on that day"."""

    def __init__(self, tables: Mapping[tuple[str, str], pd.DataFrame] | None = None,
                 horizon_months: Mapping[str, int | None] | None = None,
                 engines: Callable[[str, str], ReleaseReplacements] | None = None):
        """tables: {(system, release id): release table}. engines: fn(system, release id) -> the replacement
        engine on that release (a ReleaseRepository passes its own, with the conversion tables); default
        one built here from the table."""
        horizon = {**DEFAULT_HORIZON_MONTHS, **(horizon_months or {})}
        self._tables = dict(tables or {})
        self._engines = engines
        self._own_engines: dict[tuple[str, str], ReleaseReplacements] = {}
        by_system: dict[str, dict[str, pd.DataFrame]] = {s: {} for s in SYSTEMS}
        for (system, release_id), table in (tables or {}).items():
            if system not in by_system:
                raise CodegovError(f"unknown code set {system!r}: expected one of {', '.join(SYSTEMS)}")
            by_system[system][release_id] = table
        self._systems = {s: _SystemHistory(s, t, horizon.get(s)) for s, t in by_system.items()}
        self._sources: dict[str, list[ReplacementSource]] = {s: [] for s in SYSTEMS}

    @classmethod
    def from_store(cls, codesets_dir: str | Path, releases: str | Path | None = None) -> ReleaseHistory:
        """Every release table under releases (default codesets_dir/releases), with the conversion tables."""
        from ingest.repository import ReleaseRepository

        return ReleaseRepository(releases, codesets_dir).history()

    def engine(self, system: str, release_id: str) -> ReleaseReplacements:
        if self._engines is not None:
            return self._engines(system, release_id)
        key = (system, release_id)
        if key not in self._own_engines:
            self._own_engines[key] = ReleaseReplacements(system, self._tables[key])
        return self._own_engines[key]

    def releases(self, system: str) -> list[str]:
        return list(self._systems[system].release_ids)

    def coverage(self, system: str) -> tuple[dt.date, dt.date | None] | None:
        """First and last day some loaded release of system is in force (None: no release loaded)."""
        h = self._systems[system]
        if not h.release_ids:
            return None
        return _day_to_date(int(h.release_days[0])), _day_to_date(h.cover_end)

    def spans(self, system: str) -> pd.DataFrame:
        """Every stored code of system with the spans of dates over which its answer (`lookup`) cannot change:
        columns code (official form), first, last (int64 days since 1970-01-01, inclusive; last NO_END when the
        newest release has no end), from the first release's effective date to the last day covered.

        A code's answer changes only on a release's effective date, on a row's start date, the day after a
        row's end date, and after the coverage ends: the spans are cut there (the site's lookup index)."""
        h = self._systems[system]
        cols = ["code", "first", "last"]
        if not h.release_ids or not len(h.codes):
            return pd.DataFrame({c: pd.Series(dtype=object if c == "code" else np.int64) for c in cols})
        ncode = len(h.codes)
        cuts = [np.repeat(np.arange(ncode), len(h.release_days)), np.tile(h.release_days, ncode)]
        starts = [np.tile(h.release_days, ncode)]
        for day, ok in ((h.start, h.start != NO_START), (h.end + 1, h.end != NO_END)):
            cuts[0] = np.concatenate([cuts[0], h.code_id[ok]])
            starts.append(day[ok])
        cid, day = cuts[0], np.concatenate(starts)
        lo, hi = int(h.release_days[0]), h.cover_end
        keep = (day >= lo) & ((hi == NO_END) | (day <= hi))
        frame = pd.DataFrame({"cid": cid[keep], "first": day[keep]}).drop_duplicates().sort_values(["cid", "first"])
        nxt = frame.groupby("cid")["first"].shift(-1)
        last = np.where(nxt.isna(), hi, nxt.fillna(0).to_numpy(np.int64) - 1)
        return pd.DataFrame({"code": h.codes.to_numpy(object)[frame["cid"].to_numpy()],
                             "first": frame["first"].to_numpy(np.int64), "last": last.astype(np.int64)})

    def release_days(self, system: str) -> list[tuple[str, int]]:
        """(release id, effective day as days since 1970-01-01) of every loaded release of system, oldest first."""
        h = self._systems[system]
        return [(r, int(d)) for r, d in zip(h.release_ids, h.release_days, strict=True)]

    def knows(self, system: str, code: str) -> bool:
        h = self._systems.get(system)
        return h is not None and normalize_code(code, system) in h.codes

    def add_replacement_source(self, system: str, source: ReplacementSource) -> None:
        """Register fn(code, release_id) -> [(display code, source name)], asked after the built-in ones."""
        self._sources[system].append(source)

    def replacements(self, system: str, code: str, release_id: str | None, status: str,
                     ref_row: int = -1) -> list[tuple[str, str]]:
        """Replacement suggestions from the replacement engine (ingest.replacements), then registered sources."""
        return self.replacements_many(system, [(code, release_id, status, ref_row)])[0]

    def replacements_many(self, system: str, asks: list[tuple[str, str | None, str, int]]) -> list[list]:
        """replacements(system, code, release_id, status, ref_row) of each (code, release_id, status, ref_row);
        the codes of one release without a row of their own (ICD-10-CM's) asked of its engine at once."""
        h = self._systems[system]
        out: list[list[tuple[str, str]]] = [[] for _ in asks]
        batches: dict[str, list[int]] = {}
        for i, (code, release_id, status, ref_row) in enumerate(asks):
            if status not in ("header", "deleted") or release_id not in h.release_ids:
                continue
            if ref_row >= 0 and not h.cs.headers:
                out[i] += self.engine(system, release_id).pairs(code, row=h.row_fields(ref_row))
            else:
                batches.setdefault(release_id, []).append(i)
        for release_id, items in batches.items():
            for i, pairs in zip(items, self.engine(system, release_id).pairs_many([asks[i][0] for i in items]),
                                strict=True):
                out[i] += pairs
        if self._sources[system]:
            for i, (code, release_id, status, _) in enumerate(asks):
                if status in ("header", "deleted") and release_id in h.release_ids:
                    for source in self._sources[system]:
                        out[i] += [(c, s) for c, s in source(code, release_id) if (c, s) not in out[i]]
        return out

    def lookup(self, code: str, on: dt.date | None = None, system: str | None = None) -> Validity:
        """What code means on the date on (default today), in system (default: guessed from its shape)."""
        return self.lookup_many([code], [on or dt.date.today()], system)[0]

    def lookup_many(self, codes: list[str], dates: list[dt.date], system: str | None = None) -> list[Validity]:
        """lookup(codes[i], dates[i], system) for every i, with one validate() per code set (the same answers,
        without a frame per code)."""
        systems = [system or guess_system(code, self) for code in codes]
        out: list[Validity | None] = [None] * len(codes)
        for name in dict.fromkeys(systems):
            rows = [i for i, s in enumerate(systems) if s == name]
            if name not in SYSTEMS:
                for i in rows:
                    raw = str(codes[i]).strip().upper()
                    msg = CPT_MESSAGE if name == "cpt" else (
                        f"{raw!r} has the shape of no supported code set (ICD-10-CM, HCPCS Level II, POS, CPT)")
                    out[i] = Validity(name, raw, raw, "unknown", False, "", None, None, [], msg)
                continue
            frame = self.validate(pd.Series([codes[i] for i in rows], dtype=object),
                                  pd.Series([pd.Timestamp(dates[i]) for i in rows]), name, detail=True)
            for i, r in zip(rows, frame.to_dict("records"), strict=True):
                since = r["since"]
                out[i] = Validity(name, r["code"], r["display_code"], r["status"], bool(r["billable"]),
                                  r["description"], r["release"] or None,
                                  since.date() if not pd.isna(since) else None, list(r["replacement_list"]),
                                  r["message"], bool(r["since_undocumented"]))
        return out

    def validate(self, codes: pd.Series, dates: pd.Series, system: str, detail: bool = False) -> pd.DataFrame:
        """Vectorised look-up of codes[i] on dates[i] in one code set, one output row per input row.

        Columns: code (official form), status, billable, release (in force; '' when none covers the date),
        since, covered, present (the code is in the release in force: a deleted code still present became
        an ICD-10-CM header or carries a HCPCS termination date); with detail also display_code, description,
        replacements (space separated), replacement_list and message. Work is done once per distinct (code, date) pair.
        """
        if system not in self._systems:
            raise CodegovError(f"unknown code set {system!r}: expected one of {', '.join(SYSTEMS)}")
        h = self._systems[system]
        index = codes.index
        raw_ids, raw_uniques = pd.factorize(pd.Series(codes).fillna("").astype(object).to_numpy())
        # a stored code asked in its official form is its own normal form (normalising is idempotent): only the
        # others are normalised (an index asks about every stored code)
        norm = np.asarray(raw_uniques, dtype=object).copy()
        cid_u = h.code_ids(norm)
        todo = np.flatnonzero(cid_u < 0)
        if len(todo):
            norm[todo] = [normalize_code(c, system) for c in norm[todo].tolist()]
            cid_u[todo] = h.code_ids(norm[todo])
        day = _date_days(pd.Series(dates).reset_index(drop=True))
        key = raw_ids.astype(np.int64) * (1 << 32) + (day - np.int64(-(1 << 31))).clip(0, (1 << 32) - 1)
        pair_ids, pair_keys = pd.factorize(key)
        first = np.full(len(pair_keys), -1, dtype=np.int64)
        first[pair_ids[::-1]] = np.arange(len(key))[::-1]
        p_raw, p_day = raw_ids[first], day[first]
        res = h.resolve(cid_u[p_raw], p_day)
        rel_names = np.array(h.release_ids + [""], dtype=object)
        status_names = np.array(STATUSES, dtype=object)
        since = res["since"]
        since_dt = np.where((since == NO_START) | (since == NO_END), np.datetime64("NaT"),
                            since.astype("datetime64[D]"))
        out = {
            "code": norm[p_raw],
            "status": status_names[res["status"]],
            "billable": res["status"] == VALID,
            "release": rel_names[np.where(res["covered"], res["rel"], -1)],
            "since": since_dt.astype("datetime64[ns]"),
            "covered": res["covered"],
            "present": res["row"] >= 0,
            "since_undocumented": res["before"],
        }
        if detail:
            out.update(self._detail(h, norm[p_raw], p_day, res))
        result = object_frame({k: np.asarray(v)[pair_ids] for k, v in out.items()})
        result.index, result.columns = index, pd.Index(list(out))  # (labels as DataFrame(dict) gives them)
        return result

    def _detail(self, h: _SystemHistory, codes: np.ndarray, days: np.ndarray, res: dict) -> dict:
        name = SYSTEM_NAMES.get(h.system, h.system)
        n = len(codes)
        st, ref, rel, row_a, covered = (res[k] for k in ("status", "ref_row", "rel", "row", "covered"))
        # the display code and descriptor of the row each answer names, over the whole column (an index asks
        # about hundreds of thousands of spans); a code no release holds: its display form, no descriptor
        has_ref = ref >= 0
        safe = np.maximum(ref, 0)
        display = np.array([str(d) for d in h.display[safe].tolist()] if len(h.display) else [""] * n, dtype=object)
        named = h.desc[safe] if len(h.desc) else np.full(n, "", dtype=object)
        blank = (~has_ref | pd.isna(named)).tolist()  # no row, or a missing descriptor: ""
        desc = np.array(["" if b else str(v) for v, b in zip(named.tolist(), blank, strict=True)], dtype=object)
        # the plain valid answer (most of an index's spans): no replacements, the first message of _message
        # (a code added between two loaded files, its release after the date, takes the full path)
        days_l = np.asarray(days).tolist()
        iso = {d: (_day_to_date(d).isoformat() if _day_to_date(d) else None) for d in set(days_l)}
        when = np.array([iso[d] for d in days_l], dtype=object)
        release_ids = np.array(h.release_ids + [""], dtype=object)
        release = release_ids[np.where(covered & (rel >= 0), rel, -1)]
        plain = (st == VALID) & covered & (rel >= 0) & (when != None)  # noqa: E711 - elementwise
        plain[plain] = ~(release[plain] > when[plain])
        messages = np.empty(n, dtype=object)
        reps = np.full(n, "", dtype=object)
        rep_lists = np.empty(n, dtype=object)
        idx = np.flatnonzero(plain)
        messages[idx] = [f"{d} is valid and billable on {w} ({name} release {r})"
                         for d, w, r in zip(display[idx].tolist(), when[idx].tolist(), release[idx].tolist(),
                                            strict=True)]
        for i in idx.tolist():
            rep_lists[i] = []
        asks, rest = [], []
        for i in np.flatnonzero(~plain).tolist():
            code, s_i, r_i = codes[i], int(st[i]), int(ref[i])
            covered_i = bool(covered[i])
            rel_i = int(rel[i])
            rel_name = h.release_ids[rel_i] if covered_i and rel_i >= 0 else None
            since = _day_to_date(int(res["since"][i]))
            if r_i < 0:
                display[i] = h.cs.display(code)
            status = STATUSES[s_i]
            if status == "deleted" and h.cs.headers and row_a[i] >= 0:
                rep_release = rel_name  # became a header: its children in the release in force
            elif status == "deleted" and since is not None:
                later = [r for r in h.release_ids if r <= since.isoformat()]
                rep_release = later[-1] if later else rel_name
            else:
                rep_release = rel_name
            asks.append((code, rep_release, status, r_i))
            rest.append((i, status, since, rel_name, covered_i))
        for (i, status, since, rel_name, covered_i), rep in zip(rest, self.replacements_many(h.system, asks),
                                                               strict=True):
            rep_lists[i] = rep
            reps[i] = " ".join([c for c, _ in rep])
            messages[i] = _message(name, display[i], status, _day_to_date(days_l[i]), since, rel_name, rep, h,
                                   int(row_a[i]), covered_i)
        return {"display_code": display, "description": desc, "replacements": reps, "replacement_list": rep_lists,
                "message": messages}


def short_list(codes: list[str], limit: int = 5) -> str:
    """'A, B, C (+4 more)'."""
    head = ", ".join(codes[:limit])
    return head + (f" (+{len(codes) - limit} more)" if len(codes) > limit else "")


def _message(name: str, disp: str, status: str, day: dt.date | None, since: dt.date | None,
             release: str | None, reps: list[tuple[str, str]], h: _SystemHistory, row: int,
             covered: bool) -> str:
    when = day.isoformat() if day else "that date"
    rep_text = short_list([c for c, _ in reps])
    if status == "valid":
        if release and day and release > day.isoformat():  # a code added between two loaded files
            return (f"{disp} is valid and billable on {when} (added {since}, as the {name} release {release} "
                    "lists it)")
        return f"{disp} is valid and billable on {when} ({name} release {release})"
    if status == "header":
        more = f"; bill one of {rep_text}" if reps else ""
        return f"{disp} is a header on {when}, not billable: it needs more characters{more}"
    if status == "deleted":
        if h.cs.headers and row >= 0:
            head = f"{disp} became a header on {since}: it needs more characters"
        else:
            head = f"{disp} was deleted on {since}"
        return head + (f"; replaced by {rep_text}" if reps else "")
    if status == "not-yet-effective":
        return f"{disp} is not yet effective on {when}: it takes effect on {since}"
    if not covered:
        if not h.release_ids:
            return f"no {name} release is loaded: run `codegov ingest` first"
        end = _day_to_date(h.cover_end)
        span = f"{h.release_ids[0]} to {end}" if end else f"{h.release_ids[0]} on"
        return f"no loaded {name} release covers {when} (loaded releases cover {span})"
    return f"{disp} is in no loaded {name} release ({h.release_ids[0]} to {h.release_ids[-1]})"
