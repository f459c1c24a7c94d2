"""Rules on the NCCI reference tables: procedure-to-procedure edits and Medically Unlikely Edit units.

Both look across claims: CMS applies the PTP edits and the date-of-service MUEs (adjudication indicators 2 and
3) to the services of one beneficiary by one rendering provider on one date of service, whatever claims they
are billed on (NCCI Policy Manual, ch. I; the MUE adjudication indicator definitions), so the lines are
paired and the units added by patient, provider_npi and date (Lines.frame["provider_day"]; the scrubber's
partitions hold every claim of a patient, claims.partition). An MUE with indicator 1 is a claim line edit.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from claims.read import any_slot
from claims.rules.base import Rule, _ints, _join_per_group, _result, code_in, join_text, key_pairs, one_of


def _positions(column: pd.Series, vocab: pd.Index) -> np.ndarray:
    """Each row's code as its position in vocab (-1: not in it). A categorical column (the stored quarters'
    frame, ingest.edits.EditTables.ptp_frame) is looked up on its categories and taken by its codes, so a
    partition looks up the table's distinct codes, not its rows."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.append(vocab.get_indexer(column.cat.categories), -1)[column.cat.codes.to_numpy()]
    return vocab.get_indexer(column.to_numpy(object))


def _values_at(column: pd.Series, rows: np.ndarray) -> np.ndarray:
    """column.to_numpy(object)[rows], a categorical column taken by its codes (not made strings row by row)."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return np.append(column.cat.categories.to_numpy(object), np.nan)[column.cat.codes.to_numpy()[rows]]
    return column.to_numpy(object)[rows]


class NcciPtp(Rule):
    id = "ncci-ptp"
    title = "NCCI procedure-to-procedure edit"
    scope = "provider-day"
    fields = ("code", "column1", "other_line", "other_claim", "dos", "indicator", "rationale", "reason",
              "suggestion")
    param_types = {"distinct_modifiers": "codes", "anatomic_modifiers": "codes", "em_codes": "codes",
                   "em_modifiers": "codes", "procedure_modifiers": "codes"}

    def run(self, ctx, lines, sel, p):
        ptp = ctx.ptp
        f = lines.frame
        m = ctx.checkable(self.id, "ptp", sel & (f["provider_day"] >= 0).to_numpy())
        if ptp is None or not len(ptp) or not m.any():
            return _result(np.zeros(0))
        code = f["code"].to_numpy(object)
        # the partition's distinct codes (Lines.code_key), numbered in order of first appearance on the lines of m
        key = lines.code_key()
        names = np.asarray(pd.unique(lines.code_vocab.to_numpy(object)), dtype=object)  # code_key -> code
        used = pd.unique(key[m])
        vocab = pd.Index(names[used], dtype=object)
        # the edits whose two codes are both among them, each code as its position in vocab
        c1, c2 = _positions(ptp["column1"], vocab), _positions(ptp["column2"], vocab)
        among = (c1 >= 0) & (c2 >= 0)
        if not among.any():
            return _result(np.zeros(0))
        edits = np.flatnonzero(among)  # (rows of ptp)
        c1, c2 = c1[edits], c2[edits]
        remap = np.full(len(names), -1, np.int64)
        remap[used] = np.arange(len(used))
        cid = remap[key]
        visit = f["provider_day"].to_numpy()
        v = np.int64(len(vocab))
        is1, is2 = np.zeros(len(vocab) + 1, bool), np.zeros(len(vocab) + 1, bool)
        is1[c1], is2[c2] = True, True  # (cid -1, a code outside m, looks up the last slot: False)
        ia = np.flatnonzero(m & is1[cid])
        ib = np.flatnonzero(m & is2[cid])
        # every (a, b) of lines of one patient, provider and date, in the order of a then b
        at, bt = key_pairs(visit[ia], visit[ib])
        pa_, pb = ia[at], ib[bt]
        keep = pa_ != pb
        pa_, pb = pa_[keep], pb[keep]
        # each pair with the edits of its two codes (an edit may have several rows: each of them, in table order)
        pair, row = key_pairs(cid[pa_] * v + cid[pb], c1.astype(np.int64) * v + c2)
        a, b, row = pa_[pair], pb[pair], edits[row]
        effective = ptp["effective"].to_numpy()[row]
        deletion = ptp["deletion"].to_numpy()[row]
        day = f["dos"].to_numpy()[b]
        in_force = (effective <= day) & (np.isnat(deletion) | (day < deletion))
        em = code_in(lines, p["em_codes"])
        ok = self._bypassed(lines, a, b, em, p) | self._bypassed(lines, b, a, em, p)
        # the modifier indicator compared on the edits (a categorical on its categories), taken by each pair's row
        indicator = ptp["modifier_indicator"]
        ind = indicator.array[row] if isinstance(indicator.dtype, pd.CategoricalDtype) else indicator.to_numpy(
            object)[row]
        flag = in_force & (one_of(ind, ("0",)) | (one_of(ind, ("1",)) & ~ok))
        k = np.flatnonzero(flag)
        k = k[np.r_[True, pair[k][1:] != pair[k][:-1]]] if len(k) else k  # a pair's first flagged edit
        a, b, row = a[k], b[k], row[k]
        ind = _values_at(ptp["modifier_indicator"], row)
        never = ind == "0"
        with_em = em[a] | em[b]
        # each text built for the findings of its branch only
        reason = np.full(len(b), "no NCCI-associated modifier (59, XE, XS, XP, XU or an anatomic modifier)",
                         dtype=object)
        suggestion = np.empty(len(b), dtype=object)
        k = np.flatnonzero(never)
        reason[k] = "the pair is never paid together (modifier not allowed)"
        suggestion[k] = join_text("remove ", code[b[k]], "; it is not paid with ", code[a[k]])
        k = np.flatnonzero(~never & with_em)
        em_code = np.where(em[b[k]], code[b[k]], code[a[k]]).astype(object)
        reason[k] = join_text("no modifier 25 (or 57) on the E/M ", em_code)
        suggestion[k] = join_text("if the E/M ", em_code, " was significant and separately identifiable from the "
                                  "procedure, append 25 to it (57 if it was the decision for major surgery); otherwise "
                                  "remove ", code[b[k]])
        k = np.flatnonzero(~never & ~with_em)
        suggestion[k] = join_text("if ", code[b[k]], " was a distinct service, append 59 or XE/XS/XP/XU (or the "
                                  "anatomic modifier of its site); otherwise remove it")
        claim = f["claim_id"].to_numpy(object)
        other = claim[a] != claim[b]
        other_line = f["line"].to_numpy(object)[a]  # (a copy: a fancy index)
        k = np.flatnonzero(other)
        other_line[k] = join_text(other_line[k], " of claim ", claim[a[k]])
        return _result(
            b, code=code[b], column1=code[a], other_line=other_line,
            other_claim=np.where(other, claim[a], "").astype(object),
            dos=f["dos_text"].to_numpy(object)[b], indicator=ind, rationale=_values_at(ptp["rationale"], row),
            reason=reason.astype(object), suggestion=suggestion.astype(object))

    @staticmethod
    def _bypassed(lines, mine: np.ndarray, other: np.ndarray, em: np.ndarray, p) -> np.ndarray:
        """Whether line `mine` of each pair carries the NCCI-associated modifier that bypasses an indicator 1
        edit with line `other`: on an E/M, 25 or 57 (never 59: NCCI does not use 59 on E/M services); when
        the other line is an E/M, only the E/M's modifier counts; on a procedure paired with a procedure, a
        distinct-service modifier (59, XE, XS, XP, XU), an anatomic modifier the other line does not carry,
        or a global surgery modifier (58, 78, 79) or 91."""
        def any_of(values) -> np.ndarray:
            return lines.has_mod(values)[mine]  # a look-up per distinct modifier of the partition, cached

        # an anatomic modifier the other line does not carry: compared on the pairs with one only
        with_anatomic = np.flatnonzero(any_of(p["anatomic_modifiers"]))
        unshared = np.zeros(len(mine), bool)
        if len(with_anatomic):
            anatomic = lines.mods_isin(p["anatomic_modifiers"])[mine[with_anatomic]]
            mid, oid = lines.mod_ids[mine[with_anatomic]], lines.mod_ids[other[with_anatomic]]
            shared = ((mid[:, :, None] == oid[:, None, :]) & (mid[:, :, None] >= 0)).any(axis=2)
            unshared[with_anatomic] = any_slot(anatomic & ~shared)
        procedure_ok = any_of(p["distinct_modifiers"]) | unshared | any_of(p["procedure_modifiers"])
        return np.where(em[mine], any_of(p["em_modifiers"]), ~em[other] & procedure_ok)


def _spans_claims(gid: np.ndarray, claims: np.ndarray) -> np.ndarray:
    """For each row, whether its group holds more than one distinct claim id (groupby-transform of nunique > 1,
    on integer ids: the smallest and largest id of each group differ)."""
    ids = pd.factorize(claims)[0]
    n = int(gid.max()) + 1 if len(gid) else 0
    lo, hi = np.full(n, np.iinfo(np.int64).max), np.full(n, -1)
    np.minimum.at(lo, gid, ids)
    np.maximum.at(hi, gid, ids)
    return (lo != hi)[gid]


class MueUnits(Rule):
    id = "mue-units"
    title = "Medically Unlikely Edit units"
    scope = "provider-day"
    fields = ("code", "units", "scope", "scope_short", "mue", "mai", "rationale")
    param_types: Mapping[str, str] = {}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        parts = []
        dos = f["dos"].to_numpy()
        units = f["units"].to_numpy(float)
        base = ctx.checkable(self.id, "mue", sel & ~np.isnat(dos)) & np.isfinite(units)
        tables = sorted(ctx.mue, key=lambda t: (t.start is not None, 0 if t.start is None else t.start))
        for n, mt in enumerate(tables):
            table = mt.frame
            if not len(table):
                continue
            m = base if mt.start is None else base & (dos >= mt.start)
            end = mt.end if mt.end is not None else (tables[n + 1].start if n + 1 < len(tables) else None)
            if end is not None:
                m &= dos < end
            index = pd.Index(table["code"].to_numpy(object), dtype=object)
            pos = index.get_indexer(lines.code_vocab)[lines.code_ids]  # per distinct code of the partition
            m &= pos >= 0
            if not m.any():
                continue
            i = np.flatnonzero(m)
            t = pos[i]
            mue, mai = table["mue"].to_numpy()[t], table["mai"].to_numpy()[t]
            rationale = table["rationale"].to_numpy(object)[t]
            line_edit = mai == 1
            # one group per (patient, provider, date; code): the units added with a bincount
            key = f["provider_day"].to_numpy()[i] * np.int64(len(lines.code_vocab) + 1) + lines.code_ids[i]
            group = pd.factorize(key)[0]
            total = np.bincount(group, weights=units[i])[group]
            over_line = line_edit & (units[i] > mue)
            over_day = ~line_edit & (total > mue)
            k = np.flatnonzero(over_line)
            code = f["code"].to_numpy(object)
            parts.append(_result(i[k], code=code[i[k]], units=_ints(units[i][k]),
                                 scope="on this line", scope_short="on this line", mue=_ints(mue[k]),
                                 mai=_ints(mai[k]), rationale=rationale[k]))
            k = np.flatnonzero(over_day)
            if len(k):
                gid = pd.factorize(group[k])[0]
                claims = f["claim_id"].to_numpy(object)[i[k]]
                line_k = f["line"].to_numpy(object)[i[k]]
                # one claim: "(lines 1, 2)"; across claims: "(claim A line 1, claim B line 2)"
                several = _spans_claims(gid, claims)
                label = np.where(several, "claim " + claims.astype(str) + " line " + line_k.astype(str),
                                 line_k.astype(str)).astype(object)
                joined = _join_per_group(gid, label)
                opening = np.where(several, " (", " (lines ").astype(object)
                scope = "on " + f["dos_text"].to_numpy(object)[i[k]] + opening + joined + ")"
                parts.append(_result(i[k], code=code[i[k]], units=_ints(total[k]), scope=scope,
                                     scope_short="on that date", mue=_ints(mue[k]), mai=_ints(mai[k]),
                                     rationale=rationale[k]))
        parts = [x for x in parts if len(x)]
        return pd.concat(parts, ignore_index=True) if parts else _result(np.zeros(0))
