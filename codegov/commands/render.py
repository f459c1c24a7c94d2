"""Render the generated pages of the site: playbooks, change notices, what changed for you, checks,
release history and the inventory lookup, as Markdown under site_src/generated.

Pages are written only when their bytes change, so a rerun on the same data touches no file; pages
that are no longer produced (a removed playbook, an old release) are deleted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

HELP = "render playbooks, change notices and report pages for the site"
EXAMPLES = """\
  codegov render                                   # site_src/generated from the stored releases and build/checks
  codegov --releases codesets/releases-sample render --checks build/checks/results.json"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--releases", type=Path, help="release tables (default: <codesets>/releases)")
    p.add_argument("--checks", type=Path, default=Path("build/checks/results.json"),
                   help="check results written by `codegov check` (default: build/checks/results.json, the last "
                   "full run's: a partial run writes build/checks/partial/; the checks page says so when it is "
                   "missing)")
    p.add_argument("--inventory", type=Path,
                   help="the organisation's code inventory (default: <codesets>/inventory/inventory.csv when present)")
    p.add_argument("--playbooks", type=Path, default=Path("playbooks"),
                   help="playbook YAML folder (default: playbooks)")
    p.add_argument("--remits", type=Path, metavar="DIR",
                   help="835 remittances (a folder of *.835, with the claims.csv they answer): the denial pages")
    p.add_argument("--out", type=Path, default=Path("site_src/generated"),
                   help="where the pages go (default: site_src/generated; a folder render owns)")


def run(args) -> int:
    from codegov.options import OK, default_inventory, info, releases_folder
    from codegov.update import render_folder

    result = render_folder(args.codesets, args.out, releases=releases_folder(args, args.releases),
                           playbooks_dir=args.playbooks, checks=args.checks,
                           inventory=args.inventory or default_inventory(args.codesets), remits=args.remits)
    info(args, f"{len(result.written)} pages written, {len(result.unchanged)} unchanged, "
         f"{len(result.removed)} removed: {args.out}")
    return OK
