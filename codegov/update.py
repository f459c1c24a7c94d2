"""The whole update, stage by stage, and the one place that wires the stages together.

ingest (ingest.build) -> release repository (ingest.repository: each table read once, each change set
computed once) -> diff against the inventory (loaded once) -> checks (checks.runner) -> reports
(playbooks.report) -> pages (playbooks.site, playbooks.write) -> site (playbooks.build). Each stage gets
the data the one before it made, never a path to read again. Writes the reports under build/.
"""

from __future__ import annotations

import datetime as dt
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ingest.model import SYSTEMS


@dataclass
class UpdateOptions:
    codesets: Path
    mirror: Path | None = None
    offline: bool = False
    cache: Path = Path("cache")
    systems: list[str] | None = None
    releases: list[str] | None = None
    inventory: Path | None = None
    build: Path = Path("build")
    accept_changed: bool = False
    checks: bool = True
    render: bool = True
    site: bool = True
    playbooks: Path = Path("playbooks")
    docs_dir: Path = Path("site_src")
    mkdocs_config: Path = Path("mkdocs.yml")
    site_builder: str | None = None  # mkdocs or zensical; None: $CODEGOV_SITE_BUILDER, else mkdocs
    releases_dir: Path | None = None  # default <codesets>/releases
    workers: int = 2  # processes that parse releases side by side (only for large inputs: ingest_releases)
    quiet: bool = False  # --quiet: the stage lines are logged, not printed
    on: dt.date = field(default_factory=dt.date.today)  # the run date: which releases are due and in force
    remits: Path | None = None  # 835 files or a folder of them (default: <mirror>/remits when it exists)


@dataclass
class UpdateResult:
    changed_files: list[Path] = field(default_factory=list)
    change_sets: list = field(default_factory=list)
    checks_passed: bool = True
    inventory_deleted: int = 0
    log: list[str] = field(default_factory=list)
    repo: object = None  # the ingest.repository.ReleaseRepository the run used (its stats count reads and diffs)
    discovery: object = None  # the ingest.discover.Discovery of the run
    statuses: list = field(default_factory=list)  # ingest.freshness.ReleaseStatus of every known release
    freshness: list = field(default_factory=list)  # ingest.freshness.Freshness per code set on opts.on
    publishers_checked: str = ""  # when a listing page last answered (the cache's page index)
    edits: object = None  # the ingest.edits.EditTables of the run
    edit_changes: list = field(default_factory=list)  # ingest.edit_changes.EditChanges per edit table
    denials: dict | None = None  # denials.summary.summarise of the remittances, when there are any
    quiet: bool = False  # log the stage lines without printing them (--quiet)

    def say(self, line: str) -> None:
        self.log.append(line)
        if not self.quiet:
            print(line, flush=True)


def run_update(opts: UpdateOptions) -> UpdateResult:
    from ingest.build import ingest_releases, select_releases
    from ingest.discover import discover
    from ingest.inventory import load_inventory
    from ingest.repository import ReleaseRepository
    from ingest.sources import load_sources
    from ingest.store import atomic_write, releases_dir
    from playbooks.report import freshness_banner, inventory_deleted_count, render_csv, render_json, render_markdown

    result = UpdateResult(quiet=opts.quiet)
    gx_import = None
    if opts.checks:  # Great Expectations takes seconds to import: from here, while the releases are ingested
        from checks.context import preload

        gx_import = preload()
    from ingest.systems import EDITS, RELEASED

    sources = load_sources(opts.codesets)
    out = opts.releases_dir or releases_dir(opts.codesets)
    chosen = opts.systems or list(RELEASED)
    systems = [s for s in chosen if s in SYSTEMS]  # the code sets
    edit_systems = [s for s in chosen if s in EDITS]  # the edit tables (ingest.build_edits)

    # 1. ingest: every selected release the mirror (or cache, or network) has; a listed release the
    #    publisher has not posted yet is skipped, unless it was asked for by name
    found = discover(sources, mirror=opts.mirror, cache=opts.cache, offline=opts.offline, on=opts.on, systems=chosen)
    result.discovery = found
    for line in found.log:
        result.say(line)
    wanted = select_releases(sources, chosen, opts.releases, opts.mirror)
    for release, res in ingest_releases(sources, wanted, out, opts.codesets, mirror=opts.mirror, cache=opts.cache,
                                        offline=opts.offline, accept_changed=opts.accept_changed,
                                        skip_unpublished=not opts.releases, workers=opts.workers):
        if isinstance(res, Exception):
            result.say(f"skip    {release.system:8} {release.id} not published yet: {res}")
            continue
        if res.changed:
            result.changed_files.append(res.path)
        state = "written" if res.changed else "unchanged"
        result.say(f"ingest  {release.system:8} {release.id} {res.rows:7,} rows  {state}")

    # 2. diff: the newest release of each code set against the one before, and against the inventory
    repo = result.repo = ReleaseRepository(out, opts.codesets, sources=sources)
    inventory = load_inventory(opts.inventory or opts.codesets / "inventory")
    # the lookup page's index (half of a real update's time) built in a second process, forked with the
    # release tables read, while the stages below run; render takes its result
    lookup_job = None
    if opts.render:
        from playbooks.lookup import start_build

        if gx_import is not None:  # no import half done in the process that is forked (done by now: ingest is longer)
            gx_import.join()
        lookup_job = start_build(repo, inventory.rows.to_dict("records") if inventory is not None else None)
    for system in systems:
        if len(repo.ids[system]) >= 2:
            cs = repo.change_set(system, inventory=inventory)
            result.change_sets.append(cs)
            s = cs.summary
            result.say(f"diff    {system:8} {cs.from_release} -> {cs.to_release}: {s['added']} added, "
                       f"{s['deleted']} deleted, {s['revised']} revised; "
                       f"{len(cs.inventory.deleted)} inventory code(s) deleted")
    result.inventory_deleted = inventory_deleted_count(result.change_sets)

    # 2b. the edit tables quarter to quarter, for the codes the inventory bills (ingest.edit_changes)
    from ingest.edit_changes import edit_changes
    from ingest.edits import EditTables

    edits = result.edits = EditTables(out)
    # the inventory's deleted codes and what replaces them: the fee schedule prices them side by side
    replaced = [(d.code, r["code"]) for cs in result.change_sets if cs.inventory is not None
                for d in cs.inventory.deleted for r in (d.replacements or [])]
    for system in edit_systems:
        ec = edit_changes(edits, system, inventory)
        if ec is None:
            continue
        if system == "pfs" and replaced:
            from ingest.edit_changes import replacement_payments

            ec.replacements = replacement_payments(edits, replaced, ec.from_release, ec.to_release)
        result.edit_changes.append(ec)
        counts = ", ".join(f"{n} {kind}" for kind, n in ec.counts().items()) or "no change to our codes"
        result.say(f"diff    {system:8} {ec.from_release} -> {ec.to_release}: {counts}")

    # freshness: is the release in force on the run date ingested, for each code set? (never blocks the PR:
    #    the PR body and the site open with a banner, and `codegov check` fails on it)
    from ingest import freshness
    from ingest.pages import last_checked

    result.statuses, result.freshness = freshness.check(sources, repo, opts.on, systems)
    # the edit tables the same way (their stored quarters are the EditTables' ids): those with a quarter
    # stored or named (--system), so a team that does not use them gets no banner about them
    followed = [s for s in edit_systems if edits.ids[s] or (opts.systems and s in opts.systems)]
    if followed:
        edit_statuses, edit_fresh = freshness.check(sources, edits, opts.on, followed)
        result.statuses += edit_statuses
        result.freshness += edit_fresh
    result.publishers_checked = last_checked(opts.cache) if opts.mirror is None else ""
    for f in result.freshness:
        if not f.ok:
            result.say(f"stale   {f.message}")

    # 3. checks: Great Expectations gates. Release tables gate the run (a truncated or wrong file must
    #    never reach the PR as if it were good); inventory and playbook findings are reported for people
    #    to act on, since on release day the inventory is expected to bill deleted codes.
    books = load_playbooks_folder(opts.playbooks)
    checks_md, checks_data = "", None
    if opts.checks:
        from checks.report import render_markdown as checks_markdown
        from checks.report import write_results
        from checks.runner import run_checks

        report = run_checks(systems=systems, inventory=inventory, playbooks=books, playbooks_folder=str(opts.playbooks),
                            repo=repo, freshness=result.freshness)
        checks_data = report.to_dict()
        write_results(checks_data, opts.build / "checks")
        checks_md = checks_markdown(checks_data)
        result.checks_passed = report.suite_success("release")
        counts = report.summary()
        result.say(f"check   {counts['passed']} passed, {counts['failed']} failed, {counts['not checked']} not "
                   f"checked; release gates {'passed' if result.checks_passed else 'FAILED'}")

    # 3b. denials: the remittances (835) against the releases' changed codes, the claims and the scrubber
    remits = opts.remits if opts.remits is not None else (opts.mirror / "remits" if opts.mirror else None)
    if remits is not None and Path(remits).exists() and not (opts.codesets / "denials").is_dir():
        result.say(f"skip    denials: {remits} has remittances, but {opts.codesets / 'denials'} holds no denial "
                   "taxonomy")
    elif remits is not None and Path(remits).exists():
        result.denials = denial_summary([remits], opts.codesets, repo, inventory=inventory, edits=edits,
                                        store=opts.build / "denials")
        t = result.denials["totals"]
        result.say(f"denials {t['lines']:,} remittance lines, {t['denied_lines']:,} denied; preventable share "
                   f"{result.denials['preventable']['share_lines'] or 0:.1%}")

    # 4. reports: the PR body (GitHub's size limit), the full Markdown, JSON and CSV
    #    (the opening: a summary, the owner checklist, whether merging is blocked, the banner; links to the
    #    notice pages this run renders, on the update branch when run by the workflow)
    report_dir = opts.build / "report"
    from playbooks.edits import edits_json
    from playbooks.report import PageLinks, provenance
    from playbooks.write import GENERATED

    body = {"banner": freshness_banner(result.freshness, result.publishers_checked), "edits": result.edit_changes,
            "checks": checks_data, "playbooks": books, "playbooks_folder": Path(opts.playbooks).as_posix(),
            "links": PageLinks.for_run(opts.docs_dir / GENERATED) if opts.render else None,
            "provenance": provenance(repo, result.change_sets, edits, result.edit_changes), "inventory": inventory,
            "release_gates_passed": result.checks_passed if opts.checks else None}
    outputs = {
        "report.md": render_markdown(result.change_sets, checks_md, limit=10**9, **body),
        "pr-body.md": render_markdown(result.change_sets, checks_md, **body),
        "report.json": render_json(result.change_sets) if result.change_sets else "[]\n",
        "report.csv": render_csv(result.change_sets),
        "edits.json": edits_json(result.edit_changes),
    }
    if result.denials is not None:
        from playbooks.denials import denials_json

        outputs["denials.json"] = denials_json(result.denials)
    for name, text in outputs.items():
        if atomic_write(report_dir / name, text.encode("utf-8")):
            result.changed_files.append(report_dir / name)
    result.say(f"report  {report_dir}/pr-body.md")

    # 5. render: playbooks, notices, what changed, checks, history, inventory pages; not from releases a
    #    gate refused (the report above says which gate; the site keeps what it showed before)
    if opts.render and not result.checks_passed:
        result.say("render  skipped: a release gate failed, and no page is rendered from a release it refused")
        lookup_job[1].shutdown(wait=False, cancel_futures=True)
    if opts.render and result.checks_passed:
        from playbooks.write import GENERATED

        generated = opts.docs_dir / GENERATED
        rendered = render_pages(repo, generated, inventory=inventory, playbooks=books,
                                checks_json=opts.build / "checks" / "results.json", checks=checks_data,
                                rules_file=opts.codesets / "rules" / "scrub.yml",
                                releases=(result.statuses, result.freshness, result.publishers_checked),
                                edits=(edits, result.edit_changes, inventory, opts.on), denials=result.denials,
                                lookup_files=lambda: _taken(lookup_job))
        result.changed_files += list(rendered.written) + list(rendered.removed)
        result.say(f"render  {generated}: {len(rendered.written)} written, {len(rendered.unchanged)} unchanged, "
                   f"{len(rendered.removed)} removed")

    # 6. site: the MkDocs or Zensical build (strict: a broken link fails the update)
    if opts.site and result.checks_passed:
        from playbooks.build import build_site

        site_dir = build_site(opts.mkdocs_config, strict=True, builder=opts.site_builder)
        result.say(f"site    {site_dir}")
    return result


def render_pages(repo, out: Path, *, inventory, playbooks: list[dict], checks_json: Path | None,
                 checks: dict | None = None, rules_file: Path | None = None, releases: tuple | None = None,
                 edits: tuple | None = None, denials: dict | None = None, lookup_files=None):
    """Stage 5, also `codegov render`: the site's pages from the repository's releases and change sets, the
    inventory, the playbooks, the check results (this run's, else the last run's in checks_json), the
    claim scrubber's rule pages and the edit tables' pages (edits: (EditTables, [EditChanges], inventory,
    run date))."""
    from claims.rules import site_pages
    from playbooks.site import check_results, gather, load_check_results
    from playbooks.write import render_site

    if checks is not None:
        checks = check_results(checks)
    elif checks_json is not None:
        checks = load_check_results(checks_json)
    data = gather(repo, inventory=inventory, playbooks=playbooks, checks=checks,
                  checks_path=str(checks_json) if checks is not None else "", releases=releases)
    if edits is not None:
        data.edit_tables = edits[0]  # the lookup page's edit-table facts
    # the lookup index, when a second process builds it (a function that waits for it, called once the other
    # pages are rendered); None: built here
    data.lookup_files = lookup_files
    extra = dict(site_pages(rules_file)) if rules_file else {}
    if edits is not None and not edits[0].empty():
        from ingest.edit_changes import billed_codes
        from playbooks.edits import edit_pages

        tables, changes, inv, on = edits
        extra["Edit tables"] = edit_pages(tables, changes, len(billed_codes(inv)), on)
    if denials is not None:
        from playbooks.denials import denial_pages

        extra["Denials"] = denial_pages(denials)
    return render_site(data, out, extra=extra or None)


def remit_files(paths) -> list[Path]:
    """The 835 files named: files as given, folders by their *.835 files (sorted)."""
    from ingest.model import CodegovError

    files = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.835"))
            if not found:
                raise CodegovError(f"{p}: no 835 remittance file (*.835) in this folder")
            files += found
        elif p.exists():
            files.append(p)
        else:
            raise CodegovError(f"{p}: no such remittance file or folder")
    return files


def denial_summary(remits, codesets: Path, repo, *, claims: Path | None = None, since: dt.date | None = None,
                   store: Path | None = None, inventory=None, edits=None, rules: Path | None = None,
                   benchmark: Path | None = None) -> dict:
    """The denial stages wired: remittances (read, or from the store) -> taxonomy -> joins (claims file,
    inventory, the scrubber's findings on the claims, the repository's change sets) -> summary. Without
    --claims, a folder's claims.csv is the claims file the remittances answer."""
    from denials.join import join, release_changes
    from denials.store import load
    from denials.summary import load_benchmark, summarise
    from denials.taxonomy import load_taxonomy

    files = remit_files(remits)
    if claims is None:
        claims = next((Path(p) / "claims.csv" for p in map(Path, remits) if (Path(p) / "claims.csv").exists()), None)
    remittances = load(files, store)
    taxonomy = load_taxonomy(codesets)
    claims_frame = findings = None
    notes = []
    if claims is not None:
        from claims.partition import read_claims

        claims_frame = read_claims(claims)
        rules = rules or Path(codesets) / "rules" / "scrub.yml"
        if Path(rules).exists():
            from claims.scrub import Scrubber
            from ingest.edits import EditTables
            from ingest.model import CodegovError

            try:
                scrubber = Scrubber.from_files(rules, [], repo.history(), edits or EditTables(repo.out))
            except CodegovError as exc:  # the scrubber is not set up here: the report stands without it
                notes.append(f"the scrubber did not run ({exc}): the preventable share is not computed")
            else:
                findings = scrubber.scrub_file(claims)
        else:
            notes.append(f"no rule file ({rules}): the preventable share is not computed")
    joined = join(remittances, taxonomy, claims_frame, inventory, findings)
    del remittances, claims_frame  # the joined lines hold what the summary needs
    joined.notes += notes
    bench = load_benchmark(benchmark or Path(codesets) / "denials" / "em-benchmark.csv")
    return summarise(joined, release_changes(repo), taxonomy, bench, since)


def _taken(job) -> dict | None:
    """The result of a (future, executor) pair, the executor shut down."""
    future, pool = job
    try:
        return future.result()
    finally:
        pool.shutdown()


def render_folder(codesets: Path, out: Path, *, releases: Path | None = None, playbooks_dir: Path = Path("playbooks"),
                  checks: Path | None = None, inventory: Path | None = None, remits: Path | None = None):
    """`codegov render`: stage 5 on what is stored (the release tables, an inventory file, the playbook
    folder and the last check results)."""
    from ingest.edit_changes import edit_changes
    from ingest.edits import EditTables
    from ingest.inventory import load_inventory
    from ingest.repository import ReleaseRepository
    from ingest.systems import EDITS

    repo = ReleaseRepository(releases, codesets)
    inv = load_inventory(inventory) if inventory else None
    tables = EditTables(repo.out)
    changes = [ec for ec in (edit_changes(tables, s, inv) for s in EDITS) if ec is not None]
    denials = denial_summary([remits], codesets, repo, inventory=inv, edits=tables) if remits is not None else None
    return render_pages(repo, out, inventory=inv, playbooks=load_playbooks_folder(playbooks_dir),
                        checks_json=Path(checks) if checks else None,
                        rules_file=Path(codesets) / "rules" / "scrub.yml",
                        edits=(tables, changes, inv, dt.date.today()), denials=denials)


def load_playbooks_folder(folder: Path | None) -> list[dict]:
    """The playbooks, loaded and schema-checked once (none when the folder is absent)."""
    if folder is None or not Path(folder).is_dir():
        return []
    from playbooks.load import load_playbooks

    return load_playbooks(Path(folder))


def summary_line(result: UpdateResult) -> str:
    tracked = [p for p in result.changed_files if "report" not in p.parts]
    if not tracked:
        return "nothing changed: the release tables and generated pages are as they were"
    return f"{len(tracked)} file(s) changed"


def main_update(opts: UpdateOptions) -> int:
    """The run's exit status: OK, or POLICY when a release gate failed (errors raise, and the command line
    turns them into ERROR)."""
    from codegov.options import OK, POLICY

    result = run_update(opts)
    if not opts.quiet:
        print(summary_line(result))
    if not result.checks_passed:
        print(f"Error: a validation gate failed; see {opts.build / 'checks' / 'results.md'}", file=sys.stderr)
        return POLICY
    return OK
