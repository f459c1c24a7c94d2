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
    ruleset = RuleSet(rules, payers, [], [], sources)
    ref = data.get("reference") or {}
    if not isinstance(ref, dict):
        raise CodegovError(f"{path}: reference: expected a mapping with ncci_ptp and mue lists")
    base = path.parent
    ncci, mue = ref.get("ncci_ptp") or [], ref.get("mue") or []
    if not isinstance(ncci, list) or not all(isinstance(p, str) for p in ncci):
        raise CodegovError(f"{path}: reference.ncci_ptp: expected a list of file paths")
    if not isinstance(mue, list):
        raise CodegovError(f"{path}: reference.mue: expected a list of file paths or {{path, effective}} mappings")
    ruleset.ncci_ptp = [base / p for p in ncci]
    for i, item in enumerate(mue):
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
        ruleset.mue.append((base / item["path"], eff))
    return ruleset


def _payers_section(path: Path) -> Any:
    data = load_yaml_file(path, "payer rule file")
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CodegovError(f"{path}: expected a mapping with a `payers:` section")
    return data.get("payers") or {}
