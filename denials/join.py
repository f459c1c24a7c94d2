"""Remittance lines joined to what the organisation knows about them: the last adjudication of each line with
its denial category (denials.taxonomy), the claims file's line (diagnoses, provider, place of service), the
inventory (specialty, owner), the scrubber's findings on the same line (a rule would have caught it), and
the releases whose changed codes the line uses (ingest.repository's change sets).

Reversals and corrections: a claim the payer adjudicates again (CLP02 22 reverses it, a later CLP with the
same claim id corrects it) is judged by its last adjudication, ordered by the remittance date and then the
order read; a claim whose last word is a reversal has no line left. Claim-level adjustments (CAS after CLP)
fall on the claim's lines in proportion to their charges; a claim with no service line is one line (line 0),
spread over the claims file's lines of that claim when the file is given.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from denials.taxonomy import Taxonomy

NONE = "(none)"  # a line without a modifier, in the modifier table


@dataclass
class Joined:
    lines: pd.DataFrame  # one row per final service line (columns: LINE_COLUMNS), in the order read (`row`)
    stats: dict = field(default_factory=dict)  # lines read, reversals, superseded, matched to the claims file
    notes: list[str] = field(default_factory=list)


LINE_COLUMNS = ("payer", "claim_id", "line", "service_date", "procedure_code", "adjudicated_code", "modifiers",
                "units", "billed", "paid", "denied", "category", "carc", "group", "remarks", "provider",
                "place_of_service", "diagnoses", "specialty", "owner", "preventable", "rules", "in_claims", "row")


KEEP = ("payer", "remit_date", "claim", "claim_id", "rendering_npi", "payee_npi", "line", "procedure_code",
        "modifiers", "adjudicated_code", "billed", "paid", "units", "service_date", "remarks", "reversal")


def final_claims(lines: pd.DataFrame) -> tuple[np.ndarray, dict]:
    """The claim numbers that stand: per (payer, claim id), the last adjudication unless it is a reversal."""
    claims = lines[["claim", "payer", "claim_id", "remit_date", "reversal"]].drop_duplicates("claim")
    claims = claims.sort_values(["remit_date", "claim"], kind="stable", na_position="first")
    payer, _ = pd.factorize(claims["payer"])
    claim_id, _ = pd.factorize(claims["claim_id"])
    key = payer.astype(np.int64) * (int(claim_id.max(initial=0)) + 1) + claim_id
    _, first_from_end = np.unique(key[::-1], return_index=True)  # each (payer, claim id)'s last adjudication
    is_last = np.zeros(len(claims), bool)
    is_last[len(claims) - 1 - first_from_end] = True
    last = claims[is_last]
    standing = last.loc[~last["reversal"], "claim"].to_numpy()
    stats = {"adjudications": int(len(claims)), "reversals": int(claims["reversal"].sum()),
             "superseded": int(len(claims) - len(last)), "reversed": int(last["reversal"].sum())}
    return standing, stats


def classify(remits, taxonomy: Taxonomy) -> tuple[pd.DataFrame, dict]:
    """The standing lines with their denied amount and main denial category (the category with the largest
    denied amount on the line; its CARC and group)."""
    lines = remits.lines.select(KEEP).to_pandas(date_as_object=False)  # dates as datetime64: compared in bulk
    adj = remits.adjustments.select(["claim", "row", "group", "carc", "amount"]).to_pandas()  # the ones used
    lines["_row"] = np.arange(len(lines))
    standing, stats = final_claims(lines) if len(lines) else (np.array([], np.int64), {
        "adjudications": 0, "reversals": 0, "superseded": 0, "reversed": 0})
    stats["lines_read"] = int(len(lines))
    stands = np.zeros(int(max(lines["claim"].max(), adj["claim"].max() if len(adj) else 0)) + 1 if len(lines) else 1,
                      bool)  # claim numbers are the read's own, 1 to the number of claims: a table, not a hash
    stands[standing] = True
    lines = lines[stands[lines["claim"].to_numpy()]].reset_index(drop=True)
    adj = adj[stands[adj["claim"].to_numpy()]]
    # claim-level adjustments onto the claim's lines, in proportion to their charges
    claim_level = adj[adj["row"] < 0]
    if len(claim_level):
        per_claim = lines[["claim", "_row", "billed"]]
        spread = claim_level.drop(columns="row").merge(per_claim, on="claim")
        total = spread.groupby(["claim", "carc", "group", "amount"], sort=False)["billed"].transform("sum")
        count = spread.groupby(["claim", "carc", "group", "amount"], sort=False)["billed"].transform("size")
        share = np.where(total != 0, spread["billed"] / total.where(total != 0, 1), 1 / count)
        spread = spread.assign(amount=spread["amount"] * share, row=spread["_row"]).drop(columns=["_row", "billed"])
        adj = pd.concat([adj[adj["row"] >= 0], spread[adj.columns]], ignore_index=True)
    # each adjustment's category: the CARC's, or the line's remark for a generic CARC (mapped per distinct code)
    carc_codes, carc_uniques = pd.factorize(adj["carc"])
    cat = pd.Series(np.array([taxonomy.carc[c]["category"] if c in taxonomy.carc else "other"
                              for c in carc_uniques], object)[carc_codes] if len(adj) else np.array([], object),
                    index=adj.index, dtype=object)
    generic = (cat == "information").to_numpy()
    if generic.any():
        remarks = lines.set_index("_row")["remarks"]
        rows = adj.loc[generic, "row"].to_numpy()
        cat.loc[generic] = [taxonomy.category(c, remarks.get(r, "")) for c, r in
                            zip(adj.loc[generic, "carc"], rows, strict=True)]
    adj = adj.assign(category=cat.to_numpy())
    is_denial = {k: v["denial"] for k, v in taxonomy.categories.items()}
    cat_codes, cat_uniques = pd.factorize(adj["category"])
    denial = np.array([is_denial.get(c, True) for c in cat_uniques], bool)[cat_codes] if len(adj) else np.zeros(0, bool)
    denials = adj[denial & (adj["amount"] > 0).to_numpy()]
    # per line (by its read position): the denied amount and the adjustment with the largest amount
    at = np.full(len(remits.lines), -1, np.int64)
    at[lines["_row"].to_numpy()] = np.arange(len(lines))
    denied = denials.groupby("row")["amount"].sum()
    amount = np.zeros(len(lines))
    amount[at[denied.index.to_numpy()]] = denied.to_numpy()
    lines["denied"] = np.round(amount, 2)
    main = denials.sort_values(["row", "amount"], ascending=[True, False], kind="stable").drop_duplicates("row")
    where = at[main["row"].to_numpy()]
    for col in ("category", "carc", "group"):
        codes, uniques = pd.factorize(main[col])
        placed = np.full(len(lines), -1, np.int64)
        placed[where] = codes
        lines[col] = _str_column(placed, list(uniques), lines.index)
    stats["lines"] = int(len(lines))
    return lines, {**stats, "codes_out_of_dates": codes_out_of_dates(lines, adj, at, taxonomy)}


def _str_column(codes: np.ndarray, values: list[str], index) -> pd.Series:
    """A string column: values[codes[i]] at row i, '' where codes[i] is -1; built in Arrow from the codes (no
    Python string per row)."""
    dictionary = pa.array(["", *values], pa.string())
    column = pa.DictionaryArray.from_arrays(pa.array(np.asarray(codes) + 1, pa.int32()), dictionary)
    return column.cast(pa.string()).to_pandas().set_axis(index)


def codes_out_of_dates(lines: pd.DataFrame, adj: pd.DataFrame, at: np.ndarray, taxonomy: Taxonomy) -> list[dict]:
    """The CARCs (adjustments) and RARCs (line remarks) a remittance used outside the dates the X12 list gives
    them: on or after the code's stop date, or before its start date. A use is dated by the remittance
    (DTM*405, BPR16), else the line's service date. The adjustments still count in their category."""
    day = lines["remit_date"].where(lines["remit_date"].notna(), lines["service_date"]).to_numpy()
    used = []
    if len(adj):
        codes, uniques = pd.factorize(adj["carc"])
        used.append(("carc", codes, list(uniques), day[at[adj["row"].to_numpy()]]))
    has = (lines["remarks"] != "").to_numpy()
    if has.any():  # each distinct remark string split once, its lines repeated per code
        per, remark_strings = pd.factorize(lines.loc[has, "remarks"])
        parts = [r.split() for r in remark_strings]
        names = sorted({c for x in parts for c in x})
        number = {c: i for i, c in enumerate(names)}
        counts = np.array([len(x) for x in parts], np.int64)[per]
        flat = np.array([number[c] for x in parts for c in x], np.int64)
        first = np.concatenate([[0], np.cumsum([len(x) for x in parts])[:-1]]).astype(np.int64)
        nth = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
        used.append(("rarc", flat[np.repeat(first[per], counts) + nth], names, np.repeat(day[has], counts)))
    out = []
    never, always = np.datetime64("9999-12-31"), np.datetime64("0001-01-01")
    for kind, codes, names, days in used:
        listed = getattr(taxonomy, kind)
        entries = [listed.get(c) or {"start": "", "stop": ""} for c in names]
        stop = np.array([np.datetime64(e["stop"]) if e["stop"] else never for e in entries], "datetime64[D]")
        start = np.array([np.datetime64(e["start"]) if e["start"] else always for e in entries], "datetime64[D]")
        for when, outside in (("after", days >= stop[codes]), ("before", days < start[codes])):
            outside &= ~np.isnat(days)
            for k in np.unique(codes[outside]):
                entry, hit = listed[names[k]], days[outside & (codes == k)]
                out.append({"kind": kind.upper(), "code": names[k], "when": when,
                            "date": entry["stop"] if when == "after" else entry["start"], "source": entry["source"],
                            "uses": int(len(hit)), "first": str(hit.min().astype("datetime64[D]")),
                            "last": str(hit.max().astype("datetime64[D]"))})
    return sorted(out, key=lambda u: (u["kind"], u["code"], u["when"]))


def _norm_dx(text: str) -> str:
    return ";".join(d.strip().upper().replace(".", "") for d in str(text).replace(",", ";").split(";") if d.strip())


def join(remits, taxonomy: Taxonomy, claims: pd.DataFrame | None = None, inventory=None,
         findings: pd.DataFrame | None = None) -> Joined:
    """Every standing remittance line with its category and what the claims file, the inventory and the
    scrubber's findings say about it."""
    lines, stats = classify(remits, taxonomy)
    notes = []
    lines["line"] = lines["line"].astype(np.int64)
    out = lines
    out["place_of_service"] = ""
    out["diagnoses"] = ""
    out["in_claims"] = False
    out["provider"] = out["rendering_npi"].where(out["rendering_npi"] != "", out["payee_npi"])
    if claims is not None and len(claims):
        c = pd.DataFrame({
            "claim_id": claims["claim_id"].astype(str).str.strip(),
            "line": pd.to_numeric(claims["line"], errors="coerce").fillna(-1).astype(np.int64),
            "c_code": claims["procedure_code"].astype(str).str.strip().str.upper(),
            "c_mods": claims["modifiers"].fillna("").astype(str).str.split().str.join(" "),
            "c_charge": pd.to_numeric(claims["charge"], errors="coerce").fillna(0.0),
            "c_pos": claims["place_of_service"].fillna("").astype(str).str.strip(),
            "c_dx": claims["diagnosis_codes"].fillna("").astype(str),
            "c_npi": claims["provider_npi"].fillna("").astype(str).str.strip(),
            "c_units": pd.to_numeric(claims["units"], errors="coerce"),
            "c_dos": claims["date_of_service"].astype(str),
        }).drop_duplicates(["claim_id", "line"])
        # a claim without service lines (line 0): one row per claims-file line, amounts by charge share
        zero = out["line"] == 0
        if zero.any():
            whole = out[zero].drop(columns="line").merge(c[["claim_id", "line", "c_charge"]], on="claim_id")
            if len(whole):
                total = whole.groupby("_row")["c_charge"].transform("sum")
                share = np.where(total > 0, whole["c_charge"] / total.where(total > 0, 1), 1.0)
                for col in ("billed", "paid", "denied"):
                    whole[col] = (whole[col] * share).round(2)
                whole = whole.drop(columns="c_charge")
                matched = out.loc[zero, "_row"].isin(whole["_row"])
                out = pd.concat([out[~zero], out[zero][~matched.to_numpy()], whole[out.columns]], ignore_index=True)
        merged = out.merge(c, on=["claim_id", "line"], how="left", indicator=True)
        hit = (merged.pop("_merge") == "both").to_numpy()
        merged["in_claims"] = hit
        fill = hit & (merged["procedure_code"] == "")
        merged.loc[fill, "procedure_code"] = merged.loc[fill, "c_code"]
        merged.loc[fill, "modifiers"] = merged.loc[fill, "c_mods"]
        merged.loc[fill, "adjudicated_code"] = merged.loc[fill, "c_code"]
        merged.loc[fill, "units"] = merged.loc[fill, "c_units"]
        merged.loc[hit, "place_of_service"] = merged.loc[hit, "c_pos"]
        merged.loc[hit, "diagnoses"] = merged.loc[hit, "c_dx"].map(_norm_dx)
        has_npi = hit & (merged["c_npi"] != "")
        merged.loc[has_npi, "provider"] = merged.loc[has_npi, "c_npi"]
        nodate = hit & merged["service_date"].isna()
        if nodate.any():
            merged.loc[nodate, "service_date"] = pd.to_datetime(merged.loc[nodate, "c_dos"], errors="coerce")
        out = merged.drop(columns=[k for k in c.columns if k.startswith("c_")])
        missing = int((~hit).sum())
        stats["matched_claims"] = int(hit.sum())
        if missing:
            notes.append(f"{missing} remittance line(s) have no line in the claims file (claim id and line): "
                         "no diagnoses or place of service for them")
    # inventory: who owns the procedure code
    out["specialty"] = ""
    out["owner"] = ""
    if inventory is not None and len(inventory.rows):
        inv = inventory.rows[inventory.rows["system"].isin(["cpt", "hcpcs"])].drop_duplicates("code")
        spec = dict(zip(inv["code"].str.upper(), inv["specialty"], strict=True))
        owner = dict(zip(inv["code"].str.upper(), inv["owner"], strict=True))
        codes, uniques = pd.factorize(out["procedure_code"])  # each distinct code looked up once
        for col, table in (("specialty", spec), ("owner", owner)):
            values = [table.get(c) for c in uniques]
            out[col] = _str_column(codes, [v if isinstance(v, str) else "" for v in values], out.index)
    # the scrubber's findings on the same line
    out["rules"] = ""
    if findings is not None and len(findings):
        f = pd.DataFrame({"claim_id": findings["claim_id"].astype(str),
                          "line": pd.to_numeric(findings["line"], errors="coerce").fillna(-1).astype(np.int64),
                          "rule": findings["rule"].astype(str)})
        rules = f.drop_duplicates().sort_values("rule").groupby(["claim_id", "line"])["rule"].agg(" ".join)
        key = pd.MultiIndex.from_arrays([out["claim_id"], out["line"]])
        out["rules"] = pd.Series(rules.reindex(key).to_numpy(), index=out.index).fillna("")
    out["preventable"] = (out["denied"] > 0) & (out["rules"] != "")
    out = out.rename(columns={"_row": "row"})[list(LINE_COLUMNS)]
    return Joined(out, stats, notes)


def date_order(frame: pd.DataFrame) -> np.ndarray:
    """The positions of the lines by date of service (none last), then as read (the report's order). Sorting
    is left to the few rows listed: a million joined lines are summarised in the order read."""
    return np.lexsort((frame["row"].to_numpy(), frame["service_date"].isna().to_numpy(),
                       frame["service_date"].to_numpy()))


def release_changes(repo) -> list[dict]:
    """Each stored release that changed codes: its code set, id, label, effective date and the changed codes
    (official form, no dots): added, deleted, expanded, revised, reused, reactivated, header to billable."""
    from ingest.model import SYSTEMS

    out = []
    for system in SYSTEMS:
        for cs in repo.change_sets(system):
            codes = set()
            for kind in ("added", "deleted", "expanded", "header_to_billable", "reused", "reactivated"):
                codes.update(e.code for e in getattr(cs, kind))
            codes.update(r.code for r in cs.revised)
            if codes:
                out.append({"system": system, "release": cs.to_release, "label": cs.to_label or cs.to_release,
                            "codes": codes})
    return sorted(out, key=lambda r: (r["release"], r["system"]))
