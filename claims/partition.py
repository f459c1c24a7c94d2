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

The file is read by pyarrow's CSV reader a segment of whole lines at a time (each segment parsed on every
core; the memory of one segment, where pyarrow's streaming reader read far ahead of the partition pass); a
file pyarrow refuses (a short or long row, a blank line of spaces, bytes that are not UTF-8) is read again by
pandas, whose reader gives the one-line error or the lenient reading (missing cells empty, invalid bytes
replaced) the scrubber has always given. Each partition is dictionary-encoded once (coded_partition): the
one-patient check, the claim order and claims.read.parse_lines all work on those integer codes.
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
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.ipc as ipc

from claims.read import (
    CLAIM_COLUMNS,
    DEFAULT_CHUNK_LINES,
    Coded,
    CodeSpan,
    _check_line_count,
    _read,
    _string_buffers,
    _stripped_changed,
    check_header,
    check_raw_lines,
    may_strip,
    read_header,
    stripped,
)
from ingest.model import ParseError

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


def _segments(path: Path, size: int) -> Iterator[bytes]:
    """The file's bytes in pieces of about `size` bytes, each ending at a line feed (the last one at the end of
    the file): every line feed ends a record (check_raw_lines refuses a value running onto the next line)."""
    with path.open("rb") as fh:
        carry = b""
        while data := fh.read(size):
            data = carry + data if carry else data
            end = data.rfind(b"\n") + 1
            if not end:  # no line ends in it yet
                carry = data
                continue
            carry = data[end:]
            yield data[:end] if carry else data
        if carry:
            yield carry


def _arrow_blocks(path: Path, header: list[str]) -> Iterator[pa.Table]:
    """The file read by pyarrow a segment of READ_BLOCK_BYTES at a time, each segment parsed on every core: the
    memory of one segment. (pyarrow's streaming reader reads ahead of its consumer without a bound that
    matters here: it held 660 MB of a ten-million-line file while the partitions were written.)"""
    types = {name: pa.string() for name in header}
    convert = pacsv.ConvertOptions(column_types=types, strings_can_be_null=False, quoted_strings_can_be_null=False)
    parse = pacsv.ParseOptions(newlines_in_values=False)
    names = None  # the header's names as pyarrow read them from the first segment, given to the others
    try:
        for segment in _segments(path, READ_BLOCK_BYTES):
            read = pacsv.ReadOptions(encoding="utf8", column_names=names)
            table = pacsv.read_csv(pa.BufferReader(segment), read_options=read, parse_options=parse,
                                   convert_options=convert)
            del segment
            if names is None:
                names = table.column_names
            if table.num_rows:
                yield table
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
    uniques = stripped(encoded.dictionary)
    hashes = pd.util.hash_array(uniques, categorize=False) if len(uniques) else np.zeros(0, np.uint64)
    return hashes[encoded.indices.to_numpy(zero_copy_only=False)]


_P = np.uint64(0x100000001B3)  # the FNV prime: odd, so it has an inverse modulo 2**64
_P_INV = np.uint64(pow(int(_P), -1, 1 << 64))


def string_hashes(values: pa.Array) -> np.ndarray:
    """A 64-bit hash of each string of an Arrow string array (no nulls), as it is: the polynomial of its UTF-8
    bytes in the FNV prime modulo 2**64, for every string at once from the array's buffers (prefix sums of the
    bytes times powers of the prime), mixed with its length by splitmix64's finaliser; no Python string is made.
    The same in every run; for grouping only (the callers allow for collisions)."""
    offsets, raw = _string_buffers(values)
    if not len(values):
        return np.zeros(0, np.uint64)
    data = raw.astype(np.uint64)
    with np.errstate(over="ignore"):
        powers = np.cumprod(np.full(len(data), _P, np.uint64)) * _P_INV  # P**k of byte k
        inverse = np.cumprod(np.full(len(data) + 1, _P_INV, np.uint64)) * _P  # P**-k
        prefix = np.concatenate([np.zeros(1, np.uint64), np.cumsum(data * powers, dtype=np.uint64)])
        h = (prefix[offsets[1:]] - prefix[offsets[:-1]]) * inverse[offsets[:-1]]
        h ^= np.diff(offsets).astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


def claim_hash(ids: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """string_hashes of each line's claim id stripped as the rules compare it: of the ids as they are, chunk by
    chunk, when no id may change under str.strip (claims.read.may_strip), else of the distinct ids stripped."""
    chunks = ids.chunks if isinstance(ids, pa.ChunkedArray) else [ids]
    if all(not c.null_count and c.type == pa.string() and not may_strip(c).any() for c in chunks):
        return np.concatenate([string_hashes(c) for c in chunks]) if chunks else np.zeros(0, np.uint64)
    encoded = (ids.combine_chunks() if isinstance(ids, pa.ChunkedArray) else ids).dictionary_encode()
    return string_hashes(pa.array(stripped(encoded.dictionary), type=pa.string()))[
        encoded.indices.to_numpy(zero_copy_only=False)]


def partition_of(table: pa.Table, n: int) -> np.ndarray:
    """Which of n partitions each line of a table goes to: its patient's hash modulo n."""
    return (patient_hash(table.column("patient_id")) % np.uint64(n)).astype(np.int64)


def _stripped(column: pa.ChunkedArray | pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(id per line, distinct values) of a column of ids stripped as the rules compare them."""
    return _stripped_encoded((column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
                              ).dictionary_encode())


def _stripped_encoded(encoded: pa.DictionaryArray) -> tuple[np.ndarray, np.ndarray]:
    """_stripped of a column already dictionary-encoded (the dictionary as it is when str.strip changes none
    of its values: they are distinct already)."""
    values, changed = _stripped_changed(encoded.dictionary)
    if not len(values):
        return np.zeros(0, np.int64), values
    if not changed:
        return encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64), values
    ids_u, uniques = pd.factorize(values)
    return ids_u[encoded.indices.to_numpy(zero_copy_only=False)].astype(np.int64), np.asarray(uniques, dtype=object)


def _claim_of_two_patients(path: Path, claim: str, rows: np.ndarray, patients: np.ndarray) -> ParseError:
    """The error for a claim whose lines carry more than one patient id: each patient with its lines."""
    order = np.argsort(rows, kind="stable")
    rows, patients = rows[order], patients[order]
    seen = list(dict.fromkeys(patients.tolist()))
    parts = []
    for who in seen:
        at = rows[patients == who].tolist()
        parts.append(f"{who or '(blank)'} (line{'s' if len(at) > 1 else ''} {', '.join(map(str, at))})")
    second = int(rows[patients == seen[1]][0])
    return ParseError(path, second, f"claim {claim} has lines of {len(seen)} patients, {' and '.join(parts)}: the "
                                    "lines of a claim are one patient's (correct the patient_id, or give the "
                                    "other patient's lines a claim of their own)")


def check_one_patient_per_claim(path: Path, table: pa.Table) -> None:
    """A ParseError naming the file, the claim and its lines when a claim's lines carry two patient ids
    (stripped): the scrubber groups lines by patient, so such a claim would be split between partitions, or
    its lines read as two patients' claims."""
    if table.num_rows < 2:
        return
    _check_one_patient(path, table.column("claim_id").combine_chunks().dictionary_encode(),
                       table.column("patient_id").combine_chunks().dictionary_encode(), table.column(ROW).to_numpy())


def _check_one_patient(path: Path, claim_codes: pa.DictionaryArray, patient_codes: pa.DictionaryArray,
                       rows: np.ndarray) -> None:
    """check_one_patient_per_claim on the claim and patient columns already dictionary-encoded."""
    claim, claim_u = _stripped_encoded(claim_codes)
    patient, patient_u = _stripped_encoded(patient_codes)
    # a claim of two patients has a line whose patient is not its first line's (no sort of the lines)
    first = np.empty(len(claim_u), np.int64)
    first[claim[::-1]] = patient[::-1]
    bad = np.unique(claim[patient != first[claim]])
    if not len(bad):
        return
    first_bad = bad[np.argmin([rows[claim == c].min() for c in bad])]  # the claim met first in the file
    at = np.flatnonzero(claim == first_bad)
    raise _claim_of_two_patients(path, str(claim_u[first_bad]), rows[at], patient_u[patient[at]])


def in_claim_order(table: pa.Table) -> pa.Table:
    """The lines in claim id (stripped), line number and record order: the order of the file no longer matters."""
    if table.num_rows < 2:
        return table
    order = _claim_order(table.column("claim_id").combine_chunks().dictionary_encode(),
                         table.column("line").combine_chunks().dictionary_encode(), table.column(ROW).to_numpy())
    return table if order is None else table.take(pa.array(order))


def _claim_order(claim: pa.DictionaryArray, line: pa.DictionaryArray, rows: np.ndarray,
                 names: np.ndarray | None = None) -> np.ndarray | None:
    """The order of in_claim_order from the claim and line columns dictionary-encoded; None: as they are. names:
    stripped(claim.dictionary) when the caller has it."""
    names = stripped(claim.dictionary) if names is None else names
    rank = np.empty(len(names), np.int64)
    rank[_string_order(names)] = np.arange(len(names))  # ids sorted as strings
    key = rank[claim.indices.to_numpy(zero_copy_only=False)]
    line_u = pd.to_numeric(pd.Series(line.dictionary.to_pylist(), dtype=object).str.strip(),
                           errors="coerce").to_numpy(float)
    line_ids = line.indices.to_numpy(zero_copy_only=False)
    if len(rows) and (np.diff(rows) > 0).all():  # in file order (as read and spilled): a stable sort keeps it
        line_rank = np.unique(np.nan_to_num(line_u, nan=np.inf), return_inverse=True)[1].astype(np.int64)
        order = np.argsort(key * np.int64(len(line_u) + 1) + line_rank[line_ids], kind="stable")
    else:
        line_num = line_u[line_ids] if len(line_u) else np.zeros(0)
        order = np.lexsort((rows, np.nan_to_num(line_num, nan=np.inf), key))
    if (order == np.arange(len(order))).all():
        return None
    return order


def _string_order(values: np.ndarray) -> np.ndarray:
    """np.argsort(values, kind="stable") of an object array of strings, sorted by Arrow (UTF-8 bytes sort as the
    code points Python compares; the sort is stable), or by numpy where Arrow cannot hold a value."""
    try:
        return pc.sort_indices(pa.array(values, type=pa.string())).to_numpy().astype(np.int64)
    except (pa.ArrowException, UnicodeError):
        return np.argsort(values, kind="stable")


def _first_appearance(ids: np.ndarray, n_values: int) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize of codes 0..n_values-1 (each present): the codes renumbered in order of first appearance,
    and the old code of each new one; on positions, without a hash table or a sort."""
    n = len(ids)
    pos = np.full(n_values, n, np.int64)
    pos[ids[::-1]] = np.arange(n, dtype=np.int64)[::-1]  # each code's first position
    seen = np.zeros(n + 1, bool)
    seen[pos] = True
    renumber = (np.cumsum(seen) - 1)[pos]  # the rank of each code's first position
    old = np.empty(n_values, np.int64)
    old[renumber] = np.arange(n_values, dtype=np.int64)
    return renumber[ids], old


def coded_partition(table: pa.Table, path: Path | None = None) -> dict:
    """coded_columns(in_claim_order(table)), with check_one_patient_per_claim first when path is given, each
    column dictionary-encoded once: the lines are put in claim order by permuting the codes (integers), not the
    strings, and each column's distinct values are then renumbered in order of first appearance, as Arrow's
    dictionary encoding of the reordered table numbers them."""
    encoded = {c: table.column(c).combine_chunks().dictionary_encode() for c in CLAIM_COLUMNS}
    rows = table.column(ROW).to_numpy()
    order = None
    if table.num_rows >= 2:
        names = stripped(encoded["claim_id"].dictionary)
        if path is not None:
            _check_one_patient(path, encoded["claim_id"], encoded["patient_id"], rows)
        order = _claim_order(encoded["claim_id"], encoded["line"], rows, names)
    data: dict = {}
    for c in CLAIM_COLUMNS:
        ids = encoded[c].indices.to_numpy(zero_copy_only=False).astype(np.int64)
        values = encoded[c].dictionary
        if order is not None:
            ids, first = _first_appearance(ids[order], len(values))
            values = values.take(pa.array(first))
        data[c] = Coded(ids, arrow=values)
    data[ROW] = rows if order is None else rows[order]
    return data


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
    for table in _raw_partitions(path, chunk_lines, allow_unknown, spill_dir):
        check_one_patient_per_claim(path, table)
        yield in_claim_order(table)


def iter_coded_partitions(path: str | Path, chunk_lines: int | None = DEFAULT_CHUNK_LINES,
                          allow_unknown: bool = False, spill_dir: str | Path | None = None, on_span=None
                          ) -> Iterator[dict]:
    """iter_partitions, each partition as coded_columns gives it (what claims.read.parse_lines takes), checked
    and put in claim order on its dictionary codes (coded_partition). on_span: called with the file's
    claims.read.CodeSpan once the file is spilled, before the first partition (not for a file of one)."""
    path = Path(path)
    for table in _raw_partitions(path, chunk_lines, allow_unknown, spill_dir, on_span):
        yield coded_partition(table, path)


def _raw_partitions(path: Path, chunk_lines: int | None, allow_unknown: bool, spill_dir, on_span=None
                    ) -> Iterator[pa.Table]:
    """The partitions as read back, in file order, neither checked nor ordered. on_span: called with the file's
    CodeSpan (claims.read) once the whole file is spilled, before the first partition is handed on (a file of
    one partition: not called)."""
    try:
        yield from _partitions(path, chunk_lines, allow_unknown, spill_dir, False, on_span)
    except _Restart:
        yield from _partitions(path, chunk_lines, allow_unknown, spill_dir, True, on_span)


def _partitions(path: Path, chunk_lines: int | None, allow_unknown: bool, spill_dir, pandas_only: bool,
                on_span=None) -> Iterator[pa.Table]:
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
        yield pa.concat_tables(tables) if len(tables) > 1 else first
        return
    folder = Path(tempfile.mkdtemp(prefix="codegov-scrub-", dir=spill_dir))
    try:
        writers: dict[int, ipc.RecordBatchFileWriter] = {}
        # (claim hash, partition) of each block's claims: a claim in two partitions has two patients
        claims_seen: list[np.ndarray] = []
        codes: set[str] = set()  # the distinct procedure codes and dates of service as written (CodeSpan)
        dates: set[str] = set()
        try:
            first_block, first = [first], None  # (the first block is held by the chain alone, until spilled)
            for table in _chain(first_block, blocks):
                codes.update(pc.unique(table.column("procedure_code")).to_pylist())
                dates.update(pc.unique(table.column("date_of_service")).to_pylist())
                part = partition_of(table, n)
                claims_seen.append(_claim_partitions(table, part, n))
                # (as 16-bit integers where the partitions fit, numpy's stable sort is a radix sort)
                order = np.argsort(part.astype(np.int16) if n < 2 ** 15 else part, kind="stable")
                bounds = np.searchsorted(part[order], np.arange(n + 1))
                taken = table.take(pa.array(order))
                del table  # (the block as read, no longer needed: its lines are in taken)
                for p in range(n):
                    lo, hi = int(bounds[p]), int(bounds[p + 1])
                    if hi > lo:
                        if p not in writers:
                            writers[p] = ipc.new_file(str(folder / f"part-{p:05d}.arrow"), SCHEMA)
                        writers[p].write_table(taken.slice(lo, hi - lo))
        finally:
            for w in writers.values():
                w.close()
        _check_split_claims(path, folder, claims_seen, n)
        del claims_seen
        if on_span is not None:
            on_span(CodeSpan.of(codes, dates))
        for p in sorted(writers):
            spill = folder / f"part-{p:05d}.arrow"
            with pa.memory_map(str(spill)) as source:
                table = ipc.open_file(source).read_all()
            yield table
            del table
            spill.unlink()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _claim_partitions(table: pa.Table, part: np.ndarray, n: int) -> np.ndarray:
    """The distinct (claim, partition) of a block's lines, each one uint64: the claim id's hash (claim_hash) with
    its low bits replaced by the partition (bits enough for n)."""
    bits = np.uint64(max(1, (n - 1).bit_length()))
    return pd.unique((claim_hash(table.column("claim_id")) >> bits << bits) | part.astype(np.uint64))


def _check_split_claims(path: Path, folder: Path, seen: list[np.ndarray], n: int) -> None:
    """A claim whose lines went to two partitions (two patient ids): the ParseError of
    check_one_patient_per_claim, its lines read back from the spill files (this path only). A hash shared by
    two claim ids is looked at and passed over."""
    if not seen:
        return
    bits = np.uint64(max(1, (n - 1).bit_length()))
    keys = np.sort(pd.unique(np.concatenate(seen)))
    claims = keys >> bits
    split = np.unique(claims[1:][claims[1:] == claims[:-1]])
    for h in split:
        parts = (keys[claims == h] & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
        pieces = []
        for p in parts:
            with pa.memory_map(str(folder / f"part-{p:05d}.arrow")) as source:
                table = ipc.open_file(source).read_all()
            pieces.append(table.filter(pa.array((claim_hash(table.column("claim_id")) >> bits) == h)))
        table = pa.concat_tables(pieces)
        claim, claim_u = _stripped(table.column("claim_id"))
        for c in range(len(claim_u)):
            at = np.flatnonzero(claim == c)
            patient, patient_u = _stripped(table.column("patient_id").take(pa.array(at)))
            if len(patient_u) > 1:
                raise _claim_of_two_patients(path, str(claim_u[c]), table.column(ROW).to_numpy()[at],
                                             patient_u[patient])


def _chain(first: list, rest: Iterator[pa.Table]) -> Iterator[pa.Table]:
    """The table in `first` (a list of one, emptied here: the table is not kept while the rest are read), then
    the rest."""
    yield first.pop()
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


def coded_columns(table: pa.Table) -> dict:
    """A partition as claims.read.parse_lines takes it fastest: each claim column a claims.read.Coded (Arrow's
    dictionary encoding, the distinct strings once), and _row."""
    data: dict = {}
    for c in CLAIM_COLUMNS:
        col = table.column(c).combine_chunks().dictionary_encode()
        data[c] = Coded(col.indices.to_numpy(zero_copy_only=False).astype(np.int64), arrow=col.dictionary)
    data[ROW] = table.column(ROW).to_numpy()
    return data


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

