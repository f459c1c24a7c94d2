"""Expectation suites built in code: one function per suite (release table, inventory, playbook).

Each expectation carries `meta = {"gate": key, "check": text}`: the key is stable (tests and report rows
use it), the text is what a reader sees. Regexes use only non-capturing groups. Great Expectations is
imported inside the functions that build suites, so importing this module (for its patterns) is cheap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ingest.model import COLUMNS, SYSTEM_NAMES
from ingest.systems import LOADED, REGISTRY

# Code patterns, per code set (and per kind where one code set holds two shapes), from the registry
# (ingest.systems): a kind of None means every kind of the set shares the pattern (ICD-10-CM codes and headers).
CODE_PATTERNS = {}
for _s in LOADED:
    _kinds = REGISTRY[_s].kinds
    if len({k.pattern for k in _kinds}) == 1:
        CODE_PATTERNS[(_s, None)] = f"^{_kinds[0].pattern}$"
    else:
        CODE_PATTERNS.update({(_s, k.name): f"^{k.pattern}$" for k in _kinds})
KINDS = {s: tuple(k.name for k in REGISTRY[s].kinds) for s in LOADED}

# A real calendar date, YYYY-MM-DD, 1900-2099, leap years included (1900 is not one, 2000 is).
ISO_DATE = (
    r"^(?:(?:19|20)[0-9]{2}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    r"|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    r"|(?:19(?:[02468][48]|[13579][26]|[2468]0)|20(?:[02468][048]|[13579][26]))-02-29)$"
)
DATE_COLUMNS = {
    "icd10cm": ("effective_start", "effective_end"),
    "hcpcs": ("effective_start", "effective_end", "add_date", "action_effective_date", "termination_date"),
    "pos": ("effective_start", "effective_end"),
}
DESCRIPTOR_COLUMNS = ("short_desc", "long_desc")
BILLABLE = ("0", "1")

# CPT (Level I) modifiers, numbers only: AMA copyright keeps their descriptors out of this repository.
# Appendix A of CPT lists them; these are the ones a practice meets.
CPT_MODIFIERS = (
    "22", "23", "24", "25", "26", "27", "32", "33", "47", "50", "51", "52", "53", "54", "55", "56", "57", "58",
    "59", "62", "63", "66", "73", "74", "76", "77", "78", "79", "80", "81", "82", "90", "91", "92", "93", "95",
    "96", "97", "99",
)

DEFAULT_DRIFT = 0.05
DEFAULT_DRIFT_MIN_ROWS = 1000


def _gx():
    import great_expectations as gx

    return gx


def _meta(gate: str, check: str, **extra) -> dict:
    return {"gate": gate, "check": check, **extra}


def drift_band(previous_rows: int, drift: float) -> tuple[int, int]:
    """Row counts within `drift` (a fraction) of the previous release's, inclusive."""
    low = math.ceil(round(previous_rows * (1 - drift), 6))
    high = math.floor(round(previous_rows * (1 + drift), 6))
    return max(low, 0), high


def release_frame(table):
    """The release table as the release suite reads it: empty strings (and blanks) become nulls in the
    descriptor and date columns, so "not empty" is a null check and empty end dates are skipped.
    The caller's frame is not changed."""
    frame = table.copy(deep=False)
    for column in (*DESCRIPTOR_COLUMNS, *{c for cols in DATE_COLUMNS.values() for c in cols}):
        if column in frame.columns:
            values = frame[column].astype("str")
            frame[column] = values.where(values.str.strip() != "")
    return frame


def release_suite(system: str, release_id: str, *, previous: tuple[str, int] | None = None,
                  drift: float = DEFAULT_DRIFT, name: str | None = None):
    """Gates for one release table. `previous` is (release id, row count) of the release before it of the
    same code set; without it there is no drift gate (the runner reports that as not checked)."""
    gx = _gx()
    from great_expectations.expectations.row_conditions import Column

    E = gx.expectations
    label = SYSTEM_NAMES.get(system, system)
    exps = [
        E.ExpectTableColumnsToMatchOrderedList(
            column_list=list(COLUMNS), meta=_meta("columns", "the columns are exactly the release-table schema")),
        E.ExpectColumnValuesToBeInSet(
            column="system", value_set=[system], meta=_meta("system", f"every row is a {system} row")),
        E.ExpectColumnValuesToBeInSet(
            column="release", value_set=[release_id], meta=_meta("release", f"every row is of release {release_id}")),
    ]
    for (sys_, kind), pattern in CODE_PATTERNS.items():
        if sys_ != system:
            continue
        what = f"{label} {kind}" if kind else label
        exps.append(E.ExpectColumnValuesToMatchRegex(
            column="code", regex=pattern, row_condition=(Column("kind") == kind) if kind else None,
            meta=_meta(f"code_pattern_{kind}" if kind else "code_pattern", f"{what} codes match {pattern}")))
    exps += [
        E.ExpectColumnValuesToBeUnique(column="code", meta=_meta("unique_codes", "each code appears once")),
        E.ExpectColumnValuesToBeInSet(
            column="kind", value_set=list(KINDS[system]),
            meta=_meta("kind", f"kind is one of {', '.join(KINDS[system])}")),
    ]
    for column in DESCRIPTOR_COLUMNS:
        exps.append(E.ExpectColumnValuesToNotBeNull(
            column=column, meta=_meta(f"{column}_present", f"{column} is not empty")))
    exps += [
        E.ExpectColumnValuesToBeInSet(
            column="billable", value_set=list(BILLABLE), meta=_meta("billable", "billable is 0 or 1")),
    ]
    if not REGISTRY[system].undocumented_starts:
        exps.append(E.ExpectColumnValuesToNotBeNull(
            column="effective_start", meta=_meta("effective_start_present", "effective_start is not empty")))
    for column in DATE_COLUMNS[system]:
        exps.append(E.ExpectColumnValuesToMatchRegex(
            column=column, regex=ISO_DATE, meta=_meta(f"{column}_date", f"{column} is a real date, YYYY-MM-DD")))
    exps.append(E.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A="effective_end", column_B="effective_start", or_equal=True, ignore_row_if="either_value_is_missing",
        meta=_meta("start_before_end", "effective_start is on or before effective_end")))
    if previous is not None:
        prev_id, prev_rows = previous
        low, high = drift_band(prev_rows, drift)
        exps.append(E.ExpectTableRowCountToBeBetween(
            min_value=low, max_value=high,
            meta=_meta("drift", f"row count within {drift:.0%} of {prev_rows:,} rows in {prev_id}: {low:,} to {high:,}",
                       previous_release=prev_id, previous_rows=prev_rows, drift=drift)))
    return gx.ExpectationSuite(name=name or f"release {system} {release_id}", expectations=exps)


TARGET = "_release_checked"  # the column of a combined frame naming the release each row was read from


def releases_suite(system: str, targets: list[tuple[str, tuple[str, int] | None]], *,
                   drift: float = DEFAULT_DRIFT):
    """The release suite of several releases of one code set at once, for one Great Expectations run on
    their rows stacked (GX's cost is per expectation, not per row). `targets`: (release id, previous) per
    release. The row gates are those of release_suite; the gates whose meaning is per release are
    written per release: "each code appears once" is unique (release, code), and the release-column and
    drift gates carry a row condition on the TARGET column and the release in their meta. The runner
    cuts each release's rows out of the result (checks.runner.validate_releases)."""
    gx = _gx()
    from great_expectations.expectations.row_conditions import Column

    E = gx.expectations
    first = targets[0][0]
    exps = []
    for e in release_suite(system, first, drift=drift).expectations:
        gate = e.meta["gate"]
        if gate == "columns":
            exps.append(E.ExpectTableColumnsToMatchOrderedList(column_list=[*COLUMNS, TARGET], meta=dict(e.meta)))
        elif gate == "unique_codes":
            exps.append(E.ExpectCompoundColumnsToBeUnique(column_list=[TARGET, "code"], meta=dict(e.meta)))
        elif gate != "release":
            exps.append(e)
    for rid, previous in targets:
        where = Column(TARGET) == rid
        exps.append(E.ExpectColumnValuesToBeInSet(
            column="release", value_set=[rid], row_condition=where,
            meta=_meta("release", f"every row is of release {rid}", release=rid)))
        for e in release_suite(system, rid, previous=previous, drift=drift).expectations:
            if e.meta["gate"] == "drift":
                exps.append(E.ExpectTableRowCountToBeBetween(
                    min_value=e.min_value, max_value=e.max_value, row_condition=where,
                    meta={**e.meta, "release": rid}))
    return gx.ExpectationSuite(name=f"release {system} x{len(targets)}", expectations=exps)


@dataclass
class ReleaseCodes:
    """What a code list is checked against in one release of one code set."""

    system: str
    release_id: str
    codes: set[str] = field(default_factory=set)  # every code in the release
    billable: set[str] = field(default_factory=set)  # billable (active) codes
    modifiers: set[str] = field(default_factory=set)  # HCPCS: the modifier rows

    @classmethod
    def from_table(cls, system: str, release_id: str, table) -> ReleaseCodes:
        codes = table["code"].astype("str")
        billable = table["billable"].astype("str") == "1"
        modifiers = table["kind"].astype("str") == "modifier"
        return cls(system, release_id, set(codes), set(codes[billable]), set(codes[modifiers]))


def code_list_frame(rows):
    """A code list (inventory rows or cited playbook codes) with a `kind` column: modifier or code.

    A two-character HCPCS or CPT entry is a modifier; everything else is a code."""
    import pandas as pd

    frame = pd.DataFrame({"system": rows["system"].astype("str"), "code": rows["code"].astype("str")})
    if "kind" in rows.columns:
        frame["kind"] = rows["kind"].astype("str")
    else:
        two = frame["code"].str.len() == 2
        frame["kind"] = "code"
        frame.loc[two & frame["system"].isin(["hcpcs", "cpt"]), "kind"] = "modifier"
    return frame


def _code_list_expectations(frame, releases: dict[str, ReleaseCodes], where: str) -> list:
    """The code-list gates, per code set with a release to check against:

    - {system}_exists: every code (not modifier) is in the release;
    - {system}_billable: every code that is in the release is billable there (header, discontinued);
    - pos_assigned: every Place of Service code is an assigned code of the POS release;
    - hcpcs_modifiers: every HCPCS modifier is an active modifier of the HCPCS release;
    - cpt_modifiers: every CPT modifier is one of CPT_MODIFIERS.

    Value sets are the release's codes among those listed: the same outcome as the whole release, and a
    suite small enough to read. A code missing from the release fails `exists` only, not `billable` too.
    """
    gx = _gx()
    from great_expectations.expectations.row_conditions import Column

    E = gx.expectations
    exps = []
    for system, rc in releases.items():
        name = SYSTEM_NAMES.get(system, system)
        is_code = (Column("system") == system) & (Column("kind") == "code")
        listed = set(frame.loc[(frame["system"] == system) & (frame["kind"] == "code"), "code"])
        extra = {"system": system, "release": rc.release_id}
        if listed and system == "pos":
            exps.append(E.ExpectColumnValuesToBeInSet(
                column="code", value_set=sorted(listed & rc.billable), row_condition=is_code,
                meta=_meta("pos_assigned", f"every {name} code is assigned in pos {rc.release_id}{where}", **extra)))
        elif listed:
            exps.append(E.ExpectColumnValuesToBeInSet(
                column="code", value_set=sorted(listed & rc.codes), row_condition=is_code,
                meta=_meta(f"{system}_exists", f"every {name} code exists in {system} {rc.release_id}{where}",
                           **extra)))
            exps.append(E.ExpectColumnValuesToBeInSet(
                column="code", value_set=sorted((listed & rc.billable) | (listed - rc.codes)), row_condition=is_code,
                meta=_meta(f"{system}_billable", f"every {name} code is billable in {system} {rc.release_id}{where}",
                           **extra)))
        mods = set(frame.loc[(frame["system"] == system) & (frame["kind"] == "modifier"), "code"])
        if mods and system == "hcpcs":
            exps.append(E.ExpectColumnValuesToBeInSet(
                column="code", value_set=sorted(mods & rc.modifiers & rc.billable),
                row_condition=(Column("system") == system) & (Column("kind") == "modifier"),
                meta=_meta("hcpcs_modifiers", f"every HCPCS modifier is an active modifier in hcpcs {rc.release_id}"
                           f"{where}", **extra)))
    cpt_mods = set(frame.loc[(frame["system"] == "cpt") & (frame["kind"] == "modifier"), "code"])
    if cpt_mods:
        exps.append(E.ExpectColumnValuesToBeInSet(
            column="code", value_set=sorted(cpt_mods & set(CPT_MODIFIERS)),
            row_condition=(Column("system") == "cpt") & (Column("kind") == "modifier"),
            meta=_meta("cpt_modifiers", "every CPT modifier is a known CPT modifier (checks.suites.CPT_MODIFIERS)",
                       system="cpt")))
    return exps


def inventory_suite(frame, releases: dict[str, ReleaseCodes], on: str, name: str | None = None):
    """Gates for the inventory on its effective date: each code exists and is billable in the release of its
    code set in force on that date; modifiers are known; POS codes are assigned POS codes."""
    gx = _gx()
    exps = _code_list_expectations(frame, releases, f" (in force on {on})")
    return gx.ExpectationSuite(name=name or f"inventory {on}", expectations=exps)


def playbook_suite(frame, releases: dict[str, ReleaseCodes], playbook: str, name: str | None = None):
    """Gates for one playbook: every code and modifier it cites exists and is billable in the current release."""
    gx = _gx()
    exps = _code_list_expectations(frame, releases, " (current release)")
    return gx.ExpectationSuite(name=name or f"playbook {playbook}", expectations=exps)
