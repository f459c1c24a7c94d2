"""Build the MkDocs-Material site: the hand-written pages in site_src/ plus what `codegov render` wrote.

Runs MkDocs in-process (no network: no privacy plugin, no web fonts). `codegov render` must have
written site_src/generated first; `codegov update` runs both.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

HELP = "build the playbook and change-notice site with MkDocs"


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
    started = time.perf_counter()
    site_dir = build_site(args.config, docs_dir=args.docs_dir, site_dir=args.site_dir, strict=args.strict,
                          verbose=args.verbose)
    print(f"site built in {time.perf_counter() - started:.1f} s: {site_dir}")
    return 0


def build_site(config: Path, *, docs_dir: Path | None = None, site_dir: Path | None = None,
               strict: bool | None = None, verbose: bool = False) -> Path:
    """Build the site in-process; a warning in strict mode or a configuration error is one CodegovError."""
    import logging
    import os

    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError

    from ingest.model import CodegovError
    from playbooks.render import GENERATED

    config = Path(config)
    if not config.exists():
        raise CodegovError(f"{config}: no MkDocs configuration; run from the repository root or pass --config")
    overrides = {"docs_dir": str(Path(docs_dir).resolve()) if docs_dir else None,
                 "site_dir": str(Path(site_dir).resolve()) if site_dir else None, "strict": strict}
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mkdocs %(levelname)s: %(message)s"))
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    log = logging.getLogger("mkdocs")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        cfg = load_config(str(config), **{k: v for k, v in overrides.items() if v is not None})
        generated = Path(cfg.docs_dir) / GENERATED
        if not generated.is_dir():
            raise CodegovError(f"{generated}: no generated pages; run `codegov render` first")
        cfg.plugins.on_startup(command="build", dirty=False)
        try:
            build(cfg)
        finally:
            cfg.plugins.on_shutdown()
    except (Abort, ConfigurationError) as exc:
        raise CodegovError(f"mkdocs: {exc}".rstrip()) from None
    finally:
        log.removeHandler(handler)
        log.setLevel(old_level)
    return Path(cfg.site_dir)
