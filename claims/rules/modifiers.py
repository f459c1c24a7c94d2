"""Rules on payment modifiers: telehealth place of service, bilateral procedures, E/M with modifier 25."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims.read import object_frame
from claims.rules.base import Rule, _result, code_in, has_mod


class TelehealthPosModifier(Rule):
    id = "telehealth-pos-modifier"
    title = "Telehealth place of service and modifier"
    fields = ("code", "dos", "pos", "reason", "suggestion")
    param_types = {"telehealth_pos": "codes", "telehealth_modifiers": "codes", "require_modifier": "bool",
                   "allow_modifier_in_person": "bool", "eligible_codes": "codes"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        pos = f["pos"].to_numpy(object)
        tele_pos = f["pos"].isin(list(p["telehealth_pos"])).to_numpy() & sel
        tele_mod = has_mod(lines, p["telehealth_modifiers"]) & sel
        mods = "/".join(sorted(p["telehealth_modifiers"]))
        places = " or ".join(sorted(p["telehealth_pos"]))
        parts = []
        if p["require_modifier"]:
            i = np.flatnonzero(tele_pos & ~tele_mod)
            parts.append(self._r(lines, i, "telehealth POS " + pos[i] + f" without modifier {mods}, which this "
                                 "payer requires on telehealth lines", f"append modifier {mods}"))
        if not p["allow_modifier_in_person"]:
            i = np.flatnonzero(tele_mod & ~tele_pos & (f["pos"] != "").to_numpy())
            parts.append(self._r(lines, i, f"telehealth modifier {mods} with in-person POS " + pos[i],
                                 f"bill POS {places} for a telehealth visit, or remove {mods} if the patient "
                                 "was seen in person"))
        if p["eligible_codes"]:
            i = np.flatnonzero((tele_pos | tele_mod) & ~code_in(lines, p["eligible_codes"]))
            parts.append(self._r(lines, i, "billed as telehealth, but not on this payer's telehealth list",
                                 "bill it as an in-person service, or check the payer's telehealth list"))
        return pd.concat(parts, ignore_index=True)

    @staticmethod
    def _r(lines, i, reason, suggestion):
        f = lines.frame
        return _result(i, code=f["code"].to_numpy(object)[i], dos=f["dos_text"].to_numpy(object)[i],
                       pos=f["pos"].to_numpy(object)[i], reason=reason, suggestion=suggestion)


class BilateralModifier(Rule):
    id = "bilateral-modifier"
    title = "Bilateral procedure modifier"
    fields = ("code", "dos", "reason", "suggestion")
    param_types = {"codes": "codes", "style": "choice:modifier-50|rt-lt"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        m = sel & code_in(lines, p["codes"]) & (f["visit_key"] >= 0).to_numpy()
        rt, lt, m50 = has_mod(lines, ["RT"]), has_mod(lines, ["LT"]), has_mod(lines, ["50"])
        code, dos, line = f["code"].to_numpy(object), f["dos_text"].to_numpy(object), f["line"].to_numpy(object)
        if p["style"] == "rt-lt":
            i = np.flatnonzero(m & m50)
            return _result(i, code=code[i], dos=dos[i],
                           reason="modifier 50, but this payer wants the two sides on two lines with RT and LT",
                           suggestion="bill " + code[i] + " on two lines, one with RT and one with LT")
        one = np.flatnonzero(m & rt & lt & ~m50)
        parts = [_result(one, code=code[one], dos=dos[one],
                         reason="RT and LT on one line; this payer wants modifier 50 for both sides",
                         suggestion="bill " + code[one] + " once with modifier 50 instead of RT and LT")]
        side = np.flatnonzero(m & ~m50 & (rt ^ lt))
        if len(side):
            g = object_frame({"i": side, "v": f["visit_key"].to_numpy()[side], "c": code[side],
                              "rt": np.where(rt[side], line[side], None), "lt": np.where(lt[side], line[side], None)})
            first = g.groupby(["v", "c"], sort=False)[["rt", "lt"]].transform("first")
            both = first["rt"].notna().to_numpy() & first["lt"].notna().to_numpy()
            i = g["i"].to_numpy()[both]
            rt_line, lt_line = first["rt"].to_numpy(object)[both], first["lt"].to_numpy(object)[both]
            parts.append(_result(i, code=code[i], dos=dos[i],
                                 reason="billed for both sides on two lines (RT line " + rt_line.astype(str)
                                 + ", LT line " + lt_line.astype(str) + ") without modifier 50",
                                 suggestion="bill " + code[i] + " once with modifier 50 instead of RT and LT "
                                 "lines"))
        return pd.concat(parts, ignore_index=True)


class EmModifier25(Rule):
    id = "em-modifier-25"
    title = "E/M with a minor procedure (modifier 25)"
    scope = "visit"
    fields = ("code", "dos", "procedures")
    param_types = {"em_codes": "codes", "minor_procedures": "codes"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        visit = f["visit_key"].to_numpy()
        dated = sel & (visit >= 0)
        minor = dated & code_in(lines, p["minor_procedures"])
        em = dated & code_in(lines, p["em_codes"]) & ~has_mod(lines, ["25"])
        i = np.flatnonzero(em & np.isin(visit, visit[minor]))
        if not len(i):
            return _result(i)
        minor &= np.isin(visit, visit[i])
        procs = pd.Series(f["code"].to_numpy(object)[minor], dtype=object).groupby(visit[minor]).agg(
            lambda s: ", ".join(sorted(set(s))))
        return _result(i, code=f["code"].to_numpy(object)[i], dos=f["dos_text"].to_numpy(object)[i],
                       procedures=procs.reindex(visit[i]).to_numpy(object))
