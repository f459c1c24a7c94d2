"""The scrubber's findings as CSV, JSON or Markdown, whole or streamed in bounded memory.

`render` writes findings held in memory; `SpilledFindings` takes the findings of a file partition by partition
(each partition's sorted), spills them to Arrow IPC files and reads them back merged in the order
`claims.scrub.sort_findings` gives the whole file, a batch at a time, so `codegov scrub` of ten million lines
holds one batch of findings rather than all of them. The two paths share one writer per format
(`write_findings`), so their bytes are the same.
"""

from __future__ import annotations

import collections
import heapq
import io
import itertools
import json
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TextIO

import numpy as np
import pandas as pd
import pyarrow as pa

from ingest.frames import object_frame
from playbooks.text import csv_safe, md_cell

FINDING_COLUMNS = ("claim_id", "line", "rule", "severity", "message", "fix", "row")
FORMATS = ("csv", "json", "md")
SCHEMA = pa.schema([(c, pa.int64() if c == "row" else pa.string()) for c in FINDING_COLUMNS])
_SPILL_BATCH = 2_048  # rows of a spilled record batch, about (cut where a claim ends)
_OUT_BATCH = 65_536  # rows of a merged batch handed to the writer, about


def summary_of(counts: collections.Counter) -> dict:
    """The summary of findings counted by (rule, severity)."""
    return {
        "findings": int(sum(counts.values())),
        "errors": int(sum(n for (_, s), n in counts.items() if s == "error")),
        "warnings": int(sum(n for (_, s), n in counts.items() if s == "warning")),
        "by_rule": {f"{r} ({s})": int(n) for (r, s), n in sorted(counts.items())},
    }


def _counts(findings: pd.DataFrame) -> collections.Counter:
    if not len(findings):
        return collections.Counter()
    return collections.Counter(zip(findings["rule"].tolist(), findings["severity"].tolist(), strict=True))


def summary(findings: pd.DataFrame) -> dict:
    return summary_of(_counts(findings))


def csv_cells(findings: pd.DataFrame) -> pd.DataFrame:
    """The findings as CSV cells for a spreadsheet: every text cell through playbooks.text.csv_safe, so a claim id
    or a value quoted in a message that starts with = + - @ (a formula) gets a leading apostrophe; plain numbers
    (-5) stay. csv_safe runs once per distinct value of a column, not once per cell."""
    cols = {}
    for col in FINDING_COLUMNS:
        values = findings[col].to_numpy(object if col != "row" else None)
        if col != "row" and len(values):
            ids, uniques = pd.factorize(values, use_na_sentinel=False)
            values = np.array([csv_safe(u) for u in uniques], dtype=object)[ids]
        cols[col] = values
    return object_frame(cols)


def _indented(text: str, by: str) -> str:
    return text.replace("\n", "\n" + by)


def write_findings(out: TextIO, fmt: str, summary: dict, batches: Iterable[pd.DataFrame]) -> None:
    """csv: one row per finding; json: {"summary", "findings"} (as json.dumps(indent=2) writes it whole); md: a
    summary and a table. batches: the findings in order, one frame at a time."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}: expected one of {', '.join(FORMATS)}")
    batches = (b for b in batches if len(b))
    if fmt == "csv":
        out.write(",".join(FINDING_COLUMNS) + "\n")
        for batch in batches:
            csv_cells(batch).to_csv(out, index=False, header=False, lineterminator="\n")
    elif fmt == "json":
        out.write('{\n  "summary": ' + _indented(json.dumps(summary, indent=2, ensure_ascii=False), "  ")
                  + ',\n  "findings": [')
        first = True
        for batch in batches:
            for record in batch.loc[:, list(FINDING_COLUMNS)].astype({"row": int}).to_dict(orient="records"):
                out.write(("\n    " if first else ",\n    ")
                          + _indented(json.dumps(record, indent=2, ensure_ascii=False), "    "))
                first = False
        out.write("]\n}\n" if first else "\n  ]\n}\n")
    else:
        out.write(f"# Claim scrub findings\n\n{summary['findings']} finding(s): {summary['errors']} error(s), "
                  f"{summary['warnings']} warning(s).\n\n")
        if summary["by_rule"]:
            out.write("\n".join(["| rule | findings |", "|---|---|"]
                                + [f"| {k} | {v} |" for k, v in summary["by_rule"].items()]))
            out.write("\n\n| claim | line | rule | severity | message | suggested fix |\n|---|---|---|---|---|---|\n")
            for batch in batches:
                out.write("".join("| " + " | ".join(md_cell(v) for v in r) + " |\n" for r in batch.loc[
                    :, ["claim_id", "line", "rule", "severity", "message", "fix"]].itertuples(index=False)))


def render(findings: pd.DataFrame, fmt: str) -> str:
    """Findings held in memory, in one of FORMATS."""
    buf = io.StringIO()
    write_findings(buf, fmt, summary(findings), [findings])
    return buf.getvalue()


class SpilledFindings:
    """A file's findings, partition by partition, kept on disk and read back in one order in bounded memory.

    Each partition's findings arrive sorted (claims.scrub.sort_findings). A claim's lines are all in one
    partition (claims.partition groups a patient's lines together, and a claim has one patient), so the
    partitions' sorted runs merge by claim id alone: a k-way merge of the claims, a batch of whole claims at a
    time. Should one claim come from two partitions all the same, its batch is sorted again with `sort`, so
    the order is the whole file's sort in every case."""

    def __init__(self, sort: Callable[[pd.DataFrame], pd.DataFrame], spill_dir: str | Path | None = None):
        self._sort = sort
        self._dir = tempfile.TemporaryDirectory(prefix="codegov-findings-", dir=spill_dir)
        self._files: list[Path] = []
        self.counts: collections.Counter = collections.Counter()

    def __enter__(self) -> SpilledFindings:
        return self

    def __exit__(self, *exc) -> None:
        self._dir.cleanup()

    @property
    def summary(self) -> dict:
        return summary_of(self.counts)

    def add(self, findings: pd.DataFrame) -> None:
        """One partition's findings, sorted."""
        if not len(findings):
            return
        self.counts.update(_counts(findings))
        table = pa.Table.from_pandas(findings.loc[:, list(FINDING_COLUMNS)], schema=SCHEMA, preserve_index=False)
        claims = findings["claim_id"].to_numpy(object)
        starts = np.flatnonzero(np.r_[True, claims[1:] != claims[:-1]])  # where each claim's run begins
        cuts = np.unique(starts[np.searchsorted(starts, np.arange(_SPILL_BATCH, len(claims), _SPILL_BATCH))
                                .clip(max=len(starts) - 1)])
        cuts = [0, *[int(c) for c in cuts if c > 0], len(claims)]
        path = Path(self._dir.name) / f"{len(self._files):06d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_file(sink, SCHEMA) as writer:
            for lo, hi in itertools.pairwise(cuts):
                if hi > lo:
                    writer.write_batch(table.slice(lo, hi - lo).combine_chunks().to_batches()[0])
        self._files.append(path)

    def batches(self, rows: int = _OUT_BATCH) -> Iterator[pd.DataFrame]:
        """Every finding added, in the whole file's order, about `rows` at a time."""
        live: dict[int, pa.RecordBatch] = {}  # the record batches the pending claims are read from
        current: dict[int, int] = {}  # each spill file's record batch being read
        ids = itertools.count()

        def runs(source: int, path: Path) -> Iterator[tuple[str, int, int, int]]:
            with pa.OSFile(str(path)) as f:
                reader = pa.ipc.open_file(f)
                for i in range(reader.num_record_batches):
                    batch = reader.get_batch(i)
                    bid = next(ids)
                    live[bid], current[source] = batch, bid
                    claims = batch.column(0).to_numpy(zero_copy_only=False)
                    starts = np.flatnonzero(np.r_[True, claims[1:] != claims[:-1]])
                    ends = np.r_[starts[1:], len(claims)]
                    yield from zip(claims[starts].tolist(), itertools.repeat(bid), starts.tolist(), ends.tolist())

        pending: list[tuple[str, int, int, int]] = []
        count, resort = 0, False

        def flush() -> pd.DataFrame:
            order = list(dict.fromkeys(bid for _, bid, _, _ in pending))
            offset = dict(zip(order, np.cumsum([0] + [live[b].num_rows for b in order[:-1]]).tolist(), strict=True))
            take = np.concatenate([np.arange(offset[b] + s, offset[b] + e) for _, b, s, e in pending])
            table = pa.Table.from_batches([live[b] for b in order], schema=SCHEMA).take(pa.array(take))
            frame = object_frame({c: table.column(c).to_numpy(zero_copy_only=False) for c in FINDING_COLUMNS})
            for b in [b for b in live if b not in current.values()]:
                del live[b]
            return self._sort(frame) if resort else frame

        merged = heapq.merge(*(runs(k, p) for k, p in enumerate(self._files)), key=lambda run: run[0])
        for run in merged:
            if pending and run[0] == pending[-1][0]:
                resort = True  # one claim from two partitions: its batch is sorted again
            elif count >= rows:  # a batch ends where a claim does
                yield flush()
                pending, count, resort = [], 0, False
            pending.append(run)
            count += run[3] - run[2]
        if pending:
            yield flush()
