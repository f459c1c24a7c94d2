"""The replacement engine: what to bill instead of a code that is deleted, discontinued or not billable.

One answer per code for every stage (diff, lookup, checks, site, PR body). The rules, in order:
- children: the billable codes of the release that extend the code (an ICD-10-CM code that became a
  header, or a header a playbook cites);
- conversion: the release's official ICD-10-CM conversion table (previous code -> current codes, ranges);
- xref: the HCPCS Level II XREF fields of the code's row;
- successor: when a discontinued HCPCS row has no XREF, the billable codes with the same short descriptor
  added the day after its termination date (K0903 -> A5514 in 2019).
Each replacement is a dict {code, display_code, description, source} with `kind` (children, conversion,
xref, successor) beside the reader's `source` text; sources of one code are joined.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingest import systems

KINDS = ("children", "conversion", "xref", "successor")
CHILDREN_LABEL = "new child code"
XREF_LABEL = "HCPCS XREF"


class ConversionIndex:
    """The ICD-10-CM conversion table inverted: previous code -> current codes, ranges included."""

    def __init__(self, conversion: pd.DataFrame | None, label: str = "conversion table"):
        self.label = label
        self.exact: dict[str, set[str]] = {}
        self.ranges: list[tuple[str, str, str]] = []
        if conversion is None:
            return
        for code, previous in zip(conversion["code"].tolist(), conversion["previous"].tolist(), strict=True):
            for item in str(previous).split():
                if "-" in item:
                    lo, hi = item.split("-", 1)
                    self.ranges.append((lo, hi, code))
                else:
                    self.exact.setdefault(item, set()).add(code)

    def current_for(self, previous: str) -> set[str]:
        hits = set(self.exact.get(previous, ()))
        hits.update(code for lo, hi, code in self.ranges if lo <= previous <= hi and len(previous) == len(lo))
        return hits


@dataclass
class Replacement:
    code: str
    display_code: str
    description: str
    kinds: list[str]
    sources: list[str]

    def to_dict(self) -> dict:
        return {"code": self.code, "display_code": self.display_code, "description": self.description,
                "source": ", ".join(self.sources), "kind": ", ".join(self.kinds)}


class ReleaseReplacements:
    """The replacement rules on one release table of one code set (and its conversion table)."""

    def __init__(self, system: str, table: pd.DataFrame, conversion: pd.DataFrame | None = None,
                 conversion_label: str = "conversion table"):
        self.system = system
        self.cs = systems.get(system)
        codes = table["code"].to_numpy(dtype=object)
        order = np.argsort(codes, kind="stable") if len(codes) and not _sorted(codes) else None
        pick = (lambda c: table[c].to_numpy(dtype=object)[order]) if order is not None else \
            (lambda c: table[c].to_numpy(dtype=object))
        self.codes = pick("code").astype(str)
        self.display = pick("display_code") if "display_code" in table else self.codes
        self.long_desc = pick("long_desc") if "long_desc" in table else np.full(len(codes), "", dtype=object)
        self.short_desc = pick("short_desc") if "short_desc" in table else np.full(len(codes), "", dtype=object)
        self.billable = pick("billable") == "1" if "billable" in table else np.ones(len(codes), dtype=bool)
        self._cols = {c: pick(c) for c in ("xrefs", "termination_date", "add_date") if c in table}
        self.conversion = ConversionIndex(conversion, conversion_label) if conversion is not None else None
        self._by_short: dict[tuple[str, str], list[int]] | None = None

    # -- the table ---------------------------------------------------------------------------------------

    def position(self, code: str) -> int:
        i = int(np.searchsorted(self.codes, code))
        return i if i < len(self.codes) and self.codes[i] == code else -1

    def row(self, code: str) -> dict | None:
        """The fields the rules read, for code in this release; None when absent."""
        i = self.position(code)
        if i < 0:
            return None
        return {"code": code, "short_desc": self.short_desc[i], "billable": bool(self.billable[i]),
                **{c: v[i] for c, v in self._cols.items()}}

    def describe(self, code: str) -> tuple[str, str]:
        i = self.position(code)
        return (str(self.display[i]), str(self.long_desc[i])) if i >= 0 else (self.cs.display(code), "")

    # -- the rules ---------------------------------------------------------------------------------------

    def children(self, code: str) -> list[str]:
        """Billable codes of this release that extend code (sorted, so they are one contiguous run)."""
        lo = int(np.searchsorted(self.codes, code, side="left"))
        hi = int(np.searchsorted(self.codes, code + "\uffff", side="left"))
        return [str(c) for c, b in zip(self.codes[lo:hi], self.billable[lo:hi], strict=True) if b and c != code]

    def xrefs(self, row: dict | None) -> list[str]:
        return [x for x in str((row or {}).get("xrefs") or "").split() if x]

    def successors(self, code: str, row: dict | None) -> tuple[list[str], str]:
        """Billable codes with row's short descriptor added the day after its termination date."""
        end, short = str((row or {}).get("termination_date") or ""), str((row or {}).get("short_desc") or "")
        if not end or not short or "add_date" not in self._cols:
            return [], ""
        try:
            day_after = (dt.date.fromisoformat(end) + dt.timedelta(days=1)).isoformat()
        except ValueError:
            return [], ""
        if self._by_short is None:
            self._by_short = {}
            for i, (s, a) in enumerate(zip(self.short_desc, self._cols["add_date"], strict=True)):
                if self.billable[i]:
                    self._by_short.setdefault((str(s), str(a)), []).append(i)
        hits = [str(self.codes[i]) for i in self._by_short.get((short, day_after), []) if self.codes[i] != code]
        return hits, day_after

    def for_code(self, code: str, row: dict | None = None, *, fallback_row: dict | None = None,
                 children_label: str = CHILDREN_LABEL) -> list[dict]:
        """Replacements for code, leaving (or not billable in) this release. row: the code's own fields when
        they come from another release (a HCPCS code that vanished); default its row here. fallback_row: a
        second row whose XREF fields count when row has none (the previous file's row of a discontinued code)."""
        row = row if row is not None else self.row(code)
        found: dict[str, Replacement] = {}

        def add(c: str, kind: str, source: str) -> None:
            if c not in found:
                disp, desc = self.describe(c)
                found[c] = Replacement(c, disp, desc, [], [])
            if kind not in found[c].kinds:
                found[c].kinds.append(kind)
                found[c].sources.append(source)

        rules = self.cs.replacement_rules
        if "children" in rules:
            for c in self.children(code):
                add(c, "children", children_label)
        if "conversion" in rules and self.conversion is not None:
            for c in sorted(self.conversion.current_for(code)):
                add(c, "conversion", self.conversion.label)
        xrefs = self.xrefs(row) or self.xrefs(fallback_row) if "xref" in rules else []
        for c in xrefs:
            add(c, "xref", XREF_LABEL)
        if "successor" in rules and not xrefs:
            hits, day_after = self.successors(code, row)
            for c in hits:
                add(c, "successor", f"same descriptor, added {day_after}")
        # children and conversion targets in code order; XREF fields in the order CMS lists them
        ordered = sorted(found.items()) if "children" in rules else found.items()
        return [r.to_dict() for _, r in ordered]


def _sorted(codes: np.ndarray) -> bool:
    return bool((codes[1:] >= codes[:-1]).all()) if len(codes) > 1 else True
