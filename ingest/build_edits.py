"""One edit-table release from official files to its stored Parquet table: parse, prove, write.

The edit tables' twin of ingest.build: the same release, fetch, re-issue and torn-pair rules, a columnar
table instead of the code-set CSV (ingest.edit_store)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from ingest import edit_store
from ingest.build import IngestResult, refuse_reissue
from ingest.fetch import keep_first_retrieval, provenance
from ingest.model import Release
from ingest.sources import Sources
from ingest.store import read_manifest, sha256_file
from ingest.systems import edit_set


def parse_part(system: str, role: str, path: Path) -> pa.Table:
    from ingest import parse_edits

    setting = role.split("-f")[0]
    if system == "ptp":
        return parse_edits.parse_ptp(path, setting)
    if system == "mue":
        return parse_edits.parse_mue(path, setting)
    if system == "aoc":
        return parse_edits.parse_aoc(path)
    return parse_edits.parse_pfs(path)


@dataclass
class BuiltEdits:
    release: Release
    table: pa.Table
    files: dict[str, Path]
    file_entries: list[dict]
    data: bytes
    evidence: list[str]


def build_edit_release(sources: Sources, release: Release, folder: Path) -> BuiltEdits:
    """Parse every file of the release, stack and sort them, prove them on their own. Nothing is written."""
    from ingest.proof_edits import prove_edits

    files = sources.find_files(release.system, folder)
    parts = {role: parse_part(release.system, role, path) for role, path in sorted(files.items())}
    table = edit_store.sort_table(pa.concat_tables(parts.values()), release.system)
    evidence = prove_edits(release, files, parts, table)
    came_from = provenance(folder, files)  # a download's URL and date; nothing for a mirror
    entries = [{"role": role, "file": path.name, "sha256": sha256_file(path), "size": path.stat().st_size,
                "rows": parts[role].num_rows, **came_from.get(role, {})} for role, path in sorted(files.items())]
    return BuiltEdits(release, table, files, entries, edit_store.parquet_bytes(table), evidence)


def previous_stored(out: Path, release: Release) -> tuple[str, pa.Table] | None:
    earlier = [r for r in edit_store.list_releases(out, release.system)
               if r < release.id and not edit_store.torn(out, release.system, r)]
    if not earlier:
        return None
    stored = edit_store.StoredEdits(out, release.system, earlier[-1])
    columns = ["setting"] if "setting" in edit_set(release.system).key else [edit_set(release.system).key[0]]
    return stored.manifest.get("label") or earlier[-1], stored.all(columns)


def store_edit_release(built: BuiltEdits, out: Path, *, accept_changed: bool = False,
                       previous: tuple[str, pa.Table] | None = None) -> IngestResult:
    """Prove against the previous quarter, refuse a re-issue (other bytes, another table), then write the
    table and last its manifest. Nothing is written unless the proof passed."""
    from ingest.proof_edits import prove_against

    release = built.release
    evidence = list(built.evidence)
    if previous is not None:
        evidence += prove_against(release, built.files, built.table, previous[1], previous[0])
    path = edit_store.table_path(out, release.system, release.id)
    old = read_manifest(out, release.system, release.id)
    if old and not accept_changed and not edit_store.torn(out, release.system, release.id):
        refuse_reissue(release, old, built.file_entries, built.files, path, built.data)
    manifest = {"system": release.system, "release": release.id, "label": release.label,
                "files": keep_first_retrieval(built.file_entries, old), "rows": built.table.num_rows}
    if "setting" in built.table.column_names:
        import pyarrow.compute as pc

        counts = pc.value_counts(built.table["setting"])
        manifest["rows_by_setting"] = dict(sorted(zip(counts.field("values").to_pylist(),
                                                      counts.field("counts").to_pylist(), strict=True)))
    changed = edit_store.write_release(out, release.system, release.id, built.data, manifest)
    return IngestResult(release, path, built.table.num_rows, built.table.num_rows, changed, tuple(evidence))


def ingest_edit_releases(sources: Sources, releases: list[Release], out: Path, *, mirror: Path | None, cache: Path,
                         offline: bool, accept_changed: bool = False, skip_unpublished: bool = False, progress=None):
    """Fetch (or read from the mirror), prove and store each edit-table release, oldest first; yields
    (release, IngestResult) or, with skip_unpublished, (release, NotPublished) for one not posted yet."""
    from ingest.fetch import release_folder
    from ingest.model import NotPublished

    last: dict[str, tuple[str, str, pa.Table]] = {}
    for release in sorted(releases):
        try:
            folder = release_folder(sources, release, mirror=mirror, cache=cache, offline=offline, progress=progress)
        except NotPublished as exc:
            if not skip_unpublished:
                raise
            yield release, exc
            continue
        built = build_edit_release(sources, release, folder)
        prev = last.get(release.system)
        if prev is not None and prev[0] < release.id and not any(
                prev[0] < r < release.id for r in edit_store.list_releases(out, release.system)):
            previous = (prev[1], prev[2])
        else:
            previous = previous_stored(out, release)
        result = store_edit_release(built, out, accept_changed=accept_changed, previous=previous)
        last[release.system] = (release.id, release.label, built.table)
        yield release, result
