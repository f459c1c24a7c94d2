"""The codegov command line: parses arguments, runs one command, turns known errors into one line."""

from __future__ import annotations

import argparse
import importlib
import sys

from codegov import __version__
from codegov.commands import COMMANDS
from codegov.options import add_global_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="codegov",
        description="Pull official code-set releases, diff them against the previous release and your "
        "inventory, validate them, and publish playbooks and change notices.",
    )
    parser.add_argument("--version", action="version", version=f"codegov {__version__}")
    add_global_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"codegov.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__)
        module.add_arguments(p)
        p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for known errors, traceback with --debug
        if args.debug:
            raise
        from ingest.model import CodegovError

        if isinstance(exc, CodegovError):
            print(f"Error: {exc}", file=sys.stderr)
        elif isinstance(exc, (FileNotFoundError, PermissionError, IsADirectoryError)):
            print(f"Error: {exc.strerror}: {exc.filename}", file=sys.stderr)
        else:
            print(f"Error: {type(exc).__name__}: {exc} (run with --debug for the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
