"""Rules on payment modifiers: telehealth place of service, bilateral procedures and PC/TC split (from the
fee schedule's indicators), and the NCCI-associated modifiers on the codes they apply to."""

from __future__ import annotations

import numpy as np
import pandas as pd

from claims.rules.base import Rule, _result, blank_outside, code_in, has_mod, join_by_group, join_text, one_of, texts
from ingest.frames import object_frame


class TelehealthPosModifier(Rule):
    id = "telehealth-pos-modifier"
    title = "Telehealth place of service and modifier"
    fields = ("code", "dos", "pos", "reason", "suggestion")
    param_types = {"telehealth_pos": "codes", "telehealth_modifiers": "codes", "require_modifier": "bool",
                   "allow_modifier_in_person": "bool", "eligible_codes": "codes",
                   "style": "choice:telehealth-pos|in-person-pos"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        pos = f["pos"].to_numpy(object)
        tele_pos = f["pos"].isin(list(p["telehealth_pos"])).to_numpy() & sel
        tele_mod = has_mod(lines, p["telehealth_modifiers"]) & sel
        mods = "/".join(sorted(p["telehealth_modifiers"]))
        places = " or ".join(sorted(p["telehealth_pos"]))
        parts = []
        if p["style"] == "in-person-pos":
            # e.g. Medicare through 2023-12-31: the POS the visit would have had in person, and modifier 95
            i = np.flatnonzero(tele_pos)
            parts.append(self._r(lines, i, "telehealth POS " + pos[i] + ", but on this date the payer wants the "
                                 f"place of service of the in-person visit with modifier {mods}",
                                 "bill the place of service where the visit would have taken place in person "
                                 f"(11 for an office) with modifier {mods}"))
            telehealth = tele_mod
        else:
            if p["require_modifier"]:
                i = np.flatnonzero(tele_pos & ~tele_mod)
                parts.append(self._r(lines, i, "telehealth POS " + pos[i] + f" without modifier {mods}, which "
                                     "this payer requires on telehealth lines", f"append modifier {mods}"))
            if not p["allow_modifier_in_person"]:
                i = np.flatnonzero(tele_mod & ~tele_pos & ~lines.equals("pos", ""))
                parts.append(self._r(lines, i, f"telehealth modifier {mods} with in-person POS " + pos[i],
                                     f"bill POS {places} for a telehealth visit, or remove {mods} if the patient "
                                     "was seen in person"))
            telehealth = tele_pos | tele_mod
        if p["eligible_codes"]:
            i = np.flatnonzero(telehealth & ~code_in(lines, p["eligible_codes"]))
            parts.append(self._r(lines, i, "billed as telehealth, but not on this payer's telehealth list",
                                 "bill it as an in-person service, or check the payer's telehealth list"))
        parts = [x for x in parts if len(x)]
        return pd.concat(parts, ignore_index=True).drop_duplicates("i") if parts else _result(np.zeros(0))

    @staticmethod
    def _r(lines, i, reason, suggestion):
        f = lines.frame
        return _result(i, code=f["code"].to_numpy(object)[i], dos=f["dos_text"].to_numpy(object)[i],
                       pos=f["pos"].to_numpy(object)[i], reason=reason, suggestion=suggestion)


class BilateralModifier(Rule):
    id = "bilateral-modifier"
    title = "Bilateral procedure modifier"
    fields = ("code", "dos", "indicator", "reason", "suggestion")
    param_types = {"codes": "codes", "style": "choice:modifier-50|rt-lt"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        rt, lt, m50 = has_mod(lines, ["RT"]), has_mod(lines, ["LT"]), has_mod(lines, ["50"])
        m = sel & (f["visit_key"] >= 0).to_numpy() & (rt | lt | m50)
        fee = ctx.fee_for(len(f))
        pfs, lists = ctx.fee_or_lists(self.id, m)
        # the indicator is '' outside m: made strings and compared on the lines of m only
        sub = np.flatnonzero(m)
        ind = np.full(len(f), "", dtype=object)
        ind[sub] = np.asarray(blank_outside(fee.bilat, pfs & fee.found)[sub], dtype=object)
        ind[lists & code_in(lines, p["codes"])] = "1"
        code, dos = f["code"].to_numpy(object), f["dos_text"].to_numpy(object)
        parts = []

        def ind_in(options) -> np.ndarray:
            out = np.zeros(len(ind), bool)
            out[sub] = one_of(ind[sub], options)
            return out

        one, two, three = ind_in(("1",)), ind_in(("2",)), ind_in(("3",))
        if not (one | two | three | ind_in(("0", "9"))).any():
            return _result(np.zeros(0))
        both_one_line = rt & lt & ~m50
        pair = self._rt_lt_pairs(lines, m & ~m50 & (rt ^ lt) & (one | two))
        paired = ~one_of(pair, ("",))

        def add(mask, reason: str, suggestion: str) -> None:
            i = np.flatnonzero(mask)
            if len(i):
                parts.append(_result(i, code=code[i], dos=dos[i], indicator=ind[i],
                                     reason=texts(reason, i, code=code, pair=pair),
                                     suggestion=texts(suggestion, i, code=code, pair=pair)))

        if p["style"] == "rt-lt":
            add(one & m50, "modifier 50, but this payer wants the two sides on two lines with RT and LT",
                "bill {code} on two lines, one with RT and one with LT")
        else:
            add(one & both_one_line, "RT and LT on one line; this payer wants modifier 50 for both sides",
                "bill {code} once with modifier 50 instead of RT and LT")
            add(one & paired, "billed for both sides on two lines ({pair}) without modifier 50",
                "bill {code} once with modifier 50 instead of RT and LT lines")
        once = "bill {code} once, without 50, RT or LT: its payment already covers both sides"
        add(two & m50, "modifier 50 on a code that is bilateral by definition (bilateral surgery indicator 2)", once)
        add(two & both_one_line, "RT and LT on a code that is bilateral by definition (indicator 2)", once)
        add(two & paired, "billed for both sides ({pair}), but the code is bilateral by definition "
                                "(indicator 2)", once)
        add(three & (m50 | both_one_line),
            "bilateral surgery indicator 3: each side is paid on its own, modifier 50 does not apply",
            "bill {code} on two lines, one with RT and one with LT")
        add(ind_in(("0",)) & m50, "modifier 50 on a code that is not a bilateral procedure (bilateral surgery "
                                "indicator 0)", "remove 50 from {code}")
        add(ind_in(("9",)) & m50, "modifier 50 on a code to which the bilateral concept does not apply (bilateral "
                                "surgery indicator 9)", "remove 50 from {code}")
        parts = [x for x in parts if len(x)]
        if not parts:
            return _result(np.zeros(0))
        found = pd.concat(parts, ignore_index=True)  # a line's first finding, in line order
        return found.iloc[np.unique(found["i"].to_numpy(np.int64), return_index=True)[1]]

    @staticmethod
    def _rt_lt_pairs(lines, side: np.ndarray) -> np.ndarray:
        """'RT line 1, LT line 2' on each line of m whose code is billed for the other side on another line of
        the same claim and date; '' elsewhere."""
        f = lines.frame
        out = np.full(len(f), "", dtype=object)
        i = np.flatnonzero(side)
        if not len(i):
            return out
        rt = has_mod(lines, ["RT"])[i]
        line = f["line"].to_numpy(object)[i]
        # the lines of one code on one visit (claim and date), and the first RT and the first LT line of each
        group = pd.factorize(f["visit_key"].to_numpy(np.int64)[i] * np.int64(len(lines.code_vocab) + 1)
                             + lines.code_key()[i])[0]
        first_rt, first_lt = (np.full(int(group.max()) + 1, -1, np.int64) for _ in range(2))
        at = np.arange(len(i))
        first_rt[group[rt][::-1]] = at[rt][::-1]  # (the last write of a group is its first line)
        first_lt[group[~rt][::-1]] = at[~rt][::-1]
        both = (first_rt[group] >= 0) & (first_lt[group] >= 0)
        out[i[both]] = join_text("RT line ", line[first_rt[group[both]]], ", LT line ", line[first_lt[group[both]]])
        return out


# The PC/TC indicator of the fee schedule's relative value file (its record layout), and what it says of
# modifiers 26 and TC.
PCTC_MEANINGS = {
    "0": "a physician service, with no professional/technical split",
    "1": "a diagnostic test with professional and technical components",
    "2": "a professional-component-only code",
    "3": "a technical-component-only code",
    "4": "a global-test-only code (the components have codes of their own)",
    "5": "an incident-to service",
    "6": "a laboratory physician interpretation code",
    "7": "a physical therapy service (no professional/technical split)",
    "8": "a physician interpretation code",
    "9": "a code to which the professional/technical concept does not apply",
}


class PctcModifier(Rule):
    id = "pctc-modifier"
    title = "Professional and technical component modifiers (26, TC)"
    fields = ("code", "dos", "modifier", "indicator", "meaning", "reason", "suggestion")
    param_types = {"allow_26": "codes", "allow_tc": "codes"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        m26, mtc = has_mod(lines, ["26"]), has_mod(lines, ["TC"])
        m = sel & (f["visit_key"] >= 0).to_numpy() & (m26 | mtc)
        fee = ctx.fee_for(len(f))
        pfs, _ = ctx.fee_or_lists(self.id, m, has_lists=False)
        ctx.skip(self.id, "lines with 26 or TC whose code is not on the fee schedule in force",
                 np.count_nonzero(pfs & ~fee.found))
        known = pfs & fee.found
        k = np.flatnonzero(known)  # the indicator made strings and compared on the known lines only
        ind = np.full(len(f), "", dtype=object)
        ind[k] = np.asarray(fee.pctc[k], dtype=object)
        allow26, allowtc = np.zeros(len(ind), bool), np.zeros(len(ind), bool)
        allow26[k], allowtc[k] = one_of(ind[k], p["allow_26"]), one_of(ind[k], p["allow_tc"])
        bad26 = known & m26 & ~allow26
        badtc = known & mtc & ~allowtc
        both = known & m26 & mtc
        i = np.flatnonzero(bad26 | badtc | both)
        code = f["code"].to_numpy(object)[i]
        mod = np.where(both[i], "26 and TC", np.where(bad26[i] & badtc[i], "26 and TC",
                                                       np.where(bad26[i], "26", "TC"))).astype(object)
        meaning = np.array([PCTC_MEANINGS.get(x, "an indicator the scrubber does not know") for x in ind[i]],
                           dtype=object)
        together = both[i] & ~bad26[i] & ~badtc[i]
        reason = np.where(together, "26 and TC on one line: a line bills one component, or the global service "
                                    "with neither (PC/TC indicator " + ind[i] + ")",
                          "modifier " + mod + " does not apply to " + meaning + " (PC/TC indicator " + ind[i]
                          + ")").astype(object)
        suggestion = np.select(
            [together, ind[i] == "2", ind[i] == "3", ind[i] == "4"],
            ["bill one component (26 or TC), or the global service without either",
             "remove " + mod + ": " + code + " is itself the professional component",
             "remove " + mod + ": " + code + " is itself the technical component",
             "bill the component's own code instead of " + code + " with " + mod],
            default="remove " + mod + " from " + code).astype(object)
        return _result(i, code=code, dos=f["dos_text"].to_numpy(object)[i], modifier=mod, indicator=ind[i],
                       meaning=meaning, reason=reason, suggestion=suggestion)


class NcciModifierUse(Rule):
    """The NCCI-associated modifiers (NCCI Policy Manual ch. I) on codes they cannot apply to."""

    id = "ncci-modifier-use"
    title = "NCCI-associated modifier on a code it does not apply to"
    fields = ("code", "dos", "modifier", "reason", "suggestion")
    param_types = {"em_codes": "codes", "em_modifiers": "codes", "postop_em_modifiers": "codes",
                   "procedure_modifiers": "codes", "distinct_modifiers": "codes", "hospital_em_codes": "codes",
                   "lab_codes": "codes"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        m = sel & lines.any_mod()
        if not m.any():
            return _result(np.zeros(0))
        em = code_in(lines, p["em_codes"])
        code = f["code"].to_numpy(object)
        # (lines, the modifier on each line, reason, fix): the texts are templates, filled for the lines found
        found: list[tuple[np.ndarray, np.ndarray, str, str]] = []

        def mods_on(values) -> np.ndarray:
            """The first of values on each line ('' where none: where lines.has_mod(values) is False)."""
            slots = lines.mods_isin(values)
            hit = lines.has_mod(values)
            first = np.full(len(f), "", dtype=object)
            first[hit] = lines.mod_text(lines.mod_ids[np.flatnonzero(hit), slots[hit].argmax(axis=1)])
            return first

        em_mod = mods_on(p["em_modifiers"])
        found.append((m & ~em & lines.has_mod(p["em_modifiers"]), em_mod,
                      "modifier {m} is for an E/M visit (25: significant and separately identifiable on the day of a "
                      "procedure; 57: the decision for major surgery), and {code} is not one",
                      "remove {m} from {code}; if a separate E/M visit took place, bill it with {m}"))
        post = mods_on(p["postop_em_modifiers"])
        found.append((m & ~em & lines.has_mod(p["postop_em_modifiers"]), post,
                      "modifier {m} is for an E/M visit unrelated to a surgery in its post-operative period, and "
                      "{code} is not an E/M",
                      "remove {m}; a procedure in another's post-operative period takes 58, 78 or 79"))
        proc = mods_on(p["procedure_modifiers"])
        found.append((m & em & lines.has_mod(p["procedure_modifiers"]), proc,
                      "modifier {m} is for a procedure in another procedure's global period, not for an E/M visit",
                      "replace {m} with 24 if the visit was unrelated to the surgery in whose post-operative period "
                      "it falls; otherwise do not bill the visit"))
        distinct = mods_on(p["distinct_modifiers"])
        found.append((m & em & lines.has_mod(p["distinct_modifiers"]), distinct,
                      "modifier {m} is not used on an E/M visit (NCCI)",
                      "remove {m} from {code}; an E/M billed with a procedure on the same day takes 25 when it was "
                      "significant and separately identifiable (57 when it was the decision for major surgery)"))
        x_mods = [x for x in p["distinct_modifiers"] if x != "59"]
        x_mod = mods_on(x_mods)
        found.append((m & has_mod(lines, ["59"]) & lines.has_mod(x_mods), x_mod,
                      "59 and {m} on one line: the X modifiers are the more specific forms of 59 (CMS), one of them "
                      "is enough", "keep {m} if it describes the distinct service, and remove 59"))
        m27 = m & has_mod(lines, ["27"])
        if ctx.setting == "practitioner":
            found.append((m27, "27", "modifier 27 is for hospital outpatient claims (multiple outpatient hospital "
                                     "E/M encounters on one date), not practitioner claims", "remove 27 from {code}"))
        else:
            found.append((m27 & ~code_in(lines, p["hospital_em_codes"]), "27",
                          "modifier 27 is for a hospital outpatient E/M encounter, and {code} is not one",
                          "remove 27 from {code}"))
        m91 = m & has_mod(lines, ["91"])
        lab = code_in(lines, p["lab_codes"])
        found.append((m91 & ~lab, "91", "modifier 91 is for a repeated clinical diagnostic laboratory test, and "
                                        "{code} is not a laboratory test", "remove 91 from {code}"))
        found.append((m91 & lab & ~self._repeated(lines, m91 & lab), "91",
                      "modifier 91 marks a repeat of the same test on the same day, and {code} is billed once on "
                      "this claim and date",
                      "remove 91, or bill the first test on its own line without 91 and the repeat with 91"))
        parts = []
        for mask, mod, reason, fix in found:
            i = np.flatnonzero(mask)
            if len(i):
                shown = texts("{m}", i, m=mod) if not isinstance(mod, str) else np.full(len(i), mod, dtype=object)
                if reason.startswith("59 and"):
                    shown = "59 " + shown
                parts.append(object_frame({"i": i, "modifier": shown, "reason": texts(reason, i, m=mod, code=code),
                                           "suggestion": texts(fix, i, m=mod, code=code)}))
        if not parts:
            return _result(np.zeros(0))
        # one finding per line: its problems joined
        allp = pd.concat(parts, ignore_index=True)
        at = allp["i"].to_numpy(np.int64)
        i, modifier = join_by_group(at, allp["modifier"].to_numpy(object), ", ", distinct=True)
        _, reason = join_by_group(at, allp["reason"].to_numpy(object), "; ")
        _, suggestion = join_by_group(at, allp["suggestion"].to_numpy(object), "; ")
        return _result(i, code=code[i], dos=f["dos_text"].to_numpy(object)[i], modifier=modifier, reason=reason,
                       suggestion=suggestion)

    @staticmethod
    def _repeated(lines, m91: np.ndarray) -> np.ndarray:
        """Lines of m91 whose code is billed on another line of the same claim and date too, or with more
        than one unit."""
        f = lines.frame
        out = np.zeros(len(f), bool)
        if not m91.any():
            return out
        visit = f["visit_key"].to_numpy()
        code_id = lines.code_ids
        dated = visit >= 0
        key = visit[dated] * np.int64(len(lines.code_vocab) + 1) + code_id[dated]
        counts = pd.Series(key).value_counts()
        n = np.zeros(len(f), np.int64)
        n[dated] = counts.reindex(key).to_numpy()
        out[m91 & ((n > 1) | (np.nan_to_num(f["units"].to_numpy(float)) > 1))] = True
        return out
