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
from playbooks.hook import HOME_FILE
from playbooks.text import (
    MAX_LISTED_CHILDREN,
    SUITE_TITLES,
    SYSTEM_ORDER,
    SYSTEM_SHORT,
    _tidy,
    dotted,
    environment,
    md_cell,
    notice_name,
    release_title,
    short_label,
)

NAV_FILE = ".nav.json"  # the generated part of the navigation (dot files are not copied to the site)


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
    statuses: list = field(default_factory=list)  # ingest.freshness.ReleaseStatus of every known release
    freshness: list = field(default_factory=list)  # ingest.freshness.Freshness per code set
    publishers_checked: str = ""
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
    data = SiteData(engines=repo.replacements)
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
        return self.render("notice.md.j2", cs=cs, playbooks_citing={code: books for (_, code), books in citing.items()})

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
        results = self.data.checks
        suites: list[tuple[str, list[dict]]] = []
        if results is not None:
            grouped: dict[str, list[dict]] = {}
            for row in results["rows"]:
                grouped.setdefault(str(row.get("suite", "")), []).append(row)
            order = list(SUITE_TITLES)
            suites = sorted(grouped.items(), key=lambda kv: (order.index(kv[0]) if kv[0] in order else len(order),
                                                             kv[0]))
        return self.render("checks.md.j2", results=results, suites=suites, checks_path=self.data.checks_path)

    def history(self) -> str:
        systems = []
        for system in SYSTEM_ORDER:
            rels = self.data.releases.get(system)
            if not rels:
                continue
            sets = {cs["to"]: cs for cs in self.data.change_sets if cs["system"] == system}
            rows = [{"release": r, "cs": sets.get(r["id"])} for r in rels]
            bars = [{"label": short_label(system, cs["to_label"] or cs["to"]), "added": cs["summary"]["added"],
                     "deleted": cs["summary"]["deleted"], "revised": len(_revised_codes(cs))}
                    for cs in sorted(sets.values(), key=lambda c: c["to"])]
            chart = self.env.get_template("history_chart.svg.j2").render(
                title=f"{release_title(system, '')}: codes added, deleted and revised per release",
                **chart_layout(bars)) if bars else ""
            systems.append({"system": system, "rows": rows, "chart": _tidy(chart).strip() if chart else ""})
        return self.render("history.md.j2", systems=systems)

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
        """The home page's block (playbooks.hook puts it under the title): a banner when a code set is not
        current, and each code set's newest release and the one in force."""
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
        """Relative path under the generated folder -> Markdown, plus the navigation file."""
        pages: dict[str, str] = {}
        for pb in self.data.playbooks:
            pages[f"playbooks/{pb['id']}.md"] = self.playbook(pb)
        pages["playbooks/index.md"] = self.playbooks_index()
        for cs in self.data.change_sets:
            pages[f"notices/{notice_name(cs['system'], cs['to'])}.md"] = self.notice(cs)
        pages["notices/index.md"] = self.notices_index()
        pages["what-changed.md"] = self.what_changed()
        pages["checks.md"] = self.checks()
        pages["history.md"] = self.history()
        pages["inventory.md"] = self.inventory()
        if self.data.freshness:
            pages["releases.md"] = self.releases()
            pages[HOME_FILE] = self.home()
        pages[NAV_FILE] = json.dumps(self.nav(), indent=2, ensure_ascii=False) + "\n"
        return pages

    def nav(self) -> list:
        """The generated part of the MkDocs nav, paths relative to the generated folder."""
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
        return [{"Playbooks": playbooks}, {"Change notices": notices},
                {"What changed for you": "what-changed.md"}, {"Checks": "checks.md"},
                {"Release history": "history.md"}, {"Inventory lookup": "inventory.md"}] + \
            ([{"Releases": "releases.md"}] if self.data.freshness else [])


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


def chart_layout(bars: list[dict], width: int = 720) -> dict:
    """Geometry of a horizontal grouped bar chart: one group (added, deleted, revised) per release."""
    label_w, value_w, bar_h, gap, group_gap, top = 130, 56, 16, 3, 18, 34
    biggest = max([max(b["added"], b["deleted"], b["revised"]) for b in bars] + [1])
    scale = (width - label_w - value_w) / biggest
    groups, y = [], top
    for b in bars:
        items = []
        for i, kind in enumerate(("added", "deleted", "revised")):
            value = b[kind]
            items.append({"kind": kind, "value": value, "y": y + i * (bar_h + gap),
                          "w": round(value * scale, 1) if value else 0})
        groups.append({"label": b["label"], "y": y, "mid": y + (3 * bar_h + 2 * gap) / 2, "bars": items})
        y += 3 * bar_h + 2 * gap + group_gap
    return {"groups": groups, "width": width, "height": y - group_gap + 8, "x0": label_w, "bar_h": bar_h}

