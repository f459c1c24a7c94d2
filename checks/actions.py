"""What a person does about a failed check: one sentence or two per suite and gate, read by the site's Checks
page (and any report that lists failed gates). A row is a checks.rows.CheckRow or its dict form."""

from __future__ import annotations

GENERIC = "Look at the failing values, fix the file the check names, and run `codegov check` again."


def what_to_do(row, checked: dict | None = None) -> str:
    """The action for a failed row, as Markdown; checked: the results' `checked` block (the inventory's path)."""
    suite, gate, target = (str(row.get(k) or "") for k in ("suite", "gate", "target"))
    words = target.split()
    if suite == "release":
        system, release = (words + ["", ""])[:2]
        again = f"`codegov ingest --system {system} --release {release}`" if release else "`codegov ingest`"
        if gate == "drift":
            return ("The row count moved further from the previous release's than the drift band allows: a "
                    "truncated or wrong download, or a real change. Compare the files with the publisher's "
                    f"(`codegov releases --verify`) and ingest them again ({again}); if the change is real, "
                    "check with a wider band (`codegov check --drift 0.10`). `codegov update` renders no page "
                    "from this release until it passes.")
        return ("The release table does not have the shape every release must have, so `codegov update` "
                "stopped before rendering anything from it. Check the source files (`codegov releases --verify`), "
                f"download them again ({again}), and if the publisher changed the file layout, update "
                "`codesets/layouts/`.")
    if suite == "freshness":
        system = words[0] if words else ""
        sample = [str(v) for v in row.get("failing_sample") or []]
        since = f" from {sample[0]} on" if sample else ""
        return (f"Ingest the release in force: `codegov ingest --system {system}`, or merge the pull request "
                "the scheduled update opens for it. If the publisher has not posted its files yet there is "
                f"nothing to do but wait; until then claims dated{since} are judged against an older release.")
    if suite == "inventory":
        where = (checked or {}).get("inventory") or "the inventory"
        where = f"`{where}`" if where != "the inventory" else where
        return (f"The owner of each line (the `owner` column of {where}) replaces the code with one of its "
                "replacements, or removes the line if the service is no longer billed; then run "
                "`codegov check` again.")
    if suite == "playbooks":
        return (f"The playbook's owner edits `{target}`: replace each code with one of its replacements, or "
                "remove it. The playbook's page shows a warning until then.")
    return GENERIC
