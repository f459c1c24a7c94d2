"""Validate the ingested release tables, the inventory and the playbooks (Great Expectations gates).

Release tables: exact columns, the code pattern of each code set, unique codes, non-empty descriptors,
billable 0/1, real dates with effective_start on or before effective_end, and a drift gate on the row
count against the previous release of the same code set. Inventory: each code exists and is billable in
the release in force on --on, modifiers are known, POS codes are assigned. Playbooks: each cited code
exists and is billable in the newest release; a deleted one is listed with its replacements. CPT codes
are reported as not checked (no CPT data ships). Freshness: for each code set, the release in force on
--on (default: today) is ingested (see `codegov releases`).

Writes <out>/results.json and <out>/results.md; exits 0 only when every gate passed.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegov.options import date
from ingest.systems import LOADED

HELP = "validate release tables, the inventory and playbooks; exit 1 if a gate fails"
SUITES = ("release", "inventory", "playbooks", "freshness")  # the order of checks.runner.SUITES


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number; expected a fraction such as 0.05") from None
    if not 0 <= value < 1:
        raise argparse.ArgumentTypeError(f"{text} is outside 0..1; 0.05 means plus or minus 5 percent")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--release", action="append", metavar="R",
                   help="validate only this release table: id (2025-10-01) or alias (FY2026, 2019); repeatable "
                   "(default: every ingested release)")
    p.add_argument("--system", action="append", choices=LOADED,
                   help="validate only this code set's release tables (repeatable; default: all)")
    p.add_argument("--releases", type=Path, metavar="DIR",
                   help="ingested release tables (default: <codesets>/releases)")
    p.add_argument("--inventory", type=Path, metavar="FILE",
                   help="inventory CSV or folder (default: <codesets>/inventory when it exists)")
    p.add_argument("--on", type=date, metavar="DATE",
                   help="the inventory's effective date, YYYY-MM-DD: its codes are checked against the release in "
                   "force that day (default: the newest ingested ICD-10-CM release's effective date)")
    p.add_argument("--playbooks", type=Path, metavar="DIR", default=Path("playbooks"),
                   help="playbook folder (default: ./playbooks; skipped when absent)")
    p.add_argument("--suite", action="append", choices=SUITES,
                   help="run only this suite (repeatable; default: all four)")
    p.add_argument("--drift", type=_fraction, default=0.05, metavar="F",
                   help="drift gate: a release's row count must stay within this fraction of the previous "
                   "release's (default: 0.05, plus or minus 5 percent)")
    p.add_argument("--drift-min-rows", type=int, default=1000, metavar="N",
                   help="apply the drift gate only when the previous release has at least N rows (default: 1000; "
                   "a percentage band means nothing on the few dozen rows of the bundled sample)")
    p.add_argument("--out", type=Path, default=Path("build/checks"), metavar="DIR",
                   help="where results.json and results.md go (default: build/checks)")
    p.add_argument("--data-docs", action="store_true",
                   help="also build Great Expectations Data Docs into <out>/data-docs (optional artifact: its HTML "
                   "loads CSS and JS from CDNs, so it does not display offline)")


def run(args) -> int:
    from checks.report import write_results
    from checks.runner import Gates, run_checks
    from codegov.options import default_inventory, releases_folder

    inventory = args.inventory or default_inventory(args.codesets)
    playbooks = args.playbooks if args.playbooks and args.playbooks.is_dir() else None
    gates = Gates(data_docs=args.out / "data-docs" if args.data_docs else None)
    report = run_checks(args.codesets, releases=releases_folder(args, args.releases),
                        systems=args.system, release=args.release,
                        inventory=inventory, on=args.on, playbooks=playbooks, drift=args.drift,
                        drift_min_rows=args.drift_min_rows, suites=tuple(args.suite or SUITES), gates=gates,
                        today=args.on)
    if not report.rows:
        from ingest.model import CodegovError

        raise CodegovError(f"no gate ran: suites {', '.join(args.suite or SUITES)} found nothing to check "
                           f"(no inventory at {args.codesets / 'inventory'}, no playbooks in {args.playbooks}?)")
    data = report.to_dict()
    write_results(data, args.out)
    print(summary_table(data))
    if args.data_docs:
        print(f"data docs: {gates.build_data_docs()}")
    s = data["summary"]
    verdict = (f"{s['failed']} of {s['gates']} gates failed" if s["failed"]
               else f"all {s['passed']} gates passed")
    print(f"{verdict} ({s['not checked']} not checked); results: {args.out / 'results.json'}, "
          f"{args.out / 'results.md'}")
    if not report.success:
        print(f"Error: a validation gate failed; see {args.out / 'results.md'}", file=sys.stderr)
    return 0 if report.success else 1


def summary_table(data: dict) -> str:
    """Per target: passed / failed / not checked; then one line per failing gate."""
    from checks.report import display_value

    per: dict[tuple[str, str], dict[str, int]] = {}
    for r in data["rows"]:
        counts = per.setdefault((r["suite"], r["target"]), {"passed": 0, "failed": 0, "not checked": 0})
        counts[r["status"]] += 1
    width = max([len(t) for _, t in per] + [6])
    lines = [f"{'suite':9} {'target':{width}} {'passed':>6} {'failed':>6} {'not checked':>11}"]
    for (suite, target), c in per.items():
        lines.append(f"{suite:9} {target:{width}} {c['passed']:6} {c['failed']:6} {c['not checked']:11}")
    for r in data["rows"]:
        if r["status"] == "failed":
            sample = ", ".join(display_value(r, v) for v in r["failing_sample"][:5])
            more = f" +{r['failing_count'] - 5} more" if r["failing_count"] > 5 else ""
            lines.append(f"FAILED {r['suite']} {r['target']}: {r['gate']} {r['column']}".rstrip()
                         + f": {r['failing_count']} failing: {sample}{more}")
    return "\n".join(lines)
