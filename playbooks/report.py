"""The deleted-code report: change sets as GitHub-flavoured Markdown (PR body, step summary), JSON and CSV.

Rendered through the site's one Jinja environment and Markdown escaper (playbooks.text), so official
text can break neither a table nor the PR body (no live links, tags or code spans from descriptors).
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

from ingest.changes import ChangeSet
from ingest.systems import display, notice_name
from ingest.systems import name as registry_name
from playbooks.text import FIELD_NAMES, environment, md_cell, replacements_text

GITHUB_BODY_LIMIT = 65_536  # characters GitHub accepts in a pull-request body
BRANCH = "codegov/update"  # CODEGOV_BRANCH's default, as in .github/scripts/commit.sh and pull-request.sh
MAX_LISTED_REPLACEMENTS = 30  # a checklist item names at most this many replacement codes


def render_markdown(change_sets: list[ChangeSet], checks_markdown: str = "", limit: int = GITHUB_BODY_LIMIT,
                    title: str = "Code-set update", banner: str = "", edits: list | None = None, *,
                    checks: dict | None = None, playbooks: list[dict] | None = None,
                    playbooks_folder: str = "playbooks", links: PageLinks | None = None,
                    provenance: list[dict] | None = None, inventory=None,
                    release_gates_passed: bool | None = None) -> str:
    """The report: the opening section (render_opening: summary, owner checklist, whether merging is blocked,
    the freshness banner), then each code set's counts and its lists, the edit tables, the validation gates
    and where the files come from, every list folded in <details>. Long lists are cut, each label saying
    how many of how many it shows and where the rest is, until the text fits `limit`.
    edits: the edit tables' quarterly changes (ingest.edit_changes); checks: the check results
    (CheckReport.to_dict()) and release_gates_passed the run's verdict on them (None: read from the rows);
    links: where the generated pages are (None: no links, e.g. `codegov diff`)."""
    from playbooks.edits import edits_markdown

    opening = render_opening(change_sets, title=title, banner=banner, edits=edits, checks=checks,
                             playbooks=playbooks, playbooks_folder=playbooks_folder, links=links,
                             inventory=inventory, release_gates_passed=release_gates_passed)
    template = environment().get_template("report.md.j2")
    owners = _owners(change_sets, playbooks or [], playbooks_folder)
    for max_rows in (None, 500, 200, 100, 50, 20):
        text = template.render(opening=opening, change_sets=change_sets, checks=checks_markdown, max_rows=max_rows,
                               owners=owners, links=links, provenance=provenance or [],
                               edits=edits_markdown(edits or [], max_rows, fold=True, links=links))
        if len(text) <= limit:
            return text
    return text[: limit - 200] + "\n\n_Report cut to fit; the full lists are in report.json and report.csv._\n"


def render_opening(change_sets: list[ChangeSet], *, title: str = "Code-set update", banner: str = "",
                   edits: list | None = None, checks: dict | None = None, playbooks: list[dict] | None = None,
                   playbooks_folder: str = "playbooks", links: PageLinks | None = None, inventory=None,
                   release_gates_passed: bool | None = None) -> str:
    """What a reviewer reads first: per code set the release pair, its counts and how many of the codes we
    bill it touches (with the notice page); one checkbox per owner and action; whether merging is blocked
    and why; the freshness banner."""
    from playbooks.edits import change_count

    rows = [{"cs": cs, "affected": _affected(cs.inventory),
             "billed": len(inventory.codes(cs.system)) if inventory is not None else None} for cs in change_sets]
    edit_rows = [{"ec": ec, "changes": change_count(ec)} for ec in (edits or [])]
    return environment().get_template("pr_opening.md.j2").render(
        title=title, rows=rows, edit_rows=edit_rows, actions=owner_actions(change_sets, playbooks or [],
                                                                            playbooks_folder),
        merge=merge_status(checks, release_gates_passed), banner=banner, links=links)


def _affected(inv) -> dict[str, int]:
    """How many distinct codes we bill a change set touches, by how: {deleted, revised, reused, not found}."""
    if inv is None:
        return {}
    counts = {"deleted": len({a.code for a in inv.deleted}), "revised": len({a.code for a in inv.revised}),
              "reused": len({a.code for a in inv.reused}), "not found": len({a.code for a in inv.unknown})}
    return {k: v for k, v in counts.items() if v}


def opening_section(body: str) -> str:
    """The opening of a rendered PR body: everything before its first code set's section."""
    marker = "\n<!-- codegov:details -->\n"
    return body.split(marker, 1)[0] + "\n" if marker in body else body


@dataclass(frozen=True)
class PageLinks:
    """Where the PR body links the generated pages (the notices): blob URLs of the update branch when the
    run knows its repository (GitHub Actions sets GITHUB_SERVER_URL and GITHUB_REPOSITORY; the branch is
    CODEGOV_BRANCH, default codegov/update, which .github/scripts/commit.sh commits site_src/generated/
    on), else the pages' paths in the working copy (a local run). The one place these links are made."""

    base: str  # the generated folder: a URL or a path, without the trailing slash

    @classmethod
    def for_run(cls, generated: str | Path = "site_src/generated", environ: dict | None = None) -> PageLinks:
        env = os.environ if environ is None else environ
        folder = Path(generated)
        if folder.is_absolute():
            try:
                folder = folder.relative_to(Path.cwd())
            except ValueError:
                pass
        server, repo = env.get("GITHUB_SERVER_URL", ""), env.get("GITHUB_REPOSITORY", "")
        if server and repo:
            branch = env.get("CODEGOV_BRANCH") or BRANCH
            return cls(f"{server.rstrip('/')}/{repo}/blob/{branch}/{folder.as_posix()}")
        return cls(folder.as_posix())

    def page(self, path: str) -> str:
        return f"{self.base}/{path}"

    def notice(self, system: str, to_id: str) -> str:
        return self.page(f"notices/{notice_name(system, to_id)}.md")

    def edits(self, system: str, to_id: str) -> str:
        from playbooks.edits import page_name

        return self.page(page_name(system, to_id))


# ---------------------------------------------------------------------------------------------------------
# The owner checklist: what each owner has to do, from the inventory's owner column and the playbooks

ACTION_REASONS = {  # a deleted code, as "replace X (... <date>)"
    "expanded": "a header from {date}: bill a child code",
    "deleted": "deleted {date}",
    "discontinued": "discontinued {date}",
    "vanished": "dropped from the file {date}",
    "purged": "dropped from the file {date}",
}


def _citations(playbooks: list[dict]) -> dict[tuple[str, str], list[dict]]:
    """(system, official code) -> the playbooks that cite it."""
    from playbooks.load import official_code

    cited: dict[tuple[str, str], list[dict]] = {}
    for book in playbooks:
        for entry in book.get("codes") or []:
            key = (str(entry["system"]), official_code(str(entry["system"]), entry["code"]))
            if book not in cited.setdefault(key, []):
                cited[key].append(book)
    return cited


def _owners(change_sets: list[ChangeSet], playbooks: list[dict], folder: str) -> dict:
    """(system, code) -> {owner, playbooks}: who bills a code (the inventory) and which playbooks cite it,
    for the owner and playbook columns of the folded lists."""
    cited = _citations(playbooks)
    out = {}
    for cs in change_sets:
        inv = cs.inventory
        billed = {a.code: a.owner for a in (inv.deleted + inv.revised + inv.reused)} if inv else {}
        for e in cs.deleted + cs.revised + cs.reused:
            books = cited.get((cs.system, e.code), [])
            if e.code in billed or books:
                out[(cs.system, e.code)] = {"owner": billed.get(e.code, ""),
                                            "playbooks": [f"{folder}/{b['id']}.yml" for b in books]}
    return out


def owner_actions(change_sets: list[ChangeSet], playbooks: list[dict], folder: str = "playbooks") -> list[dict]:
    """One action per owner and code: replace a deleted code, review a revised descriptor, check a reused
    or unknown code, fix an inventory line; each names where (the inventory, the playbooks citing the
    code, each with its own owner). Sorted by owner, then code set, then code. Plain text, escaped when
    rendered."""
    cited = _citations(playbooks)
    actions: list[dict] = []

    def add(owner_places: dict[str, list[str]], **fields):
        for owner, where in owner_places.items():
            actions.append({"owner": owner or "no owner listed", "where": where, **fields})

    def places(system: str, code: str, billed) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        if billed is not None:
            out.setdefault(billed.owner or "", []).append("the inventory")
        for book in cited.get((system, code), []):
            out.setdefault(str(book.get("owner") or ""), []).append(f"{folder}/{book['id']}.yml")
        return out

    seen_issues = set()
    for rank, cs in enumerate(change_sets):
        inv = cs.inventory
        billed = {a.code: a for a in inv.deleted} if inv else {}
        for d in cs.deleted:
            where = places(cs.system, d.code, billed.get(d.code))
            reps = list(d.replacements or [])
            add(where, rank=rank, action="replace", system=cs.system, code=d.display_code,
                why=ACTION_REASONS.get(d.reason or "", "deleted {date}").format(date=cs.to_release),
                replacements=replacements_text(reps[:MAX_LISTED_REPLACEMENTS]) if reps else "",
                more=max(0, len(reps) - MAX_LISTED_REPLACEMENTS))
        if inv is None:
            continue
        revised: dict[str, list] = {}
        for r in inv.revised:
            revised.setdefault(r.code, []).append(r)
        for code, rs in revised.items():
            fields = sorted({f for r in rs for f in r.field.split("+")})
            what = " and ".join(FIELD_NAMES.get(f, f).replace(" descriptor", "") for f in fields)
            add(places(cs.system, code, rs[0]), rank=rank, action="review", system=cs.system,
                code=rs[0].display_code, why=f"{what} descriptor revised {cs.to_release}", replacements="", more=0)
        for r in inv.reused:
            add(places(cs.system, r.code, r), rank=rank, action="check", system=cs.system,
                code=r.display_code or r.code, replacements="", more=0,
                why=f"reused for another service, added {r.after['add_date']}; ours was added {r.before['add_date']}")
        for u in inv.unknown:
            add(places(cs.system, u.code, u), rank=rank, action="check", system=cs.system,
                code=display(cs.system, u.code), replacements="", more=0,
                why=f"in neither {cs.from_label or cs.from_release} nor {cs.to_label or cs.to_release}: "
                    "mistyped, or newer than the newest release ingested?")
        for i in inv.issues:
            key = (i["line"], i["code"], i["issue"])
            if key in seen_issues:
                continue
            seen_issues.add(key)
            actions.append({"owner": "inventory maintainer", "where": [f"line {i['line']} of the inventory"],
                            "rank": rank, "action": "fix", "system": i["system"], "code": i["code"],
                            "why": f"{i['severity']}: {i['issue']}", "replacements": "", "more": 0})
    order = {"replace": 0, "review": 1, "check": 2, "fix": 3}
    actions.sort(key=lambda a: (a["owner"] == "no owner listed", a["owner"].lower(), a["rank"],
                                order[a["action"]], a["code"]))
    return actions


# ---------------------------------------------------------------------------------------------------------
# Whether merging is blocked: the check results

def merge_status(checks: dict | None, release_gates_passed: bool | None = None) -> dict | None:
    """Whether the check results block merging, and why: a failed release-table gate does (a release a gate
    refused must not be published); failed inventory and playbook gates are the owners' checklist, and
    failed freshness gates the banner's, neither of which blocks. release_gates_passed: the run's own
    verdict on the release gates, when it has one (None: read from the rows). None when the checks did
    not run."""
    if checks is None:
        return None
    rows = checks.get("rows") or []
    failed = [r for r in rows if r.get("status") == "failed"]
    by_suite = {s: [r for r in failed if r.get("suite") == s] for s in ("release", "inventory", "playbooks",
                                                                       "freshness")}
    release_rows = [r for r in rows if r.get("suite") == "release"]
    counts = {"passed": 0, "failed": 0, "not checked": 0, **(checks.get("summary") or {})}
    counts.setdefault("gates", counts["passed"] + counts["failed"] + counts["not checked"])
    return {
        "blocked": bool(by_suite["release"]) or release_gates_passed is False,
        "release": by_suite["release"],
        "release_total": len(release_rows),
        "release_passed": sum(r.get("status") == "passed" for r in release_rows),
        "owners": by_suite["inventory"] + by_suite["playbooks"],
        "freshness": by_suite["freshness"],
        "stale": [registry_name(str(r.get("target", "")).split(" ")[0]) for r in by_suite["freshness"]],
        "summary": counts,
    }


# ---------------------------------------------------------------------------------------------------------
# Provenance: where each official file of the new releases comes from (the release manifests)

def provenance(repo, change_sets: list[ChangeSet], edit_tables=None, edit_changes: list | None = None) -> list[dict]:
    """Per new release (each change set's newer release, each edit table's newer quarter): its official
    files as the release manifest records them (file, role, size, sha256, and for a download its URL and
    when it was retrieved), the URLs sources.toml lists for it and the sha256 it pins by role."""
    from ingest.systems import EDIT_SETS, release_title

    out = []
    wanted = [(repo, cs.system, cs.to_release, release_title(cs.system, cs.to_label or cs.to_release))
              for cs in change_sets]
    if edit_tables is not None:
        wanted += [(edit_tables, ec.system, ec.to_release, f"{EDIT_SETS[ec.system].name}: {ec.to_label}")
                   for ec in edit_changes or []]
    sources = repo.sources
    for store, system, rid, title in wanted:
        manifest = store.manifest(system, rid) or {}
        listed, pins = [], {}
        if sources is not None and system in sources.systems:
            for s in sources.systems[system].releases:
                if s.release.id == rid:
                    listed, pins = list(s.urls) or ([s.index] if s.index else []), dict(s.sha256)
        files = [{"file": f.get("file", ""), "role": f.get("role", ""), "size": f.get("size"),
                  "sha256": f.get("sha256", ""), "url": f.get("url", ""), "retrieved_at": f.get("retrieved_at", "")}
                 for f in manifest.get("files") or []]
        out.append({"title": title, "system": system, "release": rid, "files": files, "listed": listed,
                    "pins": pins})
    return out


def render_json(change_sets: list[ChangeSet]) -> str:
    data = [cs.to_dict() for cs in change_sets]
    return json.dumps(data[0] if len(data) == 1 else data, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


CSV_COLUMNS = ("system", "from", "to", "change", "code", "display_code", "field", "before", "after", "reason",
               "replacements", "in_inventory")


def _safe_row(row: dict) -> dict:
    """A CSV row for people: no cell a spreadsheet would run as a formula (playbooks.text.csv_safe)."""
    from playbooks.text import csv_safe

    return {k: csv_safe(v) for k, v in row.items()}


def render_csv(change_sets: list[ChangeSet]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for cs in change_sets:
        billed = {d.code for d in cs.inventory.deleted + cs.inventory.revised} if cs.inventory else set()
        base = {"system": cs.system, "from": cs.from_release, "to": cs.to_release}

        def row(change, entry, base=base, billed=billed, **extra):
            writer.writerow(_safe_row({**base, "change": change, "code": entry.code, "display_code": entry.display_code,
                                       "in_inventory": "1" if entry.code in billed else "0", **extra}))

        for e in cs.added:
            row("added", e, after=e.description)
        for e in cs.deleted:
            row("deleted", e, before=e.description, reason=e.reason,
                replacements=" ".join(r["code"] for r in e.replacements))
        for e in cs.revised:
            row("revised", e, field=e.field, before=e.before, after=e.after)
        for e in cs.reused:
            row("reused", e, field="long_desc", before=e.before["description"], after=e.after["description"])
        for e in cs.reactivated:
            row("reactivated", e, after=e.description)
        for e in cs.purged:
            row("purged", e, before=e.description, reason=f"terminated {e.termination_date}")
    return buf.getvalue()


def inventory_deleted_count(change_sets: list[ChangeSet]) -> int:
    return sum(len(cs.inventory.deleted) for cs in change_sets if cs.inventory)


# ---------------------------------------------------------------------------------------------------------
# Releases and freshness (ingest.freshness): `codegov releases`, the banner of the PR body and the home page

RELEASE_COLUMNS = ("system", "id", "label", "state", "in_force", "detail", "sha256", "ingested_at", "source")


def freshness_banner(fresh: list, checked: str = "", style: str = "github") -> str:
    """A warning for each code set whose release in force is not ingested; empty when all are. style:
    github (an alert, for the PR body) or mkdocs (an admonition, for the site's home page)."""
    stale = [f for f in fresh if not f.ok]
    if not stale:
        return ""
    head = "**Not current.** " + ("One code set is" if len(stale) == 1 else f"{len(stale)} code sets are") + \
        " behind the release in force:"
    items = [f"- {md_cell(f.message)}" for f in stale]
    tail = [f"Publishers last checked {checked}." if checked else
            "This run did not check the publishers' pages (a mirror, or offline)."]
    if style == "mkdocs":  # the admonition's title says "Not current"
        body = (head.removeprefix("**Not current.** ").capitalize(), "", *items, "", *tail)
        return "\n".join(['!!! warning "Not current"', "", *(f"    {line}" if line else "" for line in body)]) + "\n"
    return "\n".join(["> [!WARNING]", f"> {head}", *(f"> {line}" for line in items), ">", f"> {tail[0]}"]) + "\n"


def releases_markdown(statuses: list, fresh: list, checked: str = "", banner: bool = True) -> str:
    out = []
    warning = freshness_banner(fresh, checked) if banner else ""
    if warning:
        out += [warning]
    out += ["| code set | newest ingested | in force on " + (fresh[0].on if fresh else "") + " | current? |",
            "|---|---|---|---|"]
    for f in fresh:
        force = f"{f.in_force} ({md_cell(f.in_force_label)})" if f.in_force else "none known"
        newest = f"{f.newest} ({md_cell(f.newest_label)})" if f.newest else "none"
        out.append(f"| {md_cell(f.name)} | {newest} | {force} | {'yes' if f.ok else '**no**: ' + f.in_force_state} |")
    out += ["", "| code set | release | label | state | detail |", "|---|---|---|---|---|"]
    for s in statuses:
        mark = " (in force)" if s.in_force else ""
        out.append(f"| {s.system} | {s.id}{mark} | {md_cell(s.label)} | {s.state} | {md_cell(s.detail)} |")
    if checked:
        out += ["", f"Publishers' listing pages last checked {checked}."]
    return "\n".join(out) + "\n"


def releases_json(statuses: list, fresh: list, checked: str = "") -> str:
    return json.dumps({"on": fresh[0].on if fresh else "", "publishers_checked": checked,
                       "freshness": [f.to_dict() for f in fresh], "releases": [s.to_dict() for s in statuses]},
                      indent=2, ensure_ascii=False) + "\n"


def releases_csv(statuses: list) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=RELEASE_COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for s in statuses:
        writer.writerow(_safe_row(s.to_dict()))
    return buf.getvalue()
