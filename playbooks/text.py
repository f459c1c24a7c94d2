"""Text for every rendered page and report: the one Jinja environment, the Markdown cell escaper and the filters.

The site pages (playbooks.site) and the pull-request report (playbooks.report) are rendered from the
templates in playbooks/templates through `environment()`: StrictUndefined (a missing variable is an
error, never an empty string), HTML and SVG templates autoescaped, Markdown escaped by `md_cell`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from jinja2 import BytecodeCache, Environment, FileSystemLoader, StrictUndefined, select_autoescape

from ingest import systems as registry
from ingest.systems import notice_name, release_title, short_label

TEMPLATES = Path(__file__).resolve().parent / "templates"
SYSTEM_SHORT = {s: registry.short(s) for s in registry.ORDER}
SYSTEM_ORDER = registry.ORDER

MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")
REASONS = {  # why a code left, as the end of "in <release> it ..."
    "expanded": "became a header with new, more specific codes",
    "deleted": "was deleted",
    "discontinued": "was discontinued",
    "vanished": "was removed from the file without a termination date",
    "purged": "was dropped from the file after its termination date",
}
HCPCS_ACTIONS = {
    "A": "added",
    "B": "administrative data and long description changed",
    "C": "long description changed",
    "D": "discontinued",
    "F": "administrative data changed",
    "N": "no maintenance",
    "P": "payment change",
    "R": "reactivated",
    "S": "short description changed",
    "T": "miscellaneous change (BETOS, type of service)",
}
HCPCS_COVERAGE = {"C": "carrier judgment", "D": "special coverage instructions apply", "I": "not payable by Medicare",
                  "M": "non-covered by Medicare", "S": "non-covered by Medicare statute"}
SUITE_TITLES = {"release": "Release tables", "inventory": "Inventory", "playbooks": "Playbooks"}  # data-flow order
MAX_LISTED_CHILDREN = 30  # a playbook warning lists at most this many replacement codes

# ---------------------------------------------------------------------------------------------------------
# Escaping and formatting filters

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]|])")


def md_cell(value: Any) -> str:
    """Plain text made safe for a Markdown table cell or an inline run of text.

    HTML-significant characters become entities, Markdown punctuation that could start emphasis, a
    link, an attribute list or a code span is backslash-escaped, `|` cannot end the cell, and line
    breaks become spaces.
    """
    text = "" if value is None else str(value)
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = " ".join(text.split())
    return _MD_SPECIAL.sub(r"\\\1", text)


_CODE_SPAN = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
_HTML_START = re.compile(r"<(?=[A-Za-z/!?])")


def md_body(value: Any) -> str:
    """A playbook's Markdown body as the site shows it: Markdown stays Markdown, raw HTML does not. Every
    '<' that would open a tag, a comment or a processing instruction outside code spans becomes '&lt;',
    so a `<script>` (or an `<img onerror>`) in a playbook is shown as text, never run; `&` before a name
    becomes '&amp;' so no entity is decoded into markup. Playbooks are written by staff and reviewed in
    pull requests, but the site is read by everyone: the escaping is the site's, not the reviewer's."""
    text = "" if value is None else str(value)
    out, last = [], 0
    for m in _CODE_SPAN.finditer(text):
        out.append(_escape_html(text[last:m.start()]))
        out.append(m.group(0))
        last = m.end()
    out.append(_escape_html(text[last:]))
    return "".join(out)


_PLAIN_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._*-]*")


def md_code(value: Any) -> str:
    """A code as inline code (`G35`) when it is a plain code; anything else as escaped text (md_cell), so a
    damaged inventory value cannot open or close a code span."""
    text = "" if value is None else str(value).strip()
    return f"`{text}`" if _PLAIN_CODE.fullmatch(text) else md_cell(text)


def md_link(text: Any, url: str) -> str:
    """[text](url): the text escaped (md_cell), the URL percent-encoded except its delimiters, in angle
    brackets, so no character of either can end the link or start markup."""
    from urllib.parse import quote

    return f"[{md_cell(text)}](<{quote(str(url), safe=':/#?=&%@+,;~')}>)"


def html_link(text: Any, url: str) -> str:
    """<a href="url">text</a>, for a link inside HTML such as a <details> block's <summary>, where GitHub
    renders no Markdown: the URL percent-encoded as md_link does, both HTML-escaped."""
    from html import escape
    from urllib.parse import quote

    return f'<a href="{escape(quote(str(url), safe=":/#?=&%@+,;~"))}">{escape("" if text is None else str(text))}</a>'


def _escape_html(text: str) -> str:
    return _HTML_START.sub("&lt;", re.sub(r"&(?=#?[A-Za-z0-9]+;)", "&amp;", text))




def long_date(iso: str) -> str:
    """2025-10-01 -> October 1, 2025 (the same in every locale)."""
    m = re.fullmatch(r"(\d{4})-(\d{2})-(\d{2})", str(iso or ""))
    if not m:
        return str(iso or "")
    year, month, day = (int(g) for g in m.groups())
    return f"{MONTHS[month - 1]} {day}, {year}"


class _CompiledTemplates(BytecodeCache):
    """The templates compiled in this process, shared by every environment() (each has the same options):
    compiling one costs about 30 ms, and a render makes a new environment. Jinja checks each template's
    source checksum, so an edited template is compiled again."""

    def __init__(self):
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket) -> None:
        if bucket.key in self.code:
            bucket.bytecode_from_string(self.code[bucket.key])

    def dump_bytecode(self, bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


_COMPILED = _CompiledTemplates()


def environment() -> Environment:
    """The Jinja environment: strict about missing variables; HTML and SVG templates autoescaped."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        bytecode_cache=_COMPILED,
        undefined=StrictUndefined,
        autoescape=select_autoescape(("html", "htm", "xml", "svg", "html.j2", "xml.j2", "svg.j2"),
                                     default_for_string=False, default=False),
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = md_cell
    env.filters["body"] = md_body
    env.filters["code"] = md_code
    env.globals["link"] = md_link
    env.globals["html_link"] = html_link
    env.filters["long_date"] = long_date
    env.filters["dotted"] = dotted
    env.filters["merge_revisions"] = merge_revisions
    env.filters["replacements"] = replacements_text
    env.filters.update(ROW_FILTERS)
    env.tests["cpt"] = lambda code: registry.REGISTRY["cpt"].kind_of(str(code)) == "code"
    env.globals.update(SYSTEM_SHORT=SYSTEM_SHORT, REASONS=REASONS, HCPCS_ACTIONS=HCPCS_ACTIONS,
                       HCPCS_COVERAGE=HCPCS_COVERAGE, SUITE_TITLES=SUITE_TITLES, release_title=release_title,
                       short_label=short_label, notice_name=notice_name)
    return env




FIELD_NAMES = {"long_desc": "long descriptor", "short_desc": "short descriptor", "coverage": "Medicare coverage"}


def dotted(code: str, system: str = "icd10cm") -> str:
    """The display form of a code (ICD-10-CM dotted); other code sets unchanged."""
    return registry.display(system, code)


def _coverage(value: str) -> str:
    return f"{value} ({HCPCS_COVERAGE[value]})" if value in HCPCS_COVERAGE else value


def _revision(e: dict) -> list[str]:
    field_name = e["field"]
    before, after = e["before"], e["after"]
    if field_name == "coverage":
        before, after = _coverage(before), _coverage(after)
    names = [FIELD_NAMES.get(f, f) for f in field_name.split("+")]
    what = " and ".join(n.replace(" descriptor", "") for n in names) + " descriptor" if len(names) > 1 else names[0]
    return [e["display_code"], what, before, after]


def merge_revisions(revised: list[dict]) -> list[dict]:
    """One row per code and change: a long and a short descriptor revised to the same text are one row."""
    out: list[dict] = []
    for e in revised:
        prev = out[-1] if out else None
        if prev and prev["code"] == e["code"] and (prev["before"], prev["after"]) == (e["before"], e["after"]):
            prev["field"] = f"{prev['field']}+{e['field']}"
        else:
            out.append(dict(e))
    return out


# Table rows for the templates' table() macro: lists of plain text, escaped by the macro.
ROW_FILTERS = {
    "row_added": lambda e: [e["display_code"], e["description"]],
    "row_hcpcs_added": lambda e: [e["display_code"], e["description"], e.get("kind", ""),
                                  f"{e['action_code']} ({HCPCS_ACTIONS[e['action_code']]})"
                                  if e.get("action_code") in HCPCS_ACTIONS else e.get("action_code", "")],
    "row_revised": _revision,
    "row_revised_owner": lambda e: [*_revision(e), e.get("owner", "")],
    "row_reused": lambda e: [e.get("display_code") or e["code"],
                             f"{e['before']['description']} (added {e['before']['add_date']})",
                             f"{e['after']['description']} (added {e['after']['add_date']})"],
    "row_reused_owner": lambda e: [e.get("display_code") or e["code"],
                                   f"{e['before']['description']} (added {e['before']['add_date']})",
                                   f"{e['after']['description']} (added {e['after']['add_date']})",
                                   e.get("owner", "")],
    "row_purged": lambda e: [e["display_code"], e["description"], e.get("termination_date", "")],
    "row_family": lambda e: [e["display_code"], e["description"], e.get("family", "")],
}


def _tidy(text: str) -> str:
    """At most one blank line in a row and exactly one newline at the end."""
    return re.sub(r"\n{3,}", "\n\n", text).strip("\n") + "\n"



def replacements_text(replacements: list[dict]) -> str:
    """'E78.010, E78.011 (new child code, conversion table FY2026)': replacements grouped by their source."""
    if not replacements:
        return "no replacement known: review with the coding lead"
    by_source: dict[str, list[str]] = {}
    for r in replacements:
        by_source.setdefault(r["source"], []).append(r["display_code"])
    return "; ".join(f"{', '.join(codes)} ({source})" for source, codes in by_source.items())


# Spreadsheet formula injection (OWASP "CSV Injection"): a cell a spreadsheet would read as a formula
# starts with one of these; such a cell is written with a leading apostrophe, which Excel, LibreOffice and
# Google Sheets show as text. Tab and CR count too: some spreadsheets strip them and read what follows.
CSV_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: Any) -> Any:
    """A value as a report CSV cell: text a spreadsheet would run as a formula gets a leading apostrophe
    (OWASP's advice); numbers and other values pass as they are. Used for every CSV written for people
    (the report, the releases list, scrub findings), never for release tables, which are data."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_STARTS) and not _PLAIN_NUMBER.fullmatch(value):
        return "'" + value
    return value


_PLAIN_NUMBER = re.compile(r"[-+]?[0-9]+(?:\.[0-9]+)?")  # -5 or +1.5 is a number, not a formula
