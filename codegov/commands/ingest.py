"""Fetch official releases (or read them from a mirror) and write normalised release tables.

Writes codesets/releases/<system>/<release>.csv (UTF-8, LF, sorted by code; byte-identical on a rerun)
and a manifest with each source file's sha256; the edit tables (ptp, mue, aoc, pfs) as
<release>.parquet beside their manifest. A file that changed for a release already ingested
is refused until you pass --accept-changed.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

from ingest.systems import LOADED, RELEASED

HELP = "fetch official releases and write normalised release tables"
EXAMPLES = """\
  codegov ingest --mirror codesets/sample --offline            # the bundled sample (to codesets/releases-sample)
  codegov ingest --system icd10 --release FY2026                # one release; a code set's alias works too
  codegov --quiet ingest --system hcpcs                         # no progress lines: errors only"""


def add_source_arguments(p: argparse.ArgumentParser) -> None:
    """Options shared by every command that reads official files (ingest, update)."""
    p.add_argument("--mirror", type=Path, help="read official files from DIR/<system>/<release>/ instead of "
                   "downloading (e.g. codesets/sample or ../shared/data/cms)")
    p.add_argument("--offline", action="store_true", help="never touch the network: mirror or cache only")
    p.add_argument("--cache", type=Path, default=Path(os.environ.get("CODEGOV_CACHE", "cache")),
                   help="download cache (default: ./cache or $CODEGOV_CACHE)")
    p.add_argument("--system", action="append", choices=RELEASED,
                   help="only this code set or edit table (repeatable; default: all)")
    p.add_argument("--release", action="append", metavar="R",
                   help="only this release: id (2025-10-01) or alias (FY2026, 2019-01); repeatable")
    p.add_argument("--accept-changed", action="store_true",
                   help="re-ingest a release whose source files changed since it was ingested")


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--out", type=Path, help="where release tables go (default: <codesets>/releases)")


def run(args) -> int:
    from codegov.options import OK, info, releases_folder
    from ingest.build import ingest_releases, select_releases
    from ingest.discover import discover
    from ingest.sources import load_sources

    sources = load_sources(args.codesets)
    out = releases_folder(args, args.out, mirror=args.mirror)
    found = discover(sources, mirror=args.mirror, cache=args.cache, offline=args.offline, on=dt.date.today(),
                     systems=args.system)
    for line in found.log:
        if line.startswith("page ") and ": failed" in line:  # a listing page that failed: a warning, always shown
            print(line)
        else:
            info(args, line)
    releases = select_releases(sources, args.system, args.release, args.mirror)
    if not releases:
        info(args, "nothing to ingest: no release of the selected code sets is in the mirror", file=sys.stderr)
        return OK
    with _progress() as progress:
        for release, result in ingest_releases(sources, releases, out, args.codesets, mirror=args.mirror,
                                               cache=args.cache, offline=args.offline,
                                               accept_changed=args.accept_changed, progress=progress,
                                               skip_unpublished=not args.release):
            if isinstance(result, Exception):  # listed, not posted (or not in the mirror); named: an error
                info(args, f"skip    {release.system:8} {release.id} not published yet: {result}")
                continue
            state = "written" if result.changed else "unchanged"
            counted = f"{result.billable:7,} billable" if release.system in LOADED else "          edits"
            info(args, f"{release.system:8} {release.id} {release.label:24} {result.rows:9,} rows "
                 f"{counted}  {state}: {result.path}")
    return OK


def _progress():
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    transient=True, disable=not sys.stderr.isatty())
