"""Diff two releases of a code set, against the previous release and the organisation's inventory.

Prints the deleted-code report (Markdown for a pull request or $GITHUB_STEP_SUMMARY), or the change set
as JSON or CSV. Every deleted code lists its replacements and where each comes from: the ICD-10-CM
conversion table, the new child codes of an expanded code, or the HCPCS cross-reference (XREF) fields.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegov.options import POLICY as POLICY_EXIT
from ingest.systems import LOADED

HELP = "diff two releases (and your inventory) into the deleted-code report"
FAIL_ON = ("inventory-deleted",)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--system", required=True, choices=LOADED)
    p.add_argument("--from", dest="from_release", metavar="R1", help="older release (default: the one before --to)")
    p.add_argument("--to", dest="to_release", metavar="R2", help="newer release (default: the latest ingested)")
    p.add_argument("--inventory", type=Path, help="inventory CSV or folder (default: <codesets>/inventory)")
    p.add_argument("--no-inventory", action="store_true", help="diff the releases only")
    p.add_argument("--releases", type=Path, help="release tables folder (default: <codesets>/releases)")
    p.add_argument("--format", choices=("md", "json", "csv"), default="md")
    p.add_argument("--output", type=Path, help="write here instead of standard output")
    p.add_argument("--fail-on", choices=FAIL_ON, action="append", default=[],
                   help=f"exit {POLICY_EXIT} when an inventory code is deleted")


def run(args) -> int:
    from codegov.options import releases_folder, write_output
    from ingest.inventory import load_inventory
    from ingest.repository import ReleaseRepository
    from playbooks.report import inventory_deleted_count, render_csv, render_json, render_markdown

    inventory = None
    if not args.no_inventory:
        inventory = load_inventory(args.inventory or args.codesets / "inventory")
    repo = ReleaseRepository(releases_folder(args, args.releases), args.codesets)
    cs = repo.change_set(args.system, args.from_release, args.to_release, inventory=inventory)
    render = {"md": render_markdown, "json": render_json, "csv": render_csv}[args.format]
    write_output(render([cs]), args.output)
    if "inventory-deleted" in args.fail_on and inventory_deleted_count([cs]):
        print(f"{inventory_deleted_count([cs])} inventory code(s) deleted in {cs.to_label or cs.to_release}",
              file=sys.stderr)
        return POLICY_EXIT
    return 0
