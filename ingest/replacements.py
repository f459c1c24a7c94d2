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

import bisect
import datetime as dt
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ingest import systems

KINDS = ("children", "conversion", "xref", "successor")
CHILDREN_LABEL = "new child code"
_EAGER_AFTER = 200  # single-value reads of a column before the whole column is read
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
        if self.ranges:
            for lo, hi, code in self._ranges_near(previous):
                if lo <= previous <= hi:
                    hits.add(code)
        return hits

    def _ranges_near(self, previous: str) -> list[tuple[str, str, str]]:
        """The ranges that may hold previous: those of its length whose ends share its first three characters
        (an ICD-10-CM range stays inside one category), and every range that spans categories."""
        if not hasattr(self, "_buckets"):
            self._buckets: dict[tuple[int, str], list] = {}
            self._wide: dict[int, list] = {}
            for r in self.ranges:
                lo, hi, _ = r
                if lo[:3] == hi[:3]:
                    self._buckets.setdefault((len(lo), lo[:3]), []).append(r)
                else:
                    self._wide.setdefault(len(lo), []).append(r)
        n = len(previous)
        return self._buckets.get((n, previous[:3]), []) + self._wide.get(n, [])


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
        codes = table["code"].to_numpy(dtype=object)  # object, not str: searchsorted compares without a cast
        if len(codes) > 1 and not (codes[1:] >= codes[:-1]).all():  # stored tables are sorted; hand-made may not be
            order = np.argsort(codes, kind="stable")
            table, codes = table.iloc[order].reset_index(drop=True), codes[order]
        self._table = table
        self.codes = codes
        self._columns: dict[str, np.ndarray] = {}  # read on first use: most releases need few replacements
        self._reads: dict[str, int] = {}
        self._conversion = (conversion, conversion_label)
        self._conversion_index: ConversionIndex | None = None
        self._by_short: dict[tuple[str, str], list[int]] | None = None
        self._pair_calls = 0
        self._as_lists: tuple[list, list, list] | None = None
        self._billable_as_lists: tuple[list, list, list] | None = None
        self._convertible: tuple[set, set] | None = None

    def _at(self, name: str, i: int):
        """One value of a column: read from the table for a diff's few lookups, from the whole column
        (read once) after _EAGER_AFTER of them (the scrubber asks about thousands of codes)."""
        if name not in self._columns:
            seen = self._reads[name] = self._reads.get(name, 0) + 1
            if seen <= _EAGER_AFTER:
                return self._table[name].iat[i] if name in self._table else ""
        return self._col(name)[i]

    def _col(self, name: str) -> np.ndarray:
        if name not in self._columns:
            self._columns[name] = self._table[name].to_numpy(dtype=object) if name in self._table \
                else np.full(len(self.codes), "", dtype=object)
        return self._columns[name]

    @property
    def billable(self) -> np.ndarray:
        if "_billable" not in self._columns:
            self._columns["_billable"] = self._col("billable") == "1" if "billable" in self._table \
                else np.ones(len(self.codes), dtype=bool)
        return self._columns["_billable"]

    @property
    def conversion(self) -> ConversionIndex | None:
        table, label = self._conversion
        if table is not None and self._conversion_index is None:
            self._conversion_index = ConversionIndex(table, label)
        return self._conversion_index

    # -- the table ---------------------------------------------------------------------------------------

    def position(self, code: str) -> int:
        i = int(np.searchsorted(self.codes, code))
        return i if i < len(self.codes) and self.codes[i] == code else -1

    def row(self, code: str) -> dict | None:
        """The fields the rules read, for code in this release; None when absent."""
        i = self.position(code)
        if i < 0:
            return None
        fields = {c: self._at(c, i) for c in ("xrefs", "termination_date", "add_date") if c in self._table}
        billable = self._at("billable", i) == "1" if "billable" in self._table else True
        return {"code": code, "short_desc": self._at("short_desc", i), "billable": billable, **fields}

    def display(self, code: str, i: int | None = None) -> str:
        """The display code of code; i: its position when the caller knows it (a header's children)."""
        if i is None:
            i = self.position(code)
            if i < 0:
                return self.cs.display(code)
        return str(self._at("display_code", i)) if "display_code" in self._table else code

    def describe(self, code: str, i: int | None = None) -> tuple[str, str]:
        """(display code, long descriptor) of code; i: its position when the caller knows it. Whole columns are
        read once a caller has described many codes (_at)."""
        if i is None:
            i = self.position(code)
            if i < 0:
                return self.cs.display(code), ""
        return self.display(code, i), str(self._at("long_desc", i))

    # -- the rules ---------------------------------------------------------------------------------------

    def children(self, code: str) -> list[str]:
        """Billable codes of this release that extend code (sorted, so they are one contiguous run)."""
        return [str(self.codes[i]) for i in self.children_at(code)]

    def children_at(self, code: str) -> list[int]:
        """The positions of children(code) in this release's table."""
        lo = int(np.searchsorted(self.codes, code, side="left"))
        hi = int(np.searchsorted(self.codes, code + "\uffff", side="left"))
        if lo == hi:
            return []
        if "billable" not in self._table:
            billable = np.ones(hi - lo, dtype=bool)
        elif "billable" in self._columns or self._reads.get("billable", 0) > _EAGER_AFTER:
            billable = self.billable[lo:hi]
        else:
            self._reads["billable"] = self._reads.get("billable", 0) + 1
            billable = self._table["billable"].iloc[lo:hi].to_numpy(dtype=object) == "1"
        return [lo + k for k, (c, b) in enumerate(zip(self.codes[lo:hi], billable, strict=True)) if b and c != code]

    def xrefs(self, row: dict | None) -> list[str]:
        return [x for x in str((row or {}).get("xrefs") or "").split() if x]

    def successors(self, code: str, row: dict | None) -> tuple[list[str], str]:
        """Billable codes with row's short descriptor added the day after its termination date."""
        end, short = str((row or {}).get("termination_date") or ""), str((row or {}).get("short_desc") or "")
        if not end or not short or "add_date" not in self._table:
            return [], ""
        try:
            day_after = (dt.date.fromisoformat(end) + dt.timedelta(days=1)).isoformat()
        except ValueError:
            return [], ""
        if self._by_short is None:
            self._by_short = {}
            billable = self.billable
            for i, (s, a) in enumerate(zip(self._col("short_desc"), self._col("add_date"), strict=True)):
                if billable[i]:
                    self._by_short.setdefault((str(s), str(a)), []).append(i)
        hits = [str(self.codes[i]) for i in self._by_short.get((short, day_after), []) if self.codes[i] != code]
        return hits, day_after

    def pairs(self, code: str, row: dict | None = None) -> list[tuple[str, str]]:
        """[(display code, first kind)] of for_code(code, row): what a lookup names, without the descriptors.
        The children rule on whole columns (a lookup index asks about every header of a release: hundreds of
        thousands of children); the other rules, and the first _EAGER_AFTER questions, through for_code."""
        self._pair_calls += 1
        if not self._children_rule() or self._pair_calls <= _EAGER_AFTER:
            return [(r["display_code"], r["kind"].split(", ")[0])
                    for r in self.for_code(code, row, descriptions=False)]
        codes = self._lists()[0]
        lo = bisect.bisect_left(codes, code)
        hi = bisect.bisect_left(codes, code + "\uffff", lo)
        bpos = self._billable_lists()[0]
        return self._children_pairs(code, bisect.bisect_left(bpos, lo), bisect.bisect_left(bpos, hi))

    def pairs_many(self, codes: list[str]) -> list[list[tuple[str, str]]]:
        """pairs(code) of each code, with no row of another release: the children's ranges of all of them found
        at once (a lookup index asks about every header of a release, tens of thousands)."""
        if not self._children_rule() or len(codes) <= _EAGER_AFTER:
            return [self.pairs(c) for c in codes]
        self._pair_calls += len(codes)
        asked = np.array(codes, dtype=object)
        lo = np.searchsorted(self.codes, asked, side="left")
        hi = np.searchsorted(self.codes, asked + "\uffff", side="left")
        bpos = np.array(self._billable_lists()[0], dtype=np.int64)
        a, b = np.searchsorted(bpos, lo, side="left").tolist(), np.searchsorted(bpos, hi, side="left").tolist()
        return [self._children_pairs(c, i, j) for c, i, j in zip(codes, a, b, strict=True)]

    def _children_rule(self) -> bool:
        """The code set's rules are children (and conversion) only: pairs() answers from whole columns."""
        rules = self.cs.replacement_rules
        return "children" in rules and "xref" not in rules and "successor" not in rules

    def _children_pairs(self, code: str, a: int, b: int) -> list[tuple[str, str]]:
        """pairs(code) from the billable codes a:b (those that start with code, in code order), but code itself,
        and the conversion targets that are not among them, merged in code order."""
        codes = self._lists()[0]
        bpos, bcodes, bpairs = self._billable_lists()
        while a < b and bcodes[a] == code:  # code sorts first among the codes it starts
            a += 1
        out = bpairs[a:b]
        if "conversion" in self.cs.replacement_rules and self.conversion is not None and self._may_convert(code):
            extra = set(self.conversion_targets(code)).difference(bcodes[a:b])
            if extra:  # conversion targets that are not children, merged in code order
                kids = bpos[a:b]
                found = {codes[i]: pair for i, pair in zip(kids, out, strict=True)}
                for c in extra:
                    found[c] = (self.describe(c)[0], "conversion")
                out = [found[c] for c in sorted(found)]
        return out

    def conversion_targets(self, code: str) -> list[str]:
        """The conversion table's current codes for code, sorted, each one billable here: a target that is a
        header in this release (E78.01, expanded in FY2026 after the table mapped E78.0 to it in FY2017) stands
        for its billable children, since a header cannot be billed."""
        out: set[str] = set()
        for c in self.conversion.current_for(code):
            i = self.position(c)
            kids = self.children(c) if i >= 0 and not self.billable[i] else []
            out.update(kids or [c])
        return sorted(out)

    def _may_convert(self, code: str) -> bool:
        """False when the conversion table maps nothing to code: a code of this table that is no previous code
        of the table and in none of its ranges (a lookup index asks about every header of a release)."""
        if self._convertible is None:
            index, codes = self.conversion, self._lists()[0]
            found = set(index.exact).intersection(codes)
            for lo, hi, _ in index.ranges:  # current_for: a range holds codes of its ends' length between them
                a, b = bisect.bisect_left(codes, lo), bisect.bisect_right(codes, hi)
                found.update(c for c in codes[a:b] if len(c) == len(lo))
            self._convertible = (set(codes), found)
        listed, found = self._convertible
        return code in found or code not in listed

    def _billable_lists(self) -> tuple[list, list, list]:
        """The positions and codes of the billable codes, in table (code) order, and their (display code,
        "children") pairs (pairs() answers with slices of them)."""
        if self._billable_as_lists is None:
            codes, billable, display = self._lists()
            bpos = [i for i, b in enumerate(billable) if b]
            self._billable_as_lists = (bpos, [codes[i] for i in bpos], [(display[i], "children") for i in bpos])
        return self._billable_as_lists

    def _lists(self) -> tuple[list, list, list]:
        """codes, billable and display codes as Python lists (pairs() reads them element by element)."""
        if self._as_lists is None:
            display = self._col("display_code") if "display_code" in self._table else self.codes
            self._as_lists = (self.codes.tolist(), self.billable.tolist(), [str(d) for d in display])
        return self._as_lists

    def for_code(self, code: str, row: dict | None = None, *, fallback_row: dict | None = None,
                 children_label: str = CHILDREN_LABEL, descriptions: bool = True) -> list[dict]:
        """Replacements for code, leaving (or not billable in) this release. row: the code's own fields when
        they come from another release (a HCPCS code that vanished); default its row here. fallback_row: a
        second row whose XREF fields count when row has none (the previous file's row of a discontinued code).
        descriptions False: each description '' (pairs: the long descriptors are never read)."""
        row = row if row is not None else self.row(code)
        found: dict[str, Replacement] = {}

        def add(c: str, kind: str, source: str, i: int | None = None) -> None:
            if c not in found:
                disp, desc = self.describe(c, i) if descriptions else (self.display(c, i), "")
                found[c] = Replacement(c, disp, desc, [], [])
            if kind not in found[c].kinds:
                found[c].kinds.append(kind)
                found[c].sources.append(source)

        rules = self.cs.replacement_rules
        if "children" in rules:
            for i in self.children_at(code):
                add(str(self.codes[i]), "children", children_label, i)
        if "conversion" in rules and self.conversion is not None:
            for c in self.conversion_targets(code):
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

