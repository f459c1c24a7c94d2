"""The MkDocs hook named in mkdocs.yml: `on_config` appends the generated pages to the navigation, and
`on_page_markdown` puts the generated freshness block (HOME_FILE) on the home page where it says
<!-- codegov:freshness -->.

Only the standard library is imported, so loading the hook costs nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

GENERATED = "generated"  # the folder under the MkDocs docs_dir that `codegov render` owns (playbooks.write)
NAV_FILE = ".nav.json"  # written by playbooks.site
HOME_FILE = ".home.md"  # written by playbooks.site: each code set's newest release, the one in force, a banner
HOME_MARKER = "<!-- codegov:freshness -->"


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



def on_page_markdown(markdown, page, config, files, **kwargs):
    """The home page's freshness block, from the data of the last render (none: the marker stays a comment)."""
    if HOME_MARKER not in markdown:
        return markdown
    block = Path(config["docs_dir"]) / GENERATED / HOME_FILE
    return markdown.replace(HOME_MARKER, block.read_text(encoding="utf-8") if block.exists() else "")
