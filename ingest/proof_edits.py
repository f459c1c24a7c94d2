"""Proving an edit-table release before it is stored.

CMS publishes no addenda for the edit tables, so the proof is what the files say about themselves and
about the quarter before:
- the quarter every file names is the release's: the NCCI version (v320 is 2026 Q1, one more each
  quarter), the MUE file's Eff_MM-DD-YYYY, the AOC file's V<yyyy>Q<q>, the RVU file's year and month;
- every part file has rows, and the parts are 1..n without a gap (ingest.sources);
- the fee schedule has one conversion factor, and the professional (26) and technical (TC) rows of a
  code with PC/TC indicator 1 add up to its global row;
- against the previous stored quarter: no setting lost more than MAX_DROP of its rows (a truncated
  download looks like a quarter with fewer edits; real quarters move by a few percent).
Each check raises ParseError naming the file; the evidence lines say what was checked.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingest.model import ParseError, Release
from ingest.parse_edits import aoc_quarter, mue_effective, pfs_quarter, ptp_version

NCCI_BASE = (2026, 1, 320)  # NCCI version 320 took effect 2026-01-01 (PUBLISHED-FILES.md); one per quarter
MAX_DROP = 0.2
PCTC_TOLERANCE = 0.03


def quarter_index(day: dt.date) -> int:
    return day.year * 4 + (day.month - 1) // 3


def ncci_version(day: dt.date) -> int:
    """The NCCI version of the quarter that starts on `day`: 2026 Q1 is 320, 2026 Q4 323, 2025 Q4 319."""
    year, q, version = NCCI_BASE
    return version + quarter_index(day) - (year * 4 + q - 1)


def check_names(release: Release, files: dict[str, Path]) -> list[str]:
    """The quarter each file's name gives must be the release's."""
    evidence = []
    for _role, path in sorted(files.items()):
        if release.system == "ptp":
            version = ptp_version(path)
            if version is not None and version[0] != ncci_version(release.effective):
                raise ParseError(
                    path,
                    None,
                    f"expected NCCI version {ncci_version(release.effective)} for "
                    f"{release} (v320 is 2026 Q1); the name says v{version[0]}",
                )
        elif release.system == "mue":
            day = mue_effective(path)
            if day is None:
                raise ParseError(path, None, "expected the effective date in the name (..._Eff_MM-DD-YYYY.csv)")
            if day != release.effective:
                raise ParseError(
                    path,
                    None,
                    f"expected an MUE table effective {release.effective} for {release}; its name says {day}",
                )
        elif release.system == "aoc":
            quarter = aoc_quarter(path)
            want = (release.effective.year, (release.effective.month - 1) // 3 + 1)
            if quarter is not None and quarter != want:
                raise ParseError(
                    path,
                    None,
                    f"expected the add-on code file of {want[0]} Q{want[1]} for {release}; "
                    f"its name says {quarter[0]} Q{quarter[1]}",
                )
        elif release.system == "pfs":
            day = pfs_quarter(path)
            if day is not None and day != release.effective:
                raise ParseError(
                    path,
                    None,
                    f"expected the RVU file of {release.effective:%B %Y} for {release}; its name says {day:%B %Y}",
                )
    evidence.append(f"every file name gives {release.label or release.id}")
    return evidence


def prove_edits(release: Release, files: dict[str, Path], parts: dict[str, pa.Table], table: pa.Table) -> list[str]:
    """The evidence that `table` (the parts stacked) is the quarter CMS posted, on its own files."""
    evidence = check_names(release, files)
    for role, part in sorted(parts.items()):
        if part.num_rows == 0:
            raise ParseError(files[role], None, f"expected {release.system} rows; the file has none after its header")
    evidence.append(f"{len(parts)} file(s), {table.num_rows:,} rows, none empty")
    if release.system == "pfs":
        evidence += _prove_pfs(files["rvu"], table)
    return evidence


def prove_against(
    release: Release, files: dict[str, Path], table: pa.Table, previous: pa.Table, previous_label: str
) -> list[str]:
    """Against the previous stored quarter: no setting (or the whole table) shrank by more than MAX_DROP."""
    if "setting" in table.column_names and "setting" in previous.column_names:
        return _prove_drop(release, files, table, previous, previous_label)
    if previous.num_rows and table.num_rows < (1 - MAX_DROP) * previous.num_rows:
        path = next(iter(files.values()))
        raise ParseError(
            path,
            None,
            f"expected about the {previous.num_rows:,} rows of {previous_label}; found "
            f"{table.num_rows:,} (a truncated file?)",
        )
    return [f"rows within {MAX_DROP:.0%} of {previous_label}"]


def _prove_drop(release, files, table, previous, previous_label) -> list[str]:
    now = dict(zip(*_counts(table), strict=True))
    before = dict(zip(*_counts(previous), strict=True))
    for setting, count in sorted(before.items()):
        have = now.get(setting, 0)
        if have == 0:
            continue  # a setting this quarter's files leave out (the hospital files not downloaded) is no drop
        if have < (1 - MAX_DROP) * count:
            path = next(p for r, p in sorted(files.items()) if r.startswith(_role_of(release.system, setting)))
            raise ParseError(
                path,
                None,
                f"expected about the {count:,} {setting} rows of {previous_label}; found "
                f"{have:,}, {1 - have / count:.0%} fewer (a truncated file?)",
            )
    return [f"rows per setting within {MAX_DROP:.0%} of {previous_label}"]


def _role_of(system: str, setting: str) -> str:
    return setting  # the settings are named as the roles


def _counts(table: pa.Table):
    counts = pc.value_counts(table["setting"])
    return counts.field("values").to_pylist(), counts.field("counts").to_pylist()


def _prove_pfs(path: Path, table: pa.Table) -> list[str]:
    factors = pc.unique(pc.filter(table["conv_factor"], pc.greater(table["conv_factor"], 0))).to_pylist()
    if len(factors) != 1:
        raise ParseError(path, None, f"expected one conversion factor in CONV FACTOR, found {sorted(factors)}")
    rows = table.select(["code", "modifier", "pctc", "nonfac_total"]).to_pylist()
    total = {(r["code"], r["modifier"]): r["nonfac_total"] for r in rows}
    checked = 0
    for r in rows:
        if r["pctc"] != "1" or r["modifier"]:
            continue
        pro, tech = total.get((r["code"], "26")), total.get((r["code"], "TC"))
        if pro is None or tech is None:
            continue
        checked += 1
        if abs(pro + tech - r["nonfac_total"]) > PCTC_TOLERANCE:
            raise ParseError(
                path,
                None,
                f"expected the 26 and TC rows of {r['code']} to add up to its global "
                f"non-facility total {r['nonfac_total']:.2f}; they give {pro + tech:.2f}",
            )
    return [f"one conversion factor ({factors[0]}); {checked} PC/TC split(s) add up to their global rows"]
