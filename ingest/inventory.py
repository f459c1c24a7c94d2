"""The organisation's code inventory: read, normalise to official code forms, report damaged entries."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ingest import systems as registry
from ingest.model import CodegovError, ParseError

COLUMNS = ("system", "code", "specialty", "service_line", "owner", "notes", "annual_volume")
REQUIRED = ("system", "code", "specialty", "owner")
SYSTEMS = registry.ORDER  # the code sets an inventory line may name (CPT too: recognised, never validated)
_SCIENTIFIC = re.compile(r"\d(?:\.\d+)?E\+?\d+", re.IGNORECASE)


@dataclass
class Inventory:
    path: Path
    rows: pd.DataFrame  # line, system, code (official form), input_code, specialty, service_line, owner, notes
    issues: list[dict] = field(default_factory=list)  # line, system, code, issue, severity

    def codes(self, system: str) -> pd.DataFrame:
        return self.rows[self.rows["system"] == system]


def _issue(line: int, system: str, code: str, issue: str, severity: str = "error") -> dict:
    return {"line": line, "system": system, "code": code, "issue": issue, "severity": severity}


def normalise_code(system: str, raw: str) -> tuple[str, list[tuple[str, str]]]:
    """The official form of one inventory code, and what was wrong with it: [(issue, severity)]."""
    notes: list[tuple[str, str]] = []
    code = raw.strip()
    if _SCIENTIFIC.fullmatch(code):
        return code, [(f"{raw!r} is in scientific notation: a spreadsheet turned the code into a number; "
                       f"retype it as text", "error")]
    upper = code.upper()
    if upper != code and system != "cpt":
        code = upper
    if system == "icd10cm":
        code = code.replace(".", "")
    elif system == "pos" and re.fullmatch(r"\d", code):
        notes.append((f"POS {raw!r} lost its leading zero (read as a number); taken as 0{code}", "warning"))
        code = f"0{code}"
    elif system == "cpt" and re.fullmatch(r"\d{1,4}", code) and len(code) < 5 and len(code) != 2:
        return code, [(f"CPT {raw!r} has {len(code)} digits: leading zeros lost in a spreadsheet? "
                       f"expected 5 characters", "error")]
    elif system == "cpt" and re.fullmatch(r"\d+\.0", code):
        return code, [(f"{raw!r} has a decimal point: a spreadsheet stored the code as a number", "error")]
    if registry.REGISTRY[system].kind_of(code) is None:
        notes.append((f"{raw!r} is not a {system} code", "error"))
    return code, notes


def _records(path: Path, text: str):
    """(first line, last line, values) of every CSV record; lines are the file's physical lines."""
    if text and not text.endswith("\n"):
        text += "\n"  # an unclosed quote on the last line then shows as a value with a line break
    reader = csv.reader(io.StringIO(text, newline=""))
    done = 0  # physical lines read so far
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ParseError(path, done + 1, f"expected CSV text ({exc}): a quote opened on this line and "
                                             f"never closed?") from None
        yield done + 1, reader.line_num, fields
        done = reader.line_num


def _one_line(path: Path, start: int, end: int, fields: list[str], header: list[str], last: int) -> None:
    """A value may not contain a line break: one that does is a quote left open, swallowing the lines after
    it into one value (a spreadsheet never writes one into a code list)."""
    for i, value in enumerate(fields):
        if "\n" in value or "\r" in value:
            column = f"the {header[i]!r} value" if i < len(header) and header[i] else f"value {i + 1}"
            swallowed = ("the rest of the file" if end >= last else
                         f"line {end}" if end == start + 1 else f"lines {start + 1} to {end}")
            raise ParseError(path, start, f"a quote opens {column} and is not closed on this line, so "
                                          f"{swallowed} is read into that one value: expected one row per line; "
                                          f"close or remove the quote")


def load_inventory(path: Path | str) -> Inventory:
    """Read inventory.csv (or the one CSV in a folder). Bad rows become issues, not exceptions; a file whose
    shape is broken (no such file, not UTF-8, a missing or repeated column, an unclosed quote) raises."""
    path = Path(path)
    if path.is_dir():
        path = path / "inventory.csv"
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CodegovError(f"{path}: inventory not found") from None
    except UnicodeDecodeError as exc:
        raise CodegovError(f"{path}: expected UTF-8 text ({exc.reason} at byte {exc.start}); "
                           f"save the spreadsheet as 'CSV UTF-8'") from None
    last = text.count("\n") + (0 if text.endswith("\n") else 1)  # the file's last physical line
    records = _records(path, text)
    header_line, header = 1, []
    for header_line, end, fields in records:
        if any(f.strip() for f in fields):
            _one_line(path, header_line, end, fields, [], last)
            header = [h.strip().lower() for h in fields]
            break
    for i, name in enumerate(header):
        if name and name in header[:i]:
            raise ParseError(path, header_line, f"column {name!r} appears twice in the header (columns "
                                                f"{header.index(name) + 1} and {i + 1}): expected each of "
                                                f"{', '.join(COLUMNS)} once")
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CodegovError(f"{path}:{header_line}: expected columns {', '.join(COLUMNS)}; "
                           f"missing {', '.join(missing)}")
    rows, issues, seen = [], [], {}
    data_lines = 0
    for number, end, fields in records:
        _one_line(path, number, end, fields, header, last)
        if not any(f.strip() for f in fields):
            continue
        data_lines += 1
        rec = {name: (fields[i] if i < len(fields) else "").strip() for i, name in enumerate(header)}
        if len(fields) > len(header):
            issues.append(_issue(number, rec["system"], rec["code"],
                                 f"{len(fields)} values where the header has {len(header)} columns: an unquoted "
                                 f"comma inside a value? put that value in double quotes"))
            continue
        system = registry.from_alias(rec["system"]) or rec["system"].lower()
        if system not in SYSTEMS:
            issues.append(_issue(number, rec["system"], rec["code"],
                                 f"system {rec['system']!r} is not one of {', '.join(SYSTEMS)}"))
            continue
        for col in REQUIRED:
            if not rec.get(col):
                issues.append(_issue(number, system, rec.get("code", ""), f"{col} is empty"))
        if not rec["code"]:
            continue
        code, problems = normalise_code(system, rec["code"])
        issues += [_issue(number, system, rec["code"], text, sev) for text, sev in problems]
        if any(sev == "error" for _, sev in problems):
            continue
        key = (system, code, rec.get("specialty", ""))
        if key in seen:
            issues.append(_issue(number, system, code, f"listed twice for {key[2]}; first on line {seen[key]}",
                                 "warning"))
            continue
        seen[key] = number
        volume = rec.get("annual_volume", "").replace(",", "").replace("_", "")
        if volume and not volume.isdigit():
            issues.append(_issue(number, system, code, f"annual_volume {rec['annual_volume']!r} is not a whole "
                                                       "number of services a year; left out of the payment effect"))
            volume = ""
        rows.append({"line": number, "system": system, "code": code, "input_code": rec["code"],
                     "specialty": rec.get("specialty", ""), "service_line": rec.get("service_line", ""),
                     "owner": rec.get("owner", ""), "notes": rec.get("notes", ""),
                     "annual_volume": int(volume) if volume else None})
    if not data_lines:
        issues.append(_issue(header_line, "", "", f"{path.name} has no code rows (only the header): expected one "
                                                   f"row per code the organisation bills; an empty inventory is "
                                                   f"almost always a broken export"))
    frame = pd.DataFrame(rows, columns=["line", "system", "code", "input_code", "specialty", "service_line",
                                        "owner", "notes", "annual_volume"])
    return Inventory(path, frame, issues)
