"""Rules on therapy claims: timed units (8-minute rule), the GP discipline modifier, the KX threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims.read import object_frame
from claims.rules.base import Rule, _ints, _money, _result, code_in, has_mod


class TimedUnits(Rule):
    id = "timed-units-8-minute"
    title = "Timed units and the 8-minute rule"
    scope = "visit"
    fields = ("dos", "units", "minutes", "allowed", "lines", "method")
    param_types = {"codes": "codes", "method": "choice:total|per-code"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        units = f["units"].to_numpy(float)
        m = sel & code_in(lines, p["codes"]) & (f["visit_key"] >= 0).to_numpy() & np.isfinite(units)
        i = np.flatnonzero(m)
        minutes = np.nan_to_num(f["minutes"].to_numpy(float)[i], nan=0.0)
        line = f["line"].to_numpy(object)[i]
        if p["method"] == "per-code":
            allowed = (minutes + 7) // 15
            k = np.flatnonzero(units[i] > allowed)
            return _result(i[k], dos=f["dos_text"].to_numpy(object)[i[k]], units=_ints(units[i][k]),
                           minutes=_ints(minutes[k]), allowed=_ints(allowed[k]), lines=line[k],
                           method="per code: each line's own minutes")
        sub = object_frame({"i": i, "v": f["visit_key"].to_numpy()[i], "u": units[i], "min": minutes, "line": line})
        g = sub.groupby("v", sort=False).agg(i=("i", "min"), u=("u", "sum"), minutes=("min", "sum"))
        g["allowed"] = (g["minutes"] + 7) // 15
        bad = g[g["u"] > g["allowed"]]
        if not len(bad):
            return _result(np.zeros(0))
        joined = sub[sub["v"].isin(bad.index)].groupby("v", sort=False)["line"].agg(", ".join)
        first = bad["i"].to_numpy(np.int64)
        return _result(first, dos=f["dos_text"].to_numpy(object)[first], units=_ints(bad["u"]),
                       minutes=_ints(bad["minutes"]), allowed=_ints(bad["allowed"]),
                       lines=joined.reindex(bad.index).to_numpy(object),
                       method="CMS 8-minute rule: timed minutes of the visit added first")


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

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        dos = f["dos"].to_numpy()
        charge = f["charge"].to_numpy(float)
        m = sel & code_in(lines, p["codes"]) & ~np.isnat(dos) & np.isfinite(charge)
        i = np.flatnonzero(m)
        if not len(i):
            return _result(i)
        year = dos[i].astype("datetime64[Y]").astype(int) + 1970
        threshold = np.array([p["thresholds"].get(int(y), np.nan) for y in range(year.min(), year.max() + 1)])
        thr = threshold[year - year.min()]
        ctx.skip(self.id, "therapy lines in years with no KX threshold in the rule file", np.isnan(thr).sum())
        bucket = np.where(has_mod(lines, ["GO"])[i], "occupational therapy",
                          "physical therapy and speech-language pathology").astype(object)
        patient = f["patient_id"].to_numpy(object)[i]
        # One key per (patient, year, bucket); year-to-date totals carry over from earlier chunks.
        key = patient + "\x1f" + year.astype(str).astype(object) + np.where(bucket == "occupational therapy",
                                                                             "\x1fOT", "\x1fPT")
        key_ids, keys = pd.factorize(key)
        state: dict[str, float] = ctx.state.setdefault(self.id, {})
        prior = np.fromiter((state.get(k, 0.0) for k in keys), dtype=float, count=len(keys))  # once per key
        running = pd.Series(charge[i]).groupby(key_ids, sort=False).cumsum().to_numpy() + prior[key_ids]
        state.update(zip(keys, prior + np.bincount(key_ids, weights=charge[i], minlength=len(keys)), strict=True))
        bad = (running > thr) & ~has_mod(lines, [p["modifier"]])[i]
        k = np.flatnonzero(bad)
        return _result(i[k], code=f["code"].to_numpy(object)[i[k]], dos=f["dos_text"].to_numpy(object)[i[k]],
                       patient=patient[k], bucket=bucket[k], year=_ints(year[k]),
                       total=_money(running[k]), threshold=_money(thr[k]))
