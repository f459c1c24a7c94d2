"""Code status in a release: billable, not billable (a header, discontinued), deleted or unknown, and why.

`CodeIndex.status(system, code)` is the one answer the site's playbook and inventory pages, the checks and
the consistency test read: the official descriptor, whether the code is billable in the release asked
about (by default each code set's newest), and if not, the release that deleted it (from the change sets)
and its replacements from the replacement engine (ingest.replacements). Date-of-service answers come
from ingest.history, which uses the same engine.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ingest import systems as registry
from ingest.replacements import ReleaseReplacements

STATES = ("active", "not-billable", "deleted", "unknown", "unchecked", "no-release")
HEADER_CHILDREN = "billable code under it"  # the source named for a header's children


class CodeIndex:
    """One release per code set (`current`: {system: release table}; `releases`: {system: {id, label,
    title}}), and where each deleted code went according to `change_sets` (ingest.changes.ChangeSet, or its
    dict form).
    engines: fn(system, release id) -> ReleaseReplacements (a ReleaseRepository's, with conversion tables);
    default: an engine built on each current table."""

    def __init__(self, current: dict[str, Any], releases: dict[str, dict], change_sets: list,
                 engines: Callable[[str, str], ReleaseReplacements] | None = None):
        self.releases = releases
        self._engines: dict[str, ReleaseReplacements] = {}
        for system, table in current.items():
            rid = (releases.get(system) or {}).get("id", "")
            self._engines[system] = engines(system, rid) if engines is not None else \
                ReleaseReplacements(system, table)
        self._deleted: dict[tuple[str, str], tuple[Any, dict]] = {}
        for cs in sorted(change_sets, key=lambda c: c["to"]):  # ChangeSet reads as its dict form
            system = cs["system"]
            for d in cs["deleted"]:
                self._deleted[(system, d["code"])] = (cs, d)
            for p in cs.get("purged") or []:
                self._deleted.setdefault((system, p["code"]), (cs, {**p, "reason": "purged", "replacements": []}))

    def engine(self, system: str) -> ReleaseReplacements | None:
        return self._engines.get(system)

    def describe(self, system: str, code: str) -> tuple[str, str]:
        """(display code, descriptor) from the current release; ('', '') when absent."""
        engine = self._engines.get(system)
        if engine is None or engine.position(code) < 0:
            return "", ""
        return engine.describe(code)

    def children(self, system: str, code: str) -> list[dict]:
        """Billable codes that extend code (an ICD-10-CM header's codes), from the current release."""
        engine = self._engines.get(system)
        if engine is None:
            return []
        out = []
        for c in engine.children(code):
            disp, desc = engine.describe(c)
            out.append({"code": c, "display_code": disp, "description": desc, "source": HEADER_CHILDREN,
                        "kind": "children"})
        return out

    def deleted_in(self, system: str, code: str) -> tuple[dict | None, dict | None]:
        """(where: {system, to, label, ...}, the change-set entry) of the newest change set that deleted code."""
        hit = self._deleted.get((system, code))
        if not hit:
            return None, None
        cs, entry = hit
        to = cs["to"]
        label = cs.get("to_label") or to
        return ({"system": system, "to": to, "label": label, "title": registry.release_title(system, label),
                 "effective": cs.get("effective") or to, "notice": registry.notice_name(system, to),
                 "reason": entry.get("reason", "deleted"), "termination_date": entry.get("termination_date", "")},
                entry)

    def status(self, system: str, code: str, display: str = "") -> dict:
        """State: active | not-billable | deleted | unknown | unchecked (CPT) | no-release."""
        code = registry.normalize(system, code)
        base = {"system": system, "code": code, "display_code": display or code, "description": "",
                "state": "unchecked", "replacements": [], "deleted_in": None, "release": None, "detail": ""}
        if system not in registry.LOADED:
            return base
        engine = self._engines.get(system)
        if engine is None:
            return {**base, "state": "no-release"}
        base["release"] = self.releases[system]
        deleted_in, entry = self.deleted_in(system, code)
        row = engine.row(code)
        if row is not None:
            disp, desc = engine.describe(code)
            base.update(display_code=disp, description=desc)
            if row["billable"]:
                return {**base, "state": "active"}
            replacements = engine.for_code(code, children_label=HEADER_CHILDREN)
            is_header = registry.REGISTRY[system].headers
            detail = "header" if is_header else "discontinued"
            termination = row.get("termination_date", "")
            if termination and not (deleted_in and deleted_in["termination_date"]):
                detail = f"{detail}, terminated {termination}"
            return {**base, "state": "not-billable", "replacements": replacements, "deleted_in": deleted_in,
                    "detail": detail}
        if entry is not None:
            return {**base, "display_code": entry.get("display_code") or base["display_code"],
                    "description": entry.get("description", ""), "state": "deleted",
                    "replacements": list(entry.get("replacements") or []), "deleted_in": deleted_in}
        return {**base, "state": "unknown"}
