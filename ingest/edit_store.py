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

from ingest.model import CodegovError
from ingest.store import atomic_write, json_bytes, read_manifest
from ingest.systems import edit_set

ROW_GROUP_ROWS = 64 * 1024  # small enough that a few codes read a few groups, large enough to compress


def table_path(out: Path, system: str, release_id: str) -> Path:
    return Path(out) / system / f"{release_id}.parquet"


def manifest_path(out: Path, system: str, release_id: str) -> Path:
    return Path(out) / system / f"{release_id}.manifest.json"


def sort_table(table: pa.Table, system: str) -> pa.Table:
    """Rows in the set's key order (and every other column after it, so equal keys have one order)."""
    keys = list(edit_set(system).key) + [c for c in table.column_names if c not in edit_set(system).key]
    return table.take(pc.sort_indices(table, sort_keys=[(k, "ascending") for k in keys]))


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
    manifest = {**manifest, "table_sha256": hashlib.sha256(data).hexdigest(), "format": "parquet"}
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


class StoredEdits:
    """One stored release, verified against its manifest once, read by codes (pushdown) and columns."""

    def __init__(self, out: Path, system: str, release_id: str):
        self.system, self.release_id = system, release_id
        self.path = table_path(out, system, release_id)
        if not self.path.exists():
            known = ", ".join(list_releases(out, system)) or "none"
            raise CodegovError(f"{self.path}: no {system} release {release_id} is stored; stored: {known}. Run "
                               f"`codegov ingest --system {system}` first")
        self.manifest = read_manifest(out, system, release_id) or {}
        problem = torn(out, system, release_id)
        if problem:
            raise CodegovError(f"{problem}; rerun `codegov ingest --system {system}`")
        self._file = pq.ParquetFile(self.path)

    @property
    def rows(self) -> int:
        return self._file.metadata.num_rows

    def read(self, columns=None, **where) -> pa.Table:
        """Rows whose columns are in the given values (column=[values], or one value), e.g.
        read(column1=codes, column2=codes, setting="practitioner"). Row groups whose statistics exclude every
        value are never read."""
        expr = None
        for column, values in where.items():
            if values is None:
                continue
            if isinstance(values, str):
                values = [values]
            values = pa.array(sorted(set(values)), pa.string())
            term = pc.field(column).isin(values)
            expr = term if expr is None else expr & term
        return pq.read_table(self.path, columns=columns, filters=expr)

    def all(self, columns=None) -> pa.Table:
        return pq.read_table(self.path, columns=columns)
