"""The registry: every rule by id, in the order the scrubber runs them and the rule file lists them."""

from __future__ import annotations

from claims.rules.base import Rule
from claims.rules.codes import CodeInvalidOnDos, MalformedField, MissingDiagnosis, SexDiagnosis, UnknownModifier
from claims.rules.edits import MueUnits, NcciPtp
from claims.rules.modifiers import BilateralModifier, EmModifier25, TelehealthPosModifier
from claims.rules.therapy import TherapyGp, TherapyKx, TimedUnits

RULES: dict[str, Rule] = {r.id: r for r in (
    MalformedField(), CodeInvalidOnDos(), TelehealthPosModifier(), BilateralModifier(), NcciPtp(), MueUnits(),
    TimedUnits(), TherapyGp(), TherapyKx(), EmModifier25(), SexDiagnosis(), MissingDiagnosis(),
    UnknownModifier())}
