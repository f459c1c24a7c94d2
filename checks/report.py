"""Check results as files: results.json (the rows) and a Markdown section for the PR report and the site."""

from __future__ import annotations

import json
import re
from pathlib import Path

from playbooks.text import md_cell as cell  # the one Markdown escaper: the PR body and the site include this section

SHOWN = 10  # failing values shown per row in Markdown (the JSON keeps up to 20)


def display_value(row: dict, value) -> str:
    """ICD-10-CM codes in code-list rows are shown dotted (E78.01); everything else as stored."""
    text = str(value)
    if row["gate"].startswith("icd10cm_") and row["column"] == "code" and re.fullmatch(r"[A-Z0-9]{4,7}", text):
        return f"{text[:3]}.{text[3:]}"
    return text


def _sample(row: dict) -> str:
    values = [display_value(row, v) for v in row["failing_sample"][:SHOWN]]
    more = row["failing_count"] - len(values)
    if row["failing_codes"] and row["column"] != "code":
        values = [f"{c}: {v}" for c, v in zip(row["failing_codes"], values, strict=False)] + values[
            len(row["failing_codes"]):]
    text = ", ".join(values)
    return f"{text} (+{more} more)" if more > 0 and values else text


def render_markdown(data: dict, heading: str = "##") -> str:
    """The checks section: a verdict line, the failing gates, replacements for codes no longer billable,
    what was not checked, and the passed/failed count per target. `data` is CheckReport.to_dict()."""
    rows, summary = data["rows"], data["summary"]
    failed = [r for r in rows if r["status"] == "failed"]
    skipped = [r for r in rows if r["status"] == "not checked"]
    sub = heading + "#"
    out = [f"{heading} Validation gates", ""]
    if failed:
        out.append(f"**{summary['failed']} of {summary['gates']} gates failed** ({summary['passed']} passed, "
                   f"{summary['not checked']} not checked).")
    else:
        out.append(f"**All {summary['passed']} gates passed** ({summary['not checked']} not checked).")
    checked = data.get("checked") or {}
    facts = []
    if checked.get("validated"):
        facts.append(f"release tables: {', '.join(checked['validated'])}")
    if checked.get("inventory"):
        facts.append(f"inventory on {checked['on']}")
    if checked.get("playbooks"):
        facts.append("playbooks against the newest release of each code set")
    if facts:
        out += ["", "Checked " + "; ".join(facts) + "."]
    if failed:
        out += ["", f"{sub} Failing gates", "", "| Suite | Target | Gate | Column | Failing | Sample |",
                "| --- | --- | --- | --- | ---: | --- |"]
        for r in failed:
            out.append(f"| {cell(r['suite'])} | {cell(r['target'])} | {cell(r['details'].split('; ')[0])} "
                       f"(`{r['gate']}`) | {cell(r['column'])} | {r['failing_count']} | {cell(_sample(r))} |")
        reps = [(r, code, listed) for r in failed for code, listed in r["replacements"].items()]
        if reps:
            out += ["", f"{sub} Codes no longer valid, with their replacements", "",
                    "| Target | Code | What happened | Replacements |", "| --- | --- | --- | --- |"]
            for r, code, listed in reps:
                what = r["code_notes"].get(code, "")
                shown = ", ".join(f"{x.get('display_code') or x['code']}" for x in listed[:20])
                if len(listed) > 20:
                    shown += f" (+{len(listed) - 20} more)"
                out.append(f"| {cell(r['target'])} | {cell(display_value(r, code))} | {cell(what)} | "
                           f"{cell(shown or 'none known')} |")
    if skipped:
        out += ["", f"{sub} Not checked", ""]
        out += [f"- {cell(r['target'])}: {cell(r['details'])}" for r in skipped]
    out += ["", f"{sub} Gates per target", "", "| Suite | Target | Passed | Failed | Not checked |",
            "| --- | --- | ---: | ---: | ---: |"]
    per: dict[tuple[str, str], dict[str, int]] = {}
    for r in rows:
        counts = per.setdefault((r["suite"], r["target"]), {"passed": 0, "failed": 0, "not checked": 0})
        counts[r["status"]] += 1
    for (suite, target), c in per.items():
        out.append(f"| {cell(suite)} | {cell(target)} | {c['passed']} | {c['failed']} | {c['not checked']} |")
    return "\n".join(out) + "\n"


def json_text(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def write_results(data: dict, out: Path) -> list[Path]:
    """results.json and results.md in `out`, written atomically; the paths whose bytes changed."""
    from ingest.store import atomic_write

    out = Path(out)
    changed = []
    for name, text in (("results.json", json_text(data)), ("results.md", render_markdown(data))):
        if atomic_write(out / name, text.encode("utf-8")):
            changed.append(out / name)
    return changed
