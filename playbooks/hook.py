"""The MkDocs hook named in mkdocs.yml: `on_config` appends the generated pages to the navigation.

Only the standard library is imported, so loading the hook costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

GENERATED = "generated"  # the folder under the MkDocs docs_dir that `codegov render` owns (playbooks.write)
NAV_FILE = ".nav.json"  # written by playbooks.site


# ---------------------------------------------------------------------------------------------------------
# MkDocs hook


def _prefixed(entries, prefix: str):
    if isinstance(entries, str):
        return f"{prefix}/{entries}"
    if isinstance(entries, list):
        return [_prefixed(e, prefix) for e in entries]
    if isinstance(entries, dict):
        return {k: _prefixed(v, prefix) for k, v in entries.items()}
    return entries


def on_config(config, **kwargs):
    """Append the generated pages to the nav written in mkdocs.yml (they change with the data)."""
    nav_file = Path(config["docs_dir"]) / GENERATED / NAV_FILE
    if nav_file.exists():
        generated = json.loads(nav_file.read_text(encoding="utf-8"))
        config["nav"] = list(config["nav"] or []) + _prefixed(generated, GENERATED)
    return config

