"""Rules on the codes themselves: malformed fields, codes and modifiers not valid on the date, diagnoses."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

from claims.rules.base import Rule, _result, code_in, dates
from ingest.history import NO_END, NO_START, short_list
from ingest.model import SYSTEM_NAMES

_MODIFIER_SHAPE = re.compile(r"[A-Z0-9]{2}")
STATUS_MEMO = 500_000  # (code, day) answers of code-invalid-on-dos kept across partitions


class MalformedField(Rule):
    id = "malformed-field"
    title = "Malformed field"
    fields = ("field", "value", "expected")

    def run(self, ctx, lines, sel, p):
        m = lines.malformed
        keep = sel[m["i"].to_numpy(np.int64)] if len(m) else np.zeros(0, bool)
        m = m[keep]
        return _result(m["i"].to_numpy(), field=m["field"].to_numpy(object),
                       value=m["value"].astype(str).to_numpy(object), expected=m["expected"].to_numpy(object))


class CodeInvalidOnDos(Rule):
    id = "code-invalid-on-dos"
    title = "Code not valid on the date of service"
    fields = ("kind", "code", "dos", "reason", "replacements")
    param_types = {"check_procedures": "bool", "check_diagnoses": "bool", "check_place_of_service": "bool"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        dated = sel & ~np.isnat(f["dos"].to_numpy())
        parts = []
        if p["check_procedures"]:
            m = dated & lines.equals("code_kind", "hcpcs")
            parts.append(self._check(ctx, "hcpcs", "procedure", np.flatnonzero(m), f["code"].to_numpy()[m],
                                     f["dos"].to_numpy()[m], lines.code_ids[m]))
            other = np.flatnonzero(sel & lines.equals("code_kind", "other"))
            parts.append(_result(other, kind="procedure", code=f["code"].to_numpy()[other],
                                 dos=f["dos_text"].to_numpy(object)[other],
                                 reason="not a CPT or HCPCS Level II code", replacements=""))
        if p["check_diagnoses"] and len(lines.dx):
            di = lines.dx["i"].to_numpy(np.int64)
            m = dated[di]
            parts.append(self._check(ctx, "icd10cm", "diagnosis", di[m], lines.dx["code"].to_numpy()[m],
                                     f["dos"].to_numpy()[di[m]], lines.dx["cid"].to_numpy(np.int64)[m]))
        if p["check_place_of_service"]:
            m = dated & ~lines.equals("pos", "")
            parts.append(self._check(ctx, "pos", "place of service", np.flatnonzero(m), f["pos"].to_numpy()[m],
                                     f["dos"].to_numpy()[m], lines.factorized("pos")[0][m]))
        parts = [x for x in parts if len(x)]
        return pd.concat(parts, ignore_index=True) if parts else _result(np.zeros(0))

    def _check(self, ctx, system, kind, idx, codes, dos, ids=None):
        """ids: each code's index in the partition's distinct codes (Lines.code_ids, dx["cid"]), else
        factorized here."""
        if not len(idx):
            return _result(idx)
        # A code's status only changes on the days its code set's history changes something (segment_days), so
        # each date is asked as the first day of its segment, and validate() is asked once per distinct
        # (code, segment): the pairs found on integer keys, the answers spread back to the lines.
        asked = segment_days(ctx.history, system, dos, ctx.memo)
        if ids is None:
            ids = pd.factorize(codes)[0]
        day = asked.astype("datetime64[D]").astype(np.int64)
        nat = np.isnat(asked)
        day = np.where(nat, 0, day - (day[~nat].min() if (~nat).any() else 0) + 1)
        pair_ids, pairs = pd.factorize(np.asarray(ids, np.int64) * np.int64(int(day.max()) + 1) + day)
        first = np.zeros(len(pairs), dtype=np.int64)
        first[pair_ids[::-1]] = np.arange(len(pair_ids))[::-1]
        covered_p, valid_p = self._status(ctx, system, codes[first], asked[first])
        covered = covered_p[pair_ids]
        ctx.skip(self.id, f"{kind} codes on dates no loaded {SYSTEM_NAMES[system]} release covers",
                 (~covered).sum())
        bad = covered & ~valid_p[pair_ids]
        if not bad.any():
            return _result(np.zeros(0))
        # the texts once per distinct bad (code, segment), kept for the next partitions (which bill the same)
        bad_lines = np.flatnonzero(bad)
        bad_pairs, at = np.unique(pair_ids[bad_lines], return_inverse=True)
        rows = first[bad_pairs]
        keys = list(zip(codes[rows].tolist(), asked[rows].astype(np.int64).tolist(), strict=True))
        memo = ctx.memo.setdefault(("code-invalid-on-dos", system), {})
        todo = [k for k, key in enumerate(keys) if key not in memo]
        if todo:
            r = rows[todo]
            for key, texts in zip([keys[k] for k in todo], self._texts(ctx, system, codes[r], asked[r]), strict=True):
                memo[key] = texts
        shown, reason, reps = (np.array([memo[key][j] for key in keys], dtype=object)[at] for j in range(3))
        return _result(idx[bad_lines], kind=kind, code=shown, dos=dates(dos[bad_lines]), reason=reason,
                       replacements=reps)

    @staticmethod
    def _status(ctx, system, codes, asked) -> tuple[np.ndarray, np.ndarray]:
        """(covered, valid) of distinct (code, segment day) pairs: validate() asked for the pairs no partition
        before asked (the answers depend on the history only), at most STATUS_MEMO of them kept."""
        memo = ctx.memo.setdefault(("code-invalid-on-dos status", system), {})
        keys = list(zip(codes.tolist(), asked.astype(np.int64).tolist(), strict=True))
        todo = [k for k, key in enumerate(keys) if key not in memo]
        if todo:
            if len(memo) + len(todo) > STATUS_MEMO:  # forget the answers of the partitions before
                memo.clear()
                todo = list(range(len(keys)))
            v = ctx.history.validate(pd.Series(codes[todo], dtype=object), pd.Series(asked[todo]), system)
            for k, cov, ok in zip(todo, v["covered"].to_numpy(bool).tolist(),
                                  (v["status"] == "valid").to_numpy(bool).tolist(), strict=True):
                memo[keys[k]] = (cov, ok)
        answers = [memo[key] for key in keys]
        return (np.array([a[0] for a in answers], dtype=bool), np.array([a[1] for a in answers], dtype=bool))

    @staticmethod
    def _texts(ctx, system, codes, asked):
        """(display code, reason, replacements) of each invalid code on its date."""
        d = ctx.history.validate(pd.Series(codes, dtype=object), pd.Series(asked), system, detail=True)
        status = d["status"].to_numpy(object)
        since = np.where(d["since"].isna(), "", dates(d["since"].to_numpy()))
        present = d["present"].to_numpy(bool)
        release = d["release"].to_numpy(object)
        name = SYSTEM_NAMES[system]
        reason = np.select(
            [status == "header", (status == "deleted") & present & (system == "icd10cm"), status == "deleted",
             status == "not-yet-effective"],
            ["a header that needs more characters",
             "it became a header on " + since + " and needs more characters",
             "deleted on " + since, "not effective until " + since],
            default="not in the " + name + " release in force (" + release + ")").astype(object)
        reps = np.array([short_list([c for c, _ in r]) for r in d["replacement_list"]], dtype=object)
        return list(zip(d["display_code"].to_numpy(object).tolist(), reason.tolist(), reps.tolist(),
                        strict=True))


def segment_days(history, system: str, dos: np.ndarray, memo: dict | None = None) -> np.ndarray:
    """Each date of service as the first day of its segment of the code set's history: the days between two
    of its change days (a release's first day, the day after its coverage ends, a row's start date or the
    day after its end date), on which every code's status, release and dates are the same
    (ingest.history._SystemHistory.resolve compares a date with these days only). The dates themselves when
    the history is not one it can read so. memo (Context.memo): the change days kept, made once per history
    rather than once per partition."""
    h = getattr(history, "_systems", {}).get(system)
    dos = np.asarray(dos, dtype="datetime64[ns]")
    if h is None or not hasattr(h, "release_days"):
        return dos
    kept = memo.get(("segment-days", system)) if memo is not None else None
    if kept is not None and kept[0] is h:
        marks = kept[1]
    else:
        marks = _change_days(h)
        if memo is not None:
            memo[("segment-days", system)] = (h, marks)
    day = dos.astype("datetime64[D]").astype(np.int64)
    at = np.searchsorted(marks, day, side="right") - 1
    known = ~np.isnat(dos) & (at >= 0)
    out = dos.copy()
    out[known] = marks[at[known]].astype("datetime64[D]").astype("datetime64[ns]")
    return out


def _change_days(h) -> np.ndarray:
    """The days a code set's history (ingest.history._SystemHistory) changes something, sorted."""
    marks = [np.asarray(h.release_days, np.int64), np.array([h.cover_end], np.int64) + 1]
    for name, shift in (("start", 0), ("end", 1)):
        values = np.asarray(getattr(h, name, np.zeros(0)), np.int64)
        values = values[(values != NO_START) & (values != NO_END)]
        marks.append(np.unique(values) + shift)
    marks = np.unique(np.concatenate(marks))
    return marks[(marks > -(1 << 40)) & (marks < (1 << 40))]


class SexDiagnosis(Rule):
    id = "sex-diagnosis"
    title = "Diagnosis specific to the other sex"
    fields = ("code", "sex", "specific_to")
    param_types = {"female_values": "codes", "male_values": "codes", "female_only": "codes", "male_only": "codes"}

    def run(self, ctx, lines, sel, p):
        dx = lines.dx
        if not len(dx):
            return _result(np.zeros(0))
        di = dx["i"].to_numpy(np.int64)
        ids, uniq = dx["cid"].to_numpy(np.int64), lines.dx_vocab
        fem_u, male_u = self._specific(ctx, uniq, p)
        sex_line = lines.frame["sex"].to_numpy(object)
        sex_ids, sex_u = lines.factorized("sex")  # a few distinct values: each looked up once
        is_f = pd.Index(sex_u, dtype=object).isin(list(p["female_values"]))[sex_ids]
        is_m = pd.Index(sex_u, dtype=object).isin(list(p["male_values"]))[sex_ids]
        k = np.flatnonzero(sel[di] & ((is_m[di] & fem_u[ids]) | (is_f[di] & male_u[ids])))
        codes = dx["code"].to_numpy(object)[k]
        shown = np.array([c if len(c) <= 3 else f"{c[:3]}.{c[3:]}" for c in codes], dtype=object)
        return _result(di[k], code=shown, sex=sex_line[di[k]],
                       specific_to=np.where(fem_u[ids][k], "female", "male").astype(object))


    @staticmethod
    def _specific(ctx, uniq: np.ndarray, p) -> tuple[np.ndarray, np.ndarray]:
        """(female-only, male-only) of each distinct diagnosis of the partition, by the prefix lists; each code
        looked at once per prefix lists (ctx.memo, kept across partitions: the next bill the same codes)."""
        fem, male = tuple(sorted(p["female_only"])), tuple(sorted(p["male_only"]))
        memo = ctx.memo.setdefault(("sex-diagnosis", fem, male), {})
        if len(memo) > STATUS_MEMO:
            memo.clear()
        codes = uniq.tolist()
        for c in codes:
            if c not in memo:
                memo[c] = (c.startswith(fem), c.startswith(male))
        answers = [memo[c] for c in codes]
        return (np.array([a[0] for a in answers], dtype=bool).reshape(len(codes)),
                np.array([a[1] for a in answers], dtype=bool).reshape(len(codes)))


class MissingDiagnosis(Rule):
    id = "missing-diagnosis"
    title = "Missing diagnosis"
    fields = ("code", "dos")
    param_types = {"exempt_codes": "codes"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        i = np.flatnonzero(sel & (f["n_dx"] == 0).to_numpy() & ~code_in(lines, p["exempt_codes"]))
        return _result(i, code=f["code"].to_numpy(object)[i], dos=f["dos_text"].to_numpy(object)[i])


class UnknownModifier(Rule):
    id = "unknown-modifier"
    title = "Unknown modifier"
    fields = ("modifier", "code", "dos", "reason", "suggestion")
    param_types = {"cpt_modifiers": "codes"}

    def run(self, ctx, lines, sel, p):
        """CPT modifiers from the rule file's list (CPT is AMA data codegov does not ship); every other
        modifier of the right shape from the HCPCS Level II release in force on the date of service. A line
        on a date no loaded HCPCS release covers (or with no readable date) has its Level II modifiers not
        checked, and the notes say how many: there is no fallback list to wave them through."""
        f = lines.frame
        filled = (lines.mod_ids >= 0) & sel[:, None]
        i, slot = np.nonzero(filled)
        if not len(i):
            return _result(i)
        mid = lines.mod_ids[i, slot]
        vocab = lines.mod_vocab.to_numpy(object)
        shape_v = np.array([bool(_MODIFIER_SHAPE.fullmatch(m)) for m in vocab], dtype=bool)
        cpt_v = lines.mod_vocab.isin(list(p["cpt_modifiers"]))
        shape_ok, ask = shape_v[mid], shape_v[mid] & ~cpt_v[mid]
        seg = segment_days(ctx.history, "hcpcs", f["dos"].to_numpy()[i], ctx.memo)
        day = np.where(np.isnat(seg), 0, seg.astype("datetime64[D]").astype(np.int64))
        # each (modifier, date) asked once; pair[e]: the pair of entry e (-1: not asked), answers per pair
        pair = np.full(len(i), -1, dtype=np.int64)
        status_p, covered_p, since_p = (np.array(["valid"], dtype=object), np.zeros(1, bool),
                                        np.array([""], dtype=object))
        dated = ~np.isnat(f["dos"].to_numpy()[i])
        ask_dated = ask & dated
        if ask_dated.any():
            # one look-up per distinct (modifier, date), not per modifier on a line
            a = np.flatnonzero(ask_dated)
            offset = day[a] - day[a].min() + 1
            pair_ids, pairs = pd.factorize(mid[a] * np.int64(1 << 32) + offset)
            first = np.zeros(len(pairs), dtype=np.int64)
            first[pair_ids[::-1]] = a[::-1]
            v = ctx.history.validate(pd.Series(vocab[mid[first]], dtype=object),
                                     pd.Series(seg[first]), "hcpcs")
            pair[a] = pair_ids
            # the last slot answers for the entries not asked (-1): valid, not covered
            status_p = np.append(v["status"].to_numpy(object), "valid").astype(object)
            covered_p = np.append(v["covered"].to_numpy(bool), False)
            since_p = np.append(np.where(v["since"].isna(), "", dates(v["since"].to_numpy())), "").astype(object)
        covered = covered_p[pair]
        unchecked = ask & ~covered
        ctx.skip(self.id, "Level II modifiers on dates no loaded HCPCS Level II release covers",
                 np.count_nonzero(unchecked & dated))
        ctx.skip(self.id, "Level II modifiers on lines with no readable date", np.count_nonzero(unchecked & ~dated))
        ok = (shape_ok & ~ask) | (ask & covered & (status_p == "valid")[pair]) | unchecked
        k = np.flatnonzero(~ok)  # the texts for the modifiers found only
        status_k, since_k = status_p[pair[k]], since_p[pair[k]]
        reason = np.select(
            [~shape_ok[k], status_k == "deleted", status_k == "not-yet-effective"],
            ["not a modifier: modifiers are two letters or digits", "discontinued on " + since_k,
             "not effective until " + since_k],
            default="neither a CPT modifier nor a HCPCS Level II modifier in the release in force").astype(object)
        return _result(i[k], modifier=vocab[mid[k]], code=f["code"].to_numpy(object)[i[k]],
                       dos=f["dos_text"].to_numpy(object)[i[k]], reason=reason,
                       suggestion="correct or remove the modifier")
