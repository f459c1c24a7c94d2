"""One release from official files to its stored table: parse, normalise, checksum-check, write."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ingest.fetch import sha256_file
from ingest.model import ChecksumChanged, CodegovError, Release
from ingest.sources import Sources
from ingest.store import (
    atomic_write,
    conversion_path,
    csv_bytes,
    json_bytes,
    manifest_path,
    read_manifest,
    table_bytes,
    table_path,
)


@dataclass(frozen=True)
class IngestResult:
    release: Release
    path: Path
    rows: int
    billable: int
    changed: bool


def build_table(sources: Sources, release: Release, folder: Path | None, codesets: Path) -> tuple[pd.DataFrame, dict]:
    """Parse a release's official files into its normalised table; also return the files it read."""
    files: dict[str, Path] = {}
    if release.system == "icd10cm":
        from ingest import parse_icd10cm as icd

        files = sources.find_files("icd10cm", folder)
        order = icd.parse_order(files["order"])
        codes = icd.parse_codes(files["codes"])
        table = icd.release_table(order, release, codes, files["order"], files["codes"])
    elif release.system == "hcpcs":
        from ingest import parse_hcpcs

        files = sources.find_files("hcpcs", folder)
        table = parse_hcpcs.release_table(parse_hcpcs.parse_anweb(files["anweb"]), release)
    elif release.system == "pos":
        from ingest import parse_pos

        files = {"curated": Path(codesets) / sources.systems["pos"].curated}
        table = parse_pos.pos_release_table(parse_pos.read_pos_csv(files["curated"]), release)
    else:  # pragma: no cover - Sources only knows SYSTEMS
        raise CodegovError(f"unknown code set {release.system}")
    return table, files


def refuse_reissue(release: Release, previous: dict, file_entries: list[dict], files: dict[str, Path],
                   stored_path: Path, data: bytes) -> None:
    """Raise ChecksumChanged when a release already stored would get another table from other files.

    Keyed on content, not on names: the same file under a new name (`_v2`, CDC hyphens) gives the same
    table and is accepted; a file whose bytes differ from those recorded for its role is refused when the
    table it gives differs from the stored one. (Other bytes, same table: a re-posting that changes nothing
    codegov stores; the manifest records the new file.)"""
    if not stored_path.exists() or stored_path.read_bytes() == data:
        return
    before = {f["role"]: f for f in previous.get("files", [])}
    for entry in file_entries:
        old = before.get(entry["role"])
        if old is not None and old["sha256"] != entry["sha256"]:
            renamed = f" (recorded as {old['file']})" if old["file"] != entry["file"] else ""
            raise ChecksumChanged(
                f"{files[entry['role']]}: sha256 {entry['sha256'][:12]}... differs from "
                f"{old['sha256'][:12]}...{renamed} recorded when {release} was ingested, "
                f"and its release table differs from the stored one; the "
                f"publisher re-issued it? Review, then rerun with --accept-changed")


def ingest_release(sources: Sources, release: Release, folder: Path | None, out: Path, codesets: Path,
                   accept_changed: bool = False) -> IngestResult:
    """Parse, normalise and store one release. Nothing is written unless every file parsed.

    A release already ingested from files with other checksums is refused (ChecksumChanged) unless
    accept_changed: the publisher re-issued a file, and a person should look before it replaces the old.
    """
    table, files = build_table(sources, release, folder, codesets)
    file_entries = [
        {"role": role, "file": path.name, "sha256": sha256_file(path), "size": path.stat().st_size}
        for role, path in sorted(files.items())
    ]
    data = table_bytes(table)
    previous = read_manifest(out, release.system, release.id)
    if previous and not accept_changed and "curated" not in files:  # a curated list is reviewed in git
        refuse_reissue(release, previous, file_entries, files, table_path(out, release.system, release.id), data)
    manifest = {
        "system": release.system,
        "release": release.id,
        "label": release.label,
        "files": file_entries,
        "rows": len(table),
        "billable": int((table["billable"] == "1").sum()),
    }
    meta = json_bytes(manifest)
    path = table_path(out, release.system, release.id)
    changed = False
    if "conversion" in files:  # kept beside the table: the diff's official source of replacements
        from ingest.parse_icd10cm import parse_conversion

        conv = parse_conversion(files["conversion"])[["code", "effective", "previous"]]
        conv = conv.sort_values(["code", "previous"], kind="stable")
        changed = atomic_write(conversion_path(out, release.system, release.id),
                               csv_bytes(conv, list(conv.columns)))
    changed = atomic_write(path, data) or changed
    changed = atomic_write(manifest_path(out, release.system, release.id), meta) or changed
    return IngestResult(release, path, manifest["rows"], manifest["billable"], changed)


def ingest_from_mirror(codesets: Path, mirror: Path, out: Path, releases: dict[str, tuple[str, ...]]) -> Path:
    """Ingest the named releases ({system: (id or alias, ...)}) from a mirror laid out like the publishers'
    files into `out`; what the tests and the benchmark use on ../shared/data/cms."""
    from ingest.sources import load_sources

    sources = load_sources(codesets)
    for system, names in releases.items():
        for name in names:
            release = sources.resolve(system, name)
            ingest_release(sources, release, Path(mirror) / system / release.mirror_dir, out, codesets)
    return out


def select_releases(sources: Sources, systems: list[str] | None, names: list[str] | None,
                    mirror: Path | None) -> list[Release]:
    """The releases to ingest: those named (id or alias) in the selected code sets, else every listed or
    discovered release (POS is read from the curated list). A mirror folder that does not exist is an error."""
    from ingest.fetch import require_mirror
    from ingest.model import SYSTEMS

    require_mirror(mirror)
    systems = list(systems or SYSTEMS)
    chosen: list[Release] = []
    for system in systems:
        if names:
            for name in names:
                try:
                    chosen.append(sources.resolve(system, name))
                except CodegovError:
                    if len(systems) == 1:
                        raise
        else:  # every listed release: one the mirror (or the publisher) lacks is skipped with a line, not unseen
            chosen += sources.releases(system)
    if names and not chosen:
        raise CodegovError(f"no release named {', '.join(names)} in {', '.join(systems)}")
    return sorted(set(chosen))


PARALLEL_MIN_BYTES = 32 * 1024 * 1024  # below this much official text, one process is quicker than two


def ingest_releases(sources: Sources, releases: list[Release], out: Path, codesets: Path, *, mirror: Path | None,
                    cache: Path, offline: bool, accept_changed: bool = False, skip_unpublished: bool = False,
                    progress=None, workers: int = 1):
    """Fetch (or read from the mirror) and store each release, in order. Yields (release, IngestResult) or,
    with skip_unpublished, (release, the NotPublished error) for a listed release not posted yet.

    Fetching runs here, one release after another. With workers > 1 and more than PARALLEL_MIN_BYTES of
    official files, the releases are parsed and stored in that many worker processes (each writes its
    own tables, atomically); results still come back in release order, and an error in one is raised here."""
    from ingest.fetch import release_folder
    from ingest.model import NotPublished

    if workers <= 1 or len(releases) < 2:  # one at a time: fetch, parse, store, then the next
        for release in releases:
            try:
                folder = None if release.system == "pos" else release_folder(
                    sources, release, mirror=mirror, cache=cache, offline=offline, progress=progress)
            except NotPublished as exc:
                if not skip_unpublished:
                    raise
                yield release, exc
                continue
            yield release, ingest_release(sources, release, folder, out, codesets, accept_changed)
        return
    jobs: list[tuple[Release, Path | Exception | None]] = []
    for release in releases:
        folder = None
        if release.system != "pos":
            try:
                folder = release_folder(sources, release, mirror=mirror, cache=cache, offline=offline,
                                        progress=progress)
            except NotPublished as exc:
                if not skip_unpublished:
                    raise
                jobs.append((release, exc))
                continue
        jobs.append((release, folder))
    sizes = {r: sum(p.stat().st_size for p in f.iterdir() if p.is_file()) if isinstance(f, Path) else 0
             for r, f in jobs}
    work = [(r, f) for r, f in jobs if not isinstance(f, Exception)]
    if len(work) > 1 and sum(sizes.values()) >= PARALLEL_MIN_BYTES:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # forkserver: the workers fork from one fresh server process that has imported the parsers once
        # (forking this process, which runs Arrow's threads, would be unsafe; spawning imports them per worker)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ingest.build", "ingest.parse_icd10cm", "ingest.parse_hcpcs"])
        with ProcessPoolExecutor(max_workers=min(workers, len(work)), mp_context=context) as pool:
            # the largest first, so no worker starts a big release while the others sit idle at the end
            futures = {r: pool.submit(ingest_release, sources, r, f, out, codesets, accept_changed)
                       for r, f in sorted(work, key=lambda rf: -sizes[rf[0]])}
            for release, folder in jobs:
                yield release, folder if isinstance(folder, Exception) else futures[release].result()
        return
    for release, folder in jobs:
        if isinstance(folder, Exception):
            yield release, folder
        else:
            yield release, ingest_release(sources, release, folder, out, codesets, accept_changed)
