"""Build the site: the hand-written pages in site_src/ plus what `codegov render` wrote, with MkDocs
(Material theme, the default) or Zensical (`--builder zensical`, or CODEGOV_SITE_BUILDER=zensical), both
from mkdocs.yml, which INHERITs the navigation render writes.

No network: no privacy plugin, no web fonts. `codegov render` must have written site_src/generated first;
`codegov update` runs both.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

HELP = "build the playbook and change-notice site with MkDocs or Zensical"
EXAMPLES = """\
  codegov render && codegov site                   # then: python -m http.server -d site
  codegov site --builder zensical                  # the same site built by Zensical
  codegov site --no-strict --site-dir /tmp/site    # a draft build that lists broken links without failing"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    from playbooks.build import BUILDER_ENV, BUILDERS

    p.add_argument("--config", type=Path, default=Path("mkdocs.yml"),
                   help="the site configuration, in the folder that holds its pages (default: mkdocs.yml)")
    p.add_argument("--builder", choices=BUILDERS, default=None,
                   help=f"mkdocs (Material theme) or zensical (default: ${BUILDER_ENV}, else mkdocs)")
    p.add_argument("--site-dir", type=Path,
                   help="where the built site goes (default: site_dir of the configuration, site; for Zensical "
                   "a folder inside the configuration's)")
    p.add_argument("--strict", action=argparse.BooleanOptionalAction, default=None,
                   help="fail on any warning, such as a broken link (default: as mkdocs.yml says, which is strict)")
    p.add_argument("--verbose", action="store_true", help="show the builder's progress messages, not only its warnings")


def run(args) -> int:
    from codegov.options import OK, info
    from playbooks.build import build_site, builder_name

    started = time.perf_counter()
    builder = builder_name(args.builder)
    site_dir = build_site(args.config, site_dir=args.site_dir, strict=args.strict, verbose=args.verbose,
                          builder=builder)
    info(args, f"site built by {builder} in {time.perf_counter() - started:.1f} s: {site_dir}")
    return OK
