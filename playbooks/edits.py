"""The edit tables' changes for people: the PR body's section, the notice pages and their index, JSON.

Rendered from templates/_edits.j2 (one set of tables for the PR body and the pages) through the one Jinja
environment of playbooks.text."""

from __future__ import annotations

import datetime as dt
import json

from ingest.systems import EDIT_SETS, EDITS
from playbooks.text import environment

COLUMNS = {
    "ptp": ("Column 1", "Column 2"),
    "mue": ("Code", ""),
    "aoc": ("Add-on code", "Primary code"),
    "pfs": ("Code", "Modifier"),
}
SETTINGS = {"practitioner": "practitioner", "hospital": "outpatient hospital", "dme": "DME supplier"}
ABOUT = {
    "ptp": "A PTP edit pays column 1 and denies column 2 billed by one provider for one patient on one day, "
    "unless the modifier indicator is 1 and an NCCI-associated modifier documents a distinct service.",
    "mue": "An MUE is the most units of a code one provider bills for one patient on one day (adjudication "
    "indicator 2 or 3) or on one claim line (1).",
    "aoc": "An add-on code is paid only with one of its primary codes (edit type 1), or with primaries the "
    "contractor decides (2 and 3).",
    "pfs": "Payment is the national amount before the geographic adjustment: RVUs times the conversion factor.",
}
PAGE_DIR = "edits"


def _env():
    env = environment()
    env.globals.update(COLUMNS=COLUMNS, SETTINGS=SETTINGS, ABOUT=ABOUT)
    return env


def page_name(system: str, release_id: str) -> str:
    return f"{PAGE_DIR}/{system}-{release_id}.md"


def change_count(ec) -> int:
    """The changes of one edit table to the codes we bill: its rows, and the billed codes whose payment moved."""
    return len(ec.rows) + (int((ec.payments["change"].fillna(0) != 0).sum()) if len(ec.payments) else 0)


def edits_markdown(changes: list, max_rows: int | None = None, fold: bool = False, links=None) -> str:
    """The PR body's section: each edit table's quarter-to-quarter changes on the codes we bill. fold: each
    table in a <details> block (the PR body), titled with its count of changes and, with links
    (playbooks.report.PageLinks), its notice page."""
    if not changes:
        return ""
    template = _env().from_string(
        '{% from "_edits.j2" import changes as show %}'
        "## Edit tables: what changed for the codes we bill\n"
        "{% for ec in items %}\n\n"
        "{% if fold %}<details><summary>{{ ec.title | cell }} (effective {{ ec.to_release }}): "
        "{{ counts[loop.index0] }} change{{ 's' if counts[loop.index0] != 1 }} to codes we bill</summary>\n"
        "{% if links %}\nThe {{ link('notice page', links.edits(ec.system, ec.to_release)) }} has every row.\n"
        "{% endif %}"
        '{{ show(ec, max_rows, heading="####") }}\n\n</details>'
        "{% else %}### {{ ec.title | cell }} (effective {{ ec.to_release }})\n"
        '{{ show(ec, max_rows, heading="####") }}{% endif %}{% endfor %}'
    )
    counts = [change_count(ec) for ec in changes]
    return template.render(items=changes, max_rows=max_rows, fold=fold, links=links, counts=counts).rstrip() + "\n"


def edit_pages(edits, changes: list, billed: int, on: dt.date) -> tuple[dict[str, str], list]:
    """The notice page of each quarter-to-quarter change set and the index of the edit tables, as the
    extra pages render_site takes: ({path: markdown}, nav entries)."""
    env = _env()
    pages, nav = {}, [f"{PAGE_DIR}/index.md"]
    by_system = {ec.system: ec for ec in changes}
    rows = []
    for system in EDITS:
        ec = by_system.get(system)
        window = edits.in_force(system, on)
        row = {
            "name": EDIT_SETS[system].name,
            "stored": [edits.label(system, r) for r in edits.ids[system]] or ["none"],
            "in_force": window.label if window else "none stored",
            "changes": "fewer than two quarters stored",
            "page": "",
        }
        if ec is not None:
            path = page_name(system, ec.to_release)
            pages[path] = env.get_template("edit_notice.md.j2").render(ec=ec, billed=billed)
            n = change_count(ec)
            row.update(
                changes=f"{n} change(s), {ec.from_label} to {ec.to_label}", page=path.removeprefix(f"{PAGE_DIR}/")
            )
            nav.append({EDIT_SETS[system].short: path})
        rows.append(row)
    pages[f"{PAGE_DIR}/index.md"] = env.get_template("edits_index.md.j2").render(tables=rows, on=on)
    return pages, nav


def edits_json(changes: list) -> str:
    return json.dumps([ec.to_dict() for ec in changes], indent=2, ensure_ascii=False, default=str) + "\n"
