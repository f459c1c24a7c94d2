"""Every known release of each code set, and whether the one in force is ingested.

A release is known when sources.toml lists it, discovery finds it (the publishers' listing pages, a
--mirror folder, the download cache) or it is ingested; a release the code set's cadence puts due and no
source shows is listed as due, and the next one as expected (HCPCS January 2027 in December 2026). States:
ingested (with its files' sha256 and date), published, listed, due, expected. Exits 3 (a finding) with
--fail-stale when a code set's release in force is not ingested; with --verify when a file's sha256 is not
the pinned one (1 when a file could not be had at all); with --check-pages (the weekly live check) when a
listing page that always matched matches nothing. The edit tables (ptp, mue, aoc, pfs) are listed when
named with --system (`--system ptp --check-pages` checks the NCCI PTP page).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from codegov.options import ERROR, OK, POLICY, date
from ingest.systems import EDITS, LOADED

HELP = "every known release: ingested, published, due or expected, and the one in force"
EXAMPLES = f"""\
  codegov releases --offline                          # what is known without the network, and what is in force
  codegov releases --system hcpcs --on 2027-01-15 --format csv
  codegov releases --offline --fail-stale --quiet     # exit {POLICY} when a release in force is not ingested"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--system", action="append", choices=LOADED + EDITS,
                   help="only this code set (repeatable; default: the code sets; an edit table only when named)")
    p.add_argument("--on", type=date, metavar="DATE", help="which release is in force on DATE (default: today)")
    p.add_argument("--format", choices=("md", "json", "csv"), default="md")
    p.add_argument("--output", type=Path, help="write here instead of standard output")
    p.add_argument("--mirror", type=Path, help="also discover the releases of this mirror folder")
    p.add_argument("--offline", action="store_true",
                   help="do not read the publishers' listing pages: sources.toml, the cache and the ingested tables")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("CODEGOV_CACHE", "cache")),
                   help="download cache (default: ./cache or $CODEGOV_CACHE)")
    p.add_argument("--fail-stale", action="store_true",
                   help=f"exit {POLICY} when a code set's release in force is not ingested")
    p.add_argument("--verify", action="store_true",
                   help="fetch every verified release's files (mirror, cache or download) and check the sha256 "
                   f"pinned in sources.toml; exit {POLICY} naming each file that differs")
    p.add_argument("--check-pages", action="store_true",
                   help=f"the live check: exit {POLICY} when a listing page marked required in codesets/discovery.toml "
                   "matches no link (the publisher moved or renamed it); needs the network")


def run(args) -> int:
    from codegov.options import info, releases_folder, write_output
    from ingest import freshness
    from ingest.discover import discover
    from ingest.model import CodegovError
    from ingest.pages import last_checked
    from ingest.repository import ReleaseRepository
    from ingest.sources import load_sources
    from playbooks.report import releases_csv, releases_json, releases_markdown

    on = args.on or dt.date.today()
    sources = load_sources(args.codesets)
    found = discover(sources, mirror=args.mirror, cache=args.cache, offline=args.offline, on=on, systems=args.system)
    repo = ReleaseRepository(releases_folder(args, mirror=args.mirror), args.codesets, sources=sources)
    for system in set(args.system or ()) & set(EDITS):  # stored as Parquet beside the code-set tables
        from ingest import edit_store

        repo.ids[system] = edit_store.list_releases(repo.out, system)
    statuses, fresh = freshness.check(sources, repo, on, args.system)
    checked = last_checked(args.cache)
    if args.format == "json":
        text = releases_json(statuses, fresh, checked)
    elif args.format == "csv":
        text = releases_csv(statuses)
    else:
        text = releases_markdown(statuses, fresh, checked)
    write_output(text, args.output)
    for line in found.log:  # a listing page that failed is a warning, shown with --quiet too
        if line.startswith("page ") and ": failed" in line:
            print(line, file=sys.stderr)
        else:
            info(args, line, file=sys.stderr)
    if args.verify:
        from ingest.fetch import verify_pins

        bad, missing = 0, 0
        for pin in verify_pins(sources, mirror=args.mirror, cache=args.cache, offline=args.offline,
                               systems=args.system):
            if pin["ok"]:
                info(args, f"verified {pin['system']:8} {pin['release']} {pin['role']:6} {pin['file']}",
                     file=sys.stderr)
                continue
            bad += 1
            missing += bool(pin["error"])
            why = pin["error"] or f"sha256 {pin['sha256'][:12]}... is not the pinned {pin['pinned'][:12]}..."
            print(f"Error: {pin['system']} {pin['release']} ({pin['label']}) {pin['role']} {pin['file']}: {why}",
                  file=sys.stderr)
        if bad:
            return ERROR if missing else POLICY
    if args.check_pages:
        if args.offline or args.mirror:
            raise CodegovError("--check-pages reads the publishers' pages: drop --offline and --mirror")
        for page in found.missing_required():
            print(f"Error: {page.url}: {page.status}; no link matches {page.rule.link.pattern!r} (moved or renamed? "
                  f"update codesets/discovery.toml)", file=sys.stderr)
        if found.missing_required():
            return POLICY
    return POLICY if args.fail_stale and not all(f.ok for f in fresh) else OK
