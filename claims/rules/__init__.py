"""Rules: params, settings (load_rules), base (Context, Rule), codes|modifiers|edits|surgery|therapy, registry (RULES),
pages."""

from claims.rules.base import Context, Rule, code_in, dates, has_mod, mods_isin
from claims.rules.codes import CodeInvalidOnDos, MalformedField, MissingDiagnosis, SexDiagnosis, UnknownModifier
from claims.rules.edits import MueUnits, NcciPtp
from claims.rules.modifiers import BilateralModifier, NcciModifierUse, PctcModifier, TelehealthPosModifier
from claims.rules.pages import SCOPES, rule_pages, site_pages
from claims.rules.params import expand_codes
from claims.rules.registry import RULES
from claims.rules.settings import SETTING_KEYS, SEVERITIES, RuleSet, RuleSettings, load_rules
from claims.rules.surgery import AddonPrimary, EmGlobalPeriod, EmModifier25, ProcedureGlobalPeriod
from claims.rules.therapy import TherapyGp, TherapyKx, TimedUnits

__all__ = [
    "RULES", "SCOPES", "SETTING_KEYS", "SEVERITIES", "AddonPrimary", "BilateralModifier", "CodeInvalidOnDos",
    "Context", "EmGlobalPeriod", "EmModifier25", "MalformedField", "MissingDiagnosis", "MueUnits",
    "NcciModifierUse", "NcciPtp", "PctcModifier", "ProcedureGlobalPeriod", "Rule", "RuleSet", "RuleSettings",
    "SexDiagnosis", "TelehealthPosModifier", "TherapyGp", "TherapyKx", "TimedUnits",
    "UnknownModifier", "code_in", "dates", "expand_codes", "has_mod", "load_rules", "mods_isin", "rule_pages",
    "site_pages",
]
