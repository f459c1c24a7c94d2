"""Playbook content: read playbooks/*.yml, validate them against the schema in playbooks/README.md, list cited codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from ingest import systems as registry
from ingest.model import CodegovError

TOP_REQUIRED = ("id", "title", "specialty", "owner", "reviewed", "summary", "sections", "codes")
TOP_OPTIONAL = ("references", "modifiers", "key_rules")
SECTION_KEYS = ("title", "body", "table")
CODE_REQUIRED = ("system", "code", "group")
CODE_KEYS = ("system", "code", "label", "group", "timed", "notes")
MODIFIER_REQUIRED = ("code", "system", "when", "documentation")
MODIFIER_KEYS = ("code", "system", "label", "when", "documentation")
CODE_SYSTEMS = ("cpt", "hcpcs", "icd10cm", "pos")
MODIFIER_SYSTEMS = ("hcpcs", "cpt")

MAX_LISTED_PROBLEMS = 8


def official_code(system: str, code: str) -> str:
    """The official form of a code as written in a playbook (ICD-10-CM without its dot), from the registry."""
    return registry.normalize(system, code)


def display_code(system: str, code: str) -> str:
    """What people read: ICD-10-CM with the dot after the third character, other code sets as they are."""
    return registry.display(system, code)


def _is_code(system: str, code: str) -> bool:
    """A code (not a modifier) of the system as people write it: upper case, ICD-10-CM dotted or not."""
    cs = registry.REGISTRY[system]
    text = code.strip()
    if text != text.upper() or text.count(".") > (1 if cs.dotted_after else 0):
        return False
    return cs.kind_of(cs.normalize(text)) in {k.name for k in cs.kinds if k.name != "modifier"}


def _text(value) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _check_keys(entry: dict, where: str, required: tuple, allowed: tuple, problems: list[str]) -> None:
    for key in required:
        if key not in entry:
            problems.append(f"{where}: missing key {key!r}")
    for key in entry:
        if key not in allowed:
            problems.append(f"{where}: unknown key {key!r} (expected one of {', '.join(allowed)})")


def _entry_system(entry, where: str, required: tuple, allowed: tuple, systems: tuple, problems: list[str]):
    """The (system, code) of a code or modifier entry whose keys are checked, or None when it has no known system."""
    if not isinstance(entry, dict):
        problems.append(f"{where}: expected a mapping with {', '.join(required)}")
        return None
    _check_keys(entry, where, required, allowed, problems)
    system, code = entry.get("system"), entry.get("code")
    if system not in systems:
        problems.append(f"{where}: system {system!r} is not one of {', '.join(systems)}")
        return None
    return system, code


def _check_code(entry, where: str, problems: list[str], seen: set) -> None:
    found = _entry_system(entry, where, CODE_REQUIRED, CODE_KEYS, CODE_SYSTEMS, problems)
    if found is None:
        return
    system, code = found
    if not isinstance(code, str):
        problems.append(f"{where}: code {code!r} must be a quoted string (\"{code}\") so YAML keeps it as text")
        return
    if not _is_code(system, code):
        problems.append(f"{where}: {code!r} is not a {system} code")
    dot = registry.REGISTRY[system].dotted_after
    if dot is not None and "." in code and code.strip().index(".") != dot:
        problems.append(f"{where}: {code!r}: the ICD-10-CM dot goes after the third character")
    if "group" in entry and not _text(entry["group"]):
        problems.append(f"{where}: group must be a non-empty string")
    if system == "cpt" and not _text(entry.get("label")):
        problems.append(f"{where}: CPT {code} needs a label in the organisation's own words")
    if "timed" in entry and not isinstance(entry["timed"], bool):
        problems.append(f"{where}: timed must be true or false")
    key = (system, official_code(system, code))
    if key in seen:
        problems.append(f"{where}: {system} {code} is listed twice")
    seen.add(key)


def _check_modifier(entry, where: str, problems: list[str], seen: set) -> None:
    found = _entry_system(entry, where, MODIFIER_REQUIRED, MODIFIER_KEYS, MODIFIER_SYSTEMS, problems)
    if found is None:
        return
    system, code = found
    if not isinstance(code, str) or registry.REGISTRY["hcpcs"].kind_of(code.strip().upper()) != "modifier":
        problems.append(f"{where}: modifier {code!r} must be two characters, quoted")
        return
    if system == "cpt" and not (code.isdigit() and _text(entry.get("label"))):
        problems.append(f"{where}: CPT modifier {code!r} must be numeric with a label in the organisation's words")
    for key in ("when", "documentation"):
        if key in entry and not _text(entry[key]):
            problems.append(f"{where}: {key} must be a non-empty string")
    key = (system, code.strip().upper())
    if key in seen:
        problems.append(f"{where}: {system} modifier {code} is listed twice")
    seen.add(key)


def validate_playbook(book, path: Path) -> list[str]:
    """Every way one parsed playbook departs from the schema, as 'key path: problem' strings."""
    if not isinstance(book, dict):
        return ["expected a mapping at the top level (id, title, specialty, ...)"]
    problems: list[str] = []
    _check_keys(book, "top level", TOP_REQUIRED, TOP_REQUIRED + TOP_OPTIONAL, problems)
    if "id" in book and book["id"] != path.stem:
        problems.append(f"id: {book['id']!r} must equal the file name without .yml ({path.stem!r})")
    for key in ("title", "specialty", "owner", "summary"):
        if key in book and not _text(book[key]):
            problems.append(f"{key}: must be a non-empty string")
    if "reviewed" in book and not isinstance(book["reviewed"], dt.date):
        problems.append(f"reviewed: {book['reviewed']!r} must be an unquoted date, YYYY-MM-DD")
    references = book.get("references") or []
    if not isinstance(references, list) or not all(_text(r) for r in references):
        problems.append("references: must be a list of non-empty strings")
    key_rules = book.get("key_rules") or []
    if not isinstance(key_rules, list) or not all(_text(r) for r in key_rules):
        problems.append("key_rules: must be a list of non-empty strings")
    sections = book.get("sections")
    if "sections" in book and (not isinstance(sections, list) or not sections):
        problems.append("sections: must be a non-empty list")
    for i, section in enumerate(sections if isinstance(sections, list) else []):
        where = f"sections[{i}]"
        if not isinstance(section, dict):
            problems.append(f"{where}: expected a mapping with title and body")
            continue
        _check_keys(section, where, ("title", "body"), SECTION_KEYS, problems)
        for key in ("title", "body"):
            if key in section and not _text(section[key]):
                problems.append(f"{where}.{key}: must be a non-empty string")
        table = section.get("table")
        if table is not None:
            if not isinstance(table, dict) or set(table) != {"columns", "rows"}:
                problems.append(f"{where}.table: must have exactly columns and rows")
                continue
            columns, rows = table["columns"], table["rows"]
            if not isinstance(columns, list) or not columns or not all(isinstance(c, str) for c in columns):
                problems.append(f"{where}.table.columns: must be a non-empty list of strings")
                continue
            for j, row in enumerate(rows if isinstance(rows, list) else [None]):
                if not isinstance(row, list) or len(row) != len(columns) or not all(isinstance(c, str) for c in row):
                    problems.append(f"{where}.table.rows[{j}]: must be {len(columns)} quoted strings")
    codes = book.get("codes")
    if "codes" in book and (not isinstance(codes, list) or not codes):
        problems.append("codes: must be a non-empty list")
    seen: set = set()
    for i, entry in enumerate(codes if isinstance(codes, list) else []):
        _check_code(entry, f"codes[{i}]", problems, seen)
    modifiers = book.get("modifiers") or []
    if not isinstance(modifiers, list):
        problems.append("modifiers: must be a list")
        modifiers = []
    seen = set()
    for i, entry in enumerate(modifiers):
        _check_modifier(entry, f"modifiers[{i}]", problems, seen)
    return problems


def load_playbooks(folder: Path | str = Path("playbooks")) -> list[dict]:
    """Every playbooks/*.yml, parsed (ingest.yamlfile: safely, with limits) and validated, sorted by id. A
    schema violation is one CodegovError."""
    from ingest.yamlfile import load_yaml_file

    folder = Path(folder)
    books, problems = [], []
    for path in sorted(folder.glob("*.yml")):
        try:
            book = load_yaml_file(path, "playbook")
        except CodegovError as exc:
            problems.append(str(exc))
            continue
        found = validate_playbook(book, path)
        problems += [f"{path}: {p}" for p in found]
        if not found:
            books.append(book)
    if problems:
        shown = "; ".join(problems[:MAX_LISTED_PROBLEMS])
        more = f" (and {len(problems) - MAX_LISTED_PROBLEMS} more)" if len(problems) > MAX_LISTED_PROBLEMS else ""
        raise CodegovError(f"playbook schema (playbooks/README.md): {shown}{more}")
    ids = [str(b["id"]) for b in books]
    if len(set(ids)) != len(ids):
        raise CodegovError(f"{folder}: playbook ids must be unique: {sorted(ids)}")
    return sorted(books, key=lambda b: str(b["id"]))


CITED_COLUMNS = ("playbook", "system", "code", "display_code", "kind")


def cited_codes(playbooks: list[dict]):
    """Every code and modifier the playbooks list, in playbook order then file order.

    Columns: playbook, system, code (official form: ICD-10-CM undotted), display_code (as people read
    it: ICD-10-CM dotted), kind (code | modifier). CPT codes are listed like the others; a check cannot
    validate them against a release (no CPT data ships), so it reports them as not checked.
    """
    import pandas as pd

    rows = []
    for book in playbooks:
        for entry in book.get("codes") or []:
            system = str(entry["system"])
            rows.append((str(book["id"]), system, official_code(system, entry["code"]),
                         display_code(system, entry["code"]), "code"))
        for entry in book.get("modifiers") or []:
            code = str(entry["code"]).strip().upper()
            rows.append((str(book["id"]), str(entry["system"]), code, code, "modifier"))
    return pd.DataFrame(rows, columns=list(CITED_COLUMNS), dtype=str)
