"""The organisation's code inventory: read, normalise to official code forms, report damaged entries."""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ingest import systems as registry
from ingest.model import CodegovError

COLUMNS = ("system", "code", "specialty", "service_line", "owner", "notes")
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


def load_inventory(path: Path | str) -> Inventory:
    """Read inventory.csv (or the one CSV in a folder). Bad rows become issues, not exceptions."""
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
    reader = csv.DictReader(text.splitlines())
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    missing = [c for c in REQUIRED if c not in header]
    if missing:
        raise CodegovError(f"{path}:1: expected columns {', '.join(COLUMNS)}; missing {', '.join(missing)}")
    rows, issues, seen = [], [], {}
    for number, raw in enumerate(reader, start=2):
        rec = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        if not any(rec.values()):
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
        rows.append({"line": number, "system": system, "code": code, "input_code": rec["code"],
                     "specialty": rec.get("specialty", ""), "service_line": rec.get("service_line", ""),
                     "owner": rec.get("owner", ""), "notes": rec.get("notes", "")})
    frame = pd.DataFrame(rows, columns=["line", "system", "code", "input_code", "specialty", "service_line",
                                        "owner", "notes"])
    return Inventory(path, frame, issues)
