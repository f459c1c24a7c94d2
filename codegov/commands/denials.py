"""Denials after an update: read ASC X12 835 remittances and report the denials by category, code, code pair
and modifier, for the 90 days after each release against the 90 days before.

REMITS are 835 files or folders of them (*.835; a folder's claims.csv is the claims file they answer unless
--claims names one). Each service line is judged by its last adjudication (reversals and corrections,
CLP02 22) and counted in a denial category by its adjustment reason codes (CARC) and remarks (RARC), from
the taxonomy in <codesets>/denials/. With the claims file, lines get their diagnoses, provider and place of
service, and the scrubber runs on the claims: a denied line with a finding on it is preventable.
Output: md (the dashboard's tables), json (every number) or csv (one row per denied line). Exit status 0;
1 on an error (a malformed 835 names the file and the segment).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codegov.options import OK, date

HELP = "denials from 835 remittances, 90 days after each release against the 90 days before"
EXAMPLES = """\
  codegov denials codesets/sample/remits --format md      # the sample's remittances and the claims they answer
  codegov denials era/*.835 --claims claims.csv --since 2025-10-01 --format csv --output denied.csv"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("remits", type=Path, nargs="+", metavar="REMITS", help="835 files, or folders of *.835 files")
    p.add_argument("--claims", type=Path, metavar="FILE",
                   help="the claims file the remittances answer (scrubber format; default: a folder's claims.csv)")
    p.add_argument("--since", type=date, metavar="YYYY-MM-DD", help="only lines with a date of service from this day")
    p.add_argument("--format", choices=("md", "json", "csv"), default="md")
    p.add_argument("--output", type=Path, help="write here instead of standard output")
    p.add_argument("--inventory", type=Path, help="inventory CSV or folder (default: <codesets>/inventory)")
    p.add_argument("--rules", type=Path, help="the scrubber's rule file (default: <codesets>/rules/scrub.yml)")
    p.add_argument("--benchmark", type=Path, metavar="FILE",
                   help="E/M level benchmark (default: <codesets>/denials/em-benchmark.csv)")
    p.add_argument("--store", type=Path, metavar="DIR",
                   help="keep the parsed remittances here as Parquet; a rerun on the same files reads them")


def run(args) -> int:
    import sys

    from codegov.options import default_inventory, info, releases_folder, write_output
    from codegov.update import denial_summary
    from ingest.inventory import load_inventory
    from ingest.repository import ReleaseRepository
    from playbooks.denials import denials_csv, denials_json, denials_markdown

    repo = ReleaseRepository(releases_folder(args), args.codesets)
    inv_path = args.inventory or default_inventory(args.codesets)
    summary = denial_summary(args.remits, args.codesets, repo, claims=args.claims, since=args.since,
                             store=args.store, inventory=load_inventory(inv_path) if inv_path else None,
                             rules=args.rules, benchmark=args.benchmark)
    render = {"md": denials_markdown, "json": denials_json, "csv": denials_csv}[args.format]
    write_output(render(summary), args.output)
    for warning in summary["warnings"]:
        print(f"warning: {warning}", file=sys.stderr)
    for note in summary["notes"]:
        print(f"note: {note}", file=sys.stderr)
    t = summary["totals"]
    info(args, f"{t['lines']:,} remittance line(s), {t['denied_lines']:,} denied, "
               f"{summary['preventable']['denied_lines']:,} preventable", file=sys.stderr)
    return OK
