"""Quarter to quarter in the edit tables, against the codes the organisation bills (its inventory).

One `EditChanges` per edit set and pair of stored quarters: each row a change that touches billed codes,
with a kind, the codes, the setting, what it was and what it is. The kinds:
- PTP: `edit added` / `edit deleted` between two billed codes (in force on the first day of each quarter),
  `modifier indicator changed`;
- MUE: `MUE added` / `MUE removed` / `MUE value changed` / `MUE adjudication changed` on a billed code;
- add-on codes: `primary added` / `primary removed` / `edit type changed` where the add-on or its primary
  is billed;
- fee schedule: `indicator changed` (status, global days, PC/TC, multiple procedure, bilateral, assistant,
  co-surgeon, team) and `payment changed` for every billed code (RVU total times the conversion factor,
  facility and non-facility), with the yearly effect when the inventory gives `annual_volume`.
Everything is read by the billed codes only (ingest.edits pushes them into the Parquet reads).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pandas as pd

from ingest.edits import EditTables
from ingest.systems import edit_set

CHANGE_COLUMNS = ("kind", "code", "other", "setting", "before", "after", "detail", "specialty", "owner")
PFS_INDICATORS = (
    ("status", "status"),
    ("global_days", "global days"),
    ("pctc", "PC/TC indicator"),
    ("mult_proc", "multiple procedure"),
    ("bilat_surg", "bilateral surgery"),
    ("asst_surg", "assistant at surgery"),
    ("co_surg", "co-surgeons"),
    ("team_surg", "team surgery"),
)


@dataclass
class EditChanges:
    system: str
    from_release: str
    to_release: str
    from_label: str
    to_label: str
    rows: pd.DataFrame  # CHANGE_COLUMNS
    payments: pd.DataFrame = field(default_factory=pd.DataFrame)  # pfs: one row per billed code
    # pfs: a deleted code beside the code that replaces it (replacement_payments), where both are priced
    replacements: pd.DataFrame = field(default_factory=pd.DataFrame)

    @property
    def title(self) -> str:
        return f"{edit_set(self.system).name}: {self.from_label} → {self.to_label}"

    def counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.rows["kind"].value_counts().sort_index().items()}

    def to_dict(self) -> dict:
        return {
            "system": self.system,
            "from": self.from_release,
            "to": self.to_release,
            "from_label": self.from_label,
            "to_label": self.to_label,
            "counts": self.counts(),
            "changes": self.rows.to_dict(orient="records"),
            "payments": self.payments.to_dict(orient="records") if len(self.payments) else [],
            "replacements": self.replacements.to_dict(orient="records") if len(self.replacements) else [],
        }


def billed_codes(inventory) -> pd.DataFrame:
    """The procedure codes of the inventory (CPT and HCPCS, five characters): code, specialty, owner,
    annual_volume (summed over specialties; None when no line gives one)."""
    if inventory is None or not len(inventory.rows):
        return pd.DataFrame(columns=["code", "specialty", "owner", "annual_volume"])
    rows = inventory.rows
    rows = rows[rows["system"].isin(["cpt", "hcpcs"]) & (rows["code"].str.len() == 5)]
    volume = rows.get("annual_volume", pd.Series([None] * len(rows), index=rows.index))
    frame = rows.assign(annual_volume=pd.to_numeric(volume, errors="coerce"))
    grouped = frame.groupby("code", sort=True).agg(
        specialty=("specialty", lambda s: "; ".join(sorted(set(s)))),
        owner=("owner", lambda s: "; ".join(sorted(set(s)))),
        annual_volume=("annual_volume", lambda s: s.sum() if s.notna().any() else None),
    )
    return grouped.reset_index()


def _pd(table) -> pd.DataFrame:
    """An Arrow table as pandas with plain object text columns (merges of empty Arrow-backed text fail)."""
    frame = table.to_pandas()
    for column in frame.columns:
        if frame[column].dtype.kind in "OUT" or str(frame[column].dtype) in ("str", "string"):
            frame[column] = frame[column].astype(object)
    return frame


class _Row(dict):
    __getattr__ = dict.__getitem__


def _records(frame: pd.DataFrame) -> list[_Row]:
    return [_Row(r) for r in frame.to_dict(orient="records")]


def _in_force(frame: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    start = pd.Timestamp(day)
    eff = pd.to_datetime(frame["effective"])
    dele = pd.to_datetime(frame["deletion"])
    return frame[(eff <= start) & (dele.isna() | (dele > start))]


def _ended(end) -> str:
    """Why an edit is gone from the new quarter: its deletion date, or its absence from the file."""
    return f"deleted from {end:%Y-%m-%d}" if end is not None else "no longer in the file"


def _row(base: dict, kind: str, before, after, detail) -> dict:
    """One change row: the key fields of `base`, what kind of change, the value before and after, a note."""
    return {**base, "kind": kind, "before": before, "after": after, "detail": detail}


def _frame(rows: list[dict], billed: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(rows, columns=[c for c in CHANGE_COLUMNS if c not in ("specialty", "owner")])
    who = billed.set_index("code")
    out["specialty"] = out["code"].map(who["specialty"]).fillna("")
    out["owner"] = out["code"].map(who["owner"]).fillna("")
    return out.sort_values(["kind", "setting", "code", "other"], kind="stable").reset_index(drop=True)


def ptp_changes(edits: EditTables, old: str, new: str, billed: pd.DataFrame) -> pd.DataFrame:
    codes = billed["code"].tolist()
    on_old, on_new = dt.date.fromisoformat(old), dt.date.fromisoformat(new)
    a = _in_force(_pd(edits.ptp(old, codes)), on_old)
    b_all = _pd(edits.ptp(new, codes))
    b = _in_force(b_all, on_new)
    key = ["setting", "column1", "column2"]
    ended = {(r.setting, r.column1, r.column2): r.deletion for r in _records(b_all) if not pd.isna(r.deletion)}
    merged = a.merge(b, on=key, how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for r in _records(merged):
        base = {"code": r.column1, "other": r.column2, "setting": r.setting}
        if r._merge == "right_only":
            rows.append(
                _row(
                    base,
                    "edit added",
                    "",
                    f"modifier {r.modifier_indicator_new}",
                    f"from {r.effective_new:%Y-%m-%d}; {r.rationale_new}",
                )
            )
        elif r._merge == "left_only":
            end = ended.get((r.setting, r.column1, r.column2))
            rows.append(_row(base, "edit deleted", f"modifier {r.modifier_indicator_old}", "", _ended(end)))
        elif r.modifier_indicator_old != r.modifier_indicator_new:
            rows.append(
                _row(
                    base,
                    "modifier indicator changed",
                    r.modifier_indicator_old,
                    r.modifier_indicator_new,
                    r.rationale_new,
                )
            )
    return _frame(rows, billed)


def mue_changes(edits: EditTables, old: str, new: str, billed: pd.DataFrame) -> pd.DataFrame:
    codes = billed["code"].tolist()
    a = _pd(edits.rows("mue", old, codes))
    b = _pd(edits.rows("mue", new, codes))
    merged = a.merge(b, on=["setting", "code"], how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for r in _records(merged):
        base = {"code": r.code, "other": "", "setting": r.setting}
        if r._merge == "right_only":
            rows.append(_row(base, "MUE added", "", f"{int(r.mue_new)} (MAI {int(r.mai_new)})", r.rationale_new))
        elif r._merge == "left_only":
            rows.append(_row(base, "MUE removed", f"{int(r.mue_old)} (MAI {int(r.mai_old)})", "", r.rationale_old))
        else:
            if r.mue_old != r.mue_new:
                rows.append(_row(base, "MUE value changed", str(int(r.mue_old)), str(int(r.mue_new)), r.rationale_new))
            if r.mai_old != r.mai_new:
                rows.append(
                    _row(
                        base,
                        "MUE adjudication changed",
                        f"MAI {int(r.mai_old)}",
                        f"MAI {int(r.mai_new)}",
                        "1 per line, 2 per day (policy), 3 per day (clinical)",
                    )
                )
    return _frame(rows, billed)


def aoc_changes(edits: EditTables, old: str, new: str, billed: pd.DataFrame) -> pd.DataFrame:
    codes = billed["code"].tolist()

    def read(release, in_force=True):
        t = pd.concat(
            [_pd(edits.rows("aoc", release, codes)), _pd(edits.addon_primaries(release, codes))],
            ignore_index=True,
        )
        t = t.drop_duplicates(["addon", "primary", "effective"])
        return _in_force(t, dt.date.fromisoformat(release)) if in_force else t

    a, b_all = read(old), read(new, in_force=False)
    b = _in_force(b_all, dt.date.fromisoformat(new))
    ended = {(r.addon, r.primary): r.deletion for r in _records(b_all) if not pd.isna(r.deletion)}
    merged = a.merge(b, on=["addon", "primary"], how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for r in _records(merged):
        base = {"code": r.addon, "other": r.primary, "setting": ""}
        if r._merge == "right_only":
            rows.append(
                _row(base, "primary added", "", f"type {int(r.edit_type_new)}", f"from {r.effective_new:%Y-%m-%d}")
            )
        elif r._merge == "left_only":
            end = ended.get((r.addon, r.primary))
            rows.append(_row(base, "primary removed", f"type {int(r.edit_type_old)}", "", _ended(end)))
        elif r.edit_type_old != r.edit_type_new:
            rows.append(
                _row(base, "edit type changed", f"type {int(r.edit_type_old)}", f"type {int(r.edit_type_new)}", "")
            )
    return _frame(rows, billed)


def payment(row, facility: bool) -> float:
    return round((row["fac_total"] if facility else row["nonfac_total"]) * row["conv_factor"], 2)


def pfs_changes(edits: EditTables, old: str, new: str, billed: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Indicator changes on the billed codes' rows, and the payment table: one row per billed code with a
    global row in either quarter, before and after, sorted by the yearly effect (volume known) and then by
    the size of the change."""
    codes = billed["code"].tolist()
    a = _pd(edits.rows("pfs", old, codes))
    b = _pd(edits.rows("pfs", new, codes))
    merged = a.merge(b, on=["code", "modifier"], how="outer", suffixes=("_old", "_new"), indicator=True)
    rows = []
    for r in merged.to_dict(orient="records"):
        base = {"code": r["code"], "other": r["modifier"], "setting": ""}
        if r["_merge"] == "right_only":
            rows.append(_row(base, "code added", "", f"status {r['status_new']}", ""))
            continue
        if r["_merge"] == "left_only":
            rows.append(_row(base, "code removed", f"status {r['status_old']}", "", ""))
            continue
        for column, name in PFS_INDICATORS:
            if r[f"{column}_old"] != r[f"{column}_new"]:
                rows.append(_row(base, "indicator changed", r[f"{column}_old"], r[f"{column}_new"], name))
    changes = _frame(rows, billed)
    pay = []
    volume = billed.set_index("code")["annual_volume"]
    for r in merged[merged["modifier"] == ""].to_dict(orient="records"):

        def money(side, facility, r=r):
            if pd.isna(r.get(f"conv_factor_{side}")):
                return None
            total = r[f"fac_total_{side}"] if facility else r[f"nonfac_total_{side}"]
            return round(total * r[f"conv_factor_{side}"], 2)

        before_nf, after_nf = money("old", False), money("new", False)
        before_f, after_f = money("old", True), money("new", True)
        delta = (after_nf or 0) - (before_nf or 0) if before_nf is not None and after_nf is not None else None
        vol = volume.get(r["code"])
        vol = None if vol is None or pd.isna(vol) else int(vol)
        pay.append(
            {
                "code": r["code"],
                "nonfac_before": before_nf,
                "nonfac_after": after_nf,
                "fac_before": before_f,
                "fac_after": after_f,
                "change": None if delta is None else round(delta, 2),
                "annual_volume": vol,
                "annual_effect": None if delta is None or vol is None else round(delta * vol, 2),
            }
        )
    payments = pd.DataFrame(
        pay,
        columns=[
            "code",
            "nonfac_before",
            "nonfac_after",
            "fac_before",
            "fac_after",
            "change",
            "annual_volume",
            "annual_effect",
        ],
    )
    if len(payments):
        payments["_a"] = pd.to_numeric(payments["annual_effect"]).abs().fillna(-1)
        payments["_c"] = pd.to_numeric(payments["change"]).abs().fillna(-1)
        payments = payments.sort_values(["_a", "_c", "code"], ascending=[False, False, True], kind="stable")
        payments = payments.drop(columns=["_a", "_c"]).reset_index(drop=True)
    return changes, payments


def replacement_payments(edits: EditTables, pairs: list[tuple[str, str]], old: str, new: str) -> pd.DataFrame:
    """A deleted code beside the code that replaces it: the deleted code's payment in the quarter before,
    the replacement's in the new one (both non-facility and facility), where the fee schedule has them."""
    codes = sorted({c for pair in pairs for c in pair})
    if not codes:
        return pd.DataFrame(
            columns=["deleted", "replacement", "deleted_nonfac", "replacement_nonfac", "deleted_fac", "replacement_fac"]
        )
    a = _pd(edits.rows("pfs", old, codes))
    b = _pd(edits.rows("pfs", new, codes))
    a, b = a[a["modifier"] == ""].set_index("code"), b[b["modifier"] == ""].set_index("code")
    out = []
    for deleted, replacement in pairs:
        if deleted not in a.index or replacement not in b.index:
            continue
        out.append(
            {
                "deleted": deleted,
                "replacement": replacement,
                "deleted_nonfac": payment(a.loc[deleted], False),
                "replacement_nonfac": payment(b.loc[replacement], False),
                "deleted_fac": payment(a.loc[deleted], True),
                "replacement_fac": payment(b.loc[replacement], True),
            }
        )
    return pd.DataFrame(
        out,
        columns=["deleted", "replacement", "deleted_nonfac", "replacement_nonfac", "deleted_fac", "replacement_fac"],
    )


def edit_changes(
    edits: EditTables, system: str, inventory, old: str | None = None, new: str | None = None
) -> EditChanges | None:
    """The changes between two stored quarters of one edit set (default: the newest and the one before)
    that touch the inventory's codes; None when fewer than two quarters are stored."""
    new = new or edits.latest(system)
    old = old or (edits.previous(system, new) if new else None)
    if not new or not old:
        return None
    billed = billed_codes(inventory)
    payments = pd.DataFrame()
    if system == "ptp":
        rows = ptp_changes(edits, old, new, billed)
    elif system == "mue":
        rows = mue_changes(edits, old, new, billed)
    elif system == "aoc":
        rows = aoc_changes(edits, old, new, billed)
    else:
        rows, payments = pfs_changes(edits, old, new, billed)
    return EditChanges(system, old, new, edits.label(system, old), edits.label(system, new), rows, payments)
