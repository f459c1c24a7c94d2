"""The site's generated pages: the data they show (SiteData, gathered once from the release repository) and
the Site that renders playbooks, change notices, what changed, checks, history and the inventory pages.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment

from ingest import systems as registry
from ingest.status import CodeIndex
from playbooks.text import (
    MAX_LISTED_CHILDREN,
    SUITE_TITLES,
    SYSTEM_ORDER,
    SYSTEM_SHORT,
    _tidy,
    csv_safe,
    dotted,
    environment,
    md_cell,
    merge_revisions,
    notice_name,
    release_title,
    short_label,
)

NAV_FILE = ".nav.yml"  # the site's whole navigation; mkdocs.yml INHERITs it (dot files are not copied to the site)
HOME_FILE = ".home.md"  # the home page's freshness block; site_src/index.md includes it (pymdownx.snippets)
LOOKUP_PAGE = "lookup/index.md"  # the code lookup page: first among the generated pages when it exists
MAINTAINERS = "For maintainers"  # the one section for the people who run codegov
# The navigation's order: the coders' pages first (what they read every day), then one section for
# maintainers. A title not listed here goes after the coders' pages it is not one of (generated sections
# before hand-written pages), so a new page is never hidden. The code-update program is read by the
# billing team's managers (the yearly calendar: who does what before each effective date), so it is a
# coders'-side page, not a maintainer's.
CODERS = ("Home", "Lookup", "Playbooks", "Change notices", "What changed for you", "Inventory lookup",
          "Code-update program")
MAINTAINER_PAGES = ("Checks", "Releases", "Release history", "Edit tables", "Claim scrubber rules", "Performance")
HAND_WRITTEN = {"index.md": "Home", "code-update-program.md": "Code-update program",
                "performance.md": "Performance"}  # titles of the hand-written pages this repository ships
FOLD_AT = 10  # a change notice's list of more codes than this is folded by section and family
HCPCS_RANGES_AT = 50  # a folded HCPCS letter section of more codes than this lists them by range (J1500-J1599)
FOLD_DELETED_AT = 30  # deleted codes, what a coder acts on first, stay one open table up to this many


# ---------------------------------------------------------------------------------------------------------
# The data a site is rendered from


@dataclass
class SiteData:
    """Everything the pages show, gathered once. Tests build one by hand."""

    releases: dict[str, list[dict]] = field(default_factory=dict)  # system -> [{id, label, title, rows, billable}]
    change_sets: list = field(default_factory=list)  # ingest.changes.ChangeSet (or its dict form), oldest first
    #                                                  per system
    current: dict[str, Any] = field(default_factory=dict)  # system -> newest release table (DataFrame)
    playbooks: list[dict] = field(default_factory=list)
    inventory_rows: list[dict] | None = None  # None: no inventory given
    inventory_issues: list[dict] = field(default_factory=list)
    inventory_path: str = ""
    checks: dict | None = None  # load_check_results(); None: the checks have not run
    checks_path: str = ""
    engines: Any = None  # fn(system, release id) -> the replacement engine (the repository's); None: built here
    tables: Any = None  # fn(system, release id) -> that release's table (the repository's); None: `current` only
    statuses: list = field(default_factory=list)  # ingest.freshness.ReleaseStatus of every known release
    freshness: list = field(default_factory=list)  # ingest.freshness.Freshness per code set
    publishers_checked: str = ""
    history: Any = None  # ingest.history.ReleaseHistory of every release (the lookup page's index), or a function
    #                      that builds it (called only when the index is built here); None: none
    edit_tables: Any = None  # ingest.edits.EditTables (the lookup page's edit-table facts); None: none
    # the lookup index built elsewhere: its files, or a function that waits for them (playbooks.lookup.start_build,
    # taken once the other pages are rendered); None: built here
    lookup_files: Any = None
    cpt_descriptors: dict[str, str] = field(default_factory=dict)  # ingest.cpt.for_site: {} unless allowed

    def current_releases(self) -> dict[str, dict]:
        return {s: rs[-1] for s, rs in self.releases.items() if rs and s in self.current}


def load_check_results(path: Path) -> dict | None:
    """build/checks/results.json (CheckReport.to_dict(), or a bare list of rows) as {success, rows, checked};
    None when the checks have not run."""
    path = Path(path)
    if not path.exists():
        return None
    return check_results(json.loads(path.read_text(encoding="utf-8")))


def check_results(data) -> dict:
    """CheckReport.to_dict() (or a bare list of rows) as the checks page reads it: {success, rows, checked}."""
    if isinstance(data, list):
        data = {"rows": data}
    rows = list(data.get("rows") or [])
    success = bool(data["success"]) if "success" in data else all(bool(r.get("success")) for r in rows)
    checked = {str(k): v for k, v in (data.get("checked") or {}).items()
               if isinstance(v, (str, int, float, bool)) and v != ""}
    return {"success": success, "rows": rows, "checked": checked}


def gather(repo, *, inventory=None, playbooks: list[dict] | None = None, checks: dict | None = None,
           checks_path: str = "", releases: tuple | None = None) -> SiteData:
    """What the site shows, from data the update already has: every release of the repository
    (ingest.repository.ReleaseRepository) and its memoised change sets, the loaded inventory
    (ingest.inventory.Inventory or None), the loaded playbooks and the check results (or None).
    releases: (statuses, freshness, publishers checked) from ingest.freshness; default computed for today."""
    # the history as a function: built only when the lookup index is built here (not when a second process
    # builds it: playbooks.lookup.start_build)
    data = SiteData(engines=repo.replacements, tables=repo.table, history=repo.history)
    if releases is None and repo.sources is not None:
        import datetime as dt

        from ingest import freshness

        releases = (*freshness.check(repo.sources, repo, dt.date.today()), "")
    if releases is not None:
        data.statuses, data.freshness, data.publishers_checked = releases
    if inventory is not None:
        data.inventory_rows = inventory.rows.to_dict("records")
        data.inventory_issues = list(inventory.issues)
        data.inventory_path = str(inventory.path)
    for system in registry.LOADED:
        ids = repo.ids[system]
        if not ids:
            continue
        listed = []
        for rid in ids:
            manifest = repo.manifest(system, rid) or {}
            label = repo.label(system, rid)
            listed.append({"system": system, "id": rid, "label": label, "title": release_title(system, label),
                           "rows": manifest.get("rows"), "billable": manifest.get("billable")})
        data.releases[system] = listed
        data.current[system] = repo.table(system, ids[-1])
        data.change_sets += repo.change_sets(system, inventory=inventory)
    data.playbooks = list(playbooks or [])
    from ingest import cpt

    data.cpt_descriptors = cpt.for_site(repo.codesets)  # the private file's, only when the setting allows
    data.checks = checks
    data.checks_path = checks_path
    return data


# ---------------------------------------------------------------------------------------------------------
# Pages


def _cited(playbook: dict) -> list[dict]:
    """Every code a playbook lists, codes then modifiers in file order, with its YAML entry.

    (playbooks.load.cited_codes gives the same codes as a table for the checks; the pages need the entries.)
    """
    out = []
    for entry in list(playbook.get("codes") or []) + list(playbook.get("modifiers") or []):
        system = str(entry.get("system", "")).strip().lower()
        raw = str(entry.get("code", "")).strip()
        out.append({"system": system, "code": registry.normalize(system, raw), "display_code": raw, "entry": entry})
    return out


class Site:
    """Renders every page of the generated part of the site from a SiteData."""

    def __init__(self, data: SiteData, env: Environment | None = None):
        self.data = data
        self.env = env or environment()
        self.index = CodeIndex(data.current, data.current_releases(), data.change_sets, data.engines)

    def render(self, template: str, **context) -> str:
        return _tidy(self.env.get_template(template).render(**context))

    # -- playbooks --------------------------------------------------------------------------------------

    def playbook_context(self, pb: dict) -> dict:
        cited = _cited(pb)
        statuses = {(c["system"], c["code"]): self.index.status(c["system"], c["code"], c["display_code"])
                    for c in cited}
        groups: dict[str, list[dict]] = {}
        for c in cited[: len(pb.get("codes") or [])]:
            e = c["entry"]
            st = statuses[(c["system"], c["code"])]
            row = self._code_row(c, e, st, self.data.cpt_descriptors)
            groups.setdefault(str(e.get("group") or "Codes"), []).append(row)
        modifiers = []
        for c in cited[len(pb.get("codes") or []):]:
            e = c["entry"]
            modifiers.append({**self._code_row(c, e, statuses[(c["system"], c["code"])], self.data.cpt_descriptors),
                              "when": e.get("when", ""), "documentation": e.get("documentation", "")})
        warnings, unknown, seen = [], [], set()
        for c in cited:
            key = (c["system"], c["code"])
            if key in seen:
                continue
            seen.add(key)
            st = statuses[key]
            if st["state"] in ("not-billable", "deleted"):
                reps = st["replacements"]
                warnings.append({**st, "replacements": reps[:MAX_LISTED_CHILDREN],
                                 "more": max(0, len(reps) - MAX_LISTED_CHILDREN)})
            elif st["state"] == "unknown":
                unknown.append(st)
        used = sorted({c["system"] for c in cited if c["system"] in self.index.releases},
                      key=SYSTEM_ORDER.index)
        columns = [{"name": name, "rows": rows, "timed": any(r["timed"] for r in rows),
                    "status": any(r["state"] for r in rows), "notes": any(r["notes"] for r in rows)}
                   for name, rows in groups.items()]
        return {"pb": pb, "groups": columns, "modifiers": modifiers,
                "warnings": warnings, "unknown": unknown,
                "sources": [self.index.releases[s] for s in used]}

    @staticmethod
    def _code_row(c: dict, e: dict, st: dict, descriptors: dict | None = None) -> dict:
        if c["system"] == "cpt":  # the playbook's own wording, else the organisation's licensed descriptor
            description, ours = str(e.get("label") or (descriptors or {}).get(c["code"], "")), True
        else:
            description, ours = st["description"], False
        state = {"active": "", "unchecked": "", "no-release": "code set not loaded", "unknown": "not found",
                 "not-billable": "not billable", "deleted": "deleted"}[st["state"]]
        if st["state"] in ("not-billable", "deleted") and st["deleted_in"]:
            state = f"deleted in {st['deleted_in']['label']}"
        return {"display_code": st["display_code"], "system": c["system"], "description": description,
                "ours": ours, "state": state, "notes": str(e.get("notes") or ""),
                "timed": ("yes" if e["timed"] else "no") if "timed" in e else ""}

    def playbook(self, pb: dict) -> str:
        return self.render("playbook.md.j2", **self.playbook_context(pb))

    def playbook_card(self, pb: dict) -> str:
        """The playbook's one-page print card, beside its page: every code and modifier with its descriptor
        and status, the key rules, and what the newest release of each code set changed for its codes."""
        return self.render("playbook_card.md.j2", **self.playbook_context(pb), changes=self.playbook_changes(pb))

    def playbook_changes(self, pb: dict) -> list[str]:
        """What the newest release of each code set the playbook cites changed for its codes, as Markdown
        lines (codes and descriptors escaped): the cited codes it deleted (with their replacements) and
        those whose descriptor it revised, or that it changed none; then cited codes deleted earlier."""
        cited = _cited(pb)
        ctx = self.playbook_context(pb)
        lines: list[str] = []
        newest = {s: r["id"] for s, r in self.index.releases.items()}
        warned = {(w["system"], w["code"]): w for w in ctx["warnings"]}
        for system in sorted({c["system"] for c in cited if c["system"] in newest}, key=SYSTEM_ORDER.index):
            title = self.index.releases[system]["title"]
            cs = next((c for c in self.data.change_sets if c["system"] == system and c["to"] == newest[system]),
                      None)
            if cs is None:
                lines.append(f"{md_cell(title)}: no earlier release loaded to compare with.")
                continue
            mine = {c["code"] for c in cited if c["system"] == system}
            found = []
            for d in cs["deleted"]:
                if d["code"] in mine:
                    reps = [r["display_code"] for r in d.get("replacements") or []]
                    use = (f"use {md_cell(', '.join(reps[:8]))}{' and more' if len(reps) > 8 else ''}"
                           if reps else "no replacement listed")
                    found.append(f"**{md_cell(d['display_code'])}** deleted in {md_cell(title)}: {use}.")
            for code in sorted({r["code"] for r in cs["revised"] if r["code"] in mine}):
                shown = next(r["display_code"] for r in cs["revised"] if r["code"] == code)
                found.append(f"**{md_cell(shown)}** descriptor revised in {md_cell(title)}: check the wording below.")
            lines += found or [f"{md_cell(title)}: no code on this card changed."]
        for (system, _code), w in warned.items():  # still listed, no longer billable since an earlier release
            since = w["deleted_in"]
            if since and since["to"] == newest.get(system):
                continue  # one of the newest release's deletions, above
            what = f"deleted in {md_cell(since['title'])}" if since else \
                f"{md_cell(w['detail'])} in {md_cell(w['release']['title'])}, not billable"
            reps = [r["display_code"] for r in w["replacements"]]
            use = f"use {md_cell(', '.join(reps[:8]))}{' and more' if len(reps) > 8 or w['more'] else ''}" \
                if reps else "no replacement listed"
            lines.append(f"**{md_cell(w['display_code'])}** {what}: {use}.")
        return lines

    def playbooks_index(self) -> str:
        books = []
        for pb in self.data.playbooks:
            ctx = self.playbook_context(pb)
            books.append({"id": pb["id"], "title": pb.get("title", pb["id"]), "specialty": pb.get("specialty", ""),
                          "owner": pb.get("owner", ""), "reviewed": str(pb.get("reviewed", "")),
                          "codes": len(pb.get("codes") or []), "warnings": len(ctx["warnings"])})
        return self.render("playbooks_index.md.j2", books=books)

    # -- notices ---------------------------------------------------------------------------------------

    def notice(self, cs: dict) -> str:
        citing = self._playbooks_citing({(cs["system"], d["code"]) for d in cs["deleted"]})
        return self.render("notice.md.j2", cs=cs, playbooks_citing={code: books for (_, code), books in citing.items()},
                           folds=self.notice_folds(cs), csv_file=f"{notice_name(cs['system'], cs['to'])}.csv")

    def notice_folds(self, cs: dict) -> dict[str, list[dict] | None]:
        """The notice's long lists folded: {list: [section]} for each list longer than FOLD_AT (deleted:
        FOLD_DELETED_AT; None: shown as one table). A section is a chapter of ICD-10-CM or a letter of
        HCPCS, {title, count, entries, families}; a family is an ICD-10-CM category with its header's
        descriptor, or a HCPCS range, each with its own count and entries. ICD-10-CM sections always list
        their categories; a HCPCS section lists its ranges when it holds more than HCPCS_RANGES_AT codes."""
        system = cs["system"]
        lists = {"added": list(cs["added"]), "deleted": list(cs["deleted"]),
                 "revised": merge_revisions(list(cs["revised"])), "expanded": list(cs["expanded"] or [])}
        out: dict[str, list[dict] | None] = {}
        for name, entries in lists.items():
            codes = {e["code"] for e in entries}
            if len(codes) <= (FOLD_DELETED_AT if name == "deleted" else FOLD_AT) or \
                    not registry.REGISTRY[system].sections:
                out[name] = None
                continue
            titles = self._family_titles(system, (cs["to"], cs["from"]), {registry.family(system, c) for c in codes})
            out[name] = fold_by_section(system, entries, titles)
        return out

    def _family_titles(self, system: str, releases: tuple[str, ...], families: set[str]) -> dict[str, str]:
        """ICD-10-CM category -> its header's descriptor, from the first of `releases` that has it (the
        notice's newer release, then the older: a category a release deleted is in the older one)."""
        if system != "icd10cm":
            return {}
        out: dict[str, str] = {}
        for rid in releases:
            table = self.data.tables(system, rid) if self.data.tables is not None else None
            if table is None:
                current = self.data.current_releases().get(system)
                table = self.data.current.get(system) if current is not None else None
            if table is None:
                continue
            rows = table[table["code"].isin(families - set(out))]
            out.update(zip(rows["code"].tolist(), rows["long_desc"].tolist(), strict=True))
        return out

    def notices_index(self) -> str:
        by_system = []
        for system in SYSTEM_ORDER:
            sets = [cs for cs in self.data.change_sets if cs["system"] == system]
            if sets:
                by_system.append((system, sorted(sets, key=lambda c: c["to"], reverse=True)))
        return self.render("notices_index.md.j2", by_system=by_system)

    def _playbooks_citing(self, keys: set[tuple[str, str]]) -> dict[tuple[str, str], list[dict]]:
        """(system, code) -> [{id, title}] of the playbooks that list it."""
        out: dict[tuple[str, str], list[dict]] = {}
        for pb in self.data.playbooks:
            for c in _cited(pb):
                if (c["system"], c["code"]) in keys:
                    books = out.setdefault((c["system"], c["code"]), [])
                    if not any(b["id"] == pb["id"] for b in books):
                        books.append({"id": pb["id"], "title": pb.get("title", pb["id"])})
        return out

    # -- what changed for you ----------------------------------------------------------------------------

    def what_changed(self) -> str:
        specialties: dict[str, list[dict]] = {}
        has_inventory = self.data.inventory_rows is not None
        listed: dict[tuple[str, str], set[str]] = {}  # (system, code) -> the specialties the inventory lists it in
        if has_inventory:
            for r in self.data.inventory_rows:
                specialties.setdefault(r["specialty"] or "(no specialty)", [])
                listed.setdefault((r["system"], r["code"]), set()).add(r["specialty"])
        names_listed = {name for names in listed.values() for name in names}
        newest_first = sorted(self.data.change_sets, key=lambda c: (c["to"], c["system"]), reverse=True)
        for cs in newest_first:
            inv = cs.get("inventory")
            if not inv:
                continue
            per: dict[str, dict[str, list]] = {}

            def add(kind: str, row: dict, names: str, per=per, system=cs["system"]) -> None:
                # names: the specialties joined with ", " (ingest.impact); a specialty's own name may hold a
                # comma ("Neurology, MS clinic"), so the names are the inventory's, never the pieces of a split
                if kind == "new_in_families":  # the specialties of the family's codes, as ingest.impact takes them
                    width = registry.REGISTRY[system].family_width
                    codes = [c for s, c in listed if s == system and c[:width] == row.get("family")]
                else:
                    codes = [row.get("code")]
                own = sorted({name for c in codes for name in listed.get((system, c), ())})
                if own and ", ".join(own) == str(names):
                    found = [name for name in own if name.strip()]
                elif str(names) in names_listed:
                    found = [str(names)]
                else:
                    found = [s.strip() for s in str(names).split(",") if s.strip()]
                for name in found or ["(no specialty)"]:
                    per.setdefault(name, {"deleted": [], "revised": [], "reused": [], "new_in_families": []})
                    per[name][kind].append(row)

            for kind in ("deleted", "revised", "reused"):
                for row in inv.get(kind, []):
                    add(kind, row, row.get("specialty", ""))
            for row in inv.get("new_in_families", []):
                add("new_in_families", row, row.get("specialties", ""))
            for name, changes in per.items():
                replacing = {r["code"] for d in changes["deleted"] for r in d.get("replacements") or []}
                changes["new_in_families"] = [a for a in changes["new_in_families"] if a["code"] not in replacing]
                if any(changes.values()):
                    specialties.setdefault(name, []).append({"cs": cs, **changes})
        citing = self._playbooks_citing({(cs["system"], d["code"]) for cs in self.data.change_sets
                                         for d in (cs.get("inventory") or {}).get("deleted", [])})
        books = {}
        for pb in self.data.playbooks:
            books.setdefault(str(pb.get("specialty", "")).lower(), []).append(
                {"id": pb["id"], "title": pb.get("title", pb["id"])})
        sections = [{"name": name, "anchor": _anchor(name), "changes": changes,
                     "playbooks": books.get(name.lower(), [])}
                    for name, changes in sorted(specialties.items(), key=lambda kv: kv[0].lower())]
        unknown = [(cs, u) for cs in newest_first for u in (cs.get("inventory") or {}).get("unknown", [])]
        return self.render("what_changed.md.j2", has_inventory=has_inventory, sections=sections, citing=citing,
                           unknown=unknown, inventory_path=self.data.inventory_path)

    # -- checks, history, inventory ----------------------------------------------------------------------

    def checks(self) -> str:
        """The Checks page: the verdict, then every failed check with what to do (the suites in the order they
        block: release gates stop the update, then freshness, inventory, playbooks), then what could not be
        checked and the passed checks, folded per suite."""
        from checks.actions import what_to_do
        from checks.report import display_value

        results = self.data.checks
        failed: list[tuple[str, list[dict]]] = []
        suites: list[tuple[str, list[dict]]] = []
        if results is not None:
            order = ["release", "freshness", *[s for s in SUITE_TITLES if s != "release"]]

            def by_suite(rows) -> list[tuple[str, list[dict]]]:
                grouped: dict[str, list[dict]] = {}
                for row in rows:
                    grouped.setdefault(str(row.get("suite", "")), []).append(row)
                return sorted(grouped.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order),
                                                               kv[0]))

            checked = results.get("checked") or {}
            anchors: set[str] = set()
            for suite, rows in by_suite(r for r in results["rows"] if not r.get("success")):
                failed.append((suite, [self._failed_check(r, what_to_do(r, checked), display_value) for r in rows]))
                for c in failed[-1][1]:  # a short, stable anchor per failure (links from elsewhere)
                    anchor = base = "failed-" + _anchor(c["toc"])
                    while anchor in anchors:
                        anchor = f"{base}-{len(anchors)}"
                    anchors.add(anchor)
                    c["anchor"] = anchor
            suites = by_suite(r for r in results["rows"] if r.get("success"))
        return self.render("checks.md.j2", results=results, failed=failed, suites=suites,
                           n_failed=sum(len(rows) for _, rows in failed), checks_path=self.data.checks_path)

    @staticmethod
    def _failed_check(r: dict, action: str, display) -> dict:
        """A failed row as the page shows it: what it checks, on what, the codes with what happened to each
        and their replacements (code lists), else the failing values, and what to do."""
        details = str(r.get("details") or r.get("expectation") or "")
        check, _, found = details.partition("; ")
        row = {"gate": "", "column": "", **r}
        noted = {**(r.get("code_notes") or {}), **(r.get("replacements") or {})}
        codes = []
        for code in [c for c in (r.get("failing_codes") or r.get("failing_sample") or []) if c in noted]:
            listed = (r.get("replacements") or {}).get(code) or []
            shown = [str(x.get("display_code") or x.get("code")) for x in listed[:MAX_LISTED_CHILDREN]]
            more = len(listed) - len(shown)
            codes.append({"code": display(row, code), "what": (r.get("code_notes") or {}).get(code, ""),
                          "replacements": ", ".join(shown) + (f" (+{more} more)" if more > 0 else "")})
        sample = [display(row, v) for v in (r.get("failing_sample") or [])[:10]]
        toc = " · ".join(str(r.get(k) or "") for k in ("target", "gate") if r.get(k))
        return {"row": r, "check": check, "found": found if not codes else "", "codes": codes,
                "toc": re.sub(r"[\"{}\\]", "", toc),
                "sample": sample, "more": max(0, int(r.get("failing_count") or 0) - len(codes or sample)),
                "action": action}

    def history(self) -> str:
        systems = []
        per_system = []
        for system in SYSTEM_ORDER:
            rels = self.data.releases.get(system)
            if not rels:
                continue
            sets = {cs["to"]: cs for cs in self.data.change_sets if cs["system"] == system}
            rows = [{"release": r, "cs": sets.get(r["id"])} for r in rels]
            bars = [{"label": short_label(system, cs["to_label"] or cs["to"]), "added": cs["summary"]["added"],
                     "deleted": cs["summary"]["deleted"], "revised": len(_revised_codes(cs))}
                    for cs in sorted(sets.values(), key=lambda c: c["to"])]
            per_system.append((system, rows, bars))
        # one scale for every code set's chart, so POS "1 added" is drawn 487 times shorter than ICD's 487
        biggest = chart_biggest([b for _, _, bars in per_system for b in bars])
        for system, rows, bars in per_system:
            chart = self.env.get_template("history_chart.svg.j2").render(
                title=f"{release_title(system, '')}: codes added, deleted and revised per release",
                **chart_layout(bars, biggest=biggest)) if bars else ""
            systems.append({"system": system, "rows": rows, "chart": _tidy(chart).strip() if chart else ""})
        return self.render("history.md.j2", systems=systems, biggest=biggest)

    def inventory(self) -> str:
        rows = []
        if self.data.inventory_rows is not None:
            keys = {(r["system"], r["code"]) for r in self.data.inventory_rows}
            citing = self._playbooks_citing(keys)
            labels = self._cpt_labels()
            for r in sorted(self.data.inventory_rows, key=lambda r: (_system_rank(r["system"]), r["code"],
                                                                      r["specialty"])):
                st = self.index.status(r["system"], r["code"], dotted(r["code"], r["system"]))
                rows.append({"row": r, "st": st, "status": _status_text(st),
                             "label": labels.get(r["code"], "") if r["system"] == "cpt" else "",
                             "playbooks": citing.get((r["system"], r["code"]), [])})
        return self.render("inventory.md.j2", has_inventory=self.data.inventory_rows is not None, rows=rows,
                           issues=sorted(self.data.inventory_issues, key=lambda i: (i.get("line") or 0)),
                           current=[self.index.releases[s] for s in SYSTEM_ORDER if s in self.index.releases],
                           inventory_path=self.data.inventory_path)

    def _cpt_labels(self) -> dict[str, str]:
        """CPT code -> the organisation's own wording, from the first playbook that gives one, else its licensed
        descriptor (ingest.cpt, only when CODEGOV_CPT_DESCRIPTORS_ON_SITE=true)."""
        labels: dict[str, str] = {}
        for pb in self.data.playbooks:
            for c in _cited(pb):
                if c["system"] == "cpt" and c["entry"].get("label"):
                    labels.setdefault(c["code"], str(c["entry"]["label"]))
        for code, descriptor in self.data.cpt_descriptors.items():  # the private file's, when allowed on the site
            labels.setdefault(code, descriptor)
        return labels

    # -- releases and freshness --------------------------------------------------------------------------

    def releases(self) -> str:
        """Every known release and the one in force: what `codegov releases` prints."""
        from playbooks.report import freshness_banner, releases_markdown

        d = self.data
        body = releases_markdown(d.statuses, d.freshness, d.publishers_checked, banner=False)
        banner = freshness_banner(d.freshness, d.publishers_checked, style="mkdocs")
        return "\n".join(["# Releases", "", "Every release codegov knows of, and the one in force on "
                          f"{d.freshness[0].on}: `codegov releases` prints the same table.", "", banner, body])

    def home(self) -> str:
        """The home page's block (HOME_FILE, which site_src/index.md includes under its title): a banner when a
        code set is not current, and each code set's newest release and the one in force."""
        from playbooks.report import freshness_banner

        d = self.data
        lines = [freshness_banner(d.freshness, d.publishers_checked, style="mkdocs"),
                 "| Code set | Newest release loaded | In force on " + d.freshness[0].on + " |", "|---|---|---|"]
        for f in d.freshness:
            newest = f"{md_cell(f.newest_label or f.newest)} ({f.newest})" if f.newest else "none"
            force = f"{md_cell(f.in_force_label or f.in_force)} ({f.in_force})" if f.in_force else "none known"
            lines.append(f"| {md_cell(f.name)} | {newest} | {force}{'' if f.ok else ' **not loaded**'} |")
        checked = d.publishers_checked or "not from this build (offline)"
        lines += ["", f"Publishers last checked: {checked}. [All releases](generated/releases.md)."]
        return "\n".join(lines) + "\n"

    # -- everything --------------------------------------------------------------------------------------

    def pages(self) -> dict[str, str]:
        """Relative path under the generated folder -> Markdown (the home page's block always: the home page
        includes it, so it is empty when no freshness data was given). The navigation is playbooks.write's."""
        from playbooks import lookup

        pages: dict[str, str] = {}
        for pb in self.data.playbooks:
            pages[f"playbooks/{pb['id']}.md"] = self.playbook(pb)
            pages[f"playbooks/{pb['id']}-card.md"] = self.playbook_card(pb)
        pages["playbooks/index.md"] = self.playbooks_index()
        for cs in self.data.change_sets:
            pages[f"notices/{notice_name(cs['system'], cs['to'])}.md"] = self.notice(cs)
            pages[f"notices/{notice_name(cs['system'], cs['to'])}.csv"] = notice_csv(cs)
        pages["notices/index.md"] = self.notices_index()
        pages["what-changed.md"] = self.what_changed()
        pages["checks.md"] = self.checks()
        pages["history.md"] = self.history()
        pages["inventory.md"] = self.inventory()
        pages[HOME_FILE] = "\n"
        if self.data.freshness:
            pages["releases.md"] = self.releases()
            pages[HOME_FILE] = self.home()
        # the lookup page last (its index may still be building in a second process), listed first
        history = self.data.history
        if callable(history) and self.data.lookup_files is None:  # the index is built here: it needs the history
            history = history()
        return {**lookup.pages(self, history, self.data.edit_tables, files=self.data.lookup_files), **pages}

    def nav(self) -> list:
        """The sections of the generated pages, paths relative to the generated folder (site_nav orders them
        with the hand-written pages and other stages' sections)."""
        playbooks = [{"Overview": "playbooks/index.md"}]
        playbooks += [{str(pb.get("title", pb["id"])): f"playbooks/{pb['id']}.md"} for pb in self.data.playbooks]
        notices: list = ["notices/index.md"]
        for system in SYSTEM_ORDER:
            sets = sorted((cs for cs in self.data.change_sets if cs["system"] == system),
                          key=lambda c: c["to"], reverse=True)
            if sets:
                notices.append({SYSTEM_SHORT[system]: [
                    {short_label(system, cs["to_label"] or cs["to"]): f"notices/{notice_name(system, cs['to'])}.md"}
                    for cs in sets]})
        return [{"Lookup": "lookup/index.md"}, {"Playbooks": playbooks}, {"Change notices": notices},
                {"What changed for you": "what-changed.md"}, {"Inventory lookup": "inventory.md"},
                {"Checks": "checks.md"}, {"Release history": "history.md"}] + \
            ([{"Releases": "releases.md"}] if self.data.freshness else [])


def site_nav(sections: list[dict], pages, hand_written: dict[str, str] | None = None,
             folder: str = "generated") -> list[dict]:
    """The site's whole navigation, the `nav` of NAV_FILE: Home, the coders' pages (CODERS), then one section
    MAINTAINERS holding MAINTAINER_PAGES.

    sections: [{title: entries}] of the generated pages, paths relative to the generated folder (Site.nav()
    and other stages' sections); pages: every path written in that folder (a LOOKUP_PAGE among them puts a
    "Lookup" entry first among the generated ones, wherever a section listed it); hand_written: {path
    relative to the docs folder: title}; folder: the generated folder's name under the docs folder.
    """
    items: list[tuple[str, Any]] = []
    lookup = f"{folder}/{LOOKUP_PAGE}"
    for section in sections:
        for title, entries in section.items():
            entries = _without(_prefixed(entries, folder), lookup)
            if entries not in (None, []):
                items.append((str(title), entries))
    if LOOKUP_PAGE in set(pages):
        items.insert(0, ("Lookup", lookup))
    generated = len(items)
    items += [(title, path) for path, title in (hand_written or {}).items()]

    def rank(i: int) -> tuple[int, int, int]:
        title = items[i][0]
        if title in CODERS:
            return (0, CODERS.index(title), i)
        if title in MAINTAINER_PAGES:
            return (2, MAINTAINER_PAGES.index(title), i)
        return (1, 0 if i < generated else 1, i)  # not listed: after the coders' pages, generated ones first

    order = sorted(range(len(items)), key=rank)
    nav = [dict([items[i]]) for i in order if rank(i)[0] < 2]
    maintainers = [dict([items[i]]) for i in order if rank(i)[0] == 2]
    return nav + ([{MAINTAINERS: maintainers}] if maintainers else [])


def _prefixed(entries, prefix: str):
    if isinstance(entries, str):
        return f"{prefix}/{entries}"
    if isinstance(entries, list):
        return [_prefixed(e, prefix) for e in entries]
    if isinstance(entries, dict):
        return {k: _prefixed(v, prefix) for k, v in entries.items()}
    return entries


def _without(entries, path: str):
    """The nav entries with every entry for `path` left out (None when nothing is left)."""
    if isinstance(entries, str):
        return None if entries == path else entries
    if isinstance(entries, list):
        kept = [e for e in (_without(e, path) for e in entries) if e is not None]
        return kept if kept or not entries else None
    if isinstance(entries, dict):
        kept = {k: v for k, v in ((k, _without(v, path)) for k, v in entries.items()) if v is not None}
        return kept or None
    return entries


def _system_rank(system: str) -> int:
    return SYSTEM_ORDER.index(system) if system in SYSTEM_ORDER else len(SYSTEM_ORDER)


def _status_text(st: dict) -> str:
    state, release, since = st["state"], st["release"], st["deleted_in"]
    if state == "active":
        return f"billable in {release['label']}"
    if state in ("not-billable", "deleted") and since:
        return f"deleted in {since['label']}"
    if state == "not-billable":
        return f"not billable in {release['label']} ({st['detail']})"
    if state == "unknown":
        return f"not in {release['label']}"
    if state == "unchecked":
        return "not checked (no CPT data)"
    return "no release of this code set loaded"


def _anchor(name: str) -> str:
    """'Office E/M' -> 'office-em', as MkDocs' own heading ids are made."""
    return re.sub(r"[\s-]+", "-", re.sub(r"[^a-z0-9\s-]", "", name.lower())).strip("-") or "section"


def _revised_codes(cs: dict) -> set[str]:
    return {r["code"] for r in cs.get("revised", [])}


def chart_biggest(bars: list[dict]) -> int:
    """The largest count of any bar: the end of the one scale every release history chart shares."""
    return max([max(b["added"], b["deleted"], b["revised"]) for b in bars] + [1])


CHART_MIN_BAR = 2  # px: a count of 1 on a scale that ends at 487 is still drawn, as a sliver beside its number


def chart_layout(bars: list[dict], width: int = 720, biggest: int | None = None) -> dict:
    """Geometry of a horizontal grouped bar chart: one group (added, deleted, revised) per release.

    Linear, on one scale shared by every chart of the page (`biggest`, default this chart's largest
    count): bar lengths compare across code sets. A non-zero count is at least CHART_MIN_BAR wide, and
    every bar has its number beside it, so a small count stays readable without a log scale, which
    would draw 1 as a third of 487 and hide the difference the chart is there to show."""
    label_w, value_w, bar_h, gap, group_gap, top = 130, 56, 16, 3, 18, 34
    biggest = max(biggest or 0, chart_biggest(bars))
    scale = (width - label_w - value_w) / biggest
    groups, y = [], top
    for b in bars:
        items = []
        for i, kind in enumerate(("added", "deleted", "revised")):
            value = b[kind]
            items.append({"kind": kind, "value": value, "y": y + i * (bar_h + gap),
                          "w": max(CHART_MIN_BAR, round(value * scale, 1)) if value else 0})
        groups.append({"label": b["label"], "y": y, "mid": y + (3 * bar_h + 2 * gap) / 2, "bars": items})
        y += 3 * bar_h + 2 * gap + group_gap
    return {"groups": groups, "width": width, "height": y - group_gap + 8, "x0": label_w, "bar_h": bar_h,
            "biggest": biggest}


def fold_by_section(system: str, entries: list, titles: dict[str, str]) -> list[dict]:
    """Entries of one notice list (in code order) grouped by their section of the code set (ICD-10-CM
    chapter, HCPCS letter) and family (ICD-10-CM category with its descriptor from `titles`, HCPCS range),
    each with the number of distinct codes it holds. See Site.notice_folds."""
    sections: dict[tuple, dict] = {}
    for e in entries:
        number, span, heading = registry.section(system, e["code"])
        key = (number, span)
        sec = sections.get(key)
        if sec is None:
            if system == "icd10cm":
                title = f"Chapter {number} ({span}): {heading}" if number else span
            else:
                title = f"{span}: {heading}" if heading else span
            sec = sections[key] = {"title": title, "entries": [], "families": {}}
        sec["entries"].append(e)
        fam = registry.family(system, e["code"])
        sec["families"].setdefault(fam, []).append(e)
    out = []
    for (_, span), sec in sorted(sections.items(), key=lambda kv: (kv[0][0], kv[0][1] == "Modifiers", kv[0][1])):
        count = len({e["code"] for e in sec["entries"]})
        families = []
        if system == "icd10cm" or (count > HCPCS_RANGES_AT and span != "Modifiers"):
            for fam, fam_entries in sec["families"].items():
                if system == "icd10cm":
                    shown = registry.display(system, fam)
                    title = f"{shown}: {titles[fam]}" if titles.get(fam) else shown
                else:
                    title = f"{fam}00-{fam}99"
                families.append({"title": title, "count": len({e["code"] for e in fam_entries}),
                                 "entries": fam_entries})
        out.append({"title": sec["title"], "count": count, "entries": sec["entries"], "families": families})
    return out


NOTICE_CSV_COLUMNS = ("system", "from", "to", "change", "code", "display_code", "description", "field", "before",
                      "after", "reason", "termination_date", "replacements", "kind", "action_code", "chapter",
                      "family")


def notice_csv(cs: dict) -> str:
    """Every change a notice shows, one row per code and change (a revision: per field), for a spreadsheet:
    deleted, added, revised, expanded, header became billable, reused, reactivated, dropped, and the
    ICD-10-CM headers added, deleted and revised. Every cell through playbooks.text.csv_safe."""
    import csv
    import io

    system = cs["system"]
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=NOTICE_CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()

    def row(change: str, e, **cells) -> None:
        number, span, _ = registry.section(system, e["code"])
        chapter = f"{number} ({span})" if number else span
        writer.writerow({k: csv_safe(v) for k, v in {
            "system": system, "from": cs["from"], "to": cs["to"], "change": change, "code": e["code"],
            "display_code": e.get("display_code") or registry.display(system, e["code"]),
            "kind": e.get("kind") or "", "action_code": e.get("action_code") or "", "chapter": chapter,
            "family": registry.family(system, e["code"]) if span else "", **cells}.items()})

    for e in cs["deleted"]:
        row("deleted", e, description=e["description"], reason=e.get("reason") or "",
            termination_date=e.get("termination_date") or "",
            replacements=" ".join(r["display_code"] for r in e.get("replacements") or []))
    for e in cs["added"]:
        row("added", e, description=e["description"])
    for e in cs["revised"]:
        row("revised", e, field=e["field"], before=e["before"], after=e["after"])
    for e in cs["expanded"] or []:
        row("expanded", e, description=e["description"],
            replacements=" ".join(registry.display(system, c) for c in e.get("children") or []))
    for e in cs["header_to_billable"] or []:
        row("header became billable", e, description=e["description"])
    for e in cs["reused"] or []:
        row("reused", e, field="long_desc", before=f"{e['before']['description']} (added {e['before']['add_date']})",
            after=f"{e['after']['description']} (added {e['after']['add_date']})")
    for e in cs["reactivated"] or []:
        row("reactivated", e, description=e["description"])
    for e in cs["purged"] or []:
        row("dropped from the file", e, description=e["description"],
            termination_date=e.get("termination_date") or "")
    headers = cs["headers"] or {}
    for e in headers.get("added", []):
        row("header added", e, description=e["description"], kind="header")
    for e in headers.get("deleted", []):
        row("header deleted", e, description=e["description"], kind="header")
    for e in headers.get("revised", []):
        row("header revised", e, field=e["field"], before=e["before"], after=e["after"], kind="header")
    return buf.getvalue()
