"""The denial report's numbers, from the joined lines (denials.join): for each release's effective date the 90
days after against the 90 days before (denial rate and amount by category, for the lines that use a code the
release changed), the top denied codes, diagnosis-procedure pairs and modifiers by payer and provider, the
E/M level distribution by provider beside the organisation's benchmark, and the preventable share (denied
lines on which a scrubber rule fires).

A line is denied when an adjustment of a denial category (not contractual, not the patient's share) takes
an amount from it; its denied amount is the sum of those adjustments. Rates are denied lines over lines.
"""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from denials.join import NONE, date_order
from denials.taxonomy import Taxonomy

WINDOW_DAYS = 90
TOP = 10  # rows a page shows of each top table (the JSON has them all)
EM_FAMILIES = {"established": ("99211", "99212", "99213", "99214", "99215"),
               "new": ("99202", "99203", "99204", "99205")}
SYSTEM_FIELD = {"icd10cm": "diagnoses", "hcpcs": "procedure_code", "pos": "place_of_service"}


def load_benchmark(path: Path) -> dict[str, float]:
    """The organisation's E/M benchmark: code -> share of its family (codesets/denials/em-benchmark.csv)."""
    from ingest.model import ParseError

    path = Path(path)
    if not path.exists():
        return {}
    out = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if list(reader.fieldnames or []) != ["family", "code", "share"]:
            raise ParseError(path, 1, "expected the columns family, code, share")
        for line, row in enumerate(reader, start=2):
            if row["family"] not in EM_FAMILIES or row["code"] not in EM_FAMILIES[row["family"]]:
                known = ", ".join(EM_FAMILIES.get(row["family"], ())) or "family: established or new"
                raise ParseError(path, line, f"expected an E/M code of the {row['family']!r} family ({known}), "
                                             f"found {row['code']!r}")
            try:
                share = float(row["share"])
            except ValueError:
                raise ParseError(path, line, f"expected a share between 0 and 1, found {row['share']!r}") from None
            if not 0 <= share <= 1:
                raise ParseError(path, line, f"expected a share between 0 and 1, found {row['share']!r}")
            out[row["code"]] = share
    return out


def _money(x) -> float:
    return round(float(x), 2)


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _window(frame: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    day = frame["service_date"]
    return frame[(day >= pd.Timestamp(start)) & (day < pd.Timestamp(end))]


def _by_category(frame: pd.DataFrame, taxonomy: Taxonomy) -> list[dict]:
    denied = frame[frame["denied"] > 0]
    rows = []
    for cat, info in taxonomy.categories.items():
        if not info["denial"]:
            continue
        part = denied[denied["category"] == cat]
        rows.append({"category": cat, "label": info["label"], "denied_lines": int(len(part)),
                     "rate": _rate(len(part), len(frame)), "amount": _money(part["denied"].sum())})
    return rows


def _totals(frame: pd.DataFrame) -> dict:
    denied = frame[frame["denied"] > 0]
    return {"lines": int(len(frame)), "denied_lines": int(len(denied)), "rate": _rate(len(denied), len(frame)),
            "billed": _money(frame["billed"].sum()), "paid": _money(frame["paid"].sum()),
            "amount": _money(denied["denied"].sum())}


def _per_value(col: pd.Series, fn) -> np.ndarray:
    """fn of each value, computed once per distinct value (a million lines hold few)."""
    codes, uniques = pd.factorize(col)
    return np.array([fn(v) for v in uniques], bool)[codes] if len(col) else np.zeros(0, bool)


def _touches(frame: pd.DataFrame, system: str, codes: set[str]) -> np.ndarray:
    col = SYSTEM_FIELD[system]
    if system == "icd10cm":
        return _per_value(frame[col], lambda v: any(d in codes for d in v.split(";")) if v else False)
    hit = _per_value(frame[col], lambda v: v.upper().replace(".", "") in codes)
    if system == "hcpcs":  # a changed modifier counts too
        hit |= _per_value(frame["modifiers"], lambda v: any(m in codes for m in v.split()))
    return hit


def release_windows(frame: pd.DataFrame, changes: list[dict], taxonomy: Taxonomy) -> list[dict]:
    """For each release: the lines that use one of its changed codes, 90 days after its effective date against
    the 90 days before. Releases whose windows hold no remittance line at all are left out."""
    out = []
    frame = frame[["service_date", "denied", "category", "billed", "paid", "modifiers",
                   *sorted(set(SYSTEM_FIELD.values()))]]  # the columns used: the windows copy fewer
    dated = frame[frame["service_date"].notna()]
    for rel in changes:
        eff = dt.date.fromisoformat(rel["release"])
        before = (eff - dt.timedelta(days=WINDOW_DAYS), eff)
        after = (eff, eff + dt.timedelta(days=WINDOW_DAYS))
        near = _window(dated, before[0], after[1])
        if not len(near):
            continue
        touched = near[_touches(near, rel["system"], rel["codes"])]
        windows = {}
        for name, (start, end) in (("before", before), ("after", after)):
            part = _window(touched, start, end)
            everything = _window(near, start, end)
            windows[name] = {"start": start.isoformat(), "end": (end - dt.timedelta(days=1)).isoformat(),
                             **_totals(part), "all_lines": _totals(everything),
                             "by_category": _by_category(part, taxonomy)}
        used = sorted({c for v in touched[SYSTEM_FIELD[rel["system"]]] for c in
                       (v.split(";") if rel["system"] == "icd10cm" else [v]) if c in rel["codes"]})
        out.append({"system": rel["system"], "release": rel["release"], "label": rel["label"],
                    "changed_codes": len(rel["codes"]), "codes_billed": [_display(rel["system"], c) for c in used],
                    "before": windows["before"], "after": windows["after"],
                    "change": {"rate": (None if windows["before"]["rate"] is None or windows["after"]["rate"] is None
                                        else round(windows["after"]["rate"] - windows["before"]["rate"], 4)),
                               "amount": _money(windows["after"]["amount"] - windows["before"]["amount"])}})
    return out


def _display(system: str, code: str) -> str:
    from ingest.systems import display

    try:
        return display(system, code)
    except Exception:  # noqa: BLE001 - a code the registry cannot show stays as it is
        return code


def _top(frame: pd.DataFrame, keys: list[str], taxonomy: Taxonomy) -> list[dict]:
    """Denied lines grouped by keys: count, amount, the rate among all lines with the same keys, and the
    category with the largest amount. Largest amount first, then most lines, then the keys."""
    if not len(frame):
        return []
    grouped = frame.groupby(keys, sort=False)
    total = grouped.size().rename("lines")
    denied = frame[frame["denied"] > 0]
    if not len(denied):
        return []
    d = denied.groupby(keys, sort=False).agg(denied_lines=("denied", "size"), amount=("denied", "sum"))
    order = {c: i for i, c in enumerate(taxonomy.categories)}  # a tie goes to the category listed first
    cat = denied.groupby([*keys, "category"], sort=False)["denied"].sum().reset_index()
    cat = (cat.assign(_o=cat["category"].map(order))
           .sort_values([*keys, "denied", "_o"], ascending=[True] * len(keys) + [False, True])
           .drop_duplicates(keys).set_index(keys)["category"])
    t = d.join(total).join(cat).reset_index()
    t["amount"] = t["amount"].round(2)
    t = t.sort_values(["amount", "denied_lines", *keys], ascending=[False, False, *[True] * len(keys)], kind="stable")
    return [{**{k: r[k] for k in keys}, "denied_lines": int(r["denied_lines"]), "lines": int(r["lines"]),
             "rate": _rate(int(r["denied_lines"]), int(r["lines"])), "amount": _money(r["amount"]),
             "category": r["category"], "category_label": taxonomy.label(r["category"])}
            for r in t.to_dict("records")]


def _owned(rows: list[dict], frame: pd.DataFrame) -> list[dict]:
    """Each code's specialty and owner from the inventory (denials.join)."""
    codes = frame.drop_duplicates("procedure_code").set_index("procedure_code")
    for r in rows:
        r["specialty"] = codes.at[r["procedure_code"], "specialty"] if r["procedure_code"] in codes.index else ""
        r["owner"] = codes.at[r["procedure_code"], "owner"] if r["procedure_code"] in codes.index else ""
    return rows


def _pairs_frame(frame: pd.DataFrame) -> pd.DataFrame:
    with_dx = frame[frame["diagnoses"] != ""]
    exploded = with_dx.assign(diagnosis=with_dx["diagnoses"].str.split(";")).explode("diagnosis")
    exploded["diagnosis"] = exploded["diagnosis"].map(lambda c: _display("icd10cm", c))
    return exploded


def _modifier_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per line and modifier ((none) for a line without one): each distinct modifier string split once,
    the lines repeated by their number of modifiers."""
    codes, uniques = pd.factorize(frame["modifiers"])
    parts = [u.split() or [None] if u != "" else [NONE] for u in uniques]
    counts = np.array([len(x) for x in parts], np.int64)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    flat = np.array([m for x in parts for m in x], object)
    per_line = counts[codes]
    rows = np.repeat(np.arange(len(frame)), per_line)
    nth = np.arange(len(rows)) - np.repeat(np.cumsum(per_line) - per_line, per_line)
    return frame.take(rows).assign(modifier=flat[np.repeat(starts[codes], per_line) + nth])


def em_levels(frame: pd.DataFrame, benchmark: dict[str, float]) -> list[dict]:
    """Per provider and family: each level's lines and share beside the benchmark's share (points apart)."""
    out = []
    for family, codes in EM_FAMILIES.items():
        part = frame[frame["procedure_code"].isin(codes)]
        for provider, group in sorted(part.groupby("provider"), key=lambda kv: kv[0]):
            n = len(group)
            counts = group["procedure_code"].value_counts()
            downcoded = int((group["adjudicated_code"] != group["procedure_code"]).sum())
            levels = []
            for code in codes:
                k = int(counts.get(code, 0))
                share = round(k / n, 4) if n else 0.0
                bench = benchmark.get(code)
                levels.append({"code": code, "lines": k, "share": share, "benchmark": bench,
                               "difference": None if bench is None else round(share - bench, 4)})
            out.append({"provider": provider, "family": family, "lines": n, "downcoded": downcoded, "levels": levels})
    return out


def summarise(joined, changes: list[dict], taxonomy: Taxonomy, benchmark: dict[str, float] | None = None,
              since: dt.date | None = None) -> dict:
    """Every number the command and the pages show, as a JSON-ready dict."""
    frame = joined.lines
    if since is not None:
        frame = frame[frame["service_date"].notna() & (frame["service_date"] >= pd.Timestamp(since))]
    denied = frame[frame["denied"] > 0]
    prevent = denied[denied["preventable"]]
    dated = frame["service_date"].dropna()
    keys = ["payer", "provider", "denied", "category"]
    pairs = _pairs_frame(frame[[*keys, "procedure_code", "diagnoses"]])
    notes = list(joined.notes)
    return {
        "source": taxonomy.source,
        "since": since.isoformat() if since else None,
        "first_service_date": dated.min().date().isoformat() if len(dated) else None,
        "last_service_date": dated.max().date().isoformat() if len(dated) else None,
        "stats": joined.stats,
        "notes": notes,
        "warnings": code_date_warnings(joined.stats.get("codes_out_of_dates", [])),
        "totals": _totals(frame),
        "by_category": _by_category(frame, taxonomy),
        "preventable": {"denied_lines": int(len(prevent)), "amount": _money(prevent["denied"].sum()),
                        "share_lines": _rate(len(prevent), len(denied)),
                        "share_amount": (round(float(prevent["denied"].sum()) / float(denied["denied"].sum()), 4)
                                         if len(denied) and denied["denied"].sum() else None),
                        "by_rule": _by_rule(prevent)},
        "releases": release_windows(frame, changes, taxonomy),
        "top_codes": _owned(_top(frame, ["payer", "provider", "procedure_code"], taxonomy), frame),
        "top_pairs": _top(pairs, ["payer", "provider", "diagnosis", "procedure_code"], taxonomy),
        "top_modifiers": _top(_modifier_frame(frame[[*keys, "modifiers"]]), ["payer", "provider", "modifier"],
                              taxonomy),
        "em_levels": em_levels(frame, benchmark or {}),
        "denied_lines": _denied_lines(denied, taxonomy),
    }


def code_date_warnings(uses: list[dict]) -> list[str]:
    """One sentence per CARC or RARC a remittance used outside its X12 dates (denials.join.codes_out_of_dates)."""
    out = []
    for u in uses:
        what = "adjustment(s)" if u["kind"] == "CARC" else "line(s)"
        span = u["first"] if u["first"] == u["last"] else f"{u['first']} to {u['last']}"
        edge = (f"on or after {u['date']}, the date the X12 list stopped it" if u["when"] == "after" else
                f"before {u['date']}, the date the X12 list started it")
        out.append(f"{u['kind']} {u['code']} is used on {u['uses']} {what} dated {span}, {edge} (source: "
                   f"{u['source']}); they are still counted in the code's category: ask the payer which code it meant")
    return out


def _by_rule(prevent: pd.DataFrame) -> list[dict]:
    if not len(prevent):
        return []
    rules = prevent.assign(rule=prevent["rules"].str.split()).explode("rule")
    g = rules.groupby("rule").agg(denied_lines=("denied", "size"), amount=("denied", "sum")).reset_index()
    g = g.sort_values(["amount", "rule"], ascending=[False, True])
    return [{"rule": r["rule"], "denied_lines": int(r["denied_lines"]), "amount": _money(r["amount"])}
            for r in g.to_dict("records")]


def _denied_lines(denied: pd.DataFrame, taxonomy: Taxonomy) -> list[dict]:
    """One dict per denied line (DENIED_LINE_COLUMNS), built column by column."""
    if not len(denied):
        return []

    def per_value(col: pd.Series, fn) -> list:
        uniques = {v: fn(v) for v in col.unique()}
        return [uniques[v] for v in col.tolist()]

    denied = denied.take(date_order(denied))  # by date of service (none last), then as read
    days = denied["service_date"]
    cols = {
        "payer": denied["payer"].tolist(), "claim_id": denied["claim_id"].tolist(),
        "line": denied["line"].astype(int).tolist(),
        "service_date": per_value(days, lambda d: "" if pd.isna(d) else d.strftime("%Y-%m-%d")),
        "procedure_code": denied["procedure_code"].tolist(), "modifiers": denied["modifiers"].tolist(),
        "diagnoses": per_value(denied["diagnoses"], lambda v: " ".join(_display("icd10cm", d) for d in v.split(";")
                                                                       if d)),
        "provider": denied["provider"].tolist(), "category": denied["category"].tolist(),
        "category_label": per_value(denied["category"], taxonomy.label),
        "carc": (denied["group"] + "-" + denied["carc"]).tolist(), "remarks": denied["remarks"].tolist(),
        "billed": denied["billed"].round(2).tolist(), "paid": denied["paid"].round(2).tolist(),
        "denied": denied["denied"].round(2).tolist(), "preventable": denied["preventable"].astype(bool).tolist(),
        "rules": denied["rules"].tolist(),
    }
    keys = list(cols)
    return [dict(zip(keys, row, strict=True)) for row in zip(*cols.values(), strict=True)]


DENIED_LINE_COLUMNS = ("payer", "claim_id", "line", "service_date", "procedure_code", "modifiers", "diagnoses",
                       "provider", "category", "carc", "remarks", "billed", "paid", "denied", "preventable", "rules")
