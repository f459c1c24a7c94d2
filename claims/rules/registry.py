"""The registry: every rule by id, in the order the scrubber runs them and the rule file lists them."""

from __future__ import annotations

from claims.rules.base import Rule
from claims.rules.codes import CodeInvalidOnDos, MalformedField, MissingDiagnosis, SexDiagnosis, UnknownModifier
from claims.rules.edits import MueUnits, NcciPtp
from claims.rules.modifiers import BilateralModifier, NcciModifierUse, PctcModifier, TelehealthPosModifier
from claims.rules.surgery import AddonPrimary, EmGlobalPeriod, EmModifier25, ProcedureGlobalPeriod
from claims.rules.therapy import TherapyGp, TherapyKx, TimedUnits

RULES: dict[str, Rule] = {r.id: r for r in (
    MalformedField(), CodeInvalidOnDos(), TelehealthPosModifier(), BilateralModifier(), PctcModifier(),
    NcciModifierUse(), NcciPtp(), MueUnits(), AddonPrimary(), TimedUnits(), TherapyGp(), TherapyKx(),
    EmModifier25(), EmGlobalPeriod(), ProcedureGlobalPeriod(), SexDiagnosis(), MissingDiagnosis(),
    UnknownModifier())}
