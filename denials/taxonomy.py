"""The denial taxonomy (codesets/denials/*.csv): CARC and RARC codes grouped into the categories a billing team
tracks, and the classification of each adjustment a remittance reports.

A CARC gives the category; a generic one (category `information`, CARC 16) takes the category of the line's
first remark code (RARC, LQ) that has one. A reason code the lists do not hold is `other`. Categories whose
`denial` flag is 0 (contractual adjustments, the patient's share) are never counted as denials.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field
from pathlib import Path

from ingest.model import CodegovError, ParseError

FOLDER = "denials"  # under <codesets>
OTHER = "other"
CATEGORY_COLUMNS = ("category", "label", "denial", "what to look at")
CODE_COLUMNS = ("code", "category", "label", "start", "last_modified", "stop", "source")
SOURCE_COLUMNS = ("source", "url", "what", "published")
UNVERIFIED = "unverified"  # the source of a code whose dates no source gave: its dates stay empty
DATES = ("start", "last_modified", "stop")


@dataclass
class Taxonomy:
    categories: dict[str, dict]  # id -> {label, denial (bool), advice}, in report order
    carc: dict[str, dict]  # code -> {category, label, start, last_modified, stop, source}
    rarc: dict[str, dict]
    source: str = ""
    sources: dict[str, dict] = field(default_factory=dict)  # id -> {url, what, published} (sources.csv)
    notes: list[str] = field(default_factory=list)

    def is_denial(self, category: str) -> bool:
        return self.categories.get(category, {}).get("denial", True)

    def label(self, category: str) -> str:
        return self.categories.get(category, {}).get("label", category)

    def category(self, carc: str, remarks: str = "") -> str:
        """The category of one adjustment: its CARC's, refined by the first remark with a category when the
        CARC is generic."""
        entry = self.carc.get(carc)
        cat = entry["category"] if entry else OTHER
        if cat == "information" and remarks:
            for r in remarks.split():
                hit = self.rarc.get(r)
                if hit and hit["category"] != "information":
                    return hit["category"]
        return cat

    def out_of_dates(self, kind: str, code: str, day: str) -> str:
        """'after' when a code is used on or after its X12 stop date, 'before' when before its start date
        (day as YYYY-MM-DD), else ''. Bulk checks: denials.join.codes_out_of_dates."""
        entry = (self.carc if kind == "carc" else self.rarc).get(code)
        if not entry:
            return ""
        if entry["stop"] and day >= entry["stop"]:
            return "after"
        return "before" if entry["start"] and day < entry["start"] else ""


def _rows(path: Path, columns: tuple[str, ...]) -> list[tuple[int, dict]]:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            if tuple(reader.fieldnames or ()) != columns:
                raise ParseError(path, 1, f"expected the columns {', '.join(columns)}, found "
                                          f"{', '.join(reader.fieldnames or ['nothing'])}")
            return [(i, {k: (v or "").strip() for k, v in row.items()}) for i, row in enumerate(reader, start=2)]
    except FileNotFoundError:
        raise CodegovError(f"{path}: the denial taxonomy file is missing") from None


def load_taxonomy(codesets: Path) -> Taxonomy:
    folder = Path(codesets) / FOLDER
    categories = {}
    for line, row in _rows(folder / "categories.csv", CATEGORY_COLUMNS):
        if row["denial"] not in ("0", "1"):
            raise ParseError(folder / "categories.csv", line, f"expected denial 0 or 1, found {row['denial']!r}")
        categories[row["category"]] = {"label": row["label"], "denial": row["denial"] == "1",
                                       "advice": row["what to look at"]}
    if OTHER not in categories:
        raise ParseError(folder / "categories.csv", 1, f"expected a category {OTHER!r} for unlisted reason codes")
    sources = {}
    for line, row in _rows(folder / "sources.csv", SOURCE_COLUMNS):
        if row["source"] in sources or row["source"] == UNVERIFIED:
            raise ParseError(folder / "sources.csv", line, f"source {row['source']!r} is listed twice or reserved")
        sources[row["source"]] = {k: row[k] for k in SOURCE_COLUMNS[1:]}
    lists = {}
    for kind in ("carc", "rarc"):
        path = folder / f"{kind}.csv"
        codes = {}
        for line, row in _rows(path, CODE_COLUMNS):
            if row["category"] not in categories:
                raise ParseError(path, line, f"expected a category of categories.csv "
                                             f"({', '.join(categories)}), found {row['category']!r}")
            if row["code"] in codes:
                raise ParseError(path, line, f"code {row['code']} is listed twice")
            for col in DATES:
                if row[col] and not _is_date(row[col]):
                    raise ParseError(path, line, f"expected {col} as YYYY-MM-DD or empty, found {row[col]!r}")
            if row["source"] == UNVERIFIED:
                if any(row[c] for c in DATES):
                    raise ParseError(path, line, f"expected no dates for an {UNVERIFIED} code, found "
                                                 f"{', '.join(row[c] for c in DATES if row[c])}")
            elif row["source"] not in sources:
                raise ParseError(path, line, f"expected a source of sources.csv ({', '.join(sources)}) or "
                                             f"{UNVERIFIED!r}, found {row['source']!r}")
            elif not row["start"]:
                raise ParseError(path, line, f"expected the start date source {row['source']} gives, found none")
            codes[row["code"]] = {k: row[k] for k in CODE_COLUMNS[1:]}
        lists[kind] = codes
    return Taxonomy(categories, lists["carc"], lists["rarc"],
                    source="X12 external code lists (https://x12.org/codes): Claim Adjustment Reason Codes, "
                           "Remittance Advice Remark Codes", sources=sources)


def _is_date(text: str) -> bool:
    import datetime as dt

    try:
        return len(text) == 10 and dt.date.fromisoformat(text).isoformat() == text
    except ValueError:
        return False
