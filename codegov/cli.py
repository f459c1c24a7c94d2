# PYTHON_ARGCOMPLETE_OK (argcomplete's marker: `codegov completion` prints the shell code that uses it)
"""The codegov command line: parses arguments, runs one command, turns known errors into one line.

Exit statuses are chosen once, in codegov.options (EXIT_STATUSES), and listed by `codegov --help`.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import os
import sys
import textwrap

from codegov import __version__
from codegov.commands import COMMANDS
from codegov.options import ERROR, EXIT_STATUSES, INTERRUPTED, OK, POLICY, add_global_arguments, code_set

EXAMPLES = f"""\
  codegov update --mirror codesets/sample --offline      # the whole update on the bundled sample, offline
  codegov lookup G35 --on 2025-10-01 --releases codesets/releases-sample   # global options go after, too
  codegov lookup E11.9 --on 2025-06-01 && echo billable  # exit {OK} only when the code is valid that day
  codegov diff --system icd10 --from FY2025 --to FY2026 --fail-on inventory-deleted
  codegov check --quiet; case $? in 0) ;; {POLICY}) echo "a gate failed" ;; *) echo "check did not run" ;; esac
  eval "$(codegov completion bash)"                      # tab completion in this shell"""


def epilog(examples: str | None) -> str:
    """The text after a parser's options: its examples."""
    return f"examples:\n{examples.rstrip()}" if examples else ""


def exit_statuses() -> str:
    """codegov.options.EXIT_STATUSES as the top-level epilog lists them."""
    lines = ["exit status:"]
    for code, text in EXIT_STATUSES:
        lines += textwrap.wrap(text, 100, initial_indent=f"  {code:<4} ", subsequent_indent=" " * 7)
    return "\n".join(lines)


class Parser(argparse.ArgumentParser):
    """argparse with suggestions: an invalid choice (a command, a --system, a --format) and an unknown
    option name the closest valid ones (difflib; Python 3.14's suggest_on_error does the same for choices)."""

    def _check_value(self, action, value):
        if action.choices is not None and value not in action.choices:
            choices = [str(c) for c in action.choices]
            close = difflib.get_close_matches(str(value), choices, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise argparse.ArgumentError(
                action, f"invalid choice: {value!r}{hint} (choose from {', '.join(map(repr, choices))})")
        return super()._check_value(action, value)

    def parse_args(self, args=None, namespace=None):
        args, extras = self.parse_known_args(args, namespace)
        if extras:
            parser = self._commands().get(getattr(args, "command", None) or "") or self  # the command's usage
            parser.error(f"unrecognized arguments: {' '.join(extras)}{parser.option_hint(extras)}")
        return args

    def _commands(self) -> dict:
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                return action.choices
        return {}

    def option_hint(self, extras: list[str]) -> str:
        """'; did you mean --system?' for a mistyped option name (abbreviations argparse already takes)."""
        names = [s for s in self._option_string_actions if s.startswith("--")]
        hints = []
        for word in extras:
            if word.startswith("--"):
                close = difflib.get_close_matches(word.split("=", 1)[0], names, n=1, cutoff=0.6)
                hints += [c for c in close if c not in hints]
        return f"; did you mean {' or '.join(hints)}?" if hints else ""


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="codegov",
        description="Pull official code-set releases, diff them against the previous release and your\n"
        "inventory, validate them, and publish playbooks and change notices. Global options go before or\n"
        "after the command; `codegov COMMAND --help` shows each command's options and examples.",
        epilog=epilog(EXAMPLES) + "\n\n" + exit_statuses(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"codegov {__version__}")
    add_global_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMANDS:
        module = importlib.import_module(f"codegov.commands.{name}")
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__,
                           epilog=epilog(getattr(module, "EXAMPLES", None)) or None,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        add_global_arguments(p, after_command=True)
        for action in p._actions:  # every --system takes a code set's name or alias: icd10 is icd10cm
            if action.dest == "system" and action.choices is not None and action.type is None:
                action.type = code_set
        p.set_defaults(_run=module.run)
    return parser


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Tab completion (argcomplete) when the shell asks for it: only then is argcomplete imported."""
    if "_ARGCOMPLETE" not in os.environ:
        return
    try:
        import argcomplete
    except ImportError:  # pragma: no cover - a dependency; without it there is no completion, and no error
        return
    argcomplete.autocomplete(parser)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    autocomplete(parser)
    args = parser.parse_args(argv)
    if args.command != "completion":  # (which prints shell code and never loads Arrow)
        from codegov.options import arrow_allocator

        arrow_allocator()
    try:
        return int(args._run(args) or 0)
    except KeyboardInterrupt:
        print("Error: interrupted", file=sys.stderr)
        return INTERRUPTED
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
        return ERROR


def run() -> None:
    """The console script (and `python -m codegov.cli`): main(), then a quick exit.

    Once main() has returned, every file is written and closed (codegov writes only through `with` blocks and
    atomic replaces), but the interpreter's teardown would still free every object one by one: after a real
    update that is 0.6 s of a 10 s run (the release tables' millions of strings). As mypy does (its
    util.hard_exit), wait for the other threads, run the exit handlers (multiprocessing's, logging's), flush
    standard output and error, then leave without the teardown."""
    import atexit
    import threading

    status = main()
    for thread in threading.enumerate():
        if thread is not threading.main_thread() and not thread.daemon:
            thread.join()
    atexit._run_exitfuncs()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `codegov ... | head`: the reader is gone
        status = status or ERROR
    os._exit(status)


if __name__ == "__main__":  # pragma: no cover
    run()
