"""The site build: MkDocs (Material theme, in-process) or Zensical (its command, in a child process), both
from one configuration, mkdocs.yml, on site_src/ and what `codegov render` wrote there.

mkdocs.yml INHERITs the navigation render writes (site_src/generated/.nav.yml), so there is no hook and
`mkdocs build` or `zensical build` run by hand in the repository build the same site. Builds run in the
configuration's folder: the home page's include (pymdownx.snippets) is read from there, and Zensical
builds only inside it (its docs_dir and site_dir must be in that folder).

No network: no privacy plugin, no web fonts. A warning in strict mode is an error.
"""

from __future__ import annotations

import os
import re
import sys
from contextlib import chdir
from pathlib import Path

BUILDERS = ("mkdocs", "zensical")
BUILDER_ENV = "CODEGOV_SITE_BUILDER"  # the builder when none is named (default mkdocs)
CHILD_CONFIG = ".codegov-zensical.yml"  # a Zensical build's overrides (site_dir, strict), beside the configuration
_INHERIT = re.compile(r"^INHERIT:\s*(\S+)\s*$", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def builder_name(builder: str | None = None) -> str:
    """The builder asked for, else $CODEGOV_SITE_BUILDER, else mkdocs."""
    from ingest.model import CodegovError

    name = (builder or os.environ.get(BUILDER_ENV) or "mkdocs").strip().lower()
    if name not in BUILDERS:
        source = "" if builder else f" (from ${BUILDER_ENV})"
        raise CodegovError(f"site builder {name!r}{source}: expected one of {', '.join(BUILDERS)}")
    return name


def build_site(config: Path, *, site_dir: Path | None = None, strict: bool | None = None, verbose: bool = False,
               builder: str | None = None) -> Path:
    """Build the site; a warning in strict mode, a configuration error or a missing render is one CodegovError.

    config: the site configuration (mkdocs.yml), in the folder that holds its docs_dir; site_dir: where the
    built site goes (default: the configuration's; for Zensical inside the configuration's folder); strict:
    None as the configuration says; builder: mkdocs or zensical (default builder_name()).
    """
    from ingest.model import CodegovError

    config = Path(config).resolve()
    if not config.exists():
        raise CodegovError(f"{config}: no site configuration; run from the repository root or pass --config")
    inherited = _INHERIT.search(config.read_text(encoding="utf-8"))
    if inherited and not (config.parent / inherited.group(1)).exists():
        raise CodegovError(f"{config.parent / inherited.group(1)}: no generated navigation (the file "
                           f"{config.name} INHERITs); run `codegov render` first")
    name = builder_name(builder)
    with chdir(config.parent):
        if name == "zensical":
            return _zensical(config, site_dir=site_dir, strict=strict, verbose=verbose)
        return _mkdocs(config, site_dir=site_dir, strict=strict, verbose=verbose)


def _mkdocs(config: Path, *, site_dir: Path | None, strict: bool | None, verbose: bool) -> Path:
    import logging

    os.environ.setdefault("NO_MKDOCS_2_WARNING", "1")
    from mkdocs.commands.build import build
    from mkdocs.config import load_config
    from mkdocs.exceptions import Abort, ConfigurationError

    from ingest.model import CodegovError

    overrides = {"site_dir": str(Path(site_dir).resolve()) if site_dir else None, "strict": strict}
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mkdocs %(levelname)s: %(message)s"))
    handler.setLevel(logging.INFO if verbose else logging.WARNING)
    log = logging.getLogger("mkdocs")
    log.addHandler(handler)
    old_level = log.level
    log.setLevel(logging.INFO if verbose else logging.WARNING)
    try:
        cfg = load_config(str(config), **{k: v for k, v in overrides.items() if v is not None})
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


def _zensical(config: Path, *, site_dir: Path | None, strict: bool | None, verbose: bool) -> Path:
    """`zensical build` on the configuration; site_dir and strict go in a child configuration that INHERITs it
    (Zensical's command takes neither), removed afterwards."""
    import importlib.util
    import subprocess

    from ingest.model import CodegovError

    if importlib.util.find_spec("zensical") is None:
        raise CodegovError("zensical is not installed: pip install '.[zensical]' (pyproject.toml pins it), "
                           "or build with --builder mkdocs")
    project = config.parent
    overrides = []
    if site_dir is not None:
        site_dir = Path(site_dir).resolve()
        if not site_dir.is_relative_to(project):
            raise CodegovError(f"{site_dir}: Zensical builds only inside the folder of its configuration "
                               f"({project}); choose a --site-dir there")
        overrides.append(f"site_dir: {site_dir.relative_to(project).as_posix()}")
    if strict is not None:
        overrides.append(f"strict: {'true' if strict else 'false'}")
    child = project / CHILD_CONFIG
    target = config
    if overrides:
        child.write_text("\n".join([f"# Written by codegov site for one Zensical build of {config.name}; "
                                    "deleted after it.", f"INHERIT: {config.name}", *overrides, ""]),
                         encoding="utf-8")
        target = child
    command = [sys.executable, "-m", "zensical", "build", "--config-file", str(target)]
    if strict or strict is None and re.search(r"^strict:\s*true\s*$", config.read_text(encoding="utf-8"), re.M):
        command.append("--strict")
    try:
        done = subprocess.run(command, cwd=project, capture_output=True, text=True, check=False)
    finally:
        if overrides:
            child.unlink(missing_ok=True)
    output = _ANSI.sub("", done.stdout + done.stderr)
    if done.returncode != 0:
        raise CodegovError(f"zensical: {_issues(output)}")
    if verbose or "Warning" in output:
        sys.stderr.write(output if output.endswith("\n") else output + "\n")
    return site_dir or project / _site_dir_of(config)


def _issues(output: str) -> str:
    """Zensical's report of a failed build in one line: 'performance.md:3:5: page does not exist; 1 issue
    found', else its last line (a configuration error's message)."""
    issues, lines = [], output.splitlines()
    for i, line in enumerate(lines):
        found = re.match(r"\s*(?:Warning|Error):\s*(.+)", line)
        if found:
            where = next((m.group(1) for m in (re.search(r"\[\s*(\S+?)\s*\]", x) for x in lines[i + 1:i + 3]) if m),
                         "")
            issues.append(f"{where}: {found.group(1)}" if where else found.group(1))
    counted = next((x.strip() for x in lines if re.fullmatch(r"\s*\d+ issues? found\s*", x)), "")
    if issues:
        return "; ".join(issues + ([counted] if counted else []))
    last = [x.strip() for x in lines if x.strip()]
    return last[-1] if last else "the build failed"


def _site_dir_of(config: Path) -> str:
    found = re.search(r"^site_dir:\s*(\S+)\s*$", config.read_text(encoding="utf-8"), re.M)
    return found.group(1) if found else "site"
