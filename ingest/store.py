"""Release tables on disk, written atomically: per release a manifest and either the full table
(codesets/releases/<system>/<release>.csv: the oldest stored release of a code set, and every release of a
store written before changes files existed) or its changes against an earlier release (<release>.changes.csv,
ingest.delta). The manifest says which: a `changes` entry names the release the changes are against, the
changes file's sha256 and how the carried rows change; `table_sha256` is always the full table's, so a
table rebuilt from its changes is checked against the bytes that were proven."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pandas as pd

from ingest.kept import Kept
from ingest.model import COLUMNS, CodegovError

_UMASK = os.umask(0)
os.umask(_UMASK)


def releases_dir(codesets: Path) -> Path:
    return Path(codesets) / "releases"


def table_path(out: Path, system: str, release_id: str) -> Path:
    return Path(out) / system / f"{release_id}.csv"


def changes_path(out: Path, system: str, release_id: str) -> Path:
    """A release stored as its changes against an earlier release (ingest.delta)."""
    return Path(out) / system / f"{release_id}.changes.csv"


def manifest_path(out: Path, system: str, release_id: str) -> Path:
    return Path(out) / system / f"{release_id}.manifest.json"


def conversion_path(out: Path, system: str, release_id: str) -> Path:
    """The official conversion table kept beside an ICD-10-CM release table."""
    return Path(out) / system / f"{release_id}.conversion.csv"


def sha256_file(path: Path) -> str:
    """The sha256 of a file, read in 1 MiB blocks (official files and remittances run to hundreds of MB)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> bool:
    """Write through a temporary file in the same folder and rename; False when the bytes are unchanged."""
    path = Path(path)
    if path.exists() and path.read_bytes() == data:
        return False
    with atomic_writer(path) as fh:
        fh.write(data)
    return True


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[BinaryIO]:
    """A binary file to write bit by bit that appears at path, whole, when the block ends (a temporary file in
    the same folder, synced and renamed); on an error the temporary file goes and path keeps what it held."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def table_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8, LF, the fixed column order, rows as given (callers sort by code)."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise CodegovError(f"release table lacks columns {missing}")
    return csv_bytes(table, COLUMNS)


def csv_bytes(frame: pd.DataFrame, columns) -> bytes:
    """The bytes pandas' to_csv(index=False, lineterminator="\\n") writes for a frame of text columns (the
    csv module's minimal quoting: a field with a comma, a quote or a newline is quoted, its quotes doubled),
    built column by column in Arrow: about twice as fast on a 98,000-row release table."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    lit = lambda value: pa.scalar(value, text)  # noqa: E731
    cells = []
    for values in text_columns(frame, columns):
        if not _may_need_quotes(values):  # most columns: no comma, quote or newline anywhere in their bytes
            cells.append(values)
            continue
        need = pc.match_substring_regex(values, '[,"\\n]')  # a CR alone is not quoted (the line ending is LF)
        if pc.any(need).as_py():
            quoted = pc.binary_join_element_wise(lit('"'), pc.replace_substring(values, '"', '""'), lit('"'), lit(""))
            values = pc.if_else(need, quoted, values)
        cells.append(values)
    header = ",".join(columns) + "\n"
    if not len(frame):
        return header.encode("utf-8")
    lines = pc.binary_join_element_wise(*cells, lit(","))
    body = pc.binary_join(pa.LargeListArray.from_arrays(pa.array([0, len(lines)], pa.int64()), lines), lit("\n"))
    return (header + body[0].as_py() + "\n").encode("utf-8")


def text_columns(frame: pd.DataFrame, columns) -> list:
    """The columns as the text csv_bytes writes before quoting: Arrow large strings, a null as ""."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    out = []
    for column in columns:
        array = frame[column].array
        if hasattr(array, "__arrow_array__"):  # Arrow-backed text, as the release reader gives: no copy to Python
            values = pc.cast(array.__arrow_array__(), text)
            values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
        else:
            values = pa.array(frame[column], type=text, from_pandas=True)
        out.append(pc.fill_null(values, pa.scalar("", text)))
    return out


def same_table_bytes(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """table_bytes(a) == table_bytes(b), without writing either out: the same rows and, column by column, the
    same text (csv_bytes quotes a value by its text alone, and its quoting is unambiguous, so equal text is
    equal bytes and unequal text unequal bytes)."""
    if len(a) != len(b):
        return False
    return all(x.equals(y) for x, y in zip(text_columns(a, COLUMNS), text_columns(b, COLUMNS), strict=True))


def _may_need_quotes(values) -> bool:
    """False when no value of a text array holds a comma, a quote or a newline: one scan of its data buffer
    (memchr), far quicker than matching each value; True (then each value is matched) when one might."""
    data = values.buffers()[2]
    if data is None:
        return False
    raw = data.to_pybytes()  # a copy of the bytes the values point into (a slice's neighbours too: only a
    return any(ch in raw for ch in (b",", b'"', b"\n"))  # needless check then, never a missed quote)


def json_bytes(data: dict) -> bytes:
    return (json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def read_manifest(out: Path, system: str, release_id: str) -> dict | None:
    path = manifest_path(out, system, release_id)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def torn(out: Path, system: str, release_id: str) -> str:
    """Why a stored release's files disagree with its manifest ('' when they agree): the manifest, written
    last, records the sha256 of the table (or of its changes file) and the conversion table, so a crash
    between writes shows here. A changes file without a manifest is torn too: nothing says what it is against."""
    import hashlib

    manifest = read_manifest(out, system, release_id)
    if not manifest:
        path = changes_path(out, system, release_id)
        if path.exists() and not table_path(out, system, release_id).exists():
            return (f"{manifest_path(out, system, release_id)} is missing beside {path.name} "
                    f"(an ingest was interrupted?)")
        return ""
    delta = manifest.get("changes")
    checks = [("conversion_sha256", conversion_path(out, system, release_id))]
    if delta:
        checks.append((None, changes_path(out, system, release_id)))
    else:
        checks.append(("table_sha256", table_path(out, system, release_id)))
    for key, path in checks:
        want = manifest.get(key) if key else delta.get("sha256")
        if not want:
            continue
        if not path.exists():
            return f"{path} is missing"
        if hashlib.sha256(path.read_bytes()).hexdigest() != want:
            return f"{path} is not the file its manifest records (an ingest was interrupted?)"
    return ""


def list_releases(out: Path, system: str) -> list[str]:
    """The stored releases of a code set: a full table or a changes file, named by its release id."""
    folder = Path(out) / system
    if not folder.is_dir():
        return []
    day = "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"
    full = {p.name[:10] for p in folder.glob(f"{day}.csv")}
    return sorted(full | {p.name[:10] for p in folder.glob(f"{day}.changes.csv")})


def stored_against(out: Path, system: str, release_id: str) -> str | None:
    """The release a stored release's changes are against (None: a full table)."""
    return ((read_manifest(out, system, release_id) or {}).get("changes") or {}).get("against")


def dependents(out: Path, system: str, release_id: str) -> list[str]:
    """The stored releases whose changes are against release_id."""
    return [r for r in list_releases(out, system) if r != release_id and stored_against(out, system, r) == release_id]


def read_release(out: Path, system: str, release_id: str, source=None) -> pd.DataFrame:
    """A stored release table, checked against its manifest. A full table is checked by its sha256. A release
    stored as changes is rebuilt from the release they are against, read through `source(release_id)` (the
    repository's read-once cache) or else read here: the changes file is checked by its sha256, the base by
    its own read, every removed row against the base (ingest.delta.apply), and the rebuilt table by its row
    and billable counts; its full sha256, which needs the table written out as text again (three times the
    cost of the read), is checked by read_release_bytes, which ingest and `codegov check` use, and was proven
    when the changes were written (the writer keeps them only when they rebuild the very bytes)."""
    return read_release_table(out, system, release_id, source)


TABLES_KEPT_BYTES = 256 << 20  # read_release_table: the checked tables a process keeps (a real ICD-10-CM: 31 MB)
_TABLES = Kept(TABLES_KEPT_BYTES)


def read_release_table(out: Path, system: str, release_id: str, source=None, full_check: bool = False) -> pd.DataFrame:
    """read_release (full_check: read_release_bytes' full sha256 check), the checked tables of this process
    kept (ingest.kept, TABLES_KEPT_BYTES in all) by what they were read from: every manifest down the chain of
    changes to the full table, each file checked against its manifest's sha256 before a kept table is given
    (_table_key; a table not kept is checked by its own read). So a release stored again, or one whose base
    was, is read again, and a table checked only by its counts never answers for a full check. The caller
    gets its own frame over the kept columns (pandas copies on write: nothing it does changes the kept
    table)."""
    key = _table_key(out, system, release_id, check_files=False)
    kept = _TABLES.get(key) if key is not None else None
    if kept is not None and (kept[1] or not full_check) and _table_key(out, system, release_id) == key:
        return kept[0].copy(deep=False)  # (the files hash as their manifests record: the table read from them)
    table = read_release_bytes(out, system, release_id, source=source, full_check=full_check)[0]
    # the manifests unchanged since (the files read were checked against them by the read itself)
    if key is not None and _table_key(out, system, release_id, check_files=False) == key:
        full = full_check or len(key) == 1  # a full table is always checked by its sha256
        _TABLES.put(key, (table, full), int(table.memory_usage(index=False).sum()))
    return table.copy(deep=False)


def _table_key(out: Path, system: str, release_id: str, check_files: bool = True) -> tuple | None:
    """What a stored release table is read from, link by link down to the full table its changes go back to:
    each manifest's bytes, once each changes file and the table hash to the sha256 their manifests record (what
    a read checks first; a hash, not a file's time or size, so a file changed in place is never taken for the
    one that was read; check_files=False: the manifests alone). None when a file is missing, a manifest
    unreadable or a hash differs: such a table is never kept, and its read says what is wrong."""
    links, rid = [], release_id
    while True:
        try:
            raw = manifest_path(out, system, rid).read_bytes()
            manifest = json.loads(raw)
            delta = manifest.get("changes")
            if delta:
                path, want = changes_path(out, system, rid), delta.get("sha256")
            else:
                path, want = table_path(out, system, rid), manifest.get("table_sha256")
            if not want or (check_files and hashlib.sha256(path.read_bytes()).hexdigest() != want):
                return None
        except (OSError, ValueError, AttributeError):
            return None
        links.append(raw)
        if not delta:
            return tuple(links)
        against = delta.get("against")
        if not isinstance(against, str) or not against < rid:
            return None
        rid = against


def read_release_bytes(out: Path, system: str, release_id: str, source=None,
                       full_check: bool = True) -> tuple[pd.DataFrame, bytes]:
    """read_release, with the table's bytes as stored (or rebuilt) and, for a release stored as changes, the
    rebuilt table checked against the sha256 its manifest records. full_check=False (read_release): the
    counts instead, and no bytes (b"") for a rebuilt table."""
    import hashlib

    manifest = read_manifest(out, system, release_id) or {}
    delta = manifest.get("changes")
    path = changes_path(out, system, release_id) if delta else table_path(out, system, release_id)
    if not delta and not path.exists() and changes_path(out, system, release_id).exists():
        raise CodegovError(f"{changes_path(out, system, release_id)}: no manifest says which release its changes "
                           f"are against (an ingest was interrupted?); rerun `codegov ingest --system {system}`")
    if not path.exists():
        known = ", ".join(list_releases(out, system)) or "none"
        raise CodegovError(f"{path}: no {system} release table {release_id}; ingested: {known}. "
                           f"Run `codegov ingest --system {system}` first")
    stored = path.read_bytes()
    if delta:
        from ingest import delta as changes

        if hashlib.sha256(stored).hexdigest() != delta.get("sha256"):
            raise CodegovError(f"{path}: not the changes file its manifest records (an ingest was interrupted?); "
                               f"rerun `codegov ingest --system {system}`")
        against = delta["against"]
        if not against < release_id:
            raise CodegovError(f"{manifest_path(out, system, release_id)}: its changes are against {against}, "
                               f"expected a release before {release_id}")
        base = source(against) if source is not None else read_release(out, system, against)
        table = changes.apply(base, changes.read_changes(path, stored), delta.get("carry") or {}, path, against)
        if not full_check:
            counts = (len(table), int((table["billable"] == "1").sum()))
            if counts != (manifest.get("rows"), manifest.get("billable")):
                raise CodegovError(f"{path}: the changes against {against} give {counts[0]:,} rows ({counts[1]:,} "
                                   f"billable), its manifest records {manifest.get('rows')} "
                                   f"({manifest.get('billable')}); rerun `codegov ingest --system {system}`")
            return table, b""
        data = table_bytes(table)
        if hashlib.sha256(data).hexdigest() != manifest.get("table_sha256"):
            raise CodegovError(f"{path}: the changes against {against} do not give the table its manifest records "
                               f"(sha256 {str(manifest.get('table_sha256'))[:12]}...); rerun "
                               f"`codegov ingest --system {system}`")
        return table, data
    want = manifest.get("table_sha256")
    if want and hashlib.sha256(stored).hexdigest() != want:
        raise CodegovError(f"{path}: not the table its manifest records (an ingest was interrupted?); "
                           f"rerun `codegov ingest --system {system}`")
    return text_frame(stored), stored


ARROW_READ_BYTES = 512 * 1024  # text_frame: from this size on, Arrow's reader is the quicker


def text_frame(data: bytes) -> pd.DataFrame:
    """A stored CSV (a release table, a changes file) as a frame of text: every column str, blanks stay "".
    Arrow's reader and pandas' C engine give the same frame; Arrow's is five times quicker on a 20 MB table and
    its fixed cost (about 2 ms) the slower below about half a megabyte, the sample's tables and most changes
    files. A file neither can read raises their error."""
    engine = "pyarrow" if len(data) >= ARROW_READ_BYTES else "c"
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False, engine=engine)
