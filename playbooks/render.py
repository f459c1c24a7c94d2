"""Site renderer: release tables, change sets, playbooks, inventory and check results as MkDocs pages.

`render_site()` gathers the data once, renders every page from the Jinja templates in
playbooks/templates (StrictUndefined: a missing variable is an error, never an empty string) and
writes them under site_src/generated, atomically and only when the bytes change, so a rerun on the
same data touches no file. Pages it no longer produces are deleted.

The module is also the MkDocs hook named in mkdocs.yml: `on_config` appends the generated pages to the
navigation from generated/.nav.json. Only the standard library and Jinja are imported at the top, so
loading the hook costs nothing; pandas and the ingest stages are imported where they are used.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

TEMPLATES = Path(__file__).resolve().parent / "templates"
GENERATED = "generated"  # the folder under the MkDocs docs_dir that render owns
MARKER = ".codegov-generated"  # marks a folder as render's, so stale pages may be deleted from it
NAV_FILE = ".nav.json"  # the generated part of the navigation (dot files are not copied to the site)

SYSTEM_SHORT = {"icd10cm": "ICD-10-CM", "hcpcs": "HCPCS", "pos": "POS", "cpt": "CPT"}
SYSTEM_ORDER = ("icd10cm", "hcpcs", "pos", "cpt")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
REASONS = {  # why a code left, as the end of "in <release> it ..."
    "expanded": "became a header with new, more specific codes",
    "deleted": "was deleted",
    "discontinued": "was discontinued",
    "vanished": "was removed from the file without a termination date",
    "purged": "was dropped from the file after its termination date",
}
HCPCS_ACTIONS = {
    "A": "added",
    "B": "administrative data and long description changed",
    "C": "long description changed",
    "D": "discontinued",
    "F": "administrative data changed",
    "N": "no maintenance",
    "P": "payment change",
    "R": "reactivated",
    "S": "short description changed",
    "T": "miscellaneous change (BETOS, type of service)",
}
HCPCS_COVERAGE = {"C": "carrier judgment", "D": "special coverage instructions apply", "I": "not payable by Medicare",
                  "M": "non-covered by Medicare", "S": "non-covered by Medicare statute"}
SUITE_TITLES = {"release": "Release tables", "inventory": "Inventory", "playbooks": "Playbooks"}  # data-flow order
MAX_LISTED_CHILDREN = 30  # a playbook warning lists at most this many replacement codes

# ---------------------------------------------------------------------------------------------------------
# Escaping and formatting filters

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|])")


def md_cell(value: Any) -> str:
    """Plain text made safe for a Markdown table cell or an inline run of text.

    HTML-significant characters become entities, Markdown punctuation that could start emphasis, a
    link, an attribute list or a code span is backslash-escaped, `|` cannot end the cell, and line
    breaks become spaces.
    """
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = " ".join(text.split())
    return _MD_SPECIAL.sub(r"\\\1", text)


def long_date(iso: str) -> str:
    """2025-10-01 -> October 1, 2025 (the same in every locale)."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(iso or ""))
    if not m:
        return str(iso or "")
    year, month, day = (int(g) for g in m.groups())
    return f"{MONTHS[month - 1]} {day}, {year}"


def release_title(system: str, label: str) -> str:
    """'ICD-10-CM FY2026', 'HCPCS Level II 2019', 'Place of Service August 2024'."""
    from_names = {"icd10cm": "ICD-10-CM", "hcpcs": "HCPCS Level II", "pos": "Place of Service"}
    name = from_names.get(system, system)
    short = SYSTEM_SHORT.get(system, system)
    if label.startswith(short + " "):
        label = label[len(short) + 1:]
    return f"{name} {label}".strip()


def short_label(system: str, label: str) -> str:
    short = SYSTEM_SHORT.get(system, system)
    return label[len(short) + 1:] if label.startswith(short + " ") else label


def notice_name(system: str, to_id: str) -> str:
    return f"{system}-{to_id}"


def environment() -> Environment:
    """The Jinja environment: strict about missing variables; HTML and SVG templates autoescaped."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=select_autoescape(("html", "htm", "xml", "svg", "html.j2", "xml.j2", "svg.j2"),
                                     default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = md_cell
    env.filters["long_date"] = long_date
    env.filters["dotted"] = dotted
    env.filters["merge_revisions"] = merge_revisions
    env.filters.update(ROW_FILTERS)
    env.tests["cpt"] = lambda code: bool(_CPT.fullmatch(str(code)))
    env.globals.update(SYSTEM_SHORT=SYSTEM_SHORT, REASONS=REASONS, HCPCS_ACTIONS=HCPCS_ACTIONS,
                       HCPCS_COVERAGE=HCPCS_COVERAGE, SUITE_TITLES=SUITE_TITLES, release_title=release_title,
                       short_label=short_label, notice_name=notice_name)
    return env


_CPT = re.compile(r"\d{4}[0-9FTU]")
FIELD_NAMES = {"long_desc": "long descriptor", "short_desc": "short descriptor", "coverage": "Medicare coverage"}


def dotted(code: str, system: str = "icd10cm") -> str:
    """ICD-10-CM display form (a dot after the third character); other code sets unchanged."""
    code = str(code)
    return f"{code[:3]}.{code[3:]}" if system == "icd10cm" and len(code) > 3 and "." not in code else code


def _coverage(value: str) -> str:
    return f"{value} ({HCPCS_COVERAGE[value]})" if value in HCPCS_COVERAGE else value


def _revision(e: dict) -> list[str]:
    field_name = e["field"]
    before, after = e["before"], e["after"]
    if field_name == "coverage":
        before, after = _coverage(before), _coverage(after)
    names = [FIELD_NAMES.get(f, f) for f in field_name.split("+")]
    what = " and ".join(n.replace(" descriptor", "") for n in names) + " descriptor" if len(names) > 1 else names[0]
    return [e["display_code"], what, before, after]


def merge_revisions(revised: list[dict]) -> list[dict]:
    """One row per code and change: a long and a short descriptor revised to the same text are one row."""
    out: list[dict] = []
    for e in revised:
        prev = out[-1] if out else None
        if prev and prev["code"] == e["code"] and (prev["before"], prev["after"]) == (e["before"], e["after"]):
            prev["field"] = f"{prev['field']}+{e['field']}"
        else:
            out.append(dict(e))
    return out


# Table rows for the templates' table() macro: lists of plain text, escaped by the macro.
ROW_FILTERS = {
    "row_added": lambda e: [e["display_code"], e["description"]],
    "row_hcpcs_added": lambda e: [e["display_code"], e["description"], e.get("kind", ""),
                                  f"{e['action_code']} ({HCPCS_ACTIONS[e['action_code']]})"
                                  if e.get("action_code") in HCPCS_ACTIONS else e.get("action_code", "")],
    "row_revised": _revision,
    "row_revised_owner": lambda e: [*_revision(e), e.get("owner", "")],
    "row_reused": lambda e: [e.get("display_code") or e["code"],
                             f"{e['before']['description']} (added {e['before']['add_date']})",
                             f"{e['after']['description']} (added {e['after']['add_date']})"],
    "row_reused_owner": lambda e: [e.get("display_code") or e["code"],
                                   f"{e['before']['description']} (added {e['before']['add_date']})",
                                   f"{e['after']['description']} (added {e['after']['add_date']})",
                                   e.get("owner", "")],
    "row_purged": lambda e: [e["display_code"], e["description"], e.get("termination_date", "")],
    "row_family": lambda e: [e["display_code"], e["description"], e.get("family", "")],
}


def _tidy(text: str) -> str:
    """At most one blank line in a row and exactly one newline at the end."""
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"


# ---------------------------------------------------------------------------------------------------------
# Code status in the current release


def official_code(system: str, code: str) -> str:
    code = str(code).strip()
    if system == "icd10cm":
        return code.upper().replace(".", "")
    if system == "hcpcs":
        return code.upper()
    if system == "pos" and code.isdigit():
        return code.zfill(2)
    return code


class CodeIndex:
    """The newest release of each code set, and where each deleted code went.

    `status(system, code)` answers what a playbook or an inventory line needs: the official descriptor,
    whether the code is billable in the current release, and if not, why and what replaces it.
    """

    def __init__(self, current: dict[str, Any], releases: dict[str, dict], change_sets: list[dict]):
        self.releases = releases  # system -> {id, label, title} of the current release
        self._rows: dict[str, dict[str, tuple]] = {}
        self._billable: dict[str, list[str]] = {}
        for system, t in current.items():
            # numpy object arrays: iterating them is much faster than iterating Arrow-backed columns
            codes = t["code"].to_numpy(dtype=object)
            cols = [t[c].to_numpy(dtype=object) for c in ("display_code", "long_desc", "billable", "status", "kind",
                                                           "xrefs", "termination_date")]
            self._rows[system] = dict(zip(codes, zip(*cols, strict=True), strict=True))
            self._billable[system] = sorted(codes[cols[2] == "1"])
        self._deleted: dict[tuple[str, str], tuple[dict, dict]] = {}
        for cs in sorted(change_sets, key=lambda c: c["to"]):
            for d in cs["deleted"]:
                self._deleted[(cs["system"], d["code"])] = (cs, d)
            for p in cs.get("purged", []):
                self._deleted.setdefault((cs["system"], p["code"]), (cs, {**p, "reason": "purged", "replacements": []}))

    def describe(self, system: str, code: str) -> tuple[str, str]:
        """(display code, descriptor) from the current release; ('', '') when absent."""
        row = self._rows.get(system, {}).get(code)
        return (row[0], row[1]) if row else ("", "")

    def children(self, system: str, code: str) -> list[dict]:
        """Billable codes that extend code (an ICD-10-CM header's codes), from the current release."""
        codes = self._billable.get(system, [])
        start = bisect.bisect_left(codes, code)
        out = []
        for c in codes[start:]:
            if not c.startswith(code):
                break
            if c != code:
                disp, desc = self.describe(system, c)
                out.append({"code": c, "display_code": disp, "description": desc, "source": "billable code under it"})
        return out

    def status(self, system: str, code: str, display: str = "") -> dict:
        """State: active | not-billable | deleted | unknown | unchecked (CPT) | no-release."""
        code = official_code(system, code)
        base = {"system": system, "code": code, "display_code": display or code, "description": "",
                "state": "unchecked", "replacements": [], "deleted_in": None, "release": None, "detail": ""}
        if system == "cpt":
            return base
        if system not in self._rows:
            return {**base, "state": "no-release"}
        release = self.releases[system]
        base["release"] = release
        row = self._rows[system].get(code)
        hit = self._deleted.get((system, code))
        deleted_in = None
        if hit:
            cs, entry = hit
            deleted_in = {"system": system, "to": cs["to"], "label": cs["to_label"] or cs["to"],
                          "title": release_title(system, cs["to_label"] or cs["to"]), "effective": cs["effective"],
                          "notice": notice_name(system, cs["to"]), "reason": entry.get("reason", "deleted"),
                          "termination_date": entry.get("termination_date", "")}
        if row is not None:
            disp, desc, billable, status, kind, xrefs, termination = row
            base.update(display_code=disp, description=desc)
            if billable == "1":
                return {**base, "state": "active"}
            if hit:
                replacements = list(hit[1].get("replacements") or [])
            elif system == "icd10cm":
                replacements = self.children(system, code)
            else:
                replacements = [self._ref(system, x, "HCPCS XREF") for x in xrefs.split()]
            detail = "header" if status == "header" or kind == "header" else status
            if termination and not (deleted_in and deleted_in["termination_date"]):
                detail = f"{detail}, terminated {termination}"
            return {**base, "state": "not-billable", "replacements": replacements, "deleted_in": deleted_in,
                    "detail": detail}
        if hit:
            entry = hit[1]
            return {**base, "display_code": entry.get("display_code") or base["display_code"],
                    "description": entry.get("description", ""), "state": "deleted",
                    "replacements": list(entry.get("replacements") or []), "deleted_in": deleted_in}
        return {**base, "state": "unknown"}

    def _ref(self, system: str, code: str, source: str) -> dict:
        disp, desc = self.describe(system, code)
        return {"code": code, "display_code": disp or code, "description": desc, "source": source}


# ---------------------------------------------------------------------------------------------------------
# The data a site is rendered from


@dataclass
class SiteData:
    """Everything the pages show, gathered once. Tests build one by hand."""

    releases: dict[str, list[dict]] = field(default_factory=dict)  # system -> [{id, label, title, rows, billable}]
    change_sets: list[dict] = field(default_factory=list)  # ChangeSet.to_dict(), oldest first per system
    current: dict[str, Any] = field(default_factory=dict)  # system -> newest release table (DataFrame)
    playbooks: list[dict] = field(default_factory=list)
    inventory_rows: list[dict] | None = None  # None: no inventory given
    inventory_issues: list[dict] = field(default_factory=list)
    inventory_path: str = ""
    checks: dict | None = None  # load_check_results(); None: the checks have not run
    checks_path: str = ""

    def current_releases(self) -> dict[str, dict]:
        return {s: rs[-1] for s, rs in self.releases.items() if rs and s in self.current}


def load_playbook_files(folder: Path) -> list[dict]:
    """The playbooks, parsed and validated by playbooks.load (a schema error is one CodegovError)."""
    from playbooks.load import load_playbooks

    return load_playbooks(Path(folder))


def load_check_results(path: Path) -> dict | None:
    """build/checks/results.json (CheckReport.to_dict(), or a bare list of rows) as {success, rows, checked};
    None when the checks have not run."""
    path = Path(path)
    if not path.exists():
        return None
    data = json.loads(path.read_text(encoding="utf-8"))
    if isinstance(data, list):
        data = {"rows": data}
    rows = list(data.get("rows") or [])
    success = bool(data["success"]) if "success" in data else all(bool(r.get("success")) for r in rows)
    checked = {str(k): v for k, v in (data.get("checked") or {}).items()
               if isinstance(v, (str, int, float, bool)) and v != ""}
    return {"success": success, "rows": rows, "checked": checked}


def gather(codesets: Path, *, releases: Path | None = None, playbooks_dir: Path = Path("playbooks"),
           checks: Path | None = None, inventory: Path | None = None) -> SiteData:
    """Read what the site shows: every ingested release, the change set between each pair of neighbours."""
    from ingest.diff import load_change_set
    from ingest.model import SYSTEMS, CodegovError
    from ingest.sources import load_sources
    from ingest.store import list_releases, read_manifest, read_release, releases_dir

    codesets = Path(codesets)
    out = Path(releases) if releases else releases_dir(codesets)
    sources = load_sources(codesets)
    data = SiteData()
    inv = None
    if inventory is not None:
        from ingest.inventory import load_inventory

        inv = load_inventory(inventory)
        data.inventory_rows = inv.rows.to_dict("records")
        data.inventory_issues = list(inv.issues)
        data.inventory_path = str(inventory)
    for system in SYSTEMS:
        labels = {r.id: r.label for r in sources.releases(system)}
        ids = [r for r in list_releases(out, system) if re.fullmatch(r"\d{4}-\d{2}-\d{2}", r)]
        if not ids:
            continue
        listed = []
        for rid in ids:
            manifest = read_manifest(out, system, rid) or {}
            label = labels.get(rid) or manifest.get("label") or rid
            listed.append({"system": system, "id": rid, "label": label, "title": release_title(system, label),
                           "rows": manifest.get("rows"), "billable": manifest.get("billable")})
        data.releases[system] = listed
        data.current[system] = read_release(out, system, ids[-1])
        for old, new in zip(ids, ids[1:], strict=False):
            try:
                cs = load_change_set(codesets, system, old, new, inventory=inv, out=out)
            except CodegovError as exc:
                raise CodegovError(f"{system} {old} -> {new}: {exc}") from None
            data.change_sets.append(cs.to_dict())
    data.playbooks = load_playbook_files(playbooks_dir)
    if checks is not None:
        data.checks = load_check_results(checks)
        data.checks_path = str(checks)
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
        out.append({"system": system, "code": official_code(system, raw), "display_code": raw, "entry": entry})
    return out


class Site:
    """Renders every page of the generated part of the site from a SiteData."""

    def __init__(self, data: SiteData, env: Environment | None = None):
        self.data = data
        self.env = env or environment()
        self.index = CodeIndex(data.current, data.current_releases(), data.change_sets)

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
            groups.setdefault(str(e.get("group") or "Codes"), []).append(self._code_row(c, e, st))
        modifiers = []
        for c in cited[len(pb.get("codes") or []):]:
            e = c["entry"]
            modifiers.append({**self._code_row(c, e, statuses[(c["system"], c["code"])]),
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
    def _code_row(c: dict, e: dict, st: dict) -> dict:
        if c["system"] == "cpt":
            description, ours = str(e.get("label") or ""), True
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
        if has_inventory:
            for r in self.data.inventory_rows:
                specialties.setdefault(r["specialty"] or "(no specialty)", [])
        newest_first = sorted(self.data.change_sets, key=lambda c: (c["to"], c["system"]), reverse=True)
        for cs in newest_first:
            inv = cs.get("inventory")
            if not inv:
                continue
            per: dict[str, dict[str, list]] = {}

            def add(kind: str, row: dict, names: str, per=per) -> None:
                for name in [s.strip() for s in str(names).split(",") if s.strip()] or ["(no specialty)"]:
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
        """CPT code -> the organisation's own wording, from the first playbook that gives one."""
        labels: dict[str, str] = {}
        for pb in self.data.playbooks:
            for c in _cited(pb):
                if c["system"] == "cpt" and c["entry"].get("label"):
                    labels.setdefault(c["code"], str(c["entry"]["label"]))
        return labels

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
                {"Release history": "history.md"}, {"Inventory lookup": "inventory.md"}]


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


# ---------------------------------------------------------------------------------------------------------
# Writing


@dataclass
class RenderResult:
    written: list[Path] = field(default_factory=list)
    unchanged: list[Path] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)


def write_pages(pages: dict[str, str], out: Path) -> RenderResult:
    """Write each page atomically when its bytes change; delete files render wrote before and no longer makes."""
    from ingest.model import CodegovError
    from ingest.store import atomic_write

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise CodegovError(f"{out}: not a folder codegov render created (no {MARKER} in it); "
                           f"choose an empty or new folder for --out")
    result = RenderResult()
    atomic_write(out / MARKER, b"Generated by `codegov render`: every file here is rewritten or deleted.\n")
    for rel, text in sorted(pages.items()):
        path = out / rel
        (result.written if atomic_write(path, text.encode("utf-8")) else result.unchanged).append(path)
    keep = {out / rel for rel in pages} | {out / MARKER}
    for path in sorted(p for p in out.rglob("*") if p.is_file() and p not in keep):
        path.unlink()
        result.removed.append(path)
    for folder in sorted((p for p in out.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return result


def render_site(codesets: Path, out: Path, *, releases: Path | None = None, playbooks_dir: Path = Path("playbooks"),
                checks: Path | None = None, inventory: Path | None = None,
                extra: dict[str, tuple[dict[str, str], list]] | None = None) -> RenderResult:
    """Gather the data, render every page and write the generated folder.

    extra: pages other stages make from their own metadata, as {nav title: ({path: markdown}, nav entries)},
    written and listed in the nav like the rest (the CLI passes the claim scrubber's rule pages).
    """
    data = gather(codesets, releases=releases, playbooks_dir=playbooks_dir, checks=checks, inventory=inventory)
    site = Site(data)
    pages = site.pages()
    if extra:
        nav = json.loads(pages[NAV_FILE])
        for title, (more, entries) in extra.items():
            pages.update(more)
            nav.append({title: entries})
        pages[NAV_FILE] = json.dumps(nav, indent=2, ensure_ascii=False) + "\n"
    return write_pages(pages, out)


# ---------------------------------------------------------------------------------------------------------
# MkDocs hook


def _prefixed(entries, prefix: str):
    if isinstance(entries, str):
        return f"{prefix}/{entries}"
    if isinstance(entries, list):
        return [_prefixed(e, prefix) for e in entries]
    if isinstance(entries, dict):
        return {k: _prefixed(v, prefix) for k, v in entries.items()}
    return entries


def on_config(config, **kwargs):
    """Append the generated pages to the nav written in mkdocs.yml (they change with the data)."""
    nav_file = Path(config["docs_dir"]) / GENERATED / NAV_FILE
    if nav_file.exists():
        generated = json.loads(nav_file.read_text(encoding="utf-8"))
        config["nav"] = list(config["nav"] or []) + _prefixed(generated, GENERATED)
    return config
