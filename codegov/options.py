"""What every command shares: argument types, exit statuses, the releases folder, the inventory default, output.

Only the standard library is imported here, so `codegov --help` stays fast.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import os
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

# Exit statuses, chosen here once; every command returns one of them and `codegov --help` and the README's
# Commands section list them (tests/test_cli_exit_status.py holds the three to the same table).
OK = 0  # success; lookup: the code is valid on the date
ERROR = 1  # an error: bad input, a missing file, a known error (one line; --debug shows the traceback)
USAGE = 2  # a usage error: argparse's own status (unknown command or option, a bad option value)
POLICY = 3  # findings: a tripped --fail-on or check gate; lookup: the code is not valid on the date
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as the shells report it)
EXIT_STATUSES = (
    (OK, "success; lookup: the code is valid (billable, or a valid modifier or POS code) on the date"),
    (ERROR, "an error: bad input, a missing file, an unknown release, a reversed diff range, a pinned file "
     "releases --verify cannot read (one line on stderr; --debug shows the traceback)"),
    (USAGE, "a usage error: an unknown command or option, a bad option value (argparse)"),
    (POLICY, "findings: a failed check gate, a tripped --fail-on (diff, scrub), a failed release gate (update), "
     "a stale release, a changed file or a listing page that matches nothing (releases --fail-stale, --verify, "
     "--check-pages); lookup: the code is a header, deleted, not yet effective, unknown, or CPT (never validated)"),
    (INTERRUPTED, "interrupted (Ctrl-C)"),
)
PARTIAL = "partial"  # the folder under check's --out that a partial check writes to (never over the full results)
MIRROR_FILE = "codegov-mirror.toml"  # a mirror's own settings: where its releases are stored
RELEASES_ENV = "CODEGOV_RELEASES"
ARROW_POOL = "ARROW_DEFAULT_MEMORY_POOL"
ARROW_ALLOCATOR = "jemalloc"  # every command's Arrow buffers (arrow_allocator)


def date(text: str) -> dt.date:
    """An argparse type: YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date: expected a date as YYYY-MM-DD") from None


def add_global_arguments(parser: argparse.ArgumentParser, after_command: bool = False) -> None:
    """--codesets, --releases, --debug and --quiet: on the top-level parser (with their defaults), and with
    after_command on each command's parser too, so they may come before or after the command. There they
    default to nothing (argparse.SUPPRESS), so a value given before the command stands unless given again
    after it; an option the command has of its own (check, diff and render have their own --releases, of the
    same meaning) is left to the command."""
    group = parser.add_argument_group("global options (before or after the command)") if after_command else parser
    taken = set(parser._option_string_actions) if after_command else set()

    def add(flag: str, default, **kw) -> None:
        if flag not in taken:
            group.add_argument(flag, default=argparse.SUPPRESS if after_command else default, **kw)

    add("--codesets", Path("codesets"), type=Path, metavar="DIR",
        help="the codesets folder: sources.toml, layouts, inventory, releases (default: ./codesets)")
    add("--releases", Path(os.environ[RELEASES_ENV]) if os.environ.get(RELEASES_ENV) else None,
        dest="global_releases", type=Path, metavar="DIR",
        help=f"the release tables folder (default: ${RELEASES_ENV}, else the folder a mirror's {MIRROR_FILE} "
        "names, else <codesets>/releases)")
    add("--debug", False, action="store_true", help="show the full traceback on an error")
    add("--quiet", False, action="store_true", dest="quiet",
        help="no progress or information lines; errors, warnings, findings and the requested output still show")


def code_set(text: str) -> str:
    """The argparse type of every --system option: a code set's or edit table's id, name or alias, any case
    ('icd10', 'ICD-10-CM', 'HCPCS Level II', 'NCCI PTP') as its id; anything else is returned as given, for
    the choices check to refuse (with a suggestion: codegov.cli.Parser)."""
    from ingest import systems

    found = systems.from_alias(text)
    if found is None:
        low = text.strip().lower()
        found = next((s.id for s in systems.EDIT_SETS.values()
                      if low in (s.id, s.name.lower(), s.short.lower(), *s.aliases)), None)
    return found or text


def info(args, line: str, file=None) -> None:
    """A progress or information line (on stdout unless file says otherwise), left out with --quiet. Errors,
    warnings, findings and the output a command was asked for never go through here."""
    if not getattr(args, "quiet", False):
        print(line, file=file or sys.stdout, flush=True)


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


@contextlib.contextmanager
def output_stream(output: Path | None) -> Iterator[TextIO]:
    """A text stream for output too large to hold as one string: the file (appearing whole, atomically, when
    the block ends without an error) or standard output."""
    if not output:
        yield sys.stdout
        return
    from ingest.store import atomic_writer

    with atomic_writer(output) as fh:
        text = io.TextIOWrapper(fh, encoding="utf-8", newline="")
        try:
            yield text
            text.flush()
        finally:
            text.detach()  # the binary file stays open for atomic_writer to sync and rename


def arrow_allocator(name: str = ARROW_ALLOCATOR) -> None:
    """Arrow's buffers from the allocator `name` ("jemalloc", "system" or "mimalloc") in this process and in the
    worker processes it starts (through the environment, which they read), unless $ARROW_DEFAULT_MEMORY_POOL
    names one already; Arrow's default where this pyarrow lacks the allocator (jemalloc is not built
    everywhere). codegov.cli.main sets it for every command. The results are the same bytes with any of them;
    jemalloc was measured the quickest (2 CPUs, interleaved runs):
    - `codegov scrub`, a million lines with full-size edits in force: 4.0 s and 745 MB median against 4.85 s and
      837 MB with Arrow's default, mimalloc, and 4.2 s and 830 MB with the C library's (4 runs each);
    - `codegov denials`, a million remittance lines: 8.1 s and 1,065 MB against 9.0 s and 1,194 MB (mimalloc) and
      9.6 s and 1,402 MB (the system's);
    - `codegov update` from nothing on the real releases: 10.4 s, as with the C library's (6 runs each).
      mimalloc returns and takes back memory pages so often on an update's many short-lived columns that the
      kernel's time was a quarter of the run's (6.5 s of 29 s of CPU, against 3.5 s). A plain pyarrow read of a
      92 MB claims file took 1.3-1.5 s with mimalloc right after a scrub, nearly 2 s of it the kernel's, against
      0.23-0.28 s with the others."""
    import pyarrow as pa

    pools = {"system": pa.system_memory_pool, "jemalloc": pa.jemalloc_memory_pool, "mimalloc": pa.mimalloc_memory_pool}
    chosen = os.environ.get(ARROW_POOL, name)
    if chosen in pools:
        try:
            pa.set_memory_pool(pools[chosen]())
        except NotImplementedError:  # not built into this pyarrow: Arrow's default stays
            chosen = pa.default_memory_pool().backend_name
    os.environ[ARROW_POOL] = chosen
