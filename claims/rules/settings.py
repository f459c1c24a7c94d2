"""Rule settings and the YAML rule file: defaults per rule, overrides per payer, checked as they are loaded."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from claims.rules.registry import RULES
from ingest.model import CodegovError
from ingest.yamlfile import load_yaml_file  # noqa: F401 - the rule files' loader, re-exported

SEVERITIES = ("error", "warning")
SETTING_KEYS = ("title", "severity", "enabled", "message", "fix", "doc", "source", "params")
PERIOD_KEYS = ("from", "to")  # a payer override's dates of service (both inclusive); either may be left out


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
    source: str = ""  # where the edit comes from (CMS manual, file), shown on the rule's page

    def key(self) -> tuple:
        """What makes two settings the same (their params' code sets in order): made once per settings object,
        it is asked for each rule of each partition (RuleSet.selections)."""
        kept = self.__dict__.get("_key")
        if kept is None:
            kept = (self.severity, self.enabled, self.message, self.fix,
                    tuple(sorted((k, repr(sorted(v) if isinstance(v, frozenset) else v))
                                 for k, v in self.params.items())))
            object.__setattr__(self, "_key", kept)  # (frozen: set once, beside the fields)
        return kept


IN_FORCE = "in-force"  # reference.ptp / mue / pfs / aoc: the stored quarter in force on each date of service
EDIT_SETTINGS = ("practitioner", "hospital")  # reference.setting: which NCCI setting's PTP and MUE tables
# reference.pfs_fallback: what the fee-schedule rules do on a date no stored PFS quarter covers
PFS_FALLBACKS = ("not-checked", "lists")
REFERENCE_KEYS = ("ptp", "ncci_ptp", "mue", "pfs", "aoc", "setting", "pfs_fallback")


@dataclass(frozen=True)
class EditSource:
    """Where one NCCI table comes from, as the rule file's reference: section says.

    quarter "in-force": the stored quarter in force on each date of service; another quarter name (2026Q3,
    2026-Q3, 2026-07-01): that stored quarter for every date; None: the files listed (an organisation's own,
    in the CMS layout; none listed: the rule has no table and checks nothing)."""

    system: str  # ptp | mue | pfs | aoc
    key: str  # the key it was read from, for errors: reference.ptp, reference.ncci_ptp, reference.mue, ...
    rule_file: Path
    quarter: str | None = None
    files: tuple[tuple[Path, dt.date | None], ...] = ()  # (path, effective date given for it: MUE only)
    implicit: bool = False  # not named in the rule file (pfs, aoc: in-force by default, nothing stored is no error)

    @property
    def stored(self) -> bool:
        return self.quarter is not None

    @property
    def in_force(self) -> bool:
        return self.quarter == IN_FORCE

    def where(self) -> str:
        return f"{self.rule_file}: {self.key}"


@dataclass(frozen=True)
class Period:
    """The dates of service a payer override applies to: [start, end], both inclusive; None: open."""

    start: dt.date | None = None
    end: dt.date | None = None

    @property
    def dated(self) -> bool:
        return self.start is not None or self.end is not None

    def overlaps(self, other: Period) -> bool:
        lo = max(self.start or dt.date.min, other.start or dt.date.min)
        hi = min(self.end or dt.date.max, other.end or dt.date.max)
        return lo <= hi

    def text(self) -> str:
        if not self.dated:
            return "all dates"
        if self.start and self.end:
            return f"{self.start} to {self.end}"
        return f"from {self.start}" if self.start else f"through {self.end}"

    def mask(self, dos: np.ndarray) -> np.ndarray:
        """The lines dated inside the period (a line with no date is in no dated period)."""
        m = ~np.isnat(dos)
        if self.start is not None:
            m &= dos >= np.datetime64(self.start, "ns")
        if self.end is not None:
            m &= dos < np.datetime64(self.end + dt.timedelta(days=1), "ns")
        return m


@dataclass
class RuleSet:
    """The rule file: default settings per rule, overrides per payer (some of them for a period of dates of
    service only), and the reference tables it names.

    payers[PAYER][rule_id] is a list of (Period, override mapping): the undated override (at most one, the
    merge of every undated mapping given) and the dated ones. On a date of service the settings are the
    rule's defaults, then the payer's undated override, then the dated override whose period holds the date."""

    rules: dict[str, RuleSettings]
    payers: dict[str, dict[str, list[tuple[Period, dict]]]]
    sources: list[Path]
    ptp: EditSource
    mue: EditSource
    setting: str = "practitioner"
    pfs: EditSource | None = None
    aoc: EditSource | None = None
    pfs_fallback: str = "not-checked"
    _cache: dict = field(default_factory=dict, repr=False)

    def settings(self, rule_id: str, payer: str = "", period: Period = Period()) -> RuleSettings:
        """One payer's settings of a rule: its undated override, and the dated one of `period` if given."""
        key = (rule_id, payer.upper(), period)
        if key not in self._cache:
            base = self.rules[rule_id]
            entries = self.payers.get(payer.upper(), {}).get(rule_id, [])
            undated = next((o for p, o in entries if not p.dated), None)
            s = base if not undated else _apply(base, undated, f"payers.{payer}.{rule_id}")
            dated = next((o for p, o in entries if p == period and p.dated), None)
            if dated:
                s = _apply(s, dated, f"payers.{payer}.{rule_id} ({period.text()})")
            self._cache[key] = s
        return self._cache[key]

    def periods(self, rule_id: str, payer: str) -> list[Period]:
        return [p for p, _ in self.payers.get(payer.upper(), {}).get(rule_id, []) if p.dated]

    def selections(self, rule_id: str, payer: tuple[np.ndarray, np.ndarray], dos: np.ndarray
                   ) -> list[tuple[RuleSettings, np.ndarray]]:
        """The lines of a chunk grouped by identical settings of one rule (each payer's, on each line's date),
        enabled groups only: (settings, bool mask over the lines). payer: (ids, values), each line's payer
        values[ids] (claims.read.Lines.factorized; values may repeat)."""
        last = self._cache.get("payers of the chunk")
        if last is None or last[0] is not payer:  # the distinct payers found once per chunk, not once per rule
            ids, values = payer
            distinct, payers = pd.factorize(np.asarray(values, dtype=object))
            last = (payer, distinct[ids] if len(distinct) else np.asarray(ids), payers)
            self._cache["payers of the chunk"] = last
        _, ids, payers = last
        n = len(ids)
        by_key: dict[tuple, list] = {}

        def add(s: RuleSettings, m: np.ndarray) -> None:
            by_key.setdefault(s.key(), [s, np.zeros(n, bool)])[1] |= m

        if len(payers) == 1 and not self.periods(rule_id, payers[0]):  # the usual chunk: one group
            s = self.settings(rule_id, payers[0])
            return [(s, np.ones(n, bool))] if s.enabled else []
        for k, name in enumerate(payers):
            m = ids == k
            rest = m
            for period in self.periods(rule_id, name):
                inside = m & period.mask(dos)
                if inside.any():
                    add(self.settings(rule_id, name, period), inside)
                    rest = rest & ~inside
            if rest.any():
                add(self.settings(rule_id, name), rest)
        return [(s, m) for s, m in by_key.values() if s.enabled]


def _apply(base: RuleSettings, override: Mapping[str, Any], where: str) -> RuleSettings:
    rule = RULES[base.id]
    unknown = set(override) - set(SETTING_KEYS) - set(PERIOD_KEYS)
    if unknown:
        raise CodegovError(f"{where}: unknown setting(s) {', '.join(sorted(unknown))}; expected "
                           f"{', '.join(SETTING_KEYS + PERIOD_KEYS)}")
    raw = dict(base.raw_params)
    if "params" in override:
        if not isinstance(override["params"], dict):
            raise CodegovError(f"{where}.params: expected a mapping")
        raw.update(override["params"])
    changes = {k: v for k, v in override.items() if k in ("title", "severity", "enabled", "message", "fix", "doc",
                                                         "source")}
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
    path = Path(path)
    data = load_yaml_file(path, "rule file")
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
            doc=" ".join(str(body.get("doc", "")).split()), params=rule.parse_params(raw, where), raw_params=raw,
            source=" ".join(str(body.get("source", "")).split()))
        _check_settings(s, where)
        rules[rule_id] = s
    missing = [r for r in RULES if r not in rules]
    if missing:
        raise CodegovError(f"{path}: rules {', '.join(missing)} are missing; every rule needs an entry "
                           "(set enabled: false to turn one off)")
    payers: dict[str, dict[str, list[tuple[Period, dict]]]] = {}
    sources = [path]
    for source, section in [(path, data.get("payers") or {})] + [
            (Path(p), _payers_section(Path(p))) for p in payer_rule_files]:
        if source != path:
            sources.append(source)
        if not isinstance(section, dict):
            raise CodegovError(f"{source}: `payers:` must map payer names to rule overrides")
        for payer, overrides in section.items():
            if not isinstance(overrides, dict):
                raise CodegovError(f"{source}: payers.{payer}: expected rule overrides")
            for rule_id, given in overrides.items():
                where = f"{source}: payers.{payer}.{rule_id}"
                if rule_id not in RULES:
                    raise CodegovError(f"{where}: no such rule")
                items = given if isinstance(given, list) else [given]
                entries = payers.setdefault(str(payer).strip().upper(), {}).setdefault(rule_id, [])
                for n, override in enumerate(items):
                    at = f"{where}[{n}]" if isinstance(given, list) else where
                    if not isinstance(override, dict):
                        raise CodegovError(f"{at}: expected a mapping (or a list of mappings, each with its own "
                                           "from/to dates)")
                    period = _period(override, at)
                    body = {k: v for k, v in override.items() if k not in PERIOD_KEYS}
                    merged = next((o for p, o in entries if p == period), None)
                    if merged is None:
                        clash = next((p for p, _ in entries if p.dated and period.dated and p.overlaps(period)), None)
                        if clash is not None:
                            raise CodegovError(f"{at}: dates {period.text()} overlap the override for {clash.text()}; "
                                               "give each date of service one dated override")
                        merged = {}
                        entries.append((period, merged))
                    params = {**merged.get("params", {}), **(body.get("params") or {})}
                    merged.update(body)
                    if params:
                        merged["params"] = params
                    _check_override(rules[rule_id], entries, at)  # fail here, naming the file
    for rules_of_payer in payers.values():
        for entries in rules_of_payer.values():
            entries.sort(key=lambda e: (e[0].dated, e[0].start or dt.date.min))
    ref = _reference(path, data.get("reference"))
    return RuleSet(rules, payers, sources, ref["ptp"], ref["mue"], ref["setting"], ref["pfs"], ref["aoc"],
                   ref["pfs_fallback"])


def _check_override(base: RuleSettings, entries: list[tuple[Period, dict]], where: str) -> None:
    """Every override of a payer's rule applies on top of the defaults and the payer's undated override."""
    undated = next((o for p, o in entries if not p.dated), None)
    s = _apply(base, undated, where) if undated else base
    for p, o in entries:
        if p.dated:
            _apply(s, o, where)


def _period(override: Mapping[str, Any], where: str) -> Period:
    """The from/to dates of an override (YYYY-MM-DD; YAML may give them as dates)."""
    out = {}
    for key in PERIOD_KEYS:
        value = override.get(key)
        if value is None:
            out[key] = None
            continue
        if isinstance(value, dt.datetime):
            value = value.date()
        if not isinstance(value, dt.date):
            try:
                value = dt.date.fromisoformat(str(value))
            except ValueError:
                raise CodegovError(f"{where}.{key}: expected a date YYYY-MM-DD, found {value!r}"[:300]) from None
        out[key] = value
    if out["from"] and out["to"] and out["to"] < out["from"]:
        raise CodegovError(f"{where}: to ({out['to']}) is before from ({out['from']})")
    return Period(out["from"], out["to"])


def _reference(path: Path, ref: Any) -> dict[str, Any]:
    """reference: ptp (or ncci_ptp), mue, pfs, aoc, setting and pfs_fallback. ptp / mue: `in-force`, a stored
    quarter's name, or a list of files (mue: paths or {path, effective}); relative paths are relative to the
    rule file. pfs / aoc: `in-force` (the default) or a stored quarter's name."""
    ref = {} if ref is None else ref
    if not isinstance(ref, dict):
        raise CodegovError(f"{path}: reference: expected a mapping with ptp, mue, pfs, aoc and setting")
    unknown = set(ref) - set(REFERENCE_KEYS)
    if unknown:
        raise CodegovError(f"{path}: reference: unknown key(s) {', '.join(sorted(map(str, unknown)))}; expected "
                           "ptp, mue, pfs, aoc, setting, pfs_fallback (ncci_ptp: the older name of a ptp file list)")
    setting = ref.get("setting", "practitioner")
    if setting not in EDIT_SETTINGS:
        raise CodegovError(f"{path}: reference.setting: expected practitioner or hospital (which NCCI setting's "
                           f"PTP and MUE tables), found {setting!r}"[:300])
    fallback = ref.get("pfs_fallback", "not-checked")
    if fallback not in PFS_FALLBACKS:
        raise CodegovError(f"{path}: reference.pfs_fallback: expected not-checked (a line on a date no stored fee "
                           "schedule quarter covers is not checked) or lists (the rule file's code lists stand in), "
                           f"found {fallback!r}"[:300])
    if "ptp" in ref and "ncci_ptp" in ref:
        raise CodegovError(f"{path}: reference: give ptp or ncci_ptp (its older name for a list of files), not both")
    base = path.parent
    ptp_key = "reference.ncci_ptp" if "ncci_ptp" in ref else "reference.ptp"
    ptp_value = ref.get("ncci_ptp", ref.get("ptp"))
    quarter = _quarter(path, ptp_key, ptp_value, allow=ptp_key == "reference.ptp")
    if quarter is not None:
        ptp = EditSource("ptp", ptp_key, path, quarter=quarter)
    else:
        files = ptp_value or []
        if not isinstance(files, list) or not all(isinstance(p, str) for p in files):
            raise CodegovError(f"{path}: {ptp_key}: expected a list of file paths"
                               + ("" if ptp_key == "reference.ncci_ptp" else ", `in-force` or a stored quarter "
                                  "(2026Q3)"))
        ptp = EditSource("ptp", ptp_key, path, files=tuple((base / p, None) for p in files))
    out = {"ptp": ptp, "setting": setting, "pfs_fallback": fallback}
    for system in ("pfs", "aoc"):
        key = f"reference.{system}"
        if system not in ref:
            out[system] = EditSource(system, key, path, quarter=IN_FORCE, implicit=True)
            continue
        quarter = _quarter(path, key, ref[system], allow=True) if not isinstance(ref[system], list) else None
        if quarter is None:
            raise CodegovError(f"{path}: {key}: expected `in-force` or a stored quarter ("
                               + ("2026-C, 2026-07-01" if system == "pfs" else "2026Q3, 2026-07-01")
                               + "); the fee schedule and add-on code edits are read from the releases folder")
        out[system] = EditSource(system, key, path, quarter=quarter)
    mue_value = ref.get("mue")
    quarter = _quarter(path, "reference.mue", mue_value, allow=True)
    if quarter is not None:
        out["mue"] = EditSource("mue", "reference.mue", path, quarter=quarter)
        return out
    items = mue_value or []
    if not isinstance(items, list):
        raise CodegovError(f"{path}: reference.mue: expected `in-force`, a stored quarter (2026Q3), or a list of "
                           "file paths or {path, effective} mappings")
    files = []
    for i, item in enumerate(items):
        item = {"path": item} if isinstance(item, str) else item
        if not isinstance(item, dict) or not isinstance(item.get("path"), str) or set(item) - {"path", "effective"}:
            raise CodegovError(f"{path}: reference.mue[{i}]: expected a file path or a mapping with path (and "
                               f"effective), found {item!r}"[:300])
        eff = item.get("effective")
        try:
            eff = dt.date.fromisoformat(str(eff)) if eff else None
        except ValueError:
            raise CodegovError(f"{path}: reference.mue[{i}].effective: expected a date YYYY-MM-DD, found "
                               f"{eff!r}") from None
        files.append((base / item["path"], eff))
    out["mue"] = EditSource("mue", "reference.mue", path, files=tuple(files))
    return out


def _quarter(path: Path, key: str, value: Any, allow: bool) -> str | None:
    """The quarter a ptp/mue value names (`in-force`, 2026Q3, 2026-07-01), or None for a list of files."""
    if isinstance(value, dt.date):  # YAML reads an unquoted 2026-07-01 as a date
        value = value.isoformat()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return None
    if not allow or not value.strip():
        raise CodegovError(f"{path}: {key}: expected a list of file paths"
                           + ("" if not allow else ", `in-force` or a stored quarter (2026Q3)"))
    return value.strip()


def _payers_section(path: Path) -> Any:
    data = load_yaml_file(path, "payer rule file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CodegovError(f"{path}: expected a mapping with a `payers:` section")
    return data.get("payers") or {}
