"""Scrub a claims file: run the edits of a rule file over every service line and report the findings.

Input: a CSV with one row per service line (claim_id, line, patient_id, patient_sex, date_of_service,
payer, place_of_service, procedure_code, modifiers, units, minutes, charge, diagnosis_codes, provider_npi).
Output: one finding per problem (claim_id, line, rule, severity, message, suggested fix, row), as CSV,
JSON or Markdown. The rules, their severities and per-payer parameters live in a YAML rule file
(default: <codesets>/rules/scrub.yml); codes are checked against the ingested release tables, and the
lines against the stored NCCI PTP and MUE, fee-schedule and add-on edit quarters in force on their dates
of service (or the files the rule file names).
The file may list its lines in any order: it is grouped by patient into partitions of about
--chunk-lines lines (spilled to a temporary folder), and the findings are spilled and merged back in order
(claims.output), so memory stays bounded for the input and the output. Exit status 0, or 3 with
--fail-on when a finding of that severity is found; 1 on an error.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegov.options import OK
from codegov.options import POLICY as POLICY_EXIT

HELP = "check a claims file against the code sets in force and the billing edits"
EXAMPLES = f"""\
  codegov scrub claims.csv --format md --output findings.md
  codegov scrub claims.csv --fail-on error --quiet > findings.csv   # exit {POLICY_EXIT} when an error is found"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("claims", type=Path, metavar="CLAIMS.csv", help="claims file, one row per service line")
    p.add_argument("--rules", type=Path, help="rule file (default: <codesets>/rules/scrub.yml)")
    p.add_argument("--payer-rules", type=Path, action="append", default=[], metavar="FILE",
                   help="more per-payer overrides (a YAML file with a `payers:` section); repeatable")
    p.add_argument("--format", choices=("csv", "json", "md"), default="csv")
    p.add_argument("--output", type=Path, help="write here instead of standard output")
    p.add_argument("--fail-on", choices=("error", "warning"),
                   help=f"exit {POLICY_EXIT} when a finding of this severity (or worse) is found")
    p.add_argument("--chunk-lines", type=int, default=125_000, metavar="N",
                   help="lines a partition by patient holds, about (default: 125000); memory stays bounded for any "
                        "file size")
    p.add_argument("--ignore-unknown-columns", action="store_true",
                   help="scrub a file with extra columns instead of stopping at them")


def same_file(a: Path, b: Path) -> bool:
    """One file under two names: the same resolved path, or (both existing) the same inode (a hard link)."""
    import os

    if Path(a).resolve() == Path(b).resolve():
        return True
    try:
        return os.path.samefile(a, b)
    except (OSError, ValueError):  # one of them does not exist (yet): not the same file
        return False


def run(args) -> int:
    from claims.scrub import Scrubber
    from codegov.options import info, output_stream, releases_folder
    from ingest.edits import EditTables
    from ingest.model import CodegovError
    from ingest.repository import ReleaseRepository

    if args.chunk_lines < 1:
        raise CodegovError("--chunk-lines must be at least 1")
    rules = args.rules or args.codesets / "rules" / "scrub.yml"
    if args.output:
        for what, given in [("the claims file", args.claims), ("the rule file", rules),
                            *[("a payer rule file", p) for p in args.payer_rules]]:
            if same_file(args.output, given):
                raise CodegovError(f"--output {args.output} is {what} ({given}): the findings would replace it; "
                                   "write them to another file")
    releases = releases_folder(args)
    history = ReleaseRepository(releases, args.codesets).history()
    scrubber = Scrubber.from_files(rules, args.payer_rules, history, EditTables(releases))
    with output_stream(args.output) as out:
        summary = scrubber.scrub_to(out, args.format, args.claims, args.chunk_lines, args.ignore_unknown_columns)
    errors, warnings = summary["errors"], summary["warnings"]
    for note in scrubber.notes():
        print(f"note: {note}", file=sys.stderr)
    info(args, f"{summary['findings']} finding(s): {errors} error(s), {warnings} warning(s) in {args.claims}",
         file=sys.stderr)
    if args.fail_on == "error" and errors or args.fail_on == "warning" and (errors or warnings):
        return POLICY_EXIT
    return OK
