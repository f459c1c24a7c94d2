"""Build the MkDocs-Material site: the hand-written pages in site_src/ plus what `codegov render` wrote.

Runs MkDocs in-process (no network: no privacy plugin, no web fonts). `codegov render` must have
written site_src/generated first; `codegov update` runs both.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "build the playbook and change-notice site with MkDocs"
EXAMPLES = """\
  codegov render && codegov site                   # then: python -m http.server -d site
  codegov site --no-strict --site-dir /tmp/site    # a draft build that lists broken links without failing"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=Path("mkdocs.yml"),
                   help="MkDocs configuration (default: mkdocs.yml)")
    p.add_argument("--docs-dir", type=Path,
                   help="the pages to build (default: docs_dir of the configuration, site_src)")
    p.add_argument("--site-dir", type=Path,
                   help="where the built site goes (default: site_dir of the configuration, site)")
    p.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                   help="fail on any warning, such as a broken link (default: as mkdocs.yml says, which is strict)")
    p.add_argument("--verbose", action="store_true", help="show MkDocs' progress messages, not only its warnings")


def run(args) -> int:
    from codegov.options import OK, info
    from playbooks.build import build_site

    started = time.perf_counter()
    site_dir = build_site(args.config, docs_dir=args.docs_dir, site_dir=args.site_dir, strict=args.strict,
                          verbose=args.verbose)
    info(args, f"site built in {time.perf_counter() - started:.1f} s: {site_dir}")
    return OK
