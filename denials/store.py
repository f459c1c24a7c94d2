"""Remittances on disk: the lines and adjustments of a set of 835 files as Parquet (zstd, the edit tables' form:
ingest.edit_store.parquet_bytes), with a manifest recording each source file's sha256 and the tables' sha256,
written atomically, the manifest last. A later run on the same files reads the tables instead of the 835s.

Remittances are the organisation's data (they name patients): the store lives under build/ (never in
codesets/releases, which a fork may commit).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path

import pyarrow.parquet as pq

from ingest.edit_store import parquet_bytes
from ingest.store import atomic_write, json_bytes, sha256_file

TABLES = ("lines", "adjustments")
FORMAT = 1  # bump when the reader's schema changes: stored tables of another format are read again


def sources(paths) -> list[dict]:
    return [{"path": str(p), "sha256": sha256_file(Path(p)), "bytes": Path(p).stat().st_size} for p in paths]


def write(folder: Path, remits, source_list: list[dict]) -> bool:
    """The two tables, then the manifest. True when a byte changed."""
    folder = Path(folder)
    manifest = {"format": FORMAT, "sources": source_list, "tables": {}}
    changed = False
    for name in TABLES:
        data = parquet_bytes(getattr(remits, name))
        manifest["tables"][name] = {"rows": getattr(remits, name).num_rows, "sha256": hashlib.sha256(data).hexdigest(),
                                    "bytes": len(data)}
        changed = atomic_write(folder / f"{name}.parquet", data) or changed
    return atomic_write(folder / "manifest.json", json_bytes(manifest)) or changed


def read(folder: Path, source_list: list[dict]):
    """The stored remittances when the store holds exactly these source files (same sha256) and its tables are
    the ones its manifest records; None otherwise (read the 835 files again)."""
    from denials.read835 import Remits

    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if manifest.get("format") != FORMAT or manifest.get("sources") != source_list:
        return None
    tables = {}
    for name in TABLES:
        try:
            data = (folder / f"{name}.parquet").read_bytes()
        except OSError:
            return None
        if hashlib.sha256(data).hexdigest() != manifest["tables"].get(name, {}).get("sha256"):
            return None
        tables[name] = pq.read_table(io.BytesIO(data))
    return Remits(tables["lines"], tables["adjustments"], [s["path"] for s in source_list])


def load(paths, folder: Path | None):
    """The remittances of these files: from the store when it holds them, else read (and stored when a folder
    is given)."""
    from denials.read835 import read_files

    paths = [Path(p) for p in paths]
    if folder is None:
        return read_files(paths)
    listed = sources(paths)
    stored = read(folder, listed)
    if stored is not None:
        return stored
    remits = read_files(paths)
    write(folder, remits, listed)
    return remits



