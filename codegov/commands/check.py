"""Validate the ingested release tables, the inventory and the playbooks (Great Expectations gates).

Release tables: exact columns, the code pattern of each code set, unique codes, non-empty descriptors,
billable 0/1, real dates with effective_start on or before effective_end, and a drift gate on the row
count against the previous release of the same code set. Inventory: each code exists and is billable in
the release in force on --on, modifiers are known, POS codes are assigned. Playbooks: each cited code
exists and is billable in the newest release; a deleted one is listed with its replacements. CPT codes
are reported as not checked (no CPT data ships). Freshness: for each code set, the release in force on
--on (default: today) is ingested (see `codegov releases`).

Writes <out>/results.json and <out>/results.md, the results `codegov render` publishes. A partial run
(--suite naming fewer than the four suites, or --system or --release) writes <out>/partial/ instead and
leaves the full results as they were, so the site never shows a subset as the whole. Exits 0 only when
every gate passed, 3 when a gate failed, 1 on an error (nothing to check, an unknown release).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegov.options import OK, PARTIAL, POLICY, date
from ingest.systems import LOADED

HELP = f"validate release tables, the inventory and playbooks; exit {POLICY} if a gate fails"
SUITES = ("release", "inventory", "playbooks", "freshness")  # the order of checks.runner.SUITES
EXAMPLES = f"""\
  codegov check                                  # every suite: build/checks/results.json, what the site shows
  codegov check --suite release                  # a partial run: build/checks/partial/, the full results stay
  codegov check --quiet; case $? in 0) ;; {POLICY}) echo "a gate failed" ;; *) echo "check could not run" ;; esac"""


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
                   help="where results.json and results.md go (default: build/checks; a partial run writes "
                   f"<out>/{PARTIAL}/)")
    p.add_argument("--data-docs", action="store_true",
                   help="also build Great Expectations Data Docs into <out>/data-docs (optional artifact: its HTML "
                   "loads CSS and JS from CDNs, so it does not display offline)")


def run(args) -> int:
    from checks.report import write_results
    from checks.runner import Gates, run_checks
    from codegov.options import default_inventory, info, releases_folder

    suites = tuple(s for s in SUITES if s in (args.suite or SUITES))
    partial = partial_scope(args)
    out = args.out / PARTIAL if partial else args.out
    inventory = args.inventory or default_inventory(args.codesets)
    playbooks = args.playbooks if args.playbooks and args.playbooks.is_dir() else None
    gates = Gates(data_docs=out / "data-docs" if args.data_docs else None)
    report = run_checks(args.codesets, releases=releases_folder(args, args.releases),
                        systems=args.system, release=args.release,
                        inventory=inventory, on=args.on, playbooks=playbooks, drift=args.drift,
                        drift_min_rows=args.drift_min_rows, suites=suites, gates=gates,
                        today=args.on)
    if not report.rows:
        from ingest.model import CodegovError

        raise CodegovError(f"no gate ran: suites {', '.join(suites)} found nothing to check "
                           f"(no inventory at {args.codesets / 'inventory'}, no playbooks in {args.playbooks}?)")
    data = report.to_dict()
    write_results(data, out)
    table = summary_table(data).splitlines()
    info(args, "\n".join(line for line in table if not line.startswith("FAILED ")))
    for line in table:  # the failing gates are findings: shown with --quiet too
        if line.startswith("FAILED "):
            print(line)
    if args.data_docs:
        info(args, f"data docs: {gates.build_data_docs()}")
    s = data["summary"]
    verdict = (f"{s['failed']} of {s['gates']} gates failed" if s["failed"]
               else f"all {s['passed']} gates passed")
    info(args, f"{verdict} ({s['not checked']} not checked); results: {out / 'results.json'}, {out / 'results.md'}")
    if partial:
        info(args, f"a partial run ({partial}): {args.out / 'results.json'}, the full results `codegov render` "
             "publishes, is left as it was")
    if not report.success:
        print(f"Error: a validation gate failed; see {out / 'results.md'}", file=sys.stderr)
    return OK if report.success else POLICY


def partial_scope(args) -> str:
    """What makes this run partial ('suite release, inventory; --system icd10cm'), or '' for a full run: every
    suite, every code set, every release."""
    parts = []
    if args.suite and set(args.suite) != set(SUITES):
        parts.append("suite " + ", ".join(s for s in SUITES if s in args.suite))
    if args.system:
        parts.append("--system " + ", ".join(dict.fromkeys(args.system)))
    if args.release:
        parts.append("--release " + ", ".join(dict.fromkeys(args.release)))
    return "; ".join(parts)


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
