"""Fixed-width layouts as data: reads codesets/layouts/*.toml (official 1-based, inclusive positions)."""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path


def _layout_dir() -> Path:
    """codesets/layouts beside the package (a checkout), else under the working folder (an installed wheel
    run from a checkout, as the scheduled workflow does); CODEGOV_LAYOUTS overrides both."""
    if os.environ.get("CODEGOV_LAYOUTS"):
        return Path(os.environ["CODEGOV_LAYOUTS"])
    beside = Path(__file__).resolve().parent.parent / "codesets" / "layouts"
    return beside if beside.is_dir() else Path.cwd() / "codesets" / "layouts"


LAYOUT_DIR = _layout_dir()


@dataclass(frozen=True)
class Field:
    name: str
    start: int  # 1-based, inclusive
    end: int | None  # 1-based, inclusive; None runs to the end of the line
    pattern: str = ""
    expected: str = ""

    @property
    def slice(self) -> slice:
        return slice(self.start - 1, self.end)


@dataclass(frozen=True)
class Layout:
    name: str
    spec: str
    encoding: str
    fields: tuple[Field, ...]
    record_length: int | None = None

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    def line_pattern(self) -> str:
        """One regex for a whole line: each field's pattern, blanks in the columns between fields."""
        parts, pos = [], 1
        for f in self.fields:
            gap = f.start - pos
            if gap:
                parts.append(" " * gap)
            width = "*" if f.end is None else f"{{{f.end - f.start + 1}}}"
            parts.append(f"(?:{f.pattern})" if f.pattern else f".{width}")
            pos = (f.end or 0) + 1
        return "".join(parts)

    def first_problem(self, line: str) -> Field | None:
        """The first field of a line that does not match its pattern (None if the line is fine)."""
        for f in self.fields:
            value = line[f.slice]
            if f.pattern and not re.fullmatch(f.pattern, value):
                return f
        return None


@cache
def load_layout(name: str, layout_dir: Path = LAYOUT_DIR) -> Layout:
    path = layout_dir / f"{name}.toml"
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    fields = tuple(
        Field(f["name"], f["start"], f.get("end"), f.get("pattern", ""), f.get("expected", ""))
        for f in data["fields"]
    )
    return Layout(data["name"], data.get("spec", ""), data.get("encoding", "ascii"), fields,
                  data.get("record_length"))
