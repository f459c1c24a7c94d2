"""Run every enabled rule over a claims file, partition by partition, and hand the findings to claims.output."""

from __future__ import annotations

import string
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from claims.output import FINDING_COLUMNS, SpilledFindings, write_findings
from claims.partition import coded_partition, iter_coded_partitions
from claims.read import CLAIM_COLUMNS, DEFAULT_CHUNK_LINES, Lines, parse_lines, prefetch
from claims.reference import EditReference, Prepared, uncovered
from claims.rules import RULES, Context, RuleSet, load_rules
from claims.rules.base import PFS_FALLBACK, PFS_UNCOVERED, join_text, one_of
from claims.rules.settings import RuleSettings
from ingest.frames import object_frame
from ingest.history import ReleaseHistory
from ingest.model import SYSTEM_NAMES


def empty_findings() -> pd.DataFrame:
    return object_frame({c: pd.Series(dtype=object if c != "row" else np.int64) for c in FINDING_COLUMNS})


def _fill(template: str, cols: pd.DataFrame, blank_if_empty: bool) -> np.ndarray:
    """Vectorised str.format: literal text and columns joined element-wise (pyarrow's binary_join_element_wise,
    one pass for the whole template); '' when a field is empty and blank_if_empty (a fix that has nothing to
    suggest). Fields of strings are made Arrow arrays once, their empty values found there; a field of other
    values is made strings (astype(str)), and a template with a field Arrow cannot hold is joined by numpy."""
    n = len(cols)
    parsed = list(string.Formatter().parse(template))
    if len(parsed) == 1 and not parsed[0][0] and parsed[0][1] is not None:  # "{suggestion}": the field itself
        values = cols[parsed[0][1]].to_numpy(object)
        if pd.api.types.infer_dtype(values, skipna=False) != "string":
            values = cols[parsed[0][1]].astype(str).to_numpy(object)
        return values.copy()
    pieces: list = []
    empty = np.zeros(n, dtype=bool)
    for literal, name, _spec, _conv in parsed:
        if literal:
            pieces.append(literal)
        if name is not None:
            values = cols[name].to_numpy(object)
            if pd.api.types.infer_dtype(values, skipna=False) != "string":  # (all strings: taken as they are)
                values = cols[name].astype(str).to_numpy(object)
            pieces.append(_arrow_strings(values))
            if blank_if_empty:
                empty |= (pc.equal(pieces[-1], "").to_numpy(zero_copy_only=False) if isinstance(pieces[-1], pa.Array)
                          else one_of(values, ("",)))
    fields = [p for p in pieces if not isinstance(p, str)]
    if n and fields and all(isinstance(p, pa.Array) for p in fields):
        out = pc.binary_join_element_wise(*[p for p in pieces if not isinstance(p, str) or p], "").to_numpy(
            zero_copy_only=False)
    else:
        out = _joined([p.to_numpy(zero_copy_only=False).astype(object) if isinstance(p, pa.Array) else p
                       for p in pieces], n)
    if blank_if_empty:
        out = np.where(empty, "", out)
    return out.astype(object)


def _arrow_strings(values: np.ndarray):
    """An object array of strings as an Arrow string array; as it is when Arrow cannot hold one (a lone
    surrogate) or one is missing."""
    try:
        arr = pa.array(values, type=pa.string())
    except (pa.ArrowException, UnicodeError):
        return values
    return values if arr.null_count else arr


def _joined(pieces: list, n: int) -> np.ndarray:
    """The pieces (literal strings, object arrays of n strings) joined element-wise, as an object array."""
    if not any(not isinstance(p, str) for p in pieces) or not n:
        return np.full(n, "".join(p for p in pieces if isinstance(p, str)), dtype=object)
    return join_text(*pieces)


@dataclass
class Scrubber:
    """A rule set with its reference data and a release history, ready to scrub chunks of claim lines."""

    ruleset: RuleSet
    history: ReleaseHistory = field(default_factory=ReleaseHistory)
    edits: object = None  # ingest.edits.EditTables: the stored quarters (`in-force`, a pinned quarter)
    context: Context = field(init=False)
    reference: EditReference = field(init=False)

    def __post_init__(self):
        self.reference = EditReference(self.ruleset, self.edits)
        self.context = Context(self.history, pfs_fallback=self.ruleset.pfs_fallback, setting=self.ruleset.setting)

    @classmethod
    def from_files(cls, rules: str | Path, payer_rules: list[str | Path] | tuple = (),
                   history: ReleaseHistory | None = None, edits=None) -> Scrubber:
        return cls(load_rules(rules, payer_rules), history or ReleaseHistory(), edits)

    def scrub_lines(self, lines: Lines, prepared: Prepared | None = None) -> pd.DataFrame:
        """Findings of one partition of parsed lines (every line of its patients: claims.partition), unsorted.
        The rules across a patient's claims (claims.rules.base.Rule.across_claims) collect the lines they
        need and then compare them, both here: a partition holds all of a patient's claims. prepared: the
        partition's reference tables (EditReference.prepare), made here when not given."""
        (prepared or self.reference.prepare(lines)).apply(self.context)
        f = lines.frame
        payer = lines.factorized("payer")
        dos = f["dos"].to_numpy()
        claim_id, line, row = f["claim_id"].to_numpy(object), f["line"].to_numpy(object), f["row"].to_numpy(np.int64)
        out = []
        for rule_id, rule in RULES.items():
            for settings, sel in self.ruleset.selections(rule_id, payer, dos):
                if rule.across_claims:
                    events = rule.collect(self.context, lines, sel, settings.params)
                    if not len(events):
                        continue
                    res = rule.finish(self.context, events, settings.params)
                    if not len(res):
                        continue
                    e = events["i"].to_numpy(np.int64)[res["i"].to_numpy(np.int64)]
                else:
                    res = rule.run(self.context, lines, sel, settings.params)
                    if not len(res):
                        continue
                    e = res["i"].to_numpy(np.int64)
                out.append(self._findings(rule_id, settings, res, claim_id[e], line[e], row[e]))
        return pd.concat(out, ignore_index=True) if out else empty_findings()

    @staticmethod
    def _findings(rule_id: str, settings: RuleSettings, res: pd.DataFrame, claim_id, line, row) -> pd.DataFrame:
        n = len(res)
        severity = np.full(n, settings.severity, dtype=object)
        if "severity" in res:  # a rule that grades its findings (add-on edit type 3: a warning)
            given = res["severity"].to_numpy(object)
            severity = np.where(given == "", severity, given).astype(object)
        return object_frame({
            "claim_id": claim_id, "line": line, "rule": np.full(n, rule_id, dtype=object), "severity": severity,
            "message": _fill(settings.message, res, False), "fix": _fill(settings.fix, res, True), "row": row})

    def reset(self) -> None:
        """Forget the not-checked counts."""
        self.context.state.clear()
        self.context.skipped.clear()

    def scrub_partition(self, table: pa.Table) -> pd.DataFrame:
        """Findings of one partition (claims.partition: every line of its patients, the claim columns as
        strings and _row), sorted. What a Dask or Spark worker runs on its partition (README: Scale-out); the
        not-checked counts add up in self.context.skipped."""
        return sort_findings(self.scrub_lines(parse_lines(coded_partition(table))))

    def scrub_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Findings of a DataFrame of claim lines (strings, the claim columns), sorted: one partition."""
        self.reset()
        frame = frame.astype(object).fillna("")
        if "_row" not in frame:
            frame["_row"] = np.arange(len(frame), dtype=np.int64) + 2
        table = pa.Table.from_pandas(frame[[*CLAIM_COLUMNS, "_row"]], preserve_index=False)
        return self.scrub_partition(table)

    def iter_file(self, path: str | Path, chunk_lines: int | None = DEFAULT_CHUNK_LINES,
                  allow_unknown_columns: bool = False, spill_dir: str | Path | None = None
                  ) -> Iterator[pd.DataFrame]:
        """Findings partition by partition (each sorted), in bounded memory: the file grouped by patient into
        partitions of about chunk_lines lines (claims.partition), whatever the order of its lines; the edits
        across claims (PTP, date-of-service MUEs, global periods, add-on codes, KX) see every claim of a
        patient."""
        for findings in self._iter_unsorted(path, chunk_lines, allow_unknown_columns, spill_dir):
            yield sort_findings(findings)

    def _iter_unsorted(self, path, chunk_lines, allow_unknown_columns, spill_dir=None) -> Iterator[pd.DataFrame]:
        """iter_file's findings, each partition's unsorted."""
        self.reset()
        ahead = _SpanAhead(self.reference)
        # read, parsed and its reference tables looked up in the reading thread, one partition ahead of the rules;
        # the file's edit tables read once, from when the file is spilled (_SpanAhead)
        parsed = ((lines, self.reference.prepare(lines, ahead.span())) for lines in (
            parse_lines(t) for t in iter_coded_partitions(path, chunk_lines, allow_unknown_columns, spill_dir,
                                                          on_span=ahead.start)))
        for lines, prepared in prefetch(parsed):
            yield self.scrub_lines(lines, prepared)

    def scrub_file(self, path: str | Path, chunk_lines: int | None = DEFAULT_CHUNK_LINES,
                   allow_unknown_columns: bool = False) -> pd.DataFrame:
        """All findings of a claims file, sorted by claim_id, line, rule (sorted once, not per partition too)."""
        parts = [f for f in self._iter_unsorted(path, chunk_lines, allow_unknown_columns) if len(f)]
        return sort_findings(pd.concat(parts, ignore_index=True)) if parts else empty_findings()

    def scrub_to(self, out: TextIO, fmt: str, path: str | Path, chunk_lines: int | None = DEFAULT_CHUNK_LINES,
                 allow_unknown_columns: bool = False, spill_dir: str | Path | None = None) -> dict:
        """Scrub a file and write its findings to out in one of FORMATS, in scrub_file's order and bytes, in
        bounded memory: each partition's findings are spilled as they come and merged back a batch at a time
        (claims.output.SpilledFindings). Nothing is written before the whole file is scrubbed, so a file that
        stops with an error writes nothing. Returns the summary."""
        with SpilledFindings(sort_findings, spill_dir) as spilled:
            for findings in self.iter_file(path, chunk_lines, allow_unknown_columns, spill_dir):
                spilled.add(findings)
            write_findings(out, fmt, spilled.summary, spilled.batches())
            return spilled.summary

    def notes(self) -> list[str]:
        """What was not checked (dates no release covers, years with no threshold), one line each."""
        out = []
        for (rule, what), count in sorted(self.context.skipped.items()):
            if what == PFS_FALLBACK:
                out.append(f"{rule}: {count} lines on dates no stored PFS quarter covers were checked against the "
                           "rule file's code lists (reference.pfs_fallback: lists)")
            else:
                out.append(f"{rule}: {count} {what} were not checked")
        for system, name in SYSTEM_NAMES.items():
            if any(k[1].endswith(f"no loaded {name} release covers") for k in self.context.skipped):
                cov = self.history.coverage(system)
                out.append(f"{name} releases loaded: " + (f"{cov[0]} to {cov[1] or 'open'}" if cov else
                                                          "none (run `codegov ingest`)"))
        for system in ("ptp", "mue", "aoc"):
            if any(k[1] == uncovered(system) for k in self.context.skipped):
                out.append(self.reference.coverage(system))
        if any(k[1] in (PFS_UNCOVERED, PFS_FALLBACK) for k in self.context.skipped):
            out.append(self.reference.coverage("pfs"))
        return out


class _SpanAhead:
    """A file's edit tables (EditReference.warm of its claims.read.CodeSpan), read in a thread of their own from
    when the file is spilled, while its first partition is read back and parsed; span() waits for them, so the
    reference is used by one thread at a time. A file of one partition has no span: it is read as it is."""

    def __init__(self, reference: EditReference):
        self._reference = reference
        self._span = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self, span) -> None:
        self._span = span

        def run() -> None:
            try:
                self._reference.warm(span)
            except BaseException as exc:  # noqa: BLE001 - raised by span(), in the reading thread
                self._error = exc

        self._thread = threading.Thread(target=run, name="codegov-span", daemon=True)
        self._thread.start()

    def span(self):
        if self._thread is not None:
            self._thread.join()
            self._thread = None
            if self._error is not None:
                raise self._error
        return self._span


def _rank(values: np.ndarray) -> np.ndarray:
    """Each value's rank among the distinct values, in Python's string order: Arrow's dense rank (UTF-8 bytes
    sort as the code points Python compares), or a sort of the distinct values where Arrow cannot hold one (a
    lone surrogate)."""
    try:
        return pc.rank(pa.array(values, type=pa.string()), sort_keys="ascending", tiebreaker="dense").to_numpy(
            zero_copy_only=False).astype(np.int64)
    except (pa.ArrowException, UnicodeError):
        ids, uniques = pd.factorize(values)
        rank = np.empty(len(uniques), np.int64)
        rank[np.argsort(np.asarray(uniques, dtype=object), kind="stable")] = np.arange(len(uniques))
        return rank[ids]


def sort_findings(findings: pd.DataFrame) -> pd.DataFrame:
    """Sorted by claim_id, line (numerically when it is a number; other lines after), rule, then row and
    message: a lexsort of integer ranks, the messages ranked only where the other keys tie."""
    if not len(findings):
        return findings.reset_index(drop=True)
    # line and rule hold few distinct values: each parsed and ranked once, taken back by its factorized id
    line_ids, lines = pd.factorize(findings["line"].to_numpy(object), use_na_sentinel=False)
    lines = np.asarray(lines, dtype=object)
    line_num = pd.to_numeric(pd.Series(lines, dtype=object), errors="coerce").to_numpy(float)[line_ids]
    no_num = np.isnan(line_num)
    rule_ids, rules = pd.factorize(findings["rule"].to_numpy(object), use_na_sentinel=False)
    keys = [_rank(findings["claim_id"].to_numpy(object)), no_num, np.where(no_num, 0.0, line_num),
            _rank(lines)[line_ids], _rank(np.asarray(rules, dtype=object))[rule_ids],
            findings["row"].to_numpy(np.int64)]
    order = np.lexsort(keys[::-1])
    tie = np.ones(len(order) - 1, bool)
    for k in keys:
        ks = k[order]
        tie &= ks[1:] == ks[:-1]
    if tie.any():  # findings equal but for the message: ranked by their messages among the tied ones
        tied = np.zeros(len(order), bool)
        tied[1:] |= tie
        tied[:-1] |= tie
        message = np.zeros(len(order), np.int64)
        at = order[tied]
        message[at] = _rank(findings["message"].to_numpy(object)[at])
        order = np.lexsort([message, *keys[::-1]])
    return findings.take(order).reset_index(drop=True)
