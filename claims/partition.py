"""A claims file grouped by patient, in bounded memory, whatever the order of its lines.

CMS applies the NCCI PTP edits and the date-of-service MUEs per beneficiary, rendering provider and date of
service across claims, and the global surgery, add-on and KX rules look across a patient's claims too. So the
unit the scrubber works on is not a chunk of the file but a *partition by patient*: every line goes to one of
N spill files by a hash of its patient id (Arrow IPC files in a temporary folder), and each spill file then
holds every line of its patients, from anywhere in the file. N grows with the file (about `chunk_lines` lines
a partition), so a partition's memory, not the file's, bounds the scrub: ten million lines take the memory
of one million, in more partitions. A file that fits one partition is not spilled at all.

Within a partition the lines are put in claim, line-number and file order, so a file shuffled out of claim
order gives the same findings as the sorted one. A partition is a plain table of the claim columns (strings)
and `_row` (the CSV record number): the same function scrubs it on one machine (claims.scrub.Scrubber
.scrub_partition) or on a Dask or Spark worker (README: "Scale-out").

The file is read by pyarrow's CSV reader, a block at a time; a file pyarrow refuses (a short or long row, a
blank line of spaces, bytes that are not UTF-8) is read again by pandas, whose reader gives the one-line
error or the lenient reading (missing cells empty, invalid bytes replaced) the scrubber has always given.
"""

from __future__ import annotations

import math
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc

from claims.read import (
    CLAIM_COLUMNS,
    DEFAULT_CHUNK_LINES,
    _check_line_count,
    _read,
    check_header,
    check_raw_lines,
    read_header,
)

ROW = "_row"  # the CSV record number of a line (the header is record 1)
READ_BLOCK_BYTES = 16 << 20  # pyarrow reads the file this many bytes at a time
SCHEMA = pa.schema([(c, pa.string()) for c in CLAIM_COLUMNS] + [(ROW, pa.int64())])


class _Refused(Exception):
    """pyarrow could not read the file as it is: read it again with pandas."""


def _normalise(table: pa.Table, first_row: int) -> pa.Table:
    """The claim columns (stripped names, optional ones added empty, unknown ones dropped) and _row."""
    names = [str(c).strip() for c in table.column_names]
    table = table.rename_columns(names)
    n = table.num_rows
    cols = []
    for c in CLAIM_COLUMNS:
        if c in names:
            col = table.column(names.index(c))
            if col.type != pa.string():
                col = col.cast(pa.string())
            if col.null_count:
                col = col.fill_null("")
            cols.append(col)
        else:
            cols.append(pa.nulls(n, pa.string()).fill_null(""))
    cols.append(pa.array(np.arange(first_row, first_row + n, dtype=np.int64)))
    return pa.Table.from_arrays(cols, schema=SCHEMA)


def _arrow_blocks(path: Path, header: list[str]) -> Iterator[pa.Table]:
    types = {name: pa.string() for name in header}
    read = pacsv.ReadOptions(block_size=READ_BLOCK_BYTES, encoding="utf8")
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False)
    try:
        reader = pacsv.open_csv(path, read_options=read, convert_options=convert,
                                parse_options=pacsv.ParseOptions(newlines_in_values=False))
        for batch in reader:
            if batch.num_rows:
                yield pa.Table.from_batches([batch])
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, UnicodeDecodeError) as exc:
        raise _Refused(str(exc)) from None


def _pandas_blocks(path: Path, lines: int) -> Iterator[pa.Table]:
    options = dict(dtype=object, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                   encoding_errors="replace", skipinitialspace=False, index_col=False)
    reader = _read(path, lambda: pd.read_csv(path, chunksize=max(1, lines), **options))
    while (chunk := _read(path, lambda: next(reader, None))) is not None:
        if len(chunk):
            yield pa.Table.from_pandas(chunk.astype(object).fillna(""), preserve_index=False)


class _Restart(Exception):
    """pyarrow refused a block after others were read: the caller starts again with pandas."""


def read_blocks(path: Path, raw, header: list[str], block_lines: int, pandas_only: bool = False
                ) -> Iterator[pa.Table]:
    """The file's lines as Arrow tables of the claim columns and _row, a block at a time; after the last
    block, the count of records is checked against the file's lines (claims.read._check_line_count)."""
    records = 0
    if not pandas_only:
        try:
            for table in _arrow_blocks(path, header):
                yield _normalise(table, records + 2)
                records += table.num_rows
        except _Refused:
            if records:  # blocks were handed on already: the caller reads the file again with pandas
                raise _Restart() from None
            pandas_only = True
    if pandas_only:
        for table in _pandas_blocks(path, block_lines):
            yield _normalise(table, records + 2)
            records += table.num_rows
    _check_line_count(path, raw, records)


def patient_hash(patients: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A stable 64-bit hash of each line's patient id, stripped as the rules compare it (pandas' hash_array:
    the same value on every machine and run, so a partition can be named by it on a cluster too). Hashed
    once per distinct id."""
    encoded = pa.chunked_array(patients).combine_chunks().dictionary_encode() if isinstance(
        patients, pa.ChunkedArray) else patients.dictionary_encode()
    uniques = np.array([str(u).strip() for u in encoded.dictionary.to_pylist()], dtype=object)
    hashes = pd.util.hash_array(uniques, categorize=False) if len(uniques) else np.zeros(0, np.uint64)
    return hashes[encoded.indices.to_numpy(zero_copy_only=False)]


def partition_of(table: pa.Table, n: int) -> np.ndarray:
    """Which of n partitions each line of a table goes to: its patient's hash modulo n."""
    return (patient_hash(table.column("patient_id")) % np.uint64(n)).astype(np.int64)


def in_claim_order(table: pa.Table) -> pa.Table:
    """The lines in claim id (stripped), line number and record order: the order of the file no longer matters."""
    if table.num_rows < 2:
        return table
    claim = table.column("claim_id").combine_chunks().dictionary_encode()
    names = np.array([str(u).strip() for u in claim.dictionary.to_pylist()], dtype=object)
    rank = np.empty(len(names), np.int64)
    rank[np.argsort(names, kind="stable")] = np.arange(len(names))  # ids sorted as strings
    key = rank[claim.indices.to_numpy(zero_copy_only=False)]
    line = table.column("line").combine_chunks().dictionary_encode()
    line_u = pd.to_numeric(pd.Series(line.dictionary.to_pylist(), dtype=object).str.strip(),
                           errors="coerce").to_numpy(float)
    line_num = line_u[line.indices.to_numpy(zero_copy_only=False)] if len(line_u) else np.zeros(0)
    order = np.lexsort((table.column(ROW).to_numpy(), np.nan_to_num(line_num, nan=np.inf), key))
    if (order == np.arange(len(order))).all():
        return table
    return table.take(pa.array(order))


def partition_count(lines: int, chunk_lines: int | None) -> int:
    """About chunk_lines lines a partition; one for a file that fits (or chunk_lines None: no limit)."""
    if chunk_lines is None or lines <= chunk_lines:
        return 1
    return max(1, math.ceil(lines / chunk_lines))


def iter_partitions(path: str | Path, chunk_lines: int | None = DEFAULT_CHUNK_LINES,
                    allow_unknown: bool = False, spill_dir: str | Path | None = None) -> Iterator[pa.Table]:
    """The file's lines grouped by patient: one table per partition (every line of its patients), in claim
    order; at most about chunk_lines lines of the file in memory at a time but for a partition being handed
    on. Spill files go to a temporary folder (in spill_dir when given) removed at the end."""
    path = Path(path)
    try:
        yield from _partitions(path, chunk_lines, allow_unknown, spill_dir, pandas_only=False)
    except _Restart:
        yield from _partitions(path, chunk_lines, allow_unknown, spill_dir, pandas_only=True)


def _partitions(path: Path, chunk_lines: int | None, allow_unknown: bool, spill_dir, pandas_only: bool
                ) -> Iterator[pa.Table]:
    raw = check_raw_lines(path)
    header = read_header(path)
    check_header(path, header, allow_unknown)
    blocks = read_blocks(path, raw, header, chunk_lines or DEFAULT_CHUNK_LINES, pandas_only)
    first = next(blocks, None)
    if first is None:
        return
    n = partition_count(raw.lines - 1, chunk_lines)
    if n == 1:
        tables = [first, *blocks]
        yield in_claim_order(pa.concat_tables(tables) if len(tables) > 1 else first)
        return
    folder = Path(tempfile.mkdtemp(prefix="codegov-scrub-", dir=spill_dir))
    try:
        writers: dict[int, ipc.RecordBatchFileWriter] = {}
        try:
            for table in _chain(first, blocks):
                part = partition_of(table, n)
                order = np.argsort(part, kind="stable")
                bounds = np.searchsorted(part[order], np.arange(n + 1))
                taken = table.take(pa.array(order))
                for p in range(n):
                    lo, hi = int(bounds[p]), int(bounds[p + 1])
                    if hi > lo:
                        if p not in writers:
                            writers[p] = ipc.new_file(str(folder / f"part-{p:05d}.arrow"), SCHEMA)
                        writers[p].write_table(taken.slice(lo, hi - lo))
        finally:
            for w in writers.values():
                w.close()
        for p in sorted(writers):
            spill = folder / f"part-{p:05d}.arrow"
            with pa.memory_map(str(spill)) as source:
                table = ipc.open_file(source).read_all()
            yield in_claim_order(table)
            del table
            spill.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _chain(first: pa.Table, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    yield first
    yield from rest


def frame_of(table: pa.Table) -> pd.DataFrame:
    """A partition as the frame claims.read.parse_lines takes: each claim column categorical (Arrow's
    dictionary encoding: the distinct strings once, a code per line, no Python string per line), and _row."""
    data = {}
    for c in CLAIM_COLUMNS:
        col = table.column(c).combine_chunks().dictionary_encode()
        categories = pd.Index(col.dictionary.to_numpy(zero_copy_only=False).astype(object), dtype=object)
        data[c] = pd.Categorical.from_codes(col.indices.to_numpy(zero_copy_only=False).astype(np.int32),
                                            categories=categories, validate=False)
    data[ROW] = table.column(ROW).to_numpy()
    return pd.DataFrame(data, copy=False)


def read_claims(path: str | Path, allow_unknown: bool = False) -> pd.DataFrame:
    """A whole claims file (one the caller holds in memory: the claims a remittance file is joined to) as
    strings, every value as the file has it, with _row, in file order; checked as the scrubber checks it."""
    tables = list(iter_partitions(path, chunk_lines=None, allow_unknown=allow_unknown))
    if not tables:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*CLAIM_COLUMNS, ROW]})
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables)
    table = table.sort_by(ROW)
    frame = pd.DataFrame({c: pd.Series(table.column(c).to_pylist(), dtype=object) for c in CLAIM_COLUMNS})
    frame[ROW] = table.column(ROW).to_numpy()
    return frame

