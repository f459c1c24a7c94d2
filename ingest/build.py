"""One release from official files to its stored table: parse, normalise, checksum-check, write."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ingest.model import ChecksumChanged, CodegovError, Release
from ingest.sources import Sources
from ingest.store import (
    atomic_write,
    changes_path,
    conversion_path,
    csv_bytes,
    dependents,
    json_bytes,
    list_releases,
    manifest_path,
    read_manifest,
    read_release_bytes,
    same_table_bytes,
    sha256_file,
    table_bytes,
    table_path,
    torn,
)


@dataclass(frozen=True)
class IngestResult:
    release: Release
    path: Path
    rows: int
    billable: int
    changed: bool
    proof: tuple[str, ...] = ()  # what the proofs checked (ingest.proof), for the log; not stored: it
    # depends on which releases were stored before, and a rerun must give the bytes of a clean run


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
        table = parse_hcpcs.release_table(parse_hcpcs.parse_anweb_records(files["anweb"])[0], release)
    elif release.system == "pos":
        from ingest import parse_pos

        files = {"curated": Path(codesets) / sources.systems["pos"].curated}
        table = parse_pos.pos_release_table(parse_pos.read_pos_csv(files["curated"]), release)
    else:  # pragma: no cover - Sources only knows SYSTEMS
        raise CodegovError(f"unknown code set {release.system}")
    return table, files


def refuse_reissue(release: Release, previous: dict, file_entries: list[dict], files: dict[str, Path],
                   stored_path: Path, data: bytes, stored: bytes | None = None) -> None:
    """Raise ChecksumChanged when a release already stored would get another table from other files.

    Keyed on content, not on names: the same file under a new name (`_v2`, CDC hyphens) gives the same
    table and is accepted; a file whose bytes differ from those recorded for its role is refused when the
    table it gives differs from the stored one. (Other bytes, same table: a re-posting that changes nothing
    codegov stores; the manifest records the new file.)"""
    if stored is None:
        stored = stored_path.read_bytes() if stored_path.exists() else None
    if stored is None or stored == data:
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


@dataclass
class Built:
    """A release parsed, normalised and proven on its own files, not stored yet (what a worker returns)."""

    release: Release
    table: pd.DataFrame
    files: dict[str, Path]
    file_entries: list[dict]
    data: bytes  # the table as stored
    conversion: bytes | None  # the ICD-10-CM conversion table as stored beside it
    evidence: list[str]
    # what the proof against the previous release reads of the files, found here (HCPCS: the ANWEB file's line of
    # each code), so the process that stores the release does not read the files again
    proof_state: dict | None = None


def build_release(sources: Sources, release: Release, folder: Path | None, codesets: Path) -> Built:
    """Parse a release's files, check the years their names give, and prove it against its own addenda
    counts (ingest.proof, without the previous release). Nothing is written."""
    from ingest.proof import check_file_years, prove

    table, files = build_table(sources, release, folder, codesets)
    check_file_years(release, files)
    evidence = prove(release, files, table)
    from ingest.fetch import provenance

    came_from = provenance(folder, files)  # a download's URL and date; nothing for a mirror
    file_entries = [
        {"role": role, "file": path.name, "sha256": sha256_file(path), "size": path.stat().st_size,
         **came_from.get(role, {})}
        for role, path in sorted(files.items())
    ]
    conversion = None
    if "conversion" in files:  # kept beside the table: the diff's official source of replacements
        from ingest.parse_icd10cm import parse_conversion

        conv = parse_conversion(files["conversion"])[["code", "effective", "previous"]]
        conv = conv.sort_values(["code", "previous"], kind="stable")
        conversion = csv_bytes(conv, list(conv.columns))
    from ingest.proof import proof_state

    return Built(release, table, files, file_entries, table_bytes(table), conversion, evidence,
                 proof_state(release, files))


def store_release(built: Built, out: Path, *, accept_changed: bool = False,
                  previous: tuple[str, pd.DataFrame] | None = None) -> IngestResult:
    """Prove a built release against the previous one (previous: (label, table) of the newest release
    before it that is stored or built in this run), refuse a re-issue, then write its files: the
    conversion table, the table or its changes against the newest stored release before it (ingest.delta;
    see plan_layout), and last the manifest, which records the sha256 of the others, so a crash between
    writes leaves a set the repository refuses as torn and the next ingest rewrites. Nothing is written
    unless the proof passed; no other release's files are rewritten, except that a release whose changes
    are against this one is first stored whole when this one's table changes (a re-issue)."""
    from ingest.fetch import keep_first_retrieval
    from ingest.proof import prove

    release, files, table = built.release, built.files, built.table
    evidence = built.evidence
    if previous is not None:
        evidence = prove(release, files, table, previous[1], previous[0], evidence=list(built.evidence),
                         state=built.proof_state)
    system = release.system
    old_manifest = read_manifest(out, system, release.id)
    is_torn = torn(out, system, release.id)
    sha = hashlib.sha256(built.data).hexdigest()
    if (old_manifest and not accept_changed and "curated" not in files and not is_torn
            and old_manifest.get("table_sha256") != sha):  # the same sha256: the same table, nothing to refuse
        stored = read_release_bytes(out, system, release.id)[1]
        refuse_reissue(release, old_manifest, built.file_entries, files, table_path(out, system, release.id),
                       built.data, stored=stored)
    if old_manifest and old_manifest.get("table_sha256") not in (None, sha):
        for later in dependents(out, system, release.id):  # built on the table about to change: store them whole
            store_whole(out, system, later)
    layout = plan_layout(out, built, previous, old_manifest, same=bool(old_manifest) and not is_torn
                         and old_manifest.get("table_sha256") == sha)
    manifest = {
        "system": system,
        "release": release.id,
        "label": release.label,
        "files": keep_first_retrieval(built.file_entries, old_manifest),
        "rows": len(table),
        "billable": int((table["billable"] == "1").sum()),
        "table_sha256": sha,
    }
    changed = False
    if built.conversion is not None:
        manifest["conversion_sha256"] = hashlib.sha256(built.conversion).hexdigest()
        changed = atomic_write(conversion_path(out, system, release.id), built.conversion)
    if layout is None:
        path, stale = table_path(out, system, release.id), changes_path(out, system, release.id)
        changed = atomic_write(path, built.data) or changed
    else:
        against, data, carry, counts = layout
        path, stale = changes_path(out, system, release.id), table_path(out, system, release.id)
        manifest["changes"] = {"against": against, "sha256": hashlib.sha256(data).hexdigest(), "carry": carry,
                               **counts}
        changed = atomic_write(path, data) or changed
    changed = atomic_write(manifest_path(out, system, release.id), json_bytes(manifest)) or changed
    if stale.exists():  # the other layout's file, which the manifest no longer names
        stale.unlink()
        changed = True
    return IngestResult(release, path, manifest["rows"], manifest["billable"], changed, tuple(evidence))


def plan_layout(out: Path, built: Built, previous, old_manifest: dict | None, same: bool = False):
    """How a release is stored: None for the full table, else (against, changes file bytes, carry rule,
    row counts) for its changes against an earlier stored release.

    A release already stored keeps its layout (a full table stays one; changes stay against the same
    release while it is stored). A new release is stored as changes against the newest stored release
    before it that is not torn; with none (the first, or one older than every stored release: it becomes
    the new base and the old base stays a full table, never rewritten), as a full table. The changes are
    kept only when they rebuild the very bytes of the table (else the full table is stored). `same`: the release is
    stored, not torn, with this table's sha256 (a rerun): its changes file is kept as it is."""
    from ingest import delta

    release = built.release
    system, rid = release.system, release.id
    stored = list_releases(out, system)
    kept = (old_manifest or {}).get("changes")
    if same and kept and kept.get("against") in stored and not torn(out, system, kept["against"]):
        counts = {k: kept[k] for k in ("removed", "added") if k in kept}
        return kept["against"], changes_path(out, system, rid).read_bytes(), kept.get("carry") or {}, counts
    if old_manifest is not None or rid in stored:
        against = ((old_manifest or {}).get("changes") or {}).get("against")
        if against is None and (old_manifest is not None or table_path(out, system, rid).exists()):
            return None
    else:
        against = None
    if against is None or against not in stored or torn(out, system, against):
        earlier = [r for r in stored if r < rid and not torn(out, system, r)]
        if not earlier:
            return None
        against = earlier[-1]
    base = None
    if previous is not None and len(previous[1]) and previous[1]["release"].iloc[0] == against:
        want = (read_manifest(out, system, against) or {}).get("table_sha256")
        if len(previous) > 2 and previous[2] == want:  # the table just stored in this run: no need to read it
            base = previous[1]
    if base is None:
        try:
            base = read_release_bytes(out, system, against)[0]
        except CodegovError:
            return None
    rows, carry = delta.changes(base, built.table)
    data = csv_bytes(rows, delta.CHANGES_COLUMNS)
    rebuilt = delta.apply(base, delta.read_changes(changes_path(out, system, rid), data), carry,
                          changes_path(out, system, rid), against)
    if not same_table_bytes(rebuilt, built.table):  # the changes must give back the very bytes of the table
        return None
    counts = {op: int((rows[delta.OP] == op).sum()) for op in (delta.REMOVED, delta.ADDED)}
    return against, data, carry, counts


def store_whole(out: Path, system: str, release_id: str) -> None:
    """Store a release kept as changes as its full table instead (before the release they are against changes):
    the table, then the manifest without its `changes` entry, then the changes file goes. At every step the
    manifest names files that are there and give its table."""
    table_data = read_release_bytes(out, system, release_id)[1]
    manifest = dict(read_manifest(out, system, release_id) or {})
    manifest.pop("changes", None)
    atomic_write(table_path(out, system, release_id), table_data)
    atomic_write(manifest_path(out, system, release_id), json_bytes(manifest))
    changes_path(out, system, release_id).unlink(missing_ok=True)


def previous_stored(out: Path, release: Release, sources: Sources) -> tuple[str, pd.DataFrame] | None:
    """(label, table) of the newest stored release of the same code set before `release`, if any."""
    from ingest.store import read_release

    earlier = [r for r in list_releases(out, release.system) if r < release.id and not torn(out, release.system, r)]
    if not earlier:
        return None
    rid = earlier[-1]
    manifest = read_manifest(out, release.system, rid) or {}
    label = manifest.get("label") or rid
    return label, read_release(out, release.system, rid), manifest.get("table_sha256")


def ingest_release(sources: Sources, release: Release, folder: Path | None, out: Path, codesets: Path,
                   accept_changed: bool = False, previous: tuple[str, pd.DataFrame] | None = None) -> IngestResult:
    """Parse, prove and store one release. Nothing is written unless every file parsed and the proofs
    passed (ingest.proof: against its own addenda, and against the newest stored release before it).

    A release already ingested from files with other content is refused (ChecksumChanged) unless
    accept_changed: the publisher re-issued a file, and a person should look before it replaces the old.
    """
    built = build_release(sources, release, folder, codesets)
    if previous is None:
        previous = previous_stored(out, release, sources)
    return store_release(built, out, accept_changed=accept_changed, previous=previous)


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
    from ingest.systems import RELEASED

    require_mirror(mirror)
    systems = list(systems or RELEASED)
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
    """Fetch (or read from the mirror), prove and store each release, in order. Yields (release,
    IngestResult) or, with skip_unpublished, (release, the NotPublished error) for a listed release not
    posted yet.

    Fetching runs here, one release after another. With workers > 1 and more than PARALLEL_MIN_BYTES of
    official files, the releases are parsed and proven on their own files in that many worker processes;
    the proof against the previous release and the writes happen here, in release order (the previous
    release is the one just built, or the newest stored), and an error in one is raised here."""
    from ingest.build_edits import ingest_edit_releases
    from ingest.systems import EDIT_SETS

    edit_releases = [r for r in releases if r.system in EDIT_SETS]  # the edit tables: ingest.build_edits
    releases = [r for r in releases if r.system not in EDIT_SETS]
    yield from _ingest_code_releases(sources, releases, out, codesets, mirror=mirror, cache=cache, offline=offline,
                                     accept_changed=accept_changed, skip_unpublished=skip_unpublished,
                                     progress=progress, workers=workers)
    yield from ingest_edit_releases(sources, edit_releases, out, mirror=mirror, cache=cache, offline=offline,
                                    accept_changed=accept_changed, skip_unpublished=skip_unpublished,
                                    progress=progress)


def _ingest_code_releases(sources, releases, out, codesets, *, mirror, cache, offline, accept_changed,
                          skip_unpublished, progress, workers):
    from ingest.fetch import release_folder
    from ingest.model import NotPublished

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
    last: dict[str, tuple[str, str, pd.DataFrame, str]] = {}  # system -> (release id, label, table, sha256) just stored

    def store(built: Built) -> IngestResult:
        release = built.release
        previous = last.get(release.system)
        if previous is not None and previous[0] < release.id and not any(
                r < release.id and r > previous[0] for r in list_releases(out, release.system)):
            prev = (previous[1], previous[2], previous[3])
        else:
            prev = previous_stored(out, release, sources)
        result = store_release(built, out, accept_changed=accept_changed, previous=prev)
        last[release.system] = (release.id, release.label, built.table, hashlib.sha256(built.data).hexdigest())
        return result

    sizes = {r: sum(p.stat().st_size for p in f.iterdir() if p.is_file()) if isinstance(f, Path) else 0
             for r, f in jobs}
    work = [(r, f) for r, f in jobs if not isinstance(f, Exception)]
    if workers > 1 and len(work) > 1 and sum(sizes.values()) >= PARALLEL_MIN_BYTES:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # forkserver: the workers fork from one fresh server process that has imported the parsers once
        # (forking this process, which runs Arrow's threads, would be unsafe; spawning imports them per worker)
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["ingest.build", "ingest.parse_icd10cm", "ingest.parse_hcpcs"])
        with ProcessPoolExecutor(max_workers=min(workers, len(work)), mp_context=context) as pool:
            # in the order they are stored: each is stored here while the workers parse the next ones (largest
            # first, the first stored was parsed last: nothing was stored until every worker was done)
            futures = {r: pool.submit(build_release, sources, r, f, codesets) for r, f in work}
            for release, folder in jobs:
                yield release, folder if isinstance(folder, Exception) else store(futures[release].result())
        return
    for release, folder in jobs:
        if isinstance(folder, Exception):
            yield release, folder
        else:
            yield release, store(build_release(sources, release, folder, codesets))
