"""Look up a code on a date of service: valid and billable, a header, not yet effective, or deleted.

Answers from every ingested release of ICD-10-CM (October and April), HCPCS Level II (with add and
termination dates; a reused code answers with the meaning in force on the date) and Place of Service.
The code set is guessed from the code's shape unless --system is given; CPT codes are recognised but not
validated (AMA licence).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from codegov.options import date
from ingest.systems import LOADED

HELP = "is a code valid on a date of service? (ICD-10-CM, HCPCS, POS)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("code", metavar="CODE", help="E11.9, e119, G0283, 02 or 2, a modifier such as GP")
    p.add_argument("--on", type=date, metavar="DATE", help="date of service, YYYY-MM-DD (default: today; then a "
                   "warning says when the release in force today is not loaded)")
    p.add_argument("--system", choices=LOADED, help="code set (default: guessed)")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args) -> int:
    from codegov.options import releases_folder
    from ingest.repository import ReleaseRepository

    repo = ReleaseRepository(releases_folder(args), args.codesets)
    history = repo.history()
    v = history.lookup(args.code, args.on or dt.date.today(), args.system)
    if args.on is None and repo.sources is not None and v.system in LOADED:
        from ingest import freshness

        _, fresh = freshness.check(repo.sources, repo, dt.date.today(), [v.system])
        if not fresh[0].ok:  # today is past the newest release: the answer may be out of date
            print(f"warning: {fresh[0].message}; this answer comes from the releases loaded "
                  f"(`codegov releases` lists them)", file=sys.stderr)
    if args.format == "json":
        sys.stdout.write(json.dumps(v.to_dict(), indent=2, ensure_ascii=False) + "\n")
        return 0
    print(f"{v.display_code}  {v.system}  {v.status}{'  billable' if v.billable else ''}")
    if v.description:
        print(f"  {v.description}")
    print(f"  {v.message}")
    if v.release:
        since = (f"; in effect before {v.since} (no documented start)" if v.since_undocumented else
                 f"; since {v.since}" if v.since else "")
        print(f"  release in force: {v.release}{since}")
    if v.replacements:
        print("  replacements: " + ", ".join(f"{c} ({s})" for c, s in v.replacements))
    return 0
