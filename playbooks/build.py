"""The site build: MkDocs (Material theme) run in-process on site_src/ and what `codegov render` wrote there.

No network: no privacy plugin, no web fonts. A warning in strict mode is an error.
"""

from __future__ import annotations

import sys
from pathlib import Path


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
    from playbooks.write import GENERATED

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
