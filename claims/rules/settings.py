"""Rule settings and the YAML rule file: defaults per rule, overrides per payer, checked as they are loaded."""

from __future__ import annotations

import datetime as dt
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from claims.rules.registry import RULES
from ingest.model import CodegovError
from ingest.yamlfile import load_yaml_file  # noqa: F401 - the rule files' loader, re-exported

SEVERITIES = ("error", "warning")
SETTING_KEYS = ("title", "severity", "enabled", "message", "fix", "doc", "params")


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


IN_FORCE = "in-force"  # reference.ptp / reference.mue: the stored quarter in force on each date of service
EDIT_SETTINGS = ("practitioner", "hospital")  # reference.setting: which NCCI setting's PTP and MUE tables


@dataclass(frozen=True)
class EditSource:
    """Where one NCCI table comes from, as the rule file's reference: section says.

    quarter "in-force": the stored quarter in force on each date of service; another quarter name (2026Q3,
    2026-Q3, 2026-07-01): that stored quarter for every date; None: the files listed (an organisation's own,
    in the CMS layout; none listed: the rule has no table and checks nothing)."""

    system: str  # ptp | mue
    key: str  # the key it was read from, for errors: reference.ptp, reference.ncci_ptp, reference.mue
    rule_file: Path
    quarter: str | None = None
    files: tuple[tuple[Path, dt.date | None], ...] = ()  # (path, effective date given for it: MUE only)

    @property
    def stored(self) -> bool:
        return self.quarter is not None

    @property
    def in_force(self) -> bool:
        return self.quarter == IN_FORCE

    def where(self) -> str:
        return f"{self.rule_file}: {self.key}"


@dataclass
class RuleSet:
    """The rule file: default settings per rule, overrides per payer, and the NCCI tables it names."""

    rules: dict[str, RuleSettings]
    payers: dict[str, dict[str, dict]]
    sources: list[Path]
    ptp: EditSource
    mue: EditSource
    setting: str = "practitioner"
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
            (Path(p), _payers_section(Path(p))) for p in payer_rule_files]:
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
    ptp, mue, setting = _reference(path, data.get("reference"))
    return RuleSet(rules, payers, sources, ptp, mue, setting)


def _reference(path: Path, ref: Any) -> tuple[EditSource, EditSource, str]:
    """reference: ptp (or ncci_ptp), mue and setting. ptp / mue: `in-force`, a stored quarter's name, or a
    list of files (mue: paths or {path, effective}); relative paths are relative to the rule file."""
    ref = {} if ref is None else ref
    if not isinstance(ref, dict):
        raise CodegovError(f"{path}: reference: expected a mapping with ptp, mue and setting")
    unknown = set(ref) - {"ptp", "ncci_ptp", "mue", "setting"}
    if unknown:
        raise CodegovError(f"{path}: reference: unknown key(s) {', '.join(sorted(map(str, unknown)))}; expected "
                           "ptp, mue, setting (ncci_ptp: the older name of a ptp file list)")
    setting = ref.get("setting", "practitioner")
    if setting not in EDIT_SETTINGS:
        raise CodegovError(f"{path}: reference.setting: expected practitioner or hospital (which NCCI setting's "
                           f"PTP and MUE tables), found {setting!r}"[:300])
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
    mue_value = ref.get("mue")
    quarter = _quarter(path, "reference.mue", mue_value, allow=True)
    if quarter is not None:
        return ptp, EditSource("mue", "reference.mue", path, quarter=quarter), setting
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
    return ptp, EditSource("mue", "reference.mue", path, files=tuple(files)), setting


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
