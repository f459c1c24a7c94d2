"""Print the shell code that gives codegov tab completion: its commands, options and their choices.

The completion itself is argcomplete's (a dependency): the shell code asks `codegov` for the words that fit,
and codegov answers from its own parser, so completion always knows the options of the installed version.
bash or zsh: add `eval "$(codegov completion bash)"` to ~/.bashrc (zsh: `codegov completion zsh` to
~/.zshrc); fish: `codegov completion fish | source`.
"""

from __future__ import annotations

import argparse
import sys

HELP = "print the shell code for tab completion (bash, zsh, fish, tcsh, powershell)"
SHELLS = ("bash", "zsh", "fish", "tcsh", "powershell")
EXAMPLES = """\
  eval "$(codegov completion bash)"     # in ~/.bashrc
  codegov completion fish | source      # in ~/.config/fish/config.fish"""


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("shell", nargs="?", default="bash", choices=SHELLS, help="the shell (default: bash)")


def run(args) -> int:
    from codegov.options import OK

    try:
        import argcomplete
    except ImportError:  # a dependency of codegov; a bare install without it has no completion
        from ingest.model import CodegovError

        raise CodegovError("tab completion needs argcomplete: pip install argcomplete") from None
    sys.stdout.write(argcomplete.shellcode(["codegov"], shell=args.shell))
    return OK
