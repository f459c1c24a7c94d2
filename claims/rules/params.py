"""Rule parameters: the typed values a rule file gives a rule (code lists with ranges, flags, choices, amounts)."""

from __future__ import annotations

import re
from typing import Any

from ingest.model import CodegovError

_RANGE = re.compile(r"([A-Z]*)(\d+)([A-Z]*)-([A-Z]*)(\d+)([A-Z]*)")


# Lists already expanded, by their values: every scrubber loads the rule file's lists again (about 11,000 codes
# made from ranges, 15 ms a load), the tests and the site load it hundreds of times in a process.
_EXPANDED: dict[tuple[str, ...], frozenset[str]] = {}
_EXPANDED_MAX = 4096


def expand_codes(values: Any, where: str) -> frozenset[str]:
    """A list of quoted codes with optional ranges ("99202-99205") as a set of code strings."""
    if not isinstance(values, list):
        raise CodegovError(f"{where}: expected a list of quoted codes, found {values!r}")
    key = tuple(values) if all(type(v) is str for v in values) else None
    if key is not None and key in _EXPANDED:
        return _EXPANDED[key]
    codes = _expand(values, where)
    if key is not None:
        if len(_EXPANDED) >= _EXPANDED_MAX:
            _EXPANDED.clear()
        _EXPANDED[key] = codes
    return codes


def _expand(values: list, where: str) -> frozenset[str]:
    out: set[str] = set()
    for v in values:
        if not isinstance(v, str):
            raise CodegovError(f"{where}: codes must be quoted strings ('{v}'): an unquoted number loses "
                               "leading zeros")
        v = v.strip().upper()
        m = _RANGE.fullmatch(v)
        if m:
            p1, a, s1, p2, b, s2 = m.groups()
            if (p1, s1, len(a)) != (p2, s2, len(b)) or int(b) < int(a):
                raise CodegovError(f"{where}: range {v!r} must join two codes of the same shape, low to high")
            out.update(f"{p1}{n:0{len(a)}d}{s1}" for n in range(int(a), int(b) + 1))
        elif v:
            out.add(v)
    return frozenset(out)


def _param(kind: str, value: Any, where: str) -> Any:
    if kind == "codes":
        return expand_codes(value, where)
    if kind == "bool":
        if not isinstance(value, bool):
            raise CodegovError(f"{where}: expected true or false, found {value!r}")
        return value
    if kind.startswith("choice:"):
        choices = kind.split(":", 1)[1].split("|")
        if value not in choices:
            raise CodegovError(f"{where}: expected one of {', '.join(choices)}, found {value!r}")
        return value
    if kind == "str":
        if not isinstance(value, str) or not value:
            raise CodegovError(f"{where}: expected a text value, found {value!r}")
        return value.strip().upper()
    if kind == "year-amounts":
        if not isinstance(value, dict):
            raise CodegovError(f"{where}: expected a mapping year: amount, found {value!r}")
        out = {}
        for year, amount in value.items():
            if not (isinstance(year, int) and 1900 < year < 2200) or not isinstance(amount, (int, float)):
                raise CodegovError(f"{where}: expected year: amount pairs like 2025: 2410, found "
                                   f"{year!r}: {amount!r}")
            out[int(year)] = float(amount)
        return out
    raise AssertionError(kind)  # pragma: no cover
