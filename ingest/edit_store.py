"""Edit-table releases on disk: <releases>/<set>/<release>.parquet plus a manifest, written atomically.

Why Parquet through pyarrow (measured in bench, stage `edits-*`; see the README): a release is written
once and read many times by a few codes; a Parquet file sorted on its key keeps min/max statistics per
row group, so a reader that asks for 40 codes opens only the row groups that can hold them (predicate
pushdown) and only the columns it names. It is one immutable file per release whose sha256 the manifest
records, like the code-set tables, with no server, lock or second file format; pyarrow is already what
the parsers use. (An embedded engine such as DuckDB gives the same pushdown over these files, at the
cost of one more dependency the scrubber does not need.)
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from ingest.kept import Kept, file_identity
from ingest.model import CodegovError
from ingest.store import atomic_write, json_bytes, read_manifest
from ingest.systems import edit_set

ROW_GROUP_ROWS = 16 * 1024  # small enough that a few codes decode a few groups, large enough to compress
GROUPS_KEPT_BYTES = 4 << 20  # StoredEdits._read_groups: the small row-group reads kept, of every release in all
TAIL_BYTES = 64 * 1024  # the end of the file (the Parquet footer: every row group's statistics) a reader hashes


def table_path(out: Path, system: str, release_id: str) -> Path:
    return Path(out) / system / f"{release_id}.parquet"


def manifest_path(out: Path, system: str, release_id: str) -> Path:
    return Path(out) / system / f"{release_id}.manifest.json"


def sort_table(table: pa.Table, system: str) -> pa.Table:
    """Rows in the set's key order. The sort is stable, so rows with equal keys keep the files' order (the
    same files give the same table); files already in key order, as CMS sorts them, are not copied."""
    import numpy as np

    order = pc.sort_indices(table.select(list(edit_set(system).key)),
                            sort_keys=[(k, "ascending") for k in edit_set(system).key])
    if np.array_equal(order.to_numpy(), np.arange(len(table))):
        return table
    return table.take(order)


def parquet_bytes(table: pa.Table) -> bytes:
    """The stored bytes: zstd, dictionary-encoded text, statistics per row group. The same table gives the
    same bytes (a rerun writes nothing)."""
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd", row_group_size=ROW_GROUP_ROWS, use_dictionary=True,
                   write_statistics=True)
    return buf.getvalue()


def write_release(out: Path, system: str, release_id: str, data: bytes, manifest: dict) -> bool:
    """The table, then the manifest that records its sha256 (written last: a crash between the two leaves
    a pair `torn` names). True when a byte changed."""
    manifest = {**manifest, "table_sha256": hashlib.sha256(data).hexdigest(), "format": "parquet",
                "table_bytes": len(data), "table_tail_sha256": hashlib.sha256(data[-TAIL_BYTES:]).hexdigest()}
    changed = atomic_write(table_path(out, system, release_id), data)
    return atomic_write(manifest_path(out, system, release_id), json_bytes(manifest)) or changed


def list_releases(out: Path, system: str) -> list[str]:
    folder = Path(out) / system
    if not folder.is_dir():
        return []
    return sorted(p.stem for p in folder.glob("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9].parquet"))


def torn(out: Path, system: str, release_id: str) -> str:
    """Why a stored release's table disagrees with its manifest ('' when it agrees)."""
    manifest = read_manifest(out, system, release_id)
    path = table_path(out, system, release_id)
    if not manifest:
        return f"{manifest_path(out, system, release_id)} is missing" if path.exists() else ""
    if not path.exists():
        return f"{path} is missing"
    if hashlib.sha256(path.read_bytes()).hexdigest() != manifest.get("table_sha256"):
        return f"{path} is not the file its manifest records (an ingest was interrupted?)"
    return ""


def quick_torn(out: Path, system: str, release_id: str, manifest: dict) -> str:
    """torn() for readers, without hashing the whole table: the size and the sha256 of the last TAIL_BYTES
    (the footer, which holds every row group's row counts and statistics) must be the manifest's. A table
    replaced without its manifest (the crash torn() guards against) differs there; `codegov check` and
    every ingest run the full torn()."""
    if "table_tail_sha256" not in manifest:  # a manifest from before the quick check: hash it all
        return torn(out, system, release_id)
    path = table_path(out, system, release_id)
    size = path.stat().st_size
    if size != manifest.get("table_bytes"):
        return f"{path} is not the file its manifest records ({size:,} bytes, not {manifest.get('table_bytes'):,})"
    with path.open("rb") as fh:
        fh.seek(max(0, size - TAIL_BYTES))
        tail = fh.read()
    if hashlib.sha256(tail).hexdigest() != manifest["table_tail_sha256"]:
        return f"{path} is not the file its manifest records (an ingest was interrupted?)"
    return ""


class StoredEdits:
    """One stored release, checked against its manifest when opened, read by codes and columns.

    read() prunes row groups with the footer's min/max statistics (the table is sorted on its key, so a
    code's rows sit in one or two groups), decodes only those groups and columns, then keeps the rows
    whose values match. The footer is read once per release."""

    def __init__(self, out: Path, system: str, release_id: str):
        self.system, self.release_id = system, release_id
        self.path = table_path(out, system, release_id)
        if not self.path.exists():
            known = ", ".join(list_releases(out, system)) or "none"
            raise CodegovError(f"{self.path}: no {system} release {release_id} is stored; stored: {known}. Run "
                               f"`codegov ingest --system {system}` first")
        self.manifest = read_manifest(out, system, release_id) or {}
        if not self.manifest:
            raise CodegovError(f"{manifest_path(out, system, release_id)} is missing; rerun "
                               f"`codegov ingest --system {system}`")
        problem = quick_torn(out, system, release_id, self.manifest)
        if problem:
            raise CodegovError(f"{problem}; rerun `codegov ingest --system {system}`")
        # text columns are read as dictionaries (a few thousand codes, a few rationales): decoding stays
        # cheap however many rows match; read() decodes the rows it returns unless asked not to
        schema = self._schema = pq.read_schema(self.path)
        self._text = [f.name for f in schema if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        self._file = pq.ParquetFile(self.path, read_dictionary=self._text)
        meta = self._file.metadata
        self._index = {meta.schema.column(i).name: i for i in range(meta.num_columns)}
        self._ranges: dict[str, list[tuple]] = {}
        self._identity = file_identity(self.path)  # _read_groups' key

    @property
    def rows(self) -> int:
        return self._file.metadata.num_rows

    def _group_ranges(self, column: str) -> list[tuple]:
        """(min, max) of a column per row group, from the footer; None where a group has no statistics."""
        if column not in self._ranges:
            meta, i = self._file.metadata, self._index[column]
            out = []
            for g in range(meta.num_row_groups):
                stats = meta.row_group(g).column(i).statistics
                out.append((stats.min, stats.max) if stats is not None and stats.has_min_max else None)
            self._ranges[column] = out
        return self._ranges[column]

    def groups_for(self, **where) -> list[int]:
        """The row groups whose statistics allow at least one of the values of every column given."""
        import bisect

        keep = list(range(self._file.metadata.num_row_groups))
        for column, values in where.items():
            ranges = self._group_ranges(column)
            keep = [g for g in keep if ranges[g] is None or (
                (j := bisect.bisect_left(values, ranges[g][0])) < len(values) and values[j] <= ranges[g][1])]
        return keep

    def read(self, columns=None, *, dictionary: bool = False, **where) -> pa.Table:
        """Rows whose columns are in the given values (column=[values], or one value), e.g.
        read(column1=codes, column2=codes, setting="practitioner"). Row groups whose statistics exclude every
        value are never decoded. dictionary: leave text columns dictionary-encoded (pandas: categorical)."""
        where = {c: sorted({v} if isinstance(v, str) else set(v)) for c, v in where.items() if v is not None}
        names = list(columns) if columns is not None else self._schema.names
        needed = names + [c for c in where if c not in names]
        groups = self.groups_for(**where)
        if not groups:
            return self._schema.empty_table().select(names)
        table = self._read_groups(groups, needed)
        mask = None
        for column, values in where.items():
            term = _is_in(table[column], pa.array(values, pa.string()))
            mask = term if mask is None else pc.and_(mask, term)
        if mask is not None:
            table = table.filter(mask)
        table = table.select(names)
        if not dictionary:
            table = _decoded(table)
        return table

    def all(self, columns=None) -> pa.Table:
        return _decoded(self._file.read(columns=columns))

    def _read_groups(self, groups: list[int], columns: list[str]) -> pa.Table:
        """The row groups' columns (text as dictionaries), the small reads of every open release kept in one
        cache (_KEPT, ingest.kept) of at most GROUPS_KEPT_BYTES: the lookup index asks for one code's rows once
        per span of dates, a dozen times the same groups, and a sample's tables are one group each. A read of
        more than a quarter of that is not kept (a scrub's partition reads are larger), so the cache never adds
        more than GROUPS_KEPT_BYTES to a process. Keyed by the file's identity: a release stored again is read
        again."""
        key = (self._identity, tuple(groups), tuple(columns))
        table = _KEPT.get(key)
        if table is None:
            table = self._file.read_row_groups(groups, columns=columns)
            _KEPT.put(key, table, table.nbytes)
        return table


_KEPT = Kept(GROUPS_KEPT_BYTES)  # StoredEdits._read_groups


def _is_in(column: pa.ChunkedArray, values: pa.Array) -> pa.ChunkedArray:
    """is_in for a column read as dictionaries: the test runs on each chunk's dictionary (a few thousand
    codes) and is taken by the indices, never decoding the rows' strings."""
    if not pa.types.is_dictionary(column.type) or not column.num_chunks:
        return pc.is_in(column, value_set=values)
    column = column.unify_dictionaries()  # one dictionary for every row group: one is_in
    hit = pc.is_in(column.chunk(0).dictionary, value_set=values)
    return pa.chunked_array([pc.take(hit, c.indices) for c in column.chunks], pa.bool_())


def _decoded(table: pa.Table) -> pa.Table:
    """Dictionary text columns back to plain strings, as the schema stores them."""
    fields = [pa.field(f.name, f.type.value_type) if pa.types.is_dictionary(f.type) else f for f in table.schema]
    return table.cast(pa.schema(fields)) if fields != list(table.schema) else table


