"""CLI commands: one module each, exposing HELP, add_arguments(parser) and run(args) -> exit status.

Modules here import only the standard library and the code-set registry (ingest.systems) at top level;
the stages they call are imported inside run(), so `codegov --help` stays fast and never loads pandas or
Great Expectations.
"""

# Order is the order of the data flow (then the shell completion); `codegov --help` lists them like this.
COMMANDS = ("releases", "ingest", "diff", "check", "render", "site", "update", "lookup", "scrub", "denials",
            "completion")
