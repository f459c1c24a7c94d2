"""The NCCI tables the PTP and MUE rules read, chunk by chunk of claim lines.

A rule file's `reference:` section names, for the PTP edits and the MUE table each (claims.rules.settings):
- `in-force`: the stored quarter in force on each date of service (ingest.edits.EditTables). Only the
  file's distinct procedure codes over the file's span of dates are read (claims.read.CodeSpan, once per file
  by warm; a partition scrubbed alone, its own: prepare), the Parquet files being sorted on the code (a few
  row groups); each quarter answers for the dates it is in force, so an edit
  added or deleted in a later quarter's file changes the answer on that quarter's dates only. A line on a
  date no stored quarter covers is not checked, and Scrubber.notes() says how many and what is stored.
- a quarter name (`2026Q3`, `2026-Q3`, `NCCI PTP 2026 Q3` or the id `2026-07-01`): that stored quarter for
  every date of service, read per chunk for the chunk's codes (a PTP edit still by its own effective and
  deletion dates).
- a list of files in the CMS layouts (an organisation's own): parsed once by ingest.parse_edits, the one
  parser per layout. An MUE file applies from the date in its name (or its `effective:`) until the next
  file's; lines dated before the first file are not checked, and the notes say so.

`setting` (practitioner | hospital) chooses which NCCI setting's stored tables are read.

The fee schedule (`reference.pfs`) and the add-on code edits (`reference.aoc`) are read the same way from the
stored quarters (`in-force`, the default, or a pinned quarter): per chunk, the fee-schedule indicators of each
line's code on its date (global days, PC/TC, bilateral surgery, status: Context.fee) and the add-on edits
where the chunk's codes are the add-on or the primary (Context.aoc), each quarter's rows clipped to the dates
it is in force. A rule file that does not name them reads them in force when stored and leaves the lines
unchecked (with a note) when not; naming them `in-force` with nothing stored is an error, as for ptp and mue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claims.read import CodeSpan, Lines
from claims.rules.base import PFS_UNCOVERED, Context, FeeLines, Gap, MueTable, indicator
from claims.rules.settings import EditSource, RuleSet
from ingest.frames import object_frame
from ingest.model import CodegovError
from ingest.systems import edit_set

PTP_COLUMNS = ("column1", "column2", "prior_1996", "effective", "deletion", "modifier_indicator", "rationale")
MUE_COLUMNS = ("code", "mue", "mai", "rationale")
AOC_COLUMNS = ("addon", "primary", "edit_type", "effective", "deletion")
SETTING_FILES = {"ptp": {"practitioner": "ccipra", "hospital": "ccioph"},
                 "mue": {"practitioner": "PractitionerServices", "hospital": "OutpatientHospitalServices"}}


def empty_ptp() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("effective", "deletion") else
                                      (bool if c == "prior_1996" else object)) for c in PTP_COLUMNS})


def ptp_frame(table: pa.Table) -> pd.DataFrame:
    """PTP rows (ingest.parse_edits.PTP_SCHEMA) as the PTP rule reads them: deletion NaT = none."""
    if not table.num_rows:
        return empty_ptp()
    frame = table.select(list(PTP_COLUMNS)).to_pandas(date_as_object=False)
    for c in ("effective", "deletion"):
        frame[c] = frame[c].astype("datetime64[ns]")
    return frame


def mue_frame(table: pa.Table | pd.DataFrame) -> pd.DataFrame:
    frame = table.to_pandas() if isinstance(table, pa.Table) else table
    return frame[list(MUE_COLUMNS)].astype({"code": object, "rationale": object}).reset_index(drop=True)


def _day(value: dt.date) -> np.datetime64:
    return np.datetime64(value, "ns")


def ptp_from_files(paths, setting: str) -> pd.DataFrame:
    """All parts of a quarter (f1..f4) of one's own PTP files as one table."""
    from ingest.parse_edits import parse_ptp

    tables = [parse_ptp(p, setting) for p in paths]
    return ptp_frame(pa.concat_tables(tables)) if tables else empty_ptp()


def mue_from_file(path: Path, effective: dt.date | None, setting: str) -> MueTable:
    """One's own MUE table, applying from `effective` or the date in its name (..._Eff_MM-DD-YYYY.csv)."""
    from ingest.model import ParseError
    from ingest.parse_edits import MUE_CAPTIONS, mue_effective, mue_rows

    effective = effective or mue_effective(path)
    if effective is None:
        raise ParseError(path, None, "expected the effective date in the file name (..._Eff_MM-DD-YYYY.csv) "
                                     "or an `effective:` date for it in the rule file")
    rows = mue_rows(path, MUE_CAPTIONS[setting])
    frame = pd.DataFrame([r[:4] for r in rows], columns=list(MUE_COLUMNS))
    return MueTable(_day(effective), None, mue_frame(frame.astype({"mue": np.int32, "mai": np.int8})))


def uncovered(system: str) -> str:
    """What the notes call the lines no stored quarter of `system` answers for."""
    if system == "pfs":
        return PFS_UNCOVERED
    if system == "aoc":
        return "lines on dates no stored add-on code edit quarter covers"
    return f"lines on dates no stored {edit_set(system).short} quarter covers"


def empty_aoc() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("effective", "deletion") else
                                      (np.int64 if c == "edit_type" else object)) for c in AOC_COLUMNS})


def aoc_frame(table: pa.Table, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """Add-on edits as the add-on rule reads them (deletion NaT: none), clipped to [start, end) when given
    (the dates the quarter holding them is in force): clipped in Arrow, then each column made its numpy array
    once (the codes as Python strings, the dates datetime64[ns])."""
    if not table.num_rows:
        return empty_aoc()
    t = table.select(list(AOC_COLUMNS))
    effective, deletion = t["effective"], t["deletion"]
    if start is not None:
        lo, hi = pa.scalar(start, pa.date32()), pa.scalar(end, pa.date32())
        effective = pc.max_element_wise(effective, lo)
        deletion = pc.if_else(pc.fill_null(pc.less(deletion, hi), False), deletion, hi)
        keep = pc.less(effective, deletion)
        t, effective, deletion = t.filter(keep), effective.filter(keep), deletion.filter(keep)

    def day(column) -> np.ndarray:
        return column.to_numpy(zero_copy_only=False).astype("datetime64[ns]")  # (a null: NaT)

    return object_frame({"addon": t["addon"].to_numpy(zero_copy_only=False).astype(object),
                         "primary": t["primary"].to_numpy(zero_copy_only=False).astype(object),
                         "edit_type": t["edit_type"].to_numpy(zero_copy_only=False).astype(np.int64),
                         "effective": day(effective), "deletion": day(deletion)})


def quarter_names(release_id: str, label: str, short: str) -> set[str]:
    """What a stored quarter answers to (lower case): its id, its label with and without the set's short
    name, and the aliases discovery gives quarterly releases (codesets/discovery.toml): 2026Q3, 2026-Q3."""
    names = {release_id, label, label.removeprefix(short + " ")}
    day = dt.date.fromisoformat(release_id)
    if day.day == 1 and day.month in (1, 4, 7, 10):
        q = (day.month - 1) // 3 + 1
        names |= {f"{day.year}Q{q}", f"{day.year}-Q{q}"}
        if short == edit_set("pfs").short:  # the fee schedule's quarters are lettered: A January ... D October
            names |= {f"{day.year}-{'ABCD'[q - 1]}", f"{day.year}{'ABCD'[q - 1]}"}
    return {n.lower() for n in names}


@dataclass
class _Table:
    """One of the two tables (ptp, mue) as the rule file names it, resolved against the store."""

    source: EditSource
    pinned: str | None = None  # the stored release id of a pinned quarter
    windows: tuple = ()  # in-force: the stored quarters holding the setting (ingest.edits.Window)
    fixed: object = None  # files: the parsed table (ptp frame, or a list of MueTable)


@dataclass
class Prepared:
    """A partition's reference tables (EditReference.prepare), set on the rules' Context by apply."""

    setting: str
    pfs_fallback: str
    fee_stored: bool = False
    ptp: object = None
    mue: object = None
    fee: object = None
    aoc: object = None
    gaps: dict = field(default_factory=dict)

    def apply(self, ctx: Context) -> None:
        ctx.gaps = self.gaps
        ctx.setting, ctx.pfs_fallback, ctx.fee_stored = self.setting, self.pfs_fallback, self.fee_stored
        ctx.ptp, ctx.mue, ctx.fee, ctx.aoc = self.ptp, self.mue, self.fee, self.aoc


class EditReference:
    """The PTP and MUE tables of a rule set, for one chunk of lines at a time (load())."""

    def __init__(self, ruleset: RuleSet, edits=None):
        """edits: an ingest.edits.EditTables (the stored quarters), needed for `in-force` and a pinned quarter.
        Without one, `in-force` has nothing stored: every line is left unchecked and the notes say so."""
        self.edits = edits
        self.setting = ruleset.setting
        self.pfs_fallback = ruleset.pfs_fallback
        sources = [ruleset.ptp, ruleset.mue] + [s for s in (ruleset.pfs, ruleset.aoc) if s is not None]
        self.tables = {s.system: self._resolve(s) for s in sources}

    # -- resolving the rule file's names against the store ----------------------------------------------

    def _stored(self, system: str) -> list[str]:
        return list(self.edits.ids[system]) if self.edits is not None else []

    def _describe_stored(self, system: str) -> str:
        ids = self._stored(system)
        if not ids:
            return f"none; run `codegov ingest --system {system}` (or `codegov update`) first"
        short = edit_set(system).short
        return ", ".join(f"{self.edits.label(system, r).removeprefix(short + ' ')} ({r})" for r in ids)

    def _has_setting(self, system: str, release_id: str) -> bool:
        if system in ("pfs", "aoc"):  # one table for every setting
            return True
        counts = self.edits.stored(system, release_id).manifest.get("rows_by_setting")
        return counts is None or bool(counts.get(self.setting))

    def _resolve(self, source: EditSource) -> _Table:
        system, short = source.system, edit_set(source.system).short
        if not source.stored:
            return _Table(source, fixed=self._read_files(source))
        if self.edits is None and not source.in_force:
            raise CodegovError(f"{source.where()}: {source.quarter} names a stored {short} quarter, but no "
                               "releases folder was opened (ingest.edits.EditTables)")
        if source.in_force:
            if self.edits is None or (source.implicit and not self._stored(system)):
                return _Table(source)
            if not self._stored(system):
                raise CodegovError(f"{source.where()}: in-force, but no {short} quarter is stored in "
                                   f"{self.edits.out}; run `codegov ingest --system {system}` (or `codegov update`) "
                                   "first")
            windows = tuple(w for w in self.edits.windows(system) if self._has_setting(system, w.release))
            if not windows:
                raise CodegovError(f"{source.rule_file}: reference.setting: {self.setting}, but no stored {short} "
                                   f"quarter holds the {self.setting} table ({SETTING_FILES[system][self.setting]} "
                                   f"files); stored: {self._describe_stored(system)}")
            return _Table(source, windows=windows)
        wanted = source.quarter.lower()
        match = [r for r in self._stored(system) if wanted in quarter_names(r, self.edits.label(system, r), short)]
        if not match:
            raise CodegovError(f"{source.where()}: {source.quarter} is not a stored {short} quarter; stored: "
                               f"{self._describe_stored(system)}")
        if not self._has_setting(system, match[0]):
            raise CodegovError(f"{source.rule_file}: reference.setting: {self.setting}, but the stored {short} "
                               f"quarter {source.quarter} has no {self.setting} table "
                               f"({SETTING_FILES[system][self.setting]} files)")
        return _Table(source, pinned=match[0])

    def _read_files(self, source: EditSource):
        for i, (path, _) in enumerate(source.files):
            if not Path(path).is_file():
                raise CodegovError(f"{source.where()}[{i}]: no such file {path}")
        if source.system == "ptp":
            return ptp_from_files([p for p, _ in source.files], self.setting)
        return [mue_from_file(p, eff, self.setting) for p, eff in source.files]

    # -- per partition -----------------------------------------------------------------------------------

    def _memo(self, method: str, *args):
        """self.edits.<method>(*args), kept while the next partition asks the same (partitions of one file
        mostly bill the same codes over the same dates: the Parquet row groups are read once, not per
        partition). The answers of the last partition only are kept."""
        key = (method, args)
        memo = self.__dict__.setdefault("_answers", {"now": {}, "last": {}})
        if key not in memo["now"]:
            memo["now"][key] = memo["last"][key] if key in memo["last"] else getattr(self.edits, method)(*args)
        return memo["now"][key]

    def _derived(self, key: tuple, make):
        """make(), kept while the next partition asks the same key (as _memo: a frame made from the stored
        rows, the same for partitions of the same codes and dates)."""
        memo = self.__dict__.setdefault("_answers", {"now": {}, "last": {}})
        key = ("derived", *key)
        if key not in memo["now"]:
            memo["now"][key] = memo["last"][key] if key in memo["last"] else make()
        return memo["now"][key]

    def _next_partition(self) -> None:
        memo = self.__dict__.setdefault("_answers", {"now": {}, "last": {}})
        memo["last"], memo["now"] = memo["now"], {}

    def load(self, ctx: Context, lines: Lines) -> None:
        """Set ctx.ptp, ctx.mue, ctx.fee, ctx.aoc and ctx.gaps for this partition of lines."""
        self.prepare(lines).apply(ctx)

    def prepare(self, lines: Lines, span: CodeSpan | None = None) -> Prepared:
        """What load sets for this partition of lines, without a Context: the scrubber prepares the next
        partition's reference in its reading thread while the rules run on this one (claims.scrub). Partitions
        are prepared one after another, in order (the answers of the last one are kept for the next: _memo).
        span: the whole file's codes and dates (claims.read.CodeSpan, read ahead by warm): a partition inside
        it takes the span's tables, read once for the file, rather than its own; the rules look up each line's
        own code and date in them, so the findings are the same."""
        f = lines.frame
        dos = f["dos"].to_numpy()
        dated = ~np.isnat(dos)
        codes: list[str] = []
        first = last = None
        if dated.any():
            codes = [c for c in pd.unique(f["code"].to_numpy(object)[dated]) if c]
            first = pd.Timestamp(dos[dated].min()).date()
            last = pd.Timestamp(dos[dated].max()).date()
            if codes and span is not None and span.covers(codes, first, last):
                codes, first, last = list(span.codes), span.first, span.last
        return self._prepare(dos, dated, lines.code_vocab, lines.code_ids, codes, first, last)

    def warm(self, span: CodeSpan | None) -> None:
        """Read the edit tables of a whole file's span ahead of its partitions (claims.scrub reads them while the
        file is spilled): prepare(lines, span) then finds them kept. As prepare, one call at a time."""
        if span is None or not span.codes:
            return
        dos = np.array([_day(span.first), _day(span.last)])
        self._prepare(dos, np.ones(2, bool), pd.Index(span.codes[:1], dtype=object), np.zeros(2, np.int64),
                      list(span.codes), span.first, span.last)

    def _prepare(self, dos, dated, code_vocab, code_ids, codes, first, last) -> Prepared:
        self._next_partition()
        out = Prepared(setting=self.setting, pfs_fallback=self.pfs_fallback)
        pfs = self.tables.get("pfs")
        out.fee_stored = bool(self.edits is not None and pfs is not None and (pfs.windows or pfs.pinned))
        out.ptp = self._ptp(out, dos, dated, codes, first, last)
        out.mue = self._mue(out, dos, dated, codes, first, last)
        out.fee = self._fee(out, code_vocab, code_ids, dos, dated, codes, first, last)
        out.aoc = self._aoc(out, dos, dated, codes, first, last)
        return out

    def _gap(self, ctx: Context, system: str, dated: np.ndarray, covered: np.ndarray) -> None:
        ctx.gaps[system] = Gap(dated & ~covered, uncovered(system))

    def _covered(self, windows, dos: np.ndarray) -> np.ndarray:
        covered = np.zeros(len(dos), bool)
        for w in windows:
            covered |= (dos >= _day(w.start)) & (dos < _day(w.end))
        return covered

    def _ptp(self, ctx, dos, dated, codes, first, last) -> pd.DataFrame:
        t = self.tables["ptp"]
        if not t.source.stored:
            return t.fixed
        if t.source.in_force:
            self._gap(ctx, "ptp", dated, self._covered(t.windows, dos))
            if self.edits is None or not codes:
                return empty_ptp()
            return self._memo("ptp_frame", tuple(sorted(codes)), first, last, self.setting)
        if not codes:
            return empty_ptp()
        key = tuple(sorted(codes))
        return self._derived(("ptp", t.pinned, key), lambda: ptp_frame(self.edits.ptp(t.pinned, key,
                                                                                   setting=self.setting)))

    def _mue(self, ctx, dos, dated, codes, first, last) -> list[MueTable]:
        t = self.tables["mue"]
        if not t.source.stored:
            if t.fixed:
                start = min(m.start for m in t.fixed)
                ctx.gaps["mue"] = Gap(dated & (dos < start), "lines dated before the first MUE file of the rule "
                                                             "file")
            return t.fixed
        if t.source.in_force:
            self._gap(ctx, "mue", dated, self._covered(t.windows, dos))
            if self.edits is None or not codes:
                return []
            windows = self.edits.windows_between("mue", first, last)
            frames = self._memo("mue_frames", tuple(sorted(codes)), first, last, self.setting)
            return self._derived(("mue", tuple(sorted(codes)), first, last), lambda: [
                MueTable(_day(w.start), _day(w.end), mue_frame(frame))
                for w, frame in zip(windows, frames, strict=True)])
        if not codes:
            return []
        key = tuple(sorted(codes))
        return self._derived(("mue", t.pinned, key), lambda: [MueTable(None, None, mue_frame(
            self.edits.rows("mue", t.pinned, key, setting=self.setting)))])

    def _quarters(self, system: str, dos, dated, first, last) -> tuple[np.ndarray, list]:
        """(covered lines, [(release, start, end)]) of pfs or aoc for this chunk; start/end None: any date."""
        t = self.tables.get(system)
        if t is None or self.edits is None or (t.source.in_force and not t.windows):
            return np.zeros(len(dos), bool), []
        if t.source.in_force:
            covered = dated & self._covered(t.windows, dos)
            if first is None:
                return covered, []
            spans = [(w.release, w.start, w.end) for w in t.windows if w.start <= last and w.end > first]
            return covered, spans
        return dated.copy(), [(t.pinned, None, None)]

    def _fee(self, ctx, vocab: pd.Index, code_ids: np.ndarray, dos, dated, codes, first, last) -> FeeLines:
        """Each line's fee-schedule indicators on its date: the code's global row (modifier blank) of the
        quarter in force."""
        n = len(dos)
        covered, spans = self._quarters("pfs", dos, dated, first, last)
        ctx.gaps["pfs"] = Gap(dated & ~covered, uncovered("pfs"))
        names = ("global_days", "pctc", "bilat", "status", "release")
        found = np.zeros(n, bool)
        if not spans or not codes:
            blank = FeeLines.none(n)
            return FeeLines(covered, found, **{k: getattr(blank, k) for k in names})
        # each line's row in the spans' rows, one after another (-1: none), then every column taken once
        at_row = np.full(n, -1, dtype=np.int64)
        columns: dict[str, list] = {k: [] for k in names}
        offset = 0
        for release, start, end in spans:
            def global_rows(release=release):
                """(codes, indicators) of the global rows (modifier blank), each code's first, blanks ''."""
                rows = self._memo("rows", "pfs", release, tuple(sorted(codes)))
                rows = rows.filter(pc.equal(pc.fill_null(rows["modifier"], ""), ""))

                def text(name: str) -> np.ndarray:
                    return pc.fill_null(rows[name], "").to_numpy(zero_copy_only=False).astype(object)

                code = text("code")
                first = ~pd.Index(code, dtype=object).duplicated(keep="first")
                return code[first], {"global_days": text("global_days")[first], "pctc": text("pctc")[first],
                                     "bilat": text("bilat_surg")[first], "status": text("status")[first],
                                     "release": np.full(int(first.sum()), self.edits.label("pfs", release),
                                                        dtype=object)}

            rows, values = self._derived(("pfs", release, tuple(sorted(codes))), global_rows)
            m = covered.copy()
            if start is not None:
                m &= (dos >= _day(start)) & (dos < _day(end))
            if not len(rows) or not m.any():
                continue
            at = pd.Index(rows, dtype=object).get_indexer(vocab)  # per distinct code of the chunk
            pos = at[code_ids]
            hit = m & (pos >= 0)
            at_row[hit] = offset + pos[hit]
            for k in names:
                columns[k].append(values[k])
            offset += len(rows)
            found |= hit
        empty = np.zeros(0, dtype=object)
        return FeeLines(covered, found, **{k: indicator(at_row, np.concatenate([empty, *columns[k]])) for k in names})

    def _aoc(self, ctx, dos, dated, codes, first, last) -> pd.DataFrame:
        """The add-on edits where a chunk code is the add-on or the primary, each quarter's clipped to its
        dates in force (a pinned quarter: the edits' own dates)."""
        covered, spans = self._quarters("aoc", dos, dated, first, last)
        ctx.gaps["aoc"] = Gap(dated & ~covered, uncovered("aoc"))
        frames = []
        for release, start, end in spans if codes else []:
            def clipped(release=release, start=start, end=end):
                table = pa.concat_tables([self._memo("rows", "aoc", release, tuple(sorted(codes))),
                                          self._memo("addon_primaries", release, tuple(sorted(codes)))])
                return aoc_frame(table, start, end)

            frames.append(self._derived(("aoc", release, tuple(sorted(codes)), start, end), clipped))
        frames = [f for f in frames if len(f)]
        if not frames:
            return empty_aoc()
        return pd.concat(frames, ignore_index=True).drop_duplicates().reset_index(drop=True)

    # -- for the notes -----------------------------------------------------------------------------------

    def coverage(self, system: str) -> str:
        """'NCCI PTP quarters stored (practitioner): 2026 Q3, 2026 Q4, in force 2026-07-01 to 2027-01-28'."""
        t = self.tables[system]
        short = edit_set(system).short
        if system in ("pfs", "aoc"):
            short = {"pfs": "PFS", "aoc": "Add-on code edit"}[system]
            if t.pinned:
                return f"{short} quarter pinned: {self.edits.label(system, t.pinned)}"
            if not t.windows:
                return f"{short} quarters stored: none (run `codegov ingest --system {system}`)"
            names = ", ".join(w.label.removeprefix(edit_set(system).short + " ").removeprefix("PFS ")
                              for w in t.windows)
            end = t.windows[-1].end - dt.timedelta(days=1)
            return f"{short} quarters stored: {names}, in force {t.windows[0].start} to {end}"
        if not t.windows:
            return f"{short} quarters stored ({self.setting}): none (run `codegov ingest --system {system}`)"
        names = ", ".join(w.label.removeprefix(short + " ") for w in t.windows)
        end = t.windows[-1].end - dt.timedelta(days=1)
        return f"{short} quarters stored ({self.setting}): {names}, in force {t.windows[0].start} to {end}"
