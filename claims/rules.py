"""The scrubber's edits: each a small rule with an id, parameters from the rule file, vectorised over lines."""

from __future__ import annotations

import datetime as dt
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from claims.read import Lines, object_frame
from ingest.history import ReleaseHistory, short_list
from ingest.model import SYSTEM_NAMES, CodegovError

SEVERITIES = ("error", "warning")
SETTING_KEYS = ("title", "severity", "enabled", "message", "fix", "doc", "params")
_RANGE = re.compile(r"([A-Z]*)(\d+)([A-Z]*)-([A-Z]*)(\d+)([A-Z]*)")
_MODIFIER_SHAPE = re.compile(r"[A-Z0-9]{2}")


# ----------------------------------------------------------------------------------------------------------
# Parameters


def expand_codes(values: Any, where: str) -> frozenset[str]:
    """A list of quoted codes with optional ranges ("99202-99205") as a set of code strings."""
    if not isinstance(values, list):
        raise CodegovError(f"{where}: expected a list of quoted codes, found {values!r}")
    out: set[str] = set()
    for v in values:
        if not isinstance(v, str):
            raise CodegovError(f"{where}: codes must be quoted strings ('{v}'): an unquoted number loses "
                               "leading zeros")
        v = v.strip().upper()
        m = _RANGE.fullmatch(v)
        if m:
            p1, a, s1, p2, b, s2 = m.groups()
            if (p1, s1, len(a)) != (p2, s2, len(b)) or int(b) < int(a):
                raise CodegovError(f"{where}: range {v!r} must join two codes of the same shape, low to high")
            out.update(f"{p1}{n:0{len(a)}d}{s1}" for n in range(int(a), int(b) + 1))
        elif v:
            out.add(v)
    return frozenset(out)


def _param(kind: str, value: Any, where: str) -> Any:
    if kind == "codes":
        return expand_codes(value, where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise CodegovError(f"{where}: expected true or false, found {value!r}")
        return value
    if kind.startswith("choice:"):
        choices = kind.split(":", 1)[1].split("|")
        if value not in choices:
            raise CodegovError(f"{where}: expected one of {', '.join(choices)}, found {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise CodegovError(f"{where}: expected a text value, found {value!r}")
        return value.strip().upper()
    if kind == "year-amounts":
        if not isinstance(value, dict):
            raise CodegovError(f"{where}: expected a mapping year: amount, found {value!r}")
        out = {}
        for year, amount in value.items():
            if not (isinstance(year, int) and 1900 < year < 2200) or not isinstance(amount, (int, float)):
                raise CodegovError(f"{where}: expected year: amount pairs like 2025: 2410, found "
                                   f"{year!r}: {amount!r}")
            out[int(year)] = float(amount)
        return out
    raise AssertionError(kind)  # pragma: no cover


# ----------------------------------------------------------------------------------------------------------
# Rule settings and the rule file


@dataclass(frozen=True)
class RuleSettings:
    """One rule's settings for one payer: the defaults with that payer's overrides applied."""

    id: str
    title: str
    severity: str
    enabled: bool
    message: str
    fix: str
    doc: str
    params: Mapping[str, Any]
    raw_params: Mapping[str, Any] = field(default_factory=dict, compare=False)

    def key(self) -> tuple:
        return (self.severity, self.enabled, self.message, self.fix,
                tuple(sorted((k, repr(sorted(v) if isinstance(v, frozenset) else v))
                             for k, v in self.params.items())))


@dataclass
class RuleSet:
    """The rule file: default settings per rule, overrides per payer, and the reference files it names."""

    rules: dict[str, RuleSettings]
    payers: dict[str, dict[str, dict]]
    ncci_ptp: list[Path]
    mue: list[tuple[Path, dt.date | None]]
    sources: list[Path]
    _cache: dict = field(default_factory=dict, repr=False)

    def settings(self, rule_id: str, payer: str = "") -> RuleSettings:
        key = (rule_id, payer)
        if key not in self._cache:
            base = self.rules[rule_id]
            override = self.payers.get(payer.upper(), {}).get(rule_id)
            self._cache[key] = base if not override else _apply(base, override, f"payers.{payer}.{rule_id}")
        return self._cache[key]

    def groups(self, rule_id: str, payers: Iterable[str]) -> list[tuple[RuleSettings, list[str]]]:
        """The payers of a chunk grouped by identical settings of one rule, enabled groups only."""
        by_key: dict[tuple, tuple[RuleSettings, list[str]]] = {}
        for payer in payers:
            s = self.settings(rule_id, payer)
            by_key.setdefault(s.key(), (s, []))[1].append(payer)
        return [(s, ps) for s, ps in by_key.values() if s.enabled]


def _apply(base: RuleSettings, override: Mapping[str, Any], where: str) -> RuleSettings:
    rule = RULES[base.id]
    unknown = set(override) - set(SETTING_KEYS)
    if unknown:
        raise CodegovError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; expected "
                           f"{', '.join(SETTING_KEYS)}")
    raw = dict(base.raw_params)
    if "params" in override:
        if not isinstance(override["params"], dict):
            raise CodegovError(f"{where}.params: expected a mapping")
        raw.update(override["params"])
    changes = {k: v for k, v in override.items() if k in ("title", "severity", "enabled", "message", "fix", "doc")}
    settings = replace(base, **changes, params=rule.parse_params(raw, where), raw_params=raw)
    _check_settings(settings, where)
    return settings


def _check_settings(s: RuleSettings, where: str) -> None:
    rule = RULES[s.id]
    if s.severity not in SEVERITIES:
        raise CodegovError(f"{where}: severity must be error or warning, found {s.severity!r}")
    if not isinstance(s.enabled, bool):
        raise CodegovError(f"{where}: enabled must be true or false, found {s.enabled!r}")
    for name in ("message", "fix"):
        template = getattr(s, name)
        if not isinstance(template, str):
            raise CodegovError(f"{where}.{name}: expected text")
        try:
            used = [f for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
            specs = [spec or conv for _, f, spec, conv in string.Formatter().parse(template) if f is not None]
        except ValueError as exc:
            raise CodegovError(f"{where}.{name}: {exc}") from None
        bad = [f for f in used if f not in rule.fields]
        if bad or any(specs):
            raise CodegovError(f"{where}.{name}: unknown field(s) {', '.join(bad) or specs}; {s.id} fills "
                               f"{', '.join('{' + f + '}' for f in rule.fields)} (no format specs)")


def load_rules(path: str | Path, payer_rule_files: Iterable[str | Path] = ()) -> RuleSet:
    """Read and check a rule file (and more per-payer overrides); every mistake names the file and key."""
    import yaml

    path = Path(path)
    data = _read_yaml(path, yaml)
    if not isinstance(data, dict) or not isinstance(data.get("rules"), dict):
        raise CodegovError(f"{path}: expected a mapping with a `rules:` section")
    unknown = set(data) - {"version", "reference", "lists", "rules", "payers"}
    if unknown:
        raise CodegovError(f"{path}: unknown section(s) {', '.join(sorted(unknown))}")
    rules: dict[str, RuleSettings] = {}
    for rule_id, body in data["rules"].items():
        where = f"{path}: rules.{rule_id}"
        if rule_id not in RULES:
            raise CodegovError(f"{where}: no such rule; known rules: {', '.join(RULES)}")
        if not isinstance(body, dict):
            raise CodegovError(f"{where}: expected a mapping")
        unknown = set(body) - set(SETTING_KEYS)
        if unknown:
            raise CodegovError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}")
        rule = RULES[rule_id]
        raw = dict(body.get("params") or {})
        s = RuleSettings(
            id=rule_id, title=str(body.get("title", rule.title)), severity=body.get("severity", "error"),
            enabled=body.get("enabled", True), message=body.get("message", ""), fix=body.get("fix", ""),
            doc=" ".join(str(body.get("doc", "")).split()), params=rule.parse_params(raw, where), raw_params=raw)
        _check_settings(s, where)
        rules[rule_id] = s
    missing = [r for r in RULES if r not in rules]
    if missing:
        raise CodegovError(f"{path}: rules {', '.join(missing)} are missing; every rule needs an entry "
                           "(set enabled: false to turn one off)")
    payers: dict[str, dict[str, dict]] = {}
    sources = [path]
    for source, section in [(path, data.get("payers") or {})] + [
            (Path(p), (_read_yaml(Path(p), yaml) or {}).get("payers", {})) for p in payer_rule_files]:
        if source != path:
            sources.append(source)
        if not isinstance(section, dict):
            raise CodegovError(f"{source}: `payers:` must map payer names to rule overrides")
        for payer, overrides in section.items():
            if not isinstance(overrides, dict):
                raise CodegovError(f"{source}: payers.{payer}: expected rule overrides")
            for rule_id, override in overrides.items():
                if rule_id not in RULES:
                    raise CodegovError(f"{source}: payers.{payer}.{rule_id}: no such rule")
                if not isinstance(override, dict):
                    raise CodegovError(f"{source}: payers.{payer}.{rule_id}: expected a mapping")
                merged = payers.setdefault(str(payer).strip().upper(), {}).setdefault(rule_id, {})
                params = {**merged.get("params", {}), **(override.get("params") or {})}
                merged.update(override)
                if params:
                    merged["params"] = params
                _apply(rules[rule_id], merged, f"{source}: payers.{payer}.{rule_id}")  # fail here, naming the file
    ruleset = RuleSet(rules, payers, [], [], sources)
    ref = data.get("reference") or {}
    base = path.parent
    ruleset.ncci_ptp = [base / p for p in ref.get("ncci_ptp", [])]
    for item in ref.get("mue", []):
        item = {"path": item} if isinstance(item, str) else item
        eff = item.get("effective")
        eff = dt.date.fromisoformat(str(eff)) if eff else None
        ruleset.mue.append((base / item["path"], eff))
    return ruleset


def _read_yaml(path: Path, yaml) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise CodegovError(f"{path}: not valid YAML: {exc}") from None


# ----------------------------------------------------------------------------------------------------------
# What rules see


@dataclass
class Context:
    """Reference data the rules read, plus state carried from one chunk to the next."""

    history: ReleaseHistory
    ptp: pd.DataFrame
    mue: list[pd.DataFrame]
    state: dict = field(default_factory=dict)
    skipped: Counter = field(default_factory=Counter)  # (rule, what) -> lines not checked

    def skip(self, rule: str, what: str, count: int) -> None:
        if count:
            self.skipped[(rule, what)] += int(count)


def dates(values: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(np.asarray(values, dtype="datetime64[D]"), unit="D").astype(object)


def mods_isin(lines: Lines, values: Iterable[str]) -> np.ndarray:
    """(n, 4) bool: which modifier slots hold one of values."""
    return lines.mods_isin(values)


def has_mod(lines: Lines, values: Iterable[str]) -> np.ndarray:
    return lines.has_mod(values)


def code_in(lines: Lines, codes: Iterable[str]) -> np.ndarray:
    return lines.code_in(codes)


def _result(i: np.ndarray, **cols) -> pd.DataFrame:
    n = len(i)
    data = {"i": np.asarray(i, dtype=np.int64)}
    for k, v in cols.items():
        data[k] = np.full(n, v, dtype=object) if isinstance(v, str) else np.asarray(v, dtype=object)
    return object_frame(data)


def _ints(values) -> np.ndarray:
    return np.array([str(int(v)) for v in np.asarray(values, dtype=float)], dtype=object)


def _money(values) -> np.ndarray:
    return np.array([f"{v:,.2f}" for v in np.asarray(values, dtype=float)], dtype=object)


class Rule:
    """An edit: fields its message and fix templates can use, typed params, run() vectorised over lines."""

    id = ""
    title = ""
    scope = "line"  # line | visit (claim and date) | patient-year
    fields: tuple[str, ...] = ()
    param_types: Mapping[str, str] = {}

    def parse_params(self, raw: Mapping[str, Any], where: str) -> dict[str, Any]:
        unknown = set(raw) - set(self.param_types)
        if unknown:
            raise CodegovError(f"{where}.params: unknown parameter(s) {', '.join(sorted(unknown))}; "
                               f"{self.id} takes {', '.join(self.param_types) or 'none'}")
        missing = set(self.param_types) - set(raw)
        if missing:
            raise CodegovError(f"{where}.params: missing {', '.join(sorted(missing))}")
        return {k: _param(kind, raw[k], f"{where}.params.{k}") for k, kind in self.param_types.items()}

    def run(self, ctx: Context, lines: Lines, sel: np.ndarray, p: Mapping[str, Any]) -> pd.DataFrame:
        raise NotImplementedError


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
            m = dated & (f["code_kind"] == "hcpcs").to_numpy()
            parts.append(self._check(ctx, "hcpcs", "procedure", np.flatnonzero(m), f["code"].to_numpy()[m],
                                     f["dos"].to_numpy()[m]))
            other = np.flatnonzero(sel & (f["code_kind"] == "other").to_numpy())
            parts.append(_result(other, kind="procedure", code=f["code"].to_numpy()[other],
                                 dos=f["dos_text"].to_numpy(object)[other],
                                 reason="not a CPT or HCPCS Level II code", replacements=""))
        if p["check_diagnoses"] and len(lines.dx):
            di = lines.dx["i"].to_numpy(np.int64)
            m = dated[di]
            parts.append(self._check(ctx, "icd10cm", "diagnosis", di[m], lines.dx["code"].to_numpy()[m],
                                     f["dos"].to_numpy()[di[m]]))
        if p["check_place_of_service"]:
            m = dated & (f["pos"] != "").to_numpy()
            parts.append(self._check(ctx, "pos", "place of service", np.flatnonzero(m), f["pos"].to_numpy()[m],
                                     f["dos"].to_numpy()[m]))
        parts = [x for x in parts if len(x)]
        return pd.concat(parts, ignore_index=True) if parts else _result(np.zeros(0))

    def _check(self, ctx, system, kind, idx, codes, dos):
        if not len(idx):
            return _result(idx)
        v = ctx.history.validate(pd.Series(codes, dtype=object), pd.Series(dos), system)
        covered = v["covered"].to_numpy()
        ctx.skip(self.id, f"{kind} codes on dates no loaded {SYSTEM_NAMES[system]} release covers",
                 (~covered).sum())
        bad = covered & (v["status"] != "valid").to_numpy()
        if not bad.any():
            return _result(np.zeros(0))
        d = ctx.history.validate(pd.Series(codes[bad], dtype=object), pd.Series(dos[bad]), system, detail=True)
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
        return _result(idx[bad], kind=kind, code=d["display_code"].to_numpy(object), dos=dates(dos[bad]),
                       reason=reason, replacements=reps)


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


class NcciPtp(Rule):
    id = "ncci-ptp"
    title = "NCCI procedure-to-procedure edit"
    scope = "visit"
    fields = ("code", "column1", "other_line", "dos", "indicator", "rationale", "reason", "suggestion")
    param_types = {"distinct_modifiers": "codes", "anatomic_modifiers": "codes"}

    def run(self, ctx, lines, sel, p):
        ptp = ctx.ptp
        f = lines.frame
        m = sel & (f["visit_key"] >= 0).to_numpy()
        if not len(ptp) or not m.any():
            return _result(np.zeros(0))
        code = f["code"].to_numpy(object)
        vocab = pd.Index(pd.unique(code[m]), dtype=object)
        sub = ptp[ptp["column1"].isin(vocab) & ptp["column2"].isin(vocab)]
        if not len(sub):
            return _result(np.zeros(0))
        c1, c2 = vocab.get_indexer(sub["column1"]), vocab.get_indexer(sub["column2"])
        cid = vocab.get_indexer(code)
        visit = f["visit_key"].to_numpy()
        ia = np.flatnonzero(m & np.isin(cid, c1))
        ib = np.flatnonzero(m & np.isin(cid, c2))
        pairs = object_frame({"ia": ia, "v": visit[ia]}).merge(object_frame({"ib": ib, "v": visit[ib]}), on="v")
        pairs = pairs[pairs["ia"].to_numpy() != pairs["ib"].to_numpy()]
        v = np.int64(len(vocab))
        pairs["key"] = cid[pairs["ia"].to_numpy()] * v + cid[pairs["ib"].to_numpy()]
        edits = object_frame({"key": c1.astype(np.int64) * v + c2, "effective": sub["effective"].to_numpy(),
                              "deletion": sub["deletion"].to_numpy(),
                              "indicator": sub["modifier_indicator"].to_numpy(object),
                              "rationale": sub["rationale"].to_numpy(object)})
        hits = pairs.merge(edits, on="key")
        a, b = hits["ia"].to_numpy(np.int64), hits["ib"].to_numpy(np.int64)
        day = f["dos"].to_numpy()[b]
        in_force = (hits["effective"].to_numpy() <= day) & (
            hits["deletion"].isna().to_numpy() | (day < hits["deletion"].to_numpy()))
        ind = hits["indicator"].to_numpy(object)
        ma, mb = lines.mods[a], lines.mods[b]
        ok = self._bypassed(ma, mb, p) | self._bypassed(mb, ma, p)
        flag = in_force & ((ind == "0") | ((ind == "1") & ~ok))
        hits = hits[flag].drop_duplicates(["ia", "ib"])
        a, b = hits["ia"].to_numpy(np.int64), hits["ib"].to_numpy(np.int64)
        ind = hits["indicator"].to_numpy(object)
        never = ind == "0"
        return _result(
            b, code=code[b], column1=code[a], other_line=f["line"].to_numpy(object)[a],
            dos=f["dos_text"].to_numpy(object)[b], indicator=ind, rationale=hits["rationale"].to_numpy(object),
            reason=np.where(never, "the pair is never paid together (modifier not allowed)",
                            "no NCCI-associated modifier (59, XE, XS, XP, XU or an anatomic modifier)"),
            suggestion=np.where(never, "remove " + code[b] + "; it is not paid with " + code[a],
                                "if " + code[b] + " was a distinct service, append 59 or XE/XS/XP/XU (or "
                                "the anatomic modifier of its site); otherwise remove it"))

    @staticmethod
    def _bypassed(mine: np.ndarray, other: np.ndarray, p) -> np.ndarray:
        """A distinct-service modifier, or an anatomic modifier the other line does not carry."""
        flat = pd.Series(mine.ravel(), dtype=object)
        distinct = flat.isin(list(p["distinct_modifiers"])).to_numpy().reshape(mine.shape)
        anatomic = flat.isin(list(p["anatomic_modifiers"])).to_numpy().reshape(mine.shape)
        shared = (mine[:, :, None] == other[:, None, :]).any(axis=2)
        return (distinct | (anatomic & ~shared)).any(axis=1)


class MueUnits(Rule):
    id = "mue-units"
    title = "Medically Unlikely Edit units"
    scope = "visit"
    fields = ("code", "units", "scope", "scope_short", "mue", "mai", "rationale")
    param_types: Mapping[str, str] = {}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        parts = []
        dos = f["dos"].to_numpy()
        units = f["units"].to_numpy(float)
        base = sel & ~np.isnat(dos) & np.isfinite(units)
        tables = sorted(ctx.mue, key=lambda t: t["effective"].iloc[0] if len(t) else pd.Timestamp.min)
        for n, table in enumerate(tables):
            if not len(table):
                continue
            start = table["effective"].iloc[0].to_datetime64()
            m = base & (dos >= start)
            if n + 1 < len(tables) and len(tables[n + 1]):
                m &= dos < tables[n + 1]["effective"].iloc[0].to_datetime64()
            index = pd.Index(table["code"])
            pos = index.get_indexer(f["code"].to_numpy(object))
            m &= pos >= 0
            if not m.any():
                continue
            i = np.flatnonzero(m)
            t = pos[i]
            mue, mai = table["mue"].to_numpy()[t], table["mai"].to_numpy()[t]
            rationale = table["rationale"].to_numpy(object)[t]
            line_edit = mai == 1
            sub = object_frame({"i": i, "v": f["visit_key"].to_numpy()[i], "c": f["code"].to_numpy(object)[i],
                                "u": units[i], "line": f["line"].to_numpy(object)[i]})
            total = sub.groupby(["v", "c"], sort=False)["u"].transform("sum").to_numpy()
            over_line = line_edit & (units[i] > mue)
            over_day = ~line_edit & (total > mue)
            k = np.flatnonzero(over_line)
            parts.append(_result(i[k], code=sub["c"].to_numpy(object)[k], units=_ints(units[i][k]),
                                 scope="on this line", scope_short="on this line", mue=_ints(mue[k]),
                                 mai=_ints(mai[k]), rationale=rationale[k]))
            k = np.flatnonzero(over_day)
            if len(k):
                grp = sub.iloc[k]
                gid = grp.groupby(["v", "c"], sort=False).ngroup().to_numpy()
                joined = _join_per_group(gid, grp["line"].to_numpy(object))
                scope = "on " + f["dos_text"].to_numpy(object)[i[k]] + " (lines " + joined + ")"
                parts.append(_result(i[k], code=grp["c"].to_numpy(object), units=_ints(total[k]), scope=scope,
                                     scope_short="on that date", mue=_ints(mue[k]), mai=_ints(mai[k]),
                                     rationale=rationale[k]))
        parts = [x for x in parts if len(x)]
        return pd.concat(parts, ignore_index=True) if parts else _result(np.zeros(0))


def _join_per_group(gid: np.ndarray, values: np.ndarray, sep: str = ", ") -> np.ndarray:
    """For each row, the values of its group joined by `sep` in row order (groupby-transform of str.join,
    without a Python call per group): rows sorted stably by group, strings summed with np.add.reduceat."""
    if not len(gid):
        return np.zeros(0, dtype=object)
    order = np.argsort(gid, kind="stable")
    sorted_gid = gid[order]
    starts = np.flatnonzero(np.r_[True, sorted_gid[1:] != sorted_gid[:-1]])
    sums = np.add.reduceat(values[order].astype(object) + sep, starts)
    lookup = np.empty(int(gid.max()) + 1, dtype=object)
    lookup[sorted_gid[starts]] = [s[: -len(sep)] for s in sums]
    return lookup[gid]


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
        sex = lines.frame["sex"].to_numpy(object)[di]
        ids, uniq = pd.factorize(dx["code"].to_numpy(object))
        fem, male = tuple(p["female_only"]), tuple(p["male_only"])
        fem_u = np.array([c.startswith(fem) for c in uniq], dtype=bool)
        male_u = np.array([c.startswith(male) for c in uniq], dtype=bool)
        is_f = pd.Series(sex, dtype=object).isin(list(p["female_values"])).to_numpy()
        is_m = pd.Series(sex, dtype=object).isin(list(p["male_values"])).to_numpy()
        k = np.flatnonzero(sel[di] & ((is_m & fem_u[ids]) | (is_f & male_u[ids])))
        codes = dx["code"].to_numpy(object)[k]
        shown = np.array([c if len(c) <= 3 else f"{c[:3]}.{c[3:]}" for c in codes], dtype=object)
        return _result(di[k], code=shown, sex=sex[k],
                       specific_to=np.where(fem_u[ids][k], "female", "male").astype(object))


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
    param_types = {"cpt_modifiers": "codes", "level2_modifiers": "codes"}

    def run(self, ctx, lines, sel, p):
        f = lines.frame
        filled = (lines.mod_ids >= 0) & sel[:, None]
        i, slot = np.nonzero(filled)
        if not len(i):
            return _result(i)
        mid = lines.mod_ids[i, slot]
        vocab = lines.mod_vocab.to_numpy(object)
        shape_v = np.array([bool(_MODIFIER_SHAPE.fullmatch(m)) for m in vocab], dtype=bool)
        cpt_v = lines.mod_vocab.isin(list(p["cpt_modifiers"]))
        level2_v = lines.mod_vocab.isin(list(p["level2_modifiers"]))
        shape_ok, ask = shape_v[mid], shape_v[mid] & ~cpt_v[mid]
        day = f["day"].to_numpy()[i]
        status = np.full(len(i), "valid", dtype=object)
        covered = np.zeros(len(i), bool)
        since = np.full(len(i), "", dtype=object)
        if ask.any():
            # one look-up per distinct (modifier, date), not per modifier on a line
            a = np.flatnonzero(ask)
            dated = ~np.isnat(f["dos"].to_numpy()[i[a]])  # a malformed date has no day: offset 0
            offset = np.where(dated, day[a] - (day[a][dated].min() if dated.any() else 0) + 1, 0)
            pair_ids, pairs = pd.factorize(mid[a] * np.int64(1 << 32) + offset)
            first = np.zeros(len(pairs), dtype=np.int64)
            first[pair_ids[::-1]] = a[::-1]
            v = ctx.history.validate(pd.Series(vocab[mid[first]], dtype=object),
                                     pd.Series(f["dos"].to_numpy()[i[first]]), "hcpcs")
            status[a] = v["status"].to_numpy(object)[pair_ids]
            covered[a] = v["covered"].to_numpy(bool)[pair_ids]
            since[a] = np.where(v["since"].isna(), "", dates(v["since"].to_numpy()))[pair_ids]
        ok = (shape_ok & ~ask) | (ask & covered & (status == "valid")) | (ask & ~covered & level2_v[mid])
        reason = np.select(
            [~shape_ok, covered & (status == "deleted"), covered & (status == "not-yet-effective"), covered],
            ["not a modifier: modifiers are two letters or digits", "discontinued on " + since,
             "not effective until " + since,
             "neither a CPT modifier nor a HCPCS Level II modifier in the release in force"],
            default="neither a CPT modifier nor a known HCPCS Level II modifier").astype(object)
        k = np.flatnonzero(~ok)
        return _result(i[k], modifier=vocab[mid[k]], code=f["code"].to_numpy(object)[i[k]],
                       dos=f["dos_text"].to_numpy(object)[i[k]], reason=reason[k],
                       suggestion="correct or remove the modifier")


RULES: dict[str, Rule] = {r.id: r for r in (
    MalformedField(), CodeInvalidOnDos(), TelehealthPosModifier(), BilateralModifier(), NcciPtp(), MueUnits(),
    TimedUnits(), TherapyGp(), TherapyKx(), EmModifier25(), SexDiagnosis(), MissingDiagnosis(),
    UnknownModifier())}


# ----------------------------------------------------------------------------------------------------------
# Documentation generated from the same metadata


SCOPES = {"line": "service line", "visit": "claim and date of service", "patient-year": "patient and calendar year"}


def _show(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(f"`{v}`" for v in value) or "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {v}" for k, v in value.items())
    return f"`{value}`"


def rule_pages(ruleset: RuleSet) -> dict[str, str]:
    """Markdown pages for the site: rules/index.md and rules/<id>.md, from the rule file's metadata."""
    pages: dict[str, str] = {}
    index = ["# Claim scrubber rules", "",
             "Generated from the rule file `codesets/rules/scrub.yml`: each rule's id, severity, and what it "
             "checks. Payers listed under `payers:` in the rule file override any of these settings.", "",
             "| rule | title | severity | enabled by default | payer overrides |", "|---|---|---|---|---|"]
    for rule_id, s in ruleset.rules.items():
        payers = sorted(p for p, o in ruleset.payers.items() if rule_id in o)
        index.append(f"| [`{rule_id}`]({rule_id}.md) | {s.title} | {s.severity} | "
                     f"{'yes' if s.enabled else 'no'} | {', '.join(payers) or '-'} |")
        rule = RULES[rule_id]
        page = [f"# `{rule_id}`: {s.title}", "", s.doc, "",
                f"- severity: **{s.severity}**", f"- enabled by default: **{'yes' if s.enabled else 'no'}**",
                f"- checked per: {SCOPES[rule.scope]}",
                f"- message: `{s.message}`", f"- suggested fix: `{s.fix}`" if s.fix else "- suggested fix: none",
                f"- fields for the templates: {', '.join('`{' + x + '}`' for x in rule.fields)}", ""]
        if s.raw_params:
            page += ["## Parameters", "", "| parameter | default |", "|---|---|"]
            page += [f"| `{k}` | {_show(v)} |" for k, v in s.raw_params.items()]
            page.append("")
        overrides = {p: o[rule_id] for p, o in sorted(ruleset.payers.items()) if rule_id in o}
        if overrides:
            page += ["## Payer overrides", "", "| payer | setting | value |", "|---|---|---|"]
            for payer, o in overrides.items():
                for k, v in o.items():
                    if k == "params":
                        page += [f"| {payer} | `params.{pk}` | {_show(pv)} |" for pk, pv in v.items()]
                    else:
                        page.append(f"| {payer} | `{k}` | {_show(v)} |")
            page.append("")
        pages[f"{rule_id}.md"] = "\n".join(page)
    pages["index.md"] = "\n".join(index) + "\n"
    return pages
