"""Documentation generated from the rules' metadata: the site's rules/index.md and one page per rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from claims.rules.registry import RULES
from claims.rules.settings import RuleSet

SCOPES = {"line": "service line", "visit": "claim and date of service",
          "patient-day": "patient (and provider) and date of service, across the claims of the file",
          "patient-period": "patient (and provider) across the claims of the file: a procedure's global period",
          "patient-year": "patient and calendar year, in date-of-service order across the claims of the file",
          "provider-day": "beneficiary, rendering provider (provider_npi) and date of service, across the claims "
                          "of the file"}

# The edits across claims, as the index page explains them (claims.partition, claims.rules.edits).
ACROSS_CLAIMS = [
    "## Edits across claims", "",
    "A payer edits a beneficiary's services, not one claim at a time. CMS applies the NCCI procedure-to-procedure "
    "(PTP) edits to the services one provider renders to one beneficiary on one date of service, whatever claims "
    "they are billed on (NCCI Policy Manual for Medicare Services, ch. I, General Correct Coding Policies: the "
    "edits apply to services billed by the same provider for the same beneficiary on the same date of service). "
    "The Medically Unlikely Edits with adjudication indicator 2 (date of service edit: policy) and 3 (date of "
    "service edit: clinical) add the units of a code over every line and claim of the beneficiary on the date "
    "of service; indicator 1 is a claim line edit, each line on its own (CMS, Medically Unlikely Edits: the MUE "
    "Adjudication Indicator definitions, and NCCI Policy Manual ch. I, section on MUEs).", "",
    "So `ncci-ptp` pairs the lines, and `mue-units` adds the units, by `patient_id`, `provider_npi` (the rendering "
    "provider; a file without it: by the patient alone) and `date_of_service`: a PTP pair split over two claims, "
    "or 3 and 3 units on two claims against an MUE of 4 (indicator 2 or 3), is a finding on each claim, and the "
    "message names the other claim and line. The global-period, add-on-code and KX rules look across the "
    "patient's claims the same way.", "",
    "The claims file may list its lines in any order. The scrubber groups it by patient first: every line goes "
    "to one of N spill files by a hash of its patient id (about 125,000 lines a file; a file that fits is not "
    "spilled), and each file, holding every claim of its patients, is scrubbed on its own, so memory stays bounded "
    "for any size of file and a shuffled file gives the same findings as a sorted one. On more than one machine "
    "the same partitions run on Dask or Spark, not on a scheduler of codegov's own: shuffle the lines by "
    "`patient_id` and run `Scrubber.scrub_partition` on each partition (the README's Scale-out section).", ""]


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
        page = [f"# `{rule_id}`: {s.title}", "", s.doc, ""]
        if s.source:
            page += [f"Source: {s.source}", ""]
        page += [
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
            page += ["## Payer overrides", "",
                     "A dated override applies on the dates of service it names, on top of the payer's undated one.",
                     "", "| payer | dates of service | setting | value |", "|---|---|---|---|"]
            for payer, entries in overrides.items():
                for period, o in entries:
                    for k, v in o.items():
                        if k == "params":
                            page += [f"| {payer} | {period.text()} | `params.{pk}` | {_show(pv)} |"
                                     for pk, pv in v.items()]
                        else:
                            page.append(f"| {payer} | {period.text()} | `{k}` | {_show(v)} |")
            page.append("")
        pages[f"{rule_id}.md"] = "\n".join(page)
    pages["index.md"] = "\n".join(index + [""] + ACROSS_CLAIMS)
    return pages


def site_pages(rules_file: Path) -> dict[str, tuple[dict[str, str], list]]:
    """The rule pages as the site's extra section: {nav title: ({path: markdown}, nav entries)}; none without
    a rule file."""
    from claims.rules.settings import load_rules

    if not Path(rules_file).exists():
        return {}
    pages = rule_pages(load_rules(rules_file))
    named = {f"rules/{name}": text for name, text in sorted(pages.items())}
    entries = ["rules/index.md"] + [f"rules/{name}" for name in sorted(pages) if name != "index.md"]
    return {"Claim scrubber rules": (named, entries)}
