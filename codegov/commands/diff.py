"""Diff two releases of a code set, against the previous release and the organisation's inventory.

Prints the deleted-code report (Markdown for a pull request or $GITHUB_STEP_SUMMARY), or the change set
as JSON or CSV. Every deleted code lists its replacements and where each comes from: the ICD-10-CM
conversion table, the new child codes of an expanded code, or the HCPCS cross-reference (XREF) fields.
--from must be older than --to (a reversed range is an error naming both); with --fail-on
inventory-deleted the exit status is 3 when an inventory code is deleted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from codegov.options import OK
from codegov.options import POLICY as POLICY_EXIT
from ingest.systems import LOADED

HELP = "diff two releases (and your inventory) into the deleted-code report"
FAIL_ON = ("inventory-deleted",)
EXAMPLES = f"""\
  codegov diff --system icd10cm                              # the newest release against the one before
  codegov diff --system icd10cm --from FY2025 --to FY2026 --format json --output changes.json
  codegov diff --system hcpcs --fail-on inventory-deleted    # exit {POLICY_EXIT} when a code you bill is deleted"""


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

    repo = ReleaseRepository(releases_folder(args, args.releases), args.codesets)
    from_id, to_id = release_range(repo, args.system, args.from_release, args.to_release)
    inventory = None
    if not args.no_inventory:
        inventory = load_inventory(args.inventory or args.codesets / "inventory")
    cs = repo.change_set(args.system, from_id, to_id, inventory=inventory)
    render = {"md": render_markdown, "json": render_json, "csv": render_csv}[args.format]
    write_output(render([cs]), args.output)
    if "inventory-deleted" in args.fail_on and inventory_deleted_count([cs]):
        print(f"{inventory_deleted_count([cs])} inventory code(s) deleted in {cs.to_label or cs.to_release}",
              file=sys.stderr)
        return POLICY_EXIT
    return OK


def release_range(repo, system: str, from_name: str | None, to_name: str | None) -> tuple[str | None, str | None]:
    """--from and --to as release ids (None: the default); a range whose --from is not older than its --to
    (FY2026 to FY2024) is an error naming both, never a report that lists every added code as deleted."""
    from ingest.model import CodegovError

    to_id = repo.require(system, to_name) if to_name else repo.latest(system)
    from_id = repo.require(system, from_name) if from_name else None
    if from_id is None or to_id is None or from_id < to_id:
        return from_id, to_id

    def shown(given: str | None, rid: str) -> str:  # FY2026 (2025-10-01), or 2025-10-01 (FY2026)
        label = repo.label(system, rid)
        if given and given != rid:
            return f"{given} ({rid})"
        return f"{rid} ({label})" if label != rid else rid

    to_shown = shown(to_name, to_id) if to_name else f"the latest ingested, {shown(None, to_id)}"
    if from_id == to_id:
        raise CodegovError(f"--from {shown(from_name, from_id)} and --to {to_shown} are the same {system} release: "
                           "nothing to diff")
    raise CodegovError(f"--from {shown(from_name, from_id)} is newer than --to {to_shown}: a diff runs from the "
                       f"older {system} release to the newer; swap them")
