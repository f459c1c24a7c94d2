"""The whole update, stage by stage: ingest, diff, check, render, site; writes the reports under build/."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path

from ingest.model import SYSTEMS, NotPublished


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


@dataclass
class UpdateResult:
    changed_files: list[Path] = field(default_factory=list)
    change_sets: list = field(default_factory=list)
    checks_passed: bool = True
    inventory_deleted: int = 0
    log: list[str] = field(default_factory=list)

    def say(self, line: str) -> None:
        self.log.append(line)
        print(line, flush=True)


def run_update(opts: UpdateOptions) -> UpdateResult:
    from ingest.build import ingest_release
    from ingest.diff import load_change_set
    from ingest.fetch import release_folder
    from ingest.inventory import load_inventory
    from ingest.report import inventory_deleted_count, render_csv, render_json, render_markdown
    from ingest.sources import load_sources
    from ingest.store import atomic_write, list_releases, releases_dir

    result = UpdateResult()
    sources = load_sources(opts.codesets)
    out = releases_dir(opts.codesets)
    systems = opts.systems or list(SYSTEMS)

    # 1. ingest: every selected release the mirror (or cache, or network) has
    for system in systems:
        if opts.releases:
            wanted = [sources.resolve(system, r) for r in opts.releases]
        elif opts.mirror is not None and system != "pos":
            wanted = [r for r in sources.releases(system) if (opts.mirror / system / r.mirror_dir).is_dir()]
        else:
            wanted = sources.releases(system)
        for release in wanted:
            try:
                folder = None if system == "pos" else release_folder(
                    sources, release, mirror=opts.mirror, cache=opts.cache, offline=opts.offline)
            except NotPublished as exc:
                if opts.releases:  # asked for by name: not being there is an error
                    raise
                result.say(f"skip    {system:8} {release.id} not published yet ({exc})")
                continue
            res = ingest_release(sources, release, folder, out, opts.codesets, opts.accept_changed)
            if res.changed:
                result.changed_files.append(res.path)
            state = "written" if res.changed else "unchanged"
            result.say(f"ingest  {system:8} {release.id} {res.rows:7,} rows  {state}")

    # 2. diff: the newest release of each code set against the one before, and against the inventory
    inventory = load_inventory(opts.inventory or opts.codesets / "inventory")
    for system in systems:
        if len(list_releases(out, system)) >= 2:
            cs = load_change_set(opts.codesets, system, inventory=inventory)
            result.change_sets.append(cs)
            s = cs.summary
            result.say(f"diff    {system:8} {cs.from_release} -> {cs.to_release}: {s['added']} added, "
                       f"{s['deleted']} deleted, {s['revised']} revised; "
                       f"{len(cs.inventory['deleted'])} inventory code(s) deleted")
    result.inventory_deleted = inventory_deleted_count(result.change_sets)

    # 3. checks: Great Expectations gates. Release tables gate the run (a truncated or wrong file must
    #    never reach the PR as if it were good); inventory and playbook findings are reported for people
    #    to act on, since on release day the inventory is expected to bill deleted codes.
    checks_md = ""
    if opts.checks:
        from checks.report import render_markdown as checks_markdown
        from checks.report import write_results
        from checks.runner import run_checks

        report = run_checks(opts.codesets, systems=systems, inventory=inventory, playbooks=opts.playbooks)
        data = report.to_dict()
        write_results(data, opts.build / "checks")
        checks_md = checks_markdown(data)
        result.checks_passed = report.suite_success("release")
        counts = report.summary()
        result.say(f"check   {counts['passed']} passed, {counts['failed']} failed, {counts['not checked']} not "
                   f"checked; release gates {'passed' if result.checks_passed else 'FAILED'}")

    # 4. reports: the PR body (GitHub's size limit), the full Markdown, JSON and CSV
    report_dir = opts.build / "report"
    outputs = {
        "report.md": render_markdown(result.change_sets, checks_md, limit=10**9),
        "pr-body.md": render_markdown(result.change_sets, checks_md),
        "report.json": render_json(result.change_sets) if result.change_sets else "[]\n",
        "report.csv": render_csv(result.change_sets),
    }
    for name, text in outputs.items():
        if atomic_write(report_dir / name, text.encode("utf-8")):
            result.changed_files.append(report_dir / name)
    result.say(f"report  {report_dir}/pr-body.md")

    # 5. render: playbooks, notices, what changed, checks, history, inventory pages
    if opts.render:
        from playbooks.render import GENERATED, render_site

        generated = opts.docs_dir / GENERATED
        checks_json = opts.build / "checks" / "results.json"
        rendered = render_site(opts.codesets, generated, playbooks_dir=opts.playbooks,
                               checks=checks_json if checks_json.exists() else None,
                               inventory=opts.inventory or opts.codesets / "inventory",
                               extra=stage_pages(opts.codesets))
        result.changed_files += list(rendered.written) + list(rendered.removed)
        result.say(f"render  {generated}: {len(rendered.written)} written, {len(rendered.unchanged)} unchanged, "
                   f"{len(rendered.removed)} removed")

    # 6. site: the MkDocs build (strict: a broken link fails the update)
    if opts.site:
        from codegov.commands.site import build_site

        site_dir = build_site(opts.mkdocs_config, strict=True)
        result.say(f"site    {site_dir}")
    return result


def stage_pages(codesets: Path) -> dict[str, tuple[dict[str, str], list]]:
    """Site pages other stages generate from their own metadata: the claim scrubber's rule pages."""
    from claims.rules import load_rules, rule_pages

    rules_file = Path(codesets) / "rules" / "scrub.yml"
    if not rules_file.exists():
        return {}
    pages = rule_pages(load_rules(rules_file))
    named = {f"rules/{name}": text for name, text in sorted(pages.items())}
    entries = ["rules/index.md"] + [f"rules/{name}" for name in sorted(pages) if name != "index.md"]
    return {"Claim scrubber rules": (named, entries)}


def summary_line(result: UpdateResult) -> str:
    tracked = [p for p in result.changed_files if "report" not in p.parts]
    if not tracked:
        return "nothing changed: the release tables and generated pages are as they were"
    return f"{len(tracked)} file(s) changed"


def main_update(opts: UpdateOptions) -> int:
    result = run_update(opts)
    print(summary_line(result))
    if not result.checks_passed:
        print("Error: a validation gate failed; see build/checks/results.md", file=sys.stderr)
        return 1
    return 0
