"""Rules on the global surgery package and add-on codes, across the claims of a patient in one claims file.

The fee schedule's global days (claims.reference: the stored PFS quarter in force on each line's date) say
which procedures carry a global period: 000 and 010 (minor: the day of the procedure; 010 also the 10 days
after), 090 (major: the day before, the day of, and the 90 days after). CMS Pub. 100-04 ch. 12 section 40
(the global surgery package) and the NCCI Policy Manual ch. I say which E/M visits and procedures in those
periods are paid, and with which modifier: 25 (a significant, separately identifiable E/M on the day of a
minor procedure), 57 (the E/M that was the decision for major surgery, the day before or the day of it),
24 (an E/M unrelated to the surgery in its post-operative period), 58/78/79 (a procedure in another's
post-operative period: staged or related, an unplanned return to the operating room, unrelated).

The lines compared are those of the same patient, and of the same provider when both lines name one
(provider_npi), anywhere in the claims file: these rules look across claims (claims.rules.base.Rule.across_claims) on a
partition by patient (claims.partition), so a patient's claims may lie anywhere in the file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims.rules.base import (
    Rule,
    _result,
    blank_outside,
    code_in,
    has_mod,
    join_text,
    key_pairs,
    line_events,
    one_of,
    same_patient_pairs,
)
from ingest.history import short_list

POSTOP_DAYS = {"010": 10, "090": 90}  # the post-operative days after the day of the procedure
MINOR = ("000", "010")
GLOBALS = ("000", "010", "090")


def _where(ev: pd.DataFrame, e: np.ndarray, other: pd.DataFrame, o: np.ndarray) -> np.ndarray:
    """'line 2' when the other line is on the same claim, 'claim C1 line 2' when not."""
    claim = other["claim_id"].to_numpy(object)[o]
    same = ev["claim_id"].to_numpy(object)[e] == claim
    line = other["line"].to_numpy(object)[o].astype(str).astype(object)
    out = np.empty(len(o), dtype=object)
    k = np.flatnonzero(same)  # each text joined for its lines only
    out[k] = join_text("line ", line[k])
    k = np.flatnonzero(~same)
    out[k] = join_text("claim ", claim[k].astype(str).astype(object), " line ", line[k])
    return out


def _global_days(ctx, rule_id: str, lines, m: np.ndarray, fallback: dict[str, frozenset] | None = None
                 ) -> pd.Categorical:
    """The global days of lines m from the fee schedule in force ('' where the code is not on it); on dates
    no stored PFS quarter covers, the rule file's lists when `pfs_fallback: lists` and the rule has lists
    (fallback: global days -> codes), else '' (counted as not checked). A pd.Categorical, as FeeLines has it."""
    fee = ctx.fee_for(len(m))
    pfs, lists = ctx.fee_or_lists(rule_id, m, has_lists=bool(fallback))
    out = blank_outside(fee.global_days, pfs & fee.found)
    for days, codes in (fallback or {}).items():
        at = np.flatnonzero(lists & code_in(lines, codes))
        if len(at):
            if days not in out.categories:
                out = out.add_categories([days])
            out[at[out.codes[at] == 0]] = days
    return out


def _dated(lines, sel) -> np.ndarray:
    return sel & (lines.frame["visit_key"] >= 0).to_numpy()


class EmModifier25(Rule):
    id = "em-modifier-25"
    title = "E/M with a minor procedure (modifier 25)"
    scope = "patient-day"
    fields = ("code", "dos", "procedures")
    param_types = {"em_codes": "codes", "minor_procedures": "codes"}
    across_claims = True

    def collect(self, ctx, lines, sel, p):
        dated = _dated(lines, sel)
        em = dated & code_in(lines, p["em_codes"])
        gd = _global_days(ctx, self.id, lines, dated & ~em, {"000": p["minor_procedures"]})
        minor = dated & ~em & one_of(gd, MINOR)
        i = np.flatnonzero(em | minor)
        return line_events(lines, i, em=em[i], ok=has_mod(lines, ["25"])[i])

    def finish(self, ctx, ev, p):
        is_em = ev["em"].to_numpy(bool)
        visits, procs = ev[is_em & ~ev["ok"].to_numpy(bool)], ev[~is_em]
        pairs = same_patient_pairs(visits, procs)
        pairs = pairs[pairs["da"].to_numpy() == pairs["db"].to_numpy()]
        if not len(pairs):
            return _result(np.zeros(0))
        ea, eb = pairs["ea"].to_numpy(np.int64), pairs["eb"].to_numpy(np.int64)
        shown = procs["code"].to_numpy(object)[eb] + np.where(
            visits["claim_id"].to_numpy(object)[ea] == procs["claim_id"].to_numpy(object)[eb], "",
            " (claim " + procs["claim_id"].to_numpy(object)[eb].astype(str) + ")").astype(object)
        joined = pd.Series(shown, dtype=object).groupby(ea).agg(lambda s: ", ".join(sorted(set(s))))
        at = joined.index.to_numpy(np.int64)
        e = visits.index.to_numpy(np.int64)[at]
        return _result(e, code=ev["code"].to_numpy(object)[e], dos=ev["dos"].to_numpy(object)[e],
                       procedures=joined.to_numpy(object))


class EmGlobalPeriod(Rule):
    id = "em-global-period"
    title = "E/M in a surgical global period (modifiers 57 and 24)"
    scope = "patient-period"
    fields = ("code", "dos", "surgery", "surgery_dos", "surgery_line", "global_days", "reason", "suggestion")
    param_types = {"em_codes": "codes"}
    across_claims = True

    def collect(self, ctx, lines, sel, p):
        dated = _dated(lines, sel)
        em = dated & code_in(lines, p["em_codes"])
        gd = _global_days(ctx, self.id, lines, dated & ~em)
        if not ctx.fee_stored:  # no global days anywhere: no visit can be in a global period
            return line_events(lines, np.zeros(0, np.int64))
        surgery = dated & ~em & one_of(gd, ("010", "090"))
        i = np.flatnonzero(em | surgery)
        return line_events(lines, i, em=em[i], gd=gd[i], m57=has_mod(lines, ["57"])[i],
                           m24=has_mod(lines, ["24"])[i], m25=has_mod(lines, ["25"])[i])

    def finish(self, ctx, ev, p):
        is_em = ev["em"].to_numpy(bool)
        visits, surg = ev[is_em], ev[~is_em]
        pairs = same_patient_pairs(visits, surg)
        if not len(pairs):
            return _result(np.zeros(0))
        ea, eb = pairs["ea"].to_numpy(np.int64), pairs["eb"].to_numpy(np.int64)
        delta = pairs["da"].to_numpy(np.int64) - pairs["db"].to_numpy(np.int64)
        gd = surg["gd"].to_numpy(object)[eb]
        post_days = np.where(gd == "090", 90, 10)
        pre = (gd == "090") & ((delta == 0) | (delta == -1)) & ~visits["m57"].to_numpy(bool)[ea]
        post = (delta >= 1) & (delta <= post_days) & ~visits["m24"].to_numpy(bool)[ea]
        hit = pre | post
        if not hit.any():
            return _result(np.zeros(0))
        # one finding per visit: the day of (or before) major surgery first, then the nearest surgery before
        k = np.flatnonzero(hit)
        order = np.lexsort((np.abs(delta[k]), ~pre[k], ea[k]))
        k = k[order]
        k = k[np.r_[True, ea[k][1:] != ea[k][:-1]]]
        a, b, d, is_pre = ea[k], eb[k], delta[k], pre[k]
        vcode = visits["code"].to_numpy(object)[a]
        scode = surg["code"].to_numpy(object)[b]
        where = _where(visits, a, surg, b)
        with25 = visits["m25"].to_numpy(bool)[a]
        pre_reason = (np.where(d == -1, "the day before", "the day of") + " major surgery " + scode + " ("
                      + where + ", global period 090) and no modifier 57"
                      + np.where(with25, ": 25 is for the day of a minor procedure; the decision for major "
                                         "surgery takes 57", "")).astype(object)
        post_reason = ("in the " + post_days[k].astype(str) + "-day post-operative period of " + scode + " on "
                       + surg["dos"].to_numpy(object)[b].astype(str) + " (" + where + ") and no modifier 24")
        reason = np.where(is_pre, pre_reason, post_reason).astype(object)
        suggestion = np.where(
            is_pre, "append 57 to " + vcode + " if this visit was the decision for the surgery; otherwise it is "
                    "part of the global surgery package: do not bill it",
            "append 24 to " + vcode + " if the visit was for a problem unrelated to " + scode + "; visits "
            "related to the surgery are part of its global package: do not bill them").astype(object)
        e = visits.index.to_numpy(np.int64)[a]
        return _result(e, code=vcode, dos=visits["dos"].to_numpy(object)[a], surgery=scode,
                       surgery_dos=surg["dos"].to_numpy(object)[b], surgery_line=where,
                       global_days=surg["gd"].to_numpy(object)[b], reason=reason, suggestion=suggestion)


class ProcedureGlobalPeriod(Rule):
    id = "procedure-global-period"
    title = "Procedure in another procedure's post-operative period (modifiers 58, 78, 79)"
    scope = "patient-period"
    fields = ("code", "dos", "surgery", "surgery_dos", "surgery_line", "global_days", "days")
    param_types = {"em_codes": "codes", "modifiers": "codes"}
    across_claims = True

    def collect(self, ctx, lines, sel, p):
        dated = _dated(lines, sel)
        em = dated & code_in(lines, p["em_codes"])
        gd = _global_days(ctx, self.id, lines, dated & ~em)
        if not ctx.fee_stored:
            return line_events(lines, np.zeros(0, np.int64))
        i = np.flatnonzero(dated & ~em & one_of(gd, GLOBALS))
        return line_events(lines, i, gd=gd[i], ok=has_mod(lines, p["modifiers"])[i])

    def finish(self, ctx, ev, p):
        later = ev[~ev["ok"].to_numpy(bool)]
        surg = ev[one_of(ev["gd"].to_numpy(object), ("010", "090"))]
        pairs = same_patient_pairs(later, surg)
        if not len(pairs):
            return _result(np.zeros(0))
        ea, eb = pairs["ea"].to_numpy(np.int64), pairs["eb"].to_numpy(np.int64)
        delta = pairs["da"].to_numpy(np.int64) - pairs["db"].to_numpy(np.int64)
        post_days = np.where(surg["gd"].to_numpy(object)[eb] == "090", 90, 10)
        k = np.flatnonzero((delta >= 1) & (delta <= post_days))
        if not len(k):
            return _result(np.zeros(0))
        k = k[np.lexsort((delta[k], ea[k]))]
        k = k[np.r_[True, ea[k][1:] != ea[k][:-1]]]
        a, b = ea[k], eb[k]
        e = later.index.to_numpy(np.int64)[a]
        return _result(e, code=later["code"].to_numpy(object)[a], dos=later["dos"].to_numpy(object)[a],
                       surgery=surg["code"].to_numpy(object)[b], surgery_dos=surg["dos"].to_numpy(object)[b],
                       surgery_line=_where(later, a, surg, b), global_days=surg["gd"].to_numpy(object)[b],
                       days=post_days[k].astype(str).astype(object))


class AddonPrimary(Rule):
    id = "addon-code-primary"
    title = "Add-on code without its primary procedure"
    scope = "patient-day"
    fields = ("code", "dos", "primaries", "edit_type", "reason")
    param_types = {"type3_severity": "choice:error|warning"}
    across_claims = True

    def collect(self, ctx, lines, sel, p):
        f = lines.frame
        dated = _dated(lines, sel)
        aoc = ctx.aoc
        code = f["code"].to_numpy(object)
        fee = ctx.fee_for(len(f))
        zzz = dated & fee.found & one_of(fee.global_days, ("ZZZ",))
        m = ctx.checkable(self.id, "aoc", dated)
        if aoc is None or not len(aoc) or not m.any():
            ctx.skip(self.id, "add-on codes (ZZZ on the fee schedule) with no add-on code edit in force",
                     np.count_nonzero(m & zzz))
            return line_events(lines, np.zeros(0, np.int64))
        i = np.flatnonzero(m)
        # the in-force edits of each line's code as the add-on: only the lines whose code is an add-on code of
        # some edit (a set look-up per distinct code of the partition) are paired with the edits
        addon_codes = aoc["addon"].to_numpy(object)
        is_addon_code = lines.code_in(set(addon_codes))[i]
        j = np.flatnonzero(is_addon_code)
        day = f["dos"].to_numpy()[i[j]]
        rows, at = object_pairs(addon_codes, code[i[j]])
        live = (aoc["effective"].to_numpy()[rows] <= day[at]) & (
            aoc["deletion"].isna().to_numpy()[rows] | (day[at] < aoc["deletion"].to_numpy()[rows]))
        rows, at = rows[live], j[at[live]]
        addon = np.zeros(len(i), bool)
        addon[at] = True
        etype = np.zeros(len(i), np.int64)
        np.maximum.at(etype, at, np.where(aoc["edit_type"].to_numpy(np.int64)[rows] == 2, 4,
                                          aoc["edit_type"].to_numpy(np.int64)[rows]))
        primaries = pd.Series(aoc["primary"].to_numpy(object)[rows], dtype=object).groupby(at).agg(
            lambda s: " ".join(sorted(set(s))))
        listed = np.full(len(i), "", dtype=object)
        listed[primaries.index.to_numpy(np.int64)] = primaries.to_numpy(object)
        ctx.skip(self.id, "add-on codes (ZZZ on the fee schedule) with no add-on code edit in force",
                 np.count_nonzero(zzz[i] & ~addon))
        cand = lines.code_in(set(aoc["primary"].to_numpy(object)))[i] & ~addon
        keep = addon | cand
        return line_events(lines, i[keep], addon=addon[keep], etype=etype[keep], listed=listed[keep])

    def finish(self, ctx, ev, p):
        is_addon = ev["addon"].to_numpy(bool)
        etype = ev["etype"].to_numpy(np.int64)
        adds = ev[is_addon & (etype != 4)]  # type 2 (4 here): the contractor decides, nothing to check
        if not len(adds):
            return _result(np.zeros(0))
        pairs = same_patient_pairs(adds, ev[~is_addon])
        pairs = pairs[pairs["da"].to_numpy() == pairs["db"].to_numpy()]
        ea, eb = pairs["ea"].to_numpy(np.int64), pairs["eb"].to_numpy(np.int64)
        prim = ev[~is_addon]["code"].to_numpy(object)[eb]
        listed = adds["listed"].to_numpy(object)[ea]
        ok = np.array([c in lst.split(" ") for c, lst in zip(prim, listed, strict=True)], dtype=bool)
        served = np.zeros(len(adds), bool)
        served[ea[ok]] = True
        a = np.flatnonzero(~served)
        t = adds["etype"].to_numpy(np.int64)[a]
        shown = np.array([short_list(s.split(" ")) for s in adds["listed"].to_numpy(object)[a]], dtype=object)
        e = adds.index.to_numpy(np.int64)[a]
        reason = np.where(t == 3, "edit type 3: the listed primaries, or another primary the contractor allows",
                          "edit type 1: paid only with one of the listed primaries").astype(object)
        return _result(e, code=adds["code"].to_numpy(object)[a], dos=adds["dos"].to_numpy(object)[a],
                       primaries=shown, edit_type=t.astype(str).astype(object), reason=reason,
                       severity=np.where(t == 3, p["type3_severity"], "").astype(object))


def object_pairs(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows, at): every (row of keys, position in values) with keys[row] == values[position], in order of row,
    then position (key_pairs on the strings factorized together)."""
    ids = pd.factorize(np.concatenate([np.asarray(keys, dtype=object), np.asarray(values, dtype=object)]),
                       use_na_sentinel=False)[0].astype(np.int64)
    return key_pairs(ids[:len(keys)], ids[len(keys):])
