"""The stored edit tables by date of service: which PTP edit, MUE, add-on rule and fee-schedule row applied.

`EditTables` is the one reader every stage uses (lookup, the quarterly diff, the claim scrubber, the
benchmark). A quarter's release is in force from its effective date until the next stored quarter's; the
newest stays in force for HORIZON_DAYS (one quarter and a margin). Readers ask for codes, never for the
whole table: ingest.edit_store pushes the codes down into the Parquet row groups.

Date semantics, as the NCCI files define them:
- a PTP edit applies on dates from its effective date up to, not including, its deletion date (an edit
  whose deletion date equals its effective date never applied);
- an add-on edit likewise, with its own effective and deletion dates;
- an MUE or a fee-schedule row applies for as long as its quarter's release is in force.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest import edit_store
from ingest.systems import EDITS, edit_set

HORIZON_DAYS = 120  # the newest quarter answers for this long after its effective date


@dataclass(frozen=True)
class Window:
    """A release and the dates it is in force: [start, end) (end None: open to the horizon)."""

    system: str
    release: str
    label: str
    start: dt.date
    end: dt.date

    def covers(self, day: dt.date) -> bool:
        return self.start <= day < self.end


class EditTables:
    """The edit-table releases stored under `out` (default <codesets>/releases), opened once each."""

    def __init__(self, out: Path):
        self.out = Path(out)
        self.ids = {s: [r for r in edit_store.list_releases(self.out, s)] for s in EDITS}
        self._open: dict[tuple[str, str], edit_store.StoredEdits] = {}
        self._labels: dict[tuple[str, str], str] = {}

    def empty(self) -> bool:
        return not any(self.ids.values())

    def stored(self, system: str, release_id: str) -> edit_store.StoredEdits:
        key = (system, release_id)
        if key not in self._open:
            self._open[key] = edit_store.StoredEdits(self.out, system, release_id)
        return self._open[key]

    def manifest(self, system: str, release_id: str) -> dict | None:
        """A stored quarter's manifest (what ingest.freshness reads), without opening its table."""
        from ingest.store import read_manifest

        return read_manifest(self.out, system, release_id)

    def label(self, system: str, release_id: str) -> str:
        """A stored quarter's label, from its manifest (its table is opened and checked when it is read)."""
        key = (system, release_id)
        if key not in self._labels:
            manifest = self._open[key].manifest if key in self._open else self.manifest(system, release_id) or {}
            self._labels[key] = manifest.get("label") or f"{edit_set(system).short} {release_id}"
        return self._labels[key]

    def windows(self, system: str) -> list[Window]:
        ids = self.ids[system]
        out = []
        for i, rid in enumerate(ids):
            start = dt.date.fromisoformat(rid)
            end = dt.date.fromisoformat(ids[i + 1]) if i + 1 < len(ids) else start + dt.timedelta(days=HORIZON_DAYS)
            out.append(Window(system, rid, self.label(system, rid), start, end))
        return out

    def in_force(self, system: str, on: dt.date) -> Window | None:
        return next((w for w in self.windows(system) if w.covers(on)), None)

    def windows_between(self, system: str, first: dt.date, last: dt.date) -> list[Window]:
        """The releases in force on some date in [first, last]."""
        return [w for w in self.windows(system) if w.start <= last and w.end > first]

    def latest(self, system: str) -> str | None:
        return self.ids[system][-1] if self.ids[system] else None

    def previous(self, system: str, release_id: str) -> str | None:
        earlier = [r for r in self.ids[system] if r < release_id]
        return earlier[-1] if earlier else None

    # -- by codes ---------------------------------------------------------------------------------------

    def ptp(self, release_id: str, codes, *, both: bool = True, setting: str | None = None,
            dictionary: bool = False) -> pa.Table:
        """The PTP edits of a release whose column 1 code (and, with both, column 2 code) is in codes.
        dictionary: text columns stay dictionary-encoded (with both only)."""
        codes = sorted(set(codes))
        where = {"column1": codes, "setting": setting}
        if both:
            where["column2"] = codes
        table = self.stored("ptp", release_id).read(dictionary=dictionary and both, **where)
        if not both:  # and the edits where the codes are column 2
            other = self.stored("ptp", release_id).read(column2=codes, setting=setting)
            table = pa.concat_tables([table, other]).group_by(table.column_names).aggregate([])
        return table

    def rows(self, system: str, release_id: str, codes, *, setting: str | None = None) -> pa.Table:
        """MUE, add-on or fee-schedule rows of a release for codes (the key's code column: code, addon)."""
        key = edit_set(system).key
        column = key[1] if key[0] == "setting" else key[0]
        where = {column: sorted(set(codes))}
        if setting is not None and "setting" in key:
            where["setting"] = setting
        return self.stored(system, release_id).read(**where)

    def addon_primaries(self, release_id: str, codes) -> pa.Table:
        """The add-on edits where the codes are the primary (what add-on codes may go with them)."""
        return self.stored("aoc", release_id).read(primary=sorted(set(codes)))

    # -- for the scrubber: every quarter in force over a span of dates, clipped to its window --------------

    def ptp_frame(self, codes, first: dt.date, last: dt.date, setting: str = "practitioner") -> pd.DataFrame:
        """The PTP edits among codes in force on some date in [first, last], as the scrubber's frame:
        column1, column2, prior_1996, effective, deletion (datetime64, NaT = none), modifier_indicator,
        rationale. Each quarter's rows are clipped to the dates that quarter is in force, so an edit
        deleted in a later quarter's file stops applying on that quarter's dates. Clipped and joined in Arrow,
        the text columns as read (dictionaries): categorical in the frame, one set of categories for every
        quarter's rows, so no row's string is made (a file's 1.9 million rows over five quarters)."""
        columns = ["column1", "column2", "prior_1996", "effective", "deletion", "modifier_indicator", "rationale"]
        tables = []
        for w in self.windows_between("ptp", first, last):
            t = self.ptp(w.release, codes, setting=setting, dictionary=True).select(columns)
            if not t.num_rows:
                continue
            start, end = pa.scalar(w.start, pa.date32()), pa.scalar(w.end, pa.date32())
            effective = pc.max_element_wise(t["effective"], start)
            deletion = t["deletion"]
            deletion = pc.if_else(pc.fill_null(pc.less(deletion, end), False), deletion, end)
            t = t.set_column(3, "effective", effective).set_column(4, "deletion", deletion)
            tables.append(t.filter(pc.less(effective, deletion)))
        tables = [t for t in tables if t.num_rows]
        if not tables:
            return pd.DataFrame({c: pd.Series(dtype="datetime64[ns]" if c in ("effective", "deletion") else
                                              (bool if c == "prior_1996" else object)) for c in columns})
        out = pa.concat_tables(tables).unify_dictionaries().to_pandas(date_as_object=False)
        for c in ("effective", "deletion"):
            out[c] = out[c].astype("datetime64[ns]")
        for c in ("column1", "column2"):  # the codes these rows hold, not every code of the row groups read
            out[c] = out[c].cat.remove_unused_categories()
        return out[columns]

    def mue_frames(self, codes, first: dt.date, last: dt.date, setting: str = "practitioner") -> list[pd.DataFrame]:
        """One MUE frame per quarter in force over [first, last] (code, mue, mai, rationale, effective), as
        the scrubber's MUE rule takes them (each applies until the next one's effective date)."""
        out = []
        for w in self.windows_between("mue", first, last):
            t = self.rows("mue", w.release, codes, setting=setting).to_pandas()
            t = t[["code", "mue", "mai", "rationale"]].astype({"code": object, "rationale": object})
            t["effective"] = pd.Timestamp(w.start)
            out.append(t)
        return out


# -- date-of-service answers for one code or a pair (codegov lookup) ---------------------------------------


def _day(value) -> str:
    return "" if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def _applies(row: dict, on: dt.date) -> bool:
    start, end = row.get("effective"), row.get("deletion")
    day = pd.Timestamp(on)
    return (start is None or pd.isna(start) or pd.Timestamp(start) <= day) and (
        end is None or pd.isna(end) or day < pd.Timestamp(end)
    )


def code_answer(edits: EditTables, code: str, on: dt.date, limit: int = 10) -> dict:
    """What each edit table says about one code on a date of service: its MUEs, its fee-schedule rows,
    its add-on rule, and the PTP edits it is in (counted, the first `limit` listed)."""
    code = code.strip().upper()
    out: dict = {"code": code, "on": on.isoformat(), "tables": {}}
    for system in EDITS:
        w = edits.in_force(system, on)
        entry: dict = {"release": w.release if w else None, "label": w.label if w else None}
        if w is None:
            entry["note"] = "no stored quarter covers this date"
        elif system == "mue":
            entry["rows"] = [{k: v for k, v in r.items()} for r in edits.rows("mue", w.release, [code]).to_pylist()]
        elif system == "pfs":
            rows = edits.rows("pfs", w.release, [code]).to_pylist()
            for r in rows:
                r["payment_nonfacility"] = round(r["nonfac_total"] * r["conv_factor"], 2)
                r["payment_facility"] = round(r["fac_total"] * r["conv_factor"], 2)
            entry["rows"] = rows
        elif system == "aoc":
            as_addon = [r for r in edits.rows("aoc", w.release, [code]).to_pylist() if _applies(r, on)]
            as_primary = [r for r in edits.addon_primaries(w.release, [code]).to_pylist() if _applies(r, on)]
            entry["primaries"] = sorted({r["primary"] for r in as_addon})
            entry["edit_type"] = sorted({r["edit_type"] for r in as_addon})
            entry["addons"] = sorted({r["addon"] for r in as_primary})
        else:
            rows = [r for r in edits.ptp(w.release, [code], both=False).to_pylist() if _applies(r, on)]
            rows.sort(key=lambda r: (r["setting"], r["column1"] != code, r["column1"], r["column2"]))
            entry["count"] = {
                s: sum(1 for r in rows if r["setting"] == s) for s in sorted({r["setting"] for r in rows})
            }
            entry["rows"] = [_ptp_row(r) for r in rows[:limit]]
        out["tables"][system] = entry
    return out


def answer_lines(answer: dict) -> list[str]:
    """code_answer() as text, a line or a few per table: what `codegov lookup` prints and the site's lookup shows."""
    from ingest.parse_edits import AOC_TYPES, MAI_NAMES, MODIFIER_INDICATORS

    t = answer["tables"]
    out = ["  edit tables in force:"]
    for system, entry in t.items():
        if entry["release"] is None:
            out.append(f"    {system}: {entry['note']}")
            continue
        head = f"    {entry['label']}:"
        if system == "mue":
            rows = entry["rows"]
            out.append(
                head
                + (
                    " no MUE"
                    if not rows
                    else "; ".join(f" {r['setting']} {r['mue']} ({MAI_NAMES[r['mai']]})" for r in rows)
                )
            )
        elif system == "pfs":
            for r in entry["rows"] or [{}]:
                if not r:
                    out.append(head + " not on the fee schedule")
                    continue
                mod = f"-{r['modifier']}" if r["modifier"] else ""
                out.append(
                    f"{head} {answer['code']}{mod} status {r['status']}, global {r['global_days']}, PC/TC "
                    f"{r['pctc']}, bilateral {r['bilat_surg']}, multiple procedure {r['mult_proc']}; "
                    f"${r['payment_nonfacility']:.2f} non-facility, ${r['payment_facility']:.2f} facility"
                )
        elif system == "aoc":
            if entry["primaries"]:
                kinds = ", ".join(AOC_TYPES[k] for k in entry["edit_type"])
                out.append(f"{head} an add-on code; primaries {', '.join(entry['primaries'])} ({kinds})")
            elif entry["addons"]:
                out.append(f"{head} a primary code for add-on(s) {', '.join(entry['addons'])}")
            else:
                out.append(head + " not an add-on code")
        else:
            counts = ", ".join(f"{n} {s}" for s, n in entry["count"].items())
            out.append(f"{head} {counts} PTP edit(s) in force" if counts else f"{head} no PTP edit in force")
            for r in entry["rows"]:
                out.append(
                    f"      {r['setting']:12} {r['column1']} / {r['column2']}  modifier {r['modifier_indicator']} "
                    f"({MODIFIER_INDICATORS[r['modifier_indicator']]}) since {r['effective']}"
                )
    return out


def _ptp_row(r: dict) -> dict:
    return {
        "setting": r["setting"],
        "column1": r["column1"],
        "column2": r["column2"],
        "modifier_indicator": r["modifier_indicator"],
        "effective": _day(r["effective"]),
        "deletion": _day(r["deletion"]),
        "rationale": r["rationale"],
    }


def pair_answer(edits: EditTables, a: str, b: str, on: dt.date) -> dict:
    """The PTP edits between two codes (either order) and their add-on relation, on a date of service."""
    a, b = a.strip().upper(), b.strip().upper()
    out: dict = {"codes": [a, b], "on": on.isoformat(), "ptp": [], "aoc": []}
    w = edits.in_force("ptp", on)
    out["ptp_release"] = w.label if w else None
    if w is not None:
        rows = edits.ptp(w.release, [a, b]).to_pylist()
        out["ptp"] = [{**_ptp_row(r), "in_force": _applies(r, on)} for r in rows if r["column1"] != r["column2"]]
    w = edits.in_force("aoc", on)
    out["aoc_release"] = w.label if w else None
    if w is not None:
        rows = edits.rows("aoc", w.release, [a, b]).to_pylist()
        out["aoc"] = [
            {
                "addon": r["addon"],
                "primary": r["primary"],
                "edit_type": r["edit_type"],
                "effective": _day(r["effective"]),
                "deletion": _day(r["deletion"]),
                "in_force": _applies(r, on),
            }
            for r in rows
            if {r["addon"], r["primary"]} <= {a, b, "CCCCC"}
        ]
    return out
