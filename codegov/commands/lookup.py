"""Look up a code on a date of service: valid and billable, a header, not yet effective, or deleted.

Answers from every ingested release of ICD-10-CM (October and April), HCPCS Level II (with add and
termination dates; a reused code answers with the meaning in force on the date) and Place of Service.
The code set is guessed from the code's shape unless --system is given; CPT codes are recognised but not
validated (AMA licence).

Exit status 0 only when the code is valid on the date (billable, or a valid modifier or POS code); 3 when
it is a header, deleted, not yet effective or unknown, and for a CPT code (never validated: no CPT data
ships), so a script can branch on it; 1 on an error. The two-code form answers which edits apply and
exits 0 whatever they are.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from codegov.options import OK, POLICY, date
from ingest.systems import LOADED

HELP = f"is a code valid on a date of service (exit {OK}, else {POLICY}), and which edits apply to it or to a pair?"
EXAMPLES = f"""\
  codegov lookup E11.9 --on 2025-06-01                     # valid and billable: exit {OK}
  codegov lookup G35 --on 2025-10-01 --format json         # became a header in FY2026: exit {POLICY}; replacements
  codegov lookup E11.9 --on 2025-06-01 && echo billable    # branch on the status in a script
  codegov lookup 97110 97530 --on 2026-10-01               # the PTP and add-on edits between two codes"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("code", metavar="CODE", help="E11.9, e119, G0283, 02 or 2, a modifier such as GP")
    p.add_argument(
        "other",
        metavar="CODE2",
        nargs="?",
        help="a second procedure code: the NCCI PTP and add-on edits between the two",
    )
    p.add_argument(
        "--on",
        type=date,
        metavar="DATE",
        help="date of service, YYYY-MM-DD (default: today; then a "
        "warning says when the release in force today is not loaded)",
    )
    p.add_argument("--system", choices=LOADED, help="code set (default: guessed)")
    p.add_argument("--format", choices=("text", "json"), default="text")


def run(args) -> int:
    from codegov.options import releases_folder
    from ingest.repository import ReleaseRepository

    repo = ReleaseRepository(releases_folder(args), args.codesets)
    if args.other:
        return _pair(repo, args)
    history = repo.history()
    v = history.lookup(args.code, args.on or dt.date.today(), args.system)
    if args.on is None and repo.sources is not None and v.system in LOADED:
        from ingest import freshness

        _, fresh = freshness.check(repo.sources, repo, dt.date.today(), [v.system])
        if not fresh[0].ok:  # today is past the newest release: the answer may be out of date
            print(
                f"warning: {fresh[0].message}; this answer comes from the releases loaded "
                f"(`codegov releases` lists them)",
                file=sys.stderr,
            )
    edits = _edit_answer(repo, v.code, args.on or dt.date.today()) if len(v.code) == 5 else None
    descriptor = _cpt_descriptor(args.codesets, v)
    if args.format == "json":
        data = v.to_dict()
        if descriptor:
            data["descriptor"] = descriptor
        if edits is not None:
            data["edits"] = edits
        sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")
        return verdict(v)
    print(f"{v.display_code}  {v.system}  {v.status}{'  billable' if v.billable else ''}")
    if v.description:
        print(f"  {v.description}")
    if descriptor:
        print(f"  {descriptor['text']}  (your licensed CPT descriptor, {descriptor['source']})")
    print(f"  {v.message}")
    if v.release:
        since = (
            f"; in effect before {v.since} (no documented start)"
            if v.since_undocumented
            else f"; since {v.since}"
            if v.since
            else ""
        )
        print(f"  release in force: {v.release}{since}")
    if v.replacements:
        print("  replacements: " + ", ".join(f"{c} ({s})" for c, s in v.replacements))
    if edits is not None:
        from ingest.edits import answer_lines

        for line in answer_lines(edits):
            print(line)
    return verdict(v)


def _cpt_descriptor(codesets, v) -> dict | None:
    """The organisation's own descriptor of a CPT code, from its private file (ingest.cpt); None without one."""
    if v.system != "cpt":
        return None
    from ingest import cpt

    text = cpt.load(codesets).get(v.code)
    return {"text": text, "source": str(cpt.descriptor_path(codesets))} if text else None


def verdict(answer) -> int:
    """The exit status of a one-code lookup: OK only for a code valid on the date; a header, a deleted, not yet
    effective or unknown code, and a CPT code (recognised, never validated), give POLICY."""
    return OK if answer.status == "valid" and answer.system in LOADED else POLICY


def _edit_answer(repo, code: str, on: dt.date) -> dict | None:
    from ingest.edits import EditTables, code_answer

    tables = EditTables(repo.out)
    return None if tables.empty() else code_answer(tables, code, on)


def _pair(repo, args) -> int:
    from ingest.edits import EditTables, pair_answer
    from ingest.model import CodegovError
    from ingest.parse_edits import MODIFIER_INDICATORS

    tables = EditTables(repo.out)
    if tables.empty():
        raise CodegovError(f"{repo.out}: no edit table is stored; run `codegov ingest --system ptp` first")
    on = args.on or dt.date.today()
    ans = pair_answer(tables, args.code, args.other, on)
    if args.format == "json":
        sys.stdout.write(json.dumps(ans, indent=2, ensure_ascii=False) + "\n")
        return OK
    a, b = ans["codes"]
    print(
        f"{a} with {b} on {on}  (PTP: {ans['ptp_release'] or 'no quarter stored'}; add-on: "
        f"{ans['aoc_release'] or 'no quarter stored'})"
    )
    live = [r for r in ans["ptp"] if r["in_force"]]
    if not live:
        print("  no PTP edit in force between them")
    for r in live:
        print(
            f"  {r['setting']}: {r['column1']} is column 1, {r['column2']} column 2 (denied); modifier "
            f"{r['modifier_indicator']}: {MODIFIER_INDICATORS[r['modifier_indicator']]}; since {r['effective']}; "
            f"{r['rationale']}"
        )
    for r in ans["ptp"]:
        if not r["in_force"]:
            when = (
                f"deleted from {r['deletion']}"
                if r["deletion"] and r["deletion"] <= on.isoformat()
                else f"takes effect {r['effective']}"
            )
            print(f"  {r['setting']}: {r['column1']} / {r['column2']} not in force on {on} ({when})")
    for r in ans["aoc"]:
        state = "in force" if r["in_force"] else "not in force"
        print(f"  add-on {r['addon']} with primary {r['primary']}: edit type {r['edit_type']}, {state}")
    return OK
