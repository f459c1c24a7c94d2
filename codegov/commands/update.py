"""Run the whole update: fetch or read a mirror, ingest, diff, check, render the pages, build the site.

This is what the scheduled GitHub Actions job and `make demo` run. Reports go to build/report/
(pr-body.md for the pull request, report.md, report.json, report.csv). Running it twice on the same
inputs changes no file and says so. Exits 0, or 3 when a release gate failed (nothing is rendered from a
release it refused), or 1 on an error.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from codegov.commands.ingest import add_source_arguments
from codegov.options import date

HELP = "run the whole pipeline: ingest, diff, check, render, site"
EXAMPLES = """\
  codegov update --mirror codesets/sample --offline      # the demo: the bundled sample, no network
  codegov update --system icd10cm --release FY2026       # one release, downloaded (or from the cache)
  codegov --quiet update --no-site                       # only warnings, errors and the failed gates"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_source_arguments(p)
    p.add_argument("--inventory", type=Path, help="inventory CSV or folder (default: <codesets>/inventory)")
    p.add_argument("--build", type=Path, default=Path("build"), help="where reports go (default: ./build)")
    p.add_argument("--no-site", action="store_true",
                   help="skip the site build (MkDocs, or Zensical with CODEGOV_SITE_BUILDER=zensical)")
    p.add_argument("--remits", type=Path, metavar="DIR",
                   help="835 remittances for the denial pages (default: <mirror>/remits when it exists)")
    p.add_argument("--on", type=date, default=None, metavar="YYYY-MM-DD",
                   help="the run date: which releases are due and in force (default: today)")


def run(args) -> int:
    from codegov.options import releases_folder
    from codegov.update import UpdateOptions, main_update

    opts = UpdateOptions(codesets=args.codesets, mirror=args.mirror, offline=args.offline, cache=args.cache,
                         systems=args.system, releases=args.release, inventory=args.inventory, build=args.build,
                         accept_changed=args.accept_changed, site=not args.no_site,
                         releases_dir=releases_folder(args, mirror=args.mirror), quiet=args.quiet,
                         remits=args.remits)
    if args.on is not None:
        opts.on = args.on
    return main_update(opts)
