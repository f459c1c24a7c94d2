"""The deleted-code report: change sets as GitHub-flavoured Markdown (PR body, step summary), JSON and CSV.

Rendered through the site's one Jinja environment and Markdown escaper (playbooks.text), so official
text can break neither a table nor the PR body (no live links, tags or code spans from descriptors).
"""

from __future__ import annotations

import csv
import io
import json

from ingest.changes import ChangeSet
from playbooks.text import environment, md_cell

GITHUB_BODY_LIMIT = 65_536  # characters GitHub accepts in a pull-request body


def render_markdown(change_sets: list[ChangeSet], checks_markdown: str = "", limit: int = GITHUB_BODY_LIMIT,
                    title: str = "Code-set update", banner: str = "", edits: list | None = None) -> str:
    """The report; long lists are cut, with a pointer to the full JSON/CSV, until it fits `limit`.
    edits: the edit tables' quarterly changes (ingest.edit_changes), a section after the code sets."""
    from playbooks.edits import edits_markdown

    template = environment().get_template("report.md.j2")
    for max_rows in (None, 500, 200, 100, 50, 20):
        text = template.render(title=title, change_sets=change_sets, checks=checks_markdown, max_rows=max_rows,
                               banner=banner, edits=edits_markdown(edits or [], max_rows))
        if len(text) <= limit:
            return text
    return text[: limit - 200] + "\n\n_Report cut to fit; the full lists are in report.json and report.csv._\n"


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
