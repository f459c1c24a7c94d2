"""Rules on therapy claims: timed units (8-minute rule), the GP discipline modifier, the KX threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims.rules.base import Rule, _ints, _money, _result, code_in, has_mod, join_by_group, line_events


def _unit_word(n) -> np.ndarray:
    return np.where(np.asarray(n) == 1, " unit of ", " units of ").astype(object)


class TimedUnits(Rule):
    id = "timed-units-8-minute"
    title = "Timed units and the 8-minute rule"
    scope = "visit"
    fields = ("code", "dos", "units", "minutes", "allowed", "total_units", "total_minutes", "total_allowed",
              "distribution", "lines", "method", "reason")
    param_types = {"codes": "codes", "method": "choice:total|per-code"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        units = f["units"].to_numpy(float)
        m = sel & code_in(lines, p["codes"]) & (f["visit_key"] >= 0).to_numpy() & np.isfinite(units)
        i = np.flatnonzero(m)
        if not len(i):
            return _result(i)
        minutes = np.nan_to_num(f["minutes"].to_numpy(float)[i], nan=0.0)
        line = f["line"].to_numpy(object)[i]
        code = f["code"].to_numpy(object)[i]
        dos = f["dos_text"].to_numpy(object)[i]
        if p["method"] == "per-code":
            allowed = (minutes + 7) // 15
            k = np.flatnonzero(units[i] > allowed)
            reason = (code[k] + ": " + _ints(units[i][k]) + " units billed on " + dos[k] + ", but its "
                      + _ints(minutes[k]) + " minutes support " + _ints(allowed[k]))
            return _result(i[k], code=code[k], dos=dos[k], units=_ints(units[i][k]), minutes=_ints(minutes[k]),
                           allowed=_ints(allowed[k]), total_units=_ints(units[i][k]), total_minutes=_ints(minutes[k]),
                           total_allowed=_ints(allowed[k]), lines=line[k], reason=reason,
                           distribution=_ints(allowed[k]) + _unit_word(allowed[k]) + code[k],
                           method="per code: each line's own minutes")
        return self._cms(i, f["visit_key"].to_numpy()[i], code, dos, units[i], minutes, line, lines.code_key()[i])

    def _cms(self, i, visit, code, dos, units, minutes, line, code_key):
        """The CMS method (Pub. 100-04 ch. 5 section 20.2): the visit's timed minutes give its total units
        (8-22 minutes 1 unit, 23-37 2, ...); each code takes a unit per full 15 of its own minutes, and the
        units left go to the codes with the most minutes left over. A code billed more units than that
        allows (a tie in the minutes left over may give the unit to either code) is flagged on its first
        line; a visit billing more units in all, with no code over its own share, on its first timed line."""
        # one row per (visit, code), in order of first appearance (groupby(sort=False)), on integer keys
        gid, _ = pd.factorize(np.asarray(visit, np.int64) * np.int64(int(code_key.max(initial=0)) + 1) + code_key)
        ng = int(gid.max()) + 1 if len(gid) else 0
        first = np.zeros(ng, np.int64)
        first[gid[::-1]] = np.arange(len(gid))[::-1]  # each group's first line (i ascending: its smallest i)
        per_i, v, per_dos, per_code = i[first], np.asarray(visit, np.int64)[first], dos[first], code[first]
        per_u, per_min = _group_sum(gid, units, ng), _group_sum(gid, minutes, ng)
        vid, _ = pd.factorize(v)  # the visit of each row, numbered in order of first appearance
        nv = int(vid.max()) + 1 if len(vid) else 0
        visit_min = _group_sum(vid, per_min, nv)[vid]
        total = (visit_min + 7) // 15
        full = per_min // 15
        rem = per_min - 15 * full
        left = total - _group_sum(vid, full, nv)[vid]
        # rank the codes of each visit by minutes left over (ties: the earlier line first)
        order = np.lexsort((per_i, -rem, v))
        vs = v[order]
        starts = np.flatnonzero(np.r_[True, vs[1:] != vs[:-1]]) if len(vs) else np.zeros(0, np.int64)
        rank = np.empty(len(v), np.int64)
        rank[order] = np.arange(len(vs)) - np.repeat(starts, np.diff(np.r_[starts, len(vs)]))
        takes = rank < left
        expected = full + takes
        # the minutes left over of the last code that takes a unit: any code with as many may take it instead
        cut = _group_fmin(vid, np.where(takes, rem, np.nan), nv)[vid]
        allowed = full + ((left > 0) & (rem > 0) & (rem >= np.nan_to_num(cut, nan=np.inf)))
        billed = per_u
        over = billed > allowed
        visit_billed = _group_sum(vid, billed, nv)[vid]
        visit_over = visit_billed > total
        any_code_over = (np.bincount(vid, weights=over, minlength=nv) > 0)[vid]
        first_i = np.full(nv, np.iinfo(np.int64).max)
        np.minimum.at(first_i, vid, per_i)
        first_of_visit = per_i == first_i[vid]
        k = np.flatnonzero(over | (visit_over & ~any_code_over & first_of_visit))
        if not len(k):
            return _result(k)
        # the texts, for the flagged visits only: each visit's codes with the units they take, and its lines,
        # joined in row order (join_by_group: the visits in ascending order, looked up by binary search)
        vk = v[k]
        r = np.flatnonzero(np.isin(v, vk) & (expected > 0))
        shares = _ints(expected[r]) + _unit_word(expected[r]) + per_code[r]
        share_v, share_text = join_by_group(v[r], shares, " and ")
        distribution = _looked_up(share_v, share_text, vk, "no timed units") + (
            " (" + _ints(total[k]) + np.where(total[k] == 1, " timed unit", " timed units") + " for "
            + _ints(visit_min[k]) + " timed minutes)")
        at = np.isin(visit, vk)
        line_v, line_text = join_by_group(np.asarray(visit, np.int64)[at], line[at], ", ")
        joined = _looked_up(line_v, line_text, vk, "")
        dos_k = per_dos[k]
        code_reason = (per_code[k] + ": " + _ints(billed[k])
                       + np.where(billed[k] == 1, " unit", " units") + " billed on " + dos_k + ", but its "
                       + _ints(per_min[k]) + " of the visit's " + _ints(visit_min[k])
                       + " timed minutes support " + _ints(allowed[k]))
        visit_reason = (_ints(visit_billed[k]) + " timed units billed on " + dos_k + " (lines " + joined + "), but "
                        + _ints(visit_min[k]) + " timed minutes support " + _ints(total[k]))
        reason = np.where(over[k], code_reason, visit_reason).astype(object)
        return _result(per_i[k], code=per_code[k],
                       dos=per_dos[k], units=_ints(billed[k]),
                       minutes=_ints(per_min[k]),
                       allowed=_ints(allowed[k]), total_units=_ints(visit_billed[k]),
                       total_minutes=_ints(visit_min[k]), total_allowed=_ints(total[k]),
                       distribution=distribution, lines=joined, reason=reason,
                       method="CMS 8-minute rule: the visit's timed minutes give its units, shared by each code's "
                              "minutes")


def _looked_up(keys: np.ndarray, values: np.ndarray, want: np.ndarray, missing: str) -> np.ndarray:
    """values[keys == w] for each w of want (keys sorted ascending, distinct); `missing` where none."""
    at = np.searchsorted(keys, want)
    hit = at < len(keys)
    hit[hit] = keys[at[hit]] == want[hit]
    out = np.full(len(want), missing, dtype=object)
    out[hit] = values[at[hit]]
    return out


def _group_sum(gid: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Each group's sum of values in row order, compensated as pandas' groupby sum adds (Kahan: the same
    float result, minute for minute), one vectorised step per position in the groups (a visit's few lines)."""
    values = np.asarray(values, dtype=float)
    total, comp = np.zeros(n), np.zeros(n)
    if not len(gid):
        return total
    order = np.argsort(gid, kind="stable")
    g = gid[order]
    starts = np.searchsorted(g, np.arange(n))
    pos = np.arange(len(g)) - starts[g]
    for k in range(int(pos.max()) + 1):
        rows = np.flatnonzero(pos == k)
        grp, val = g[rows], values[order[rows]]
        y = val - comp[grp]
        t = total[grp] + y
        c = t - total[grp] - y
        comp[grp] = np.where(np.isnan(c), 0.0, c)
        total[grp] = t
    return total


def _group_fmin(gid: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Each group's smallest value, NaN skipped (NaN for a group of NaN only): groupby min."""
    out = np.full(n, np.nan)
    if len(gid):
        np.fmin.at(out, gid, values)
    return out


class TherapyGp(Rule):
    id = "therapy-gp-modifier"
    title = "Therapy discipline modifier (GP)"
    fields = ("code", "dos", "reason", "suggestion")
    param_types = {"codes": "codes", "pt_codes": "codes", "discipline_modifiers": "codes"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        disc = has_mod(lines, p["discipline_modifiers"])
        gp = has_mod(lines, ["GP"])
        code, dos = f["code"].to_numpy(object), f["dos_text"].to_numpy(object)
        i = np.flatnonzero(sel & code_in(lines, p["codes"]) & ~disc)
        j = np.flatnonzero(sel & code_in(lines, p["pt_codes"]) & disc & ~gp)
        return pd.concat([
            _result(i, code=code[i], dos=dos[i], reason="therapy service without a discipline modifier",
                    suggestion="append GP (physical therapy), GO (occupational therapy) or GN (speech-language "
                               "pathology) as the plan of care says"),
            _result(j, code=code[j], dos=dos[j], reason="physical therapy evaluation without GP",
                    suggestion="append GP, not GO or GN, to a physical therapy evaluation")], ignore_index=True)


class TherapyKx(Rule):
    id = "therapy-kx-threshold"
    title = "Therapy KX modifier threshold"
    scope = "patient-year"
    fields = ("code", "dos", "patient", "bucket", "year", "total", "threshold")
    param_types = {"codes": "codes", "modifier": "str", "thresholds": "year-amounts"}
    across_claims = True  # the year-to-date totals run in date-of-service order over the patient's claims

    def collect(self, ctx, lines, sel, p):
        f = lines.frame
        dos = f["dos"].to_numpy()
        charge = f["charge"].to_numpy(float)
        i = np.flatnonzero(sel & code_in(lines, p["codes"]) & ~np.isnat(dos) & np.isfinite(charge))
        if not len(i):
            return line_events(lines, i)
        year = dos[i].astype("datetime64[Y]").astype(int) + 1970
        thr = np.array([p["thresholds"].get(int(y), np.nan) for y in range(year.min(), year.max() + 1)])[
            year - year.min()]
        missing = np.isnan(thr)
        ctx.skip(self.id, "therapy lines in years with no KX threshold in the rule file", missing.sum())
        keep = ~missing
        i, year, thr = i[keep], year[keep], thr[keep]
        ot = has_mod(lines, ["GO"])[i]
        return line_events(lines, i, year=year, ot=ot, charge=charge[i], thr=thr,
                           kx=has_mod(lines, [p["modifier"]])[i])

    def finish(self, ctx, ev, p):
        # One running total per (patient, year, bucket), in date-of-service order (claim and line order within
        # a day: the partition's order, claims.partition.in_claim_order), whatever the order of the file.
        year = ev["year"].to_numpy(np.int64)
        year = year - (year.min() if len(year) else 0)
        key = pd.factorize((ev["pkey"].to_numpy(np.int64) * np.int64(int(year.max(initial=0)) + 1) + year) * 2
                           + ev["ot"].to_numpy(bool))[0]
        order = np.lexsort((ev["i"].to_numpy(np.int64), ev["day"].to_numpy(np.int64), key))
        charge = ev["charge"].to_numpy(float)[order]
        running = pd.Series(charge).groupby(key[order], sort=False).cumsum().to_numpy()
        thr = ev["thr"].to_numpy(float)[order]
        bad = (running > thr) & ~ev["kx"].to_numpy(bool)[order]
        e = order[bad]
        bucket = np.where(ev["ot"].to_numpy(bool)[e], "occupational therapy",
                          "physical therapy and speech-language pathology").astype(object)
        return _result(e, code=ev["code"].to_numpy(object)[e], dos=ev["dos"].to_numpy(object)[e],
                       patient=ev["patient"].to_numpy(object)[e], bucket=bucket,
                       year=_ints(ev["year"].to_numpy(float)[e]), total=_money(running[bad]),
                       threshold=_money(thr[bad]))
