"""Rules on therapy claims: timed units (8-minute rule), the GP discipline modifier, the KX threshold."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims.read import object_frame
from claims.rules.base import Rule, _ints, _money, _result, code_in, has_mod, line_events


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
    deferred = True  # the year-to-date totals run in date-of-service order over the whole file

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
        # One running total per (patient, year, bucket), in date-of-service order (file order within a day),
        # whatever the order of the claims in the file.
        key = pd.factorize(ev["patient"].astype(str) + "\x1f" + ev["year"].astype(str) + "\x1f"
                           + ev["ot"].astype(str))[0]
        order = np.lexsort((ev["row"].to_numpy(np.int64), ev["day"].to_numpy(np.int64), key))
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
