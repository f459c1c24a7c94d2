"""What every command shares: argument types, exit statuses, the releases folder, the inventory default, output.

Only the standard library is imported here, so `codegov --help` stays fast.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import tomllib
from pathlib import Path

OK, ERROR, POLICY = 0, 1, 2  # success; an error (bad input, missing file); a tripped --fail-on gate
MIRROR_FILE = "codegov-mirror.toml"  # a mirror's own settings: where its releases are stored
RELEASES_ENV = "CODEGOV_RELEASES"


def date(text: str) -> dt.date:
    """An argparse type: YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: expected a date as YYYY-MM-DD") from None


def add_global_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--codesets", type=Path, default=Path("codesets"),
        help="the codesets folder: sources.toml, layouts, inventory, releases (default: ./codesets)")
    parser.add_argument(
        "--releases", dest="global_releases", type=Path, metavar="DIR",
        default=Path(os.environ[RELEASES_ENV]) if os.environ.get(RELEASES_ENV) else None,
        help=f"the release tables folder (default: ${RELEASES_ENV}, else the folder a mirror's {MIRROR_FILE} "
        "names, else <codesets>/releases)")
    parser.add_argument("--debug", action="store_true", help="show the full traceback on an error")


def mirror_releases(codesets: Path, mirror: Path | None) -> Path | None:
    """The releases folder a mirror asks for in its codegov-mirror.toml (`releases = "releases-sample"`,
    relative to the codesets folder): the bundled sample keeps its tables apart from real ones."""
    if mirror is None or not (Path(mirror) / MIRROR_FILE).is_file():
        return None
    from ingest.model import CodegovError

    path = Path(mirror) / MIRROR_FILE
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CodegovError(f"{path}: {exc}") from None
    name = data.get("releases")
    if not isinstance(name, str) or not name or Path(name).is_absolute() or ".." in Path(name).parts:
        raise CodegovError(f"{path}: expected releases = \"<folder inside the codesets folder>\"")
    return Path(codesets) / name


def releases_folder(args, own: Path | None = None, mirror: Path | None = None) -> Path:
    """Where the release tables are: the command's own option, else --releases (or $CODEGOV_RELEASES),
    else the mirror's choice, else <codesets>/releases."""
    if own is not None:
        return Path(own)
    if getattr(args, "global_releases", None) is not None:
        return Path(args.global_releases)
    return mirror_releases(args.codesets, mirror) or Path(args.codesets) / "releases"


def default_inventory(codesets: Path) -> Path | None:
    """<codesets>/inventory when it holds an inventory.csv."""
    folder = Path(codesets) / "inventory"
    return folder if (folder / "inventory.csv").exists() else None


def write_output(text: str, output: Path | None) -> None:
    """To the file (atomically) or to standard output."""
    if output:
        from ingest.store import atomic_write

        atomic_write(output, text.encode("utf-8"))
    else:
        sys.stdout.write(text)
