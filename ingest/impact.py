"""Inventory impact: which of the organisation's billed codes a change set deletes, revises or reuses."""

from __future__ import annotations

import pandas as pd

from ingest.changes import Affected, ChangeSet, InventoryImpact
from ingest.inventory import Inventory
from ingest.systems import REGISTRY


def inventory_impact(cs: ChangeSet, inventory: Inventory, new: pd.DataFrame, old: pd.DataFrame) -> InventoryImpact:
    """The change set seen from the inventory: what a billing team has to act on, sorted by code."""
    rows = inventory.codes(cs.system)
    by_code: dict[str, list[dict]] = {}
    for r in rows.to_dict("records"):
        by_code.setdefault(r["code"], []).append(r)
    specialties = {c: sorted({r["specialty"] for r in rs}) for c, rs in by_code.items()}

    def who(code: str) -> dict:
        rs = by_code[code]
        return {"system": cs.system, "specialty": ", ".join(specialties[code]),
                "service_line": ", ".join(sorted({r["service_line"] for r in rs if r["service_line"]})),
                "owner": ", ".join(sorted({r["owner"] for r in rs}))}

    deleted = [Affected(d, **who(d.code), effective=cs.to_release) for d in cs.deleted if d.code in by_code]
    revised = [Affected(r, **who(r.code)) for r in cs.revised if r.code in by_code]
    reused = [Affected(r, **who(r.code)) for r in cs.reused if r.code in by_code]
    width = REGISTRY[cs.system].family_width  # the ICD-10-CM category, the HCPCS range (E01xx), the POS code
    families: dict[str, set[str]] = {}
    for code in by_code:
        families.setdefault(code[:width], set()).update(specialties[code])
    new_in_families = [Affected(a, family=a.code[:width], specialties=", ".join(sorted(families[a.code[:width]])))
                       for a in cs.added if a.code[:width] in families and a.code not in by_code]
    billed = list(by_code)  # only the inventory's codes are looked up in the two tables (not 98,000 of each)
    known = set(new["code"][new["code"].isin(billed)]) | set(old["code"][old["code"].isin(billed)])
    unknown = [Affected(code=c, **who(c)) for c in sorted(by_code) if c not in known]
    issues = [i for i in inventory.issues if i["system"] in (cs.system, "")] if cs.system else inventory.issues
    return InventoryImpact(deleted, revised, reused, new_in_families, unknown, issues)
