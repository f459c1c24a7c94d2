"""Proving a release before it is stored: the years its official file names give, and the proof of each
code set against what its publisher says changed (ingest.proof_icd10cm, ingest.proof_hcpcs).

`prove` returns the evidence (lines kept in the release's manifest) or raises ParseError naming the file,
the line or code, and what was expected. It runs twice per release: in the worker that parses it,
without the previous release (the release's own files: counts, structure, its copies), and before it is
stored, with the previous release (the replay of its addenda or action codes)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from ingest.model import ParseError, Release

# The year an official file name carries: ICD-10-CM files end with the fiscal year (icd10cm_order_2026.txt,
# the conversion table's "FY2026"); HCPCS ANWEB files start with the calendar year, two or four digits
# (HCPC17_CONTR_ANWEB.txt, HCPC2026_JUL_ANWEB_06172026.txt), and the 2026 names carry the month.
_YEAR = {
    "icd10cm": re.compile(r"(?:[_ -](20\d{2})\.txt$|FY ?(20\d{2}))", re.IGNORECASE),
    "hcpcs": re.compile(r"^HCPCS?(\d{4}|\d{2})(?!\d)", re.IGNORECASE),
}
_HCPCS_MONTH = re.compile(r"_(JAN|APR|JUL|OCT)_", re.IGNORECASE)
_MONTHS = {"JAN": 1, "APR": 4, "JUL": 7, "OCT": 10}


def expected_year(release: Release) -> int:
    """The year a release's official names carry: ICD-10-CM the fiscal year (October starts the next),
    HCPCS the calendar year."""
    if release.system == "icd10cm":
        return release.effective.year + (1 if release.effective.month >= 10 else 0)
    return release.effective.year


def check_file_years(release: Release, files: dict[str, Path]) -> None:
    """Refuse official files whose names give another year (or HCPCS quarter) than the release: FY2025
    files in the FY2026 folder are not FY2026."""
    pattern = _YEAR.get(release.system)
    if pattern is None:
        return
    want = expected_year(release)
    for role, path in sorted(files.items()):
        m = pattern.search(path.name)
        if not m:
            continue
        year = int(next(g for g in m.groups() if g))
        year += 2000 if year < 100 else 0
        if year != want:
            kind = "fiscal year" if release.system == "icd10cm" else "year"
            raise ParseError(path, None, f"expected a {role} file of {kind} {want} for {release}; its name says "
                                         f"{year} (a file of another release in this folder?)")
        month = _HCPCS_MONTH.search(path.name) if release.system == "hcpcs" else None
        if month and _MONTHS[month.group(1).upper()] != release.effective.month:
            raise ParseError(path, None, f"expected the {release.effective:%B} file for {release}; its name "
                                         f"says {month.group(1).upper()}")


def proof_state(release: Release, files: dict[str, Path]) -> dict | None:
    """What prove() against the previous release reads of a release's own files, read once where the release
    was parsed (HCPCS: {"anweb_lines": {code: line}} of the ANWEB file, from the parse just made); None for
    the other code sets."""
    if release.system != "hcpcs" or "anweb" not in files:
        return None
    from ingest.proof_hcpcs import anweb_lines

    return {"anweb_lines": anweb_lines(Path(files["anweb"]))}


def prove(release: Release, files: dict[str, Path], table: pd.DataFrame, previous: pd.DataFrame | None = None,
          previous_label: str = "", evidence: list[str] | None = None, state: dict | None = None) -> list[str]:
    """The evidence that `table` is what the publisher released, or a ParseError at the first problem.

    evidence: what the proof on the release's own files gave (its first run); with it and a previous
    release, HCPCS runs only the comparison with the previous release (the xlsx copy and the transaction
    report are not read twice) and returns the evidence with its 'not compared' line replaced; state: proof_state()
    of the release's files (then the ANWEB file is not parsed again either)."""
    if release.system == "icd10cm":
        from ingest.proof_icd10cm import prove_icd10cm

        return prove_icd10cm(files, table, previous, previous_label)
    if release.system == "hcpcs":
        try:
            from ingest.proof_hcpcs import prove_hcpcs
        except ImportError:  # pragma: no cover - until the HCPCS proof lands
            return ["HCPCS proof not available"]
        if evidence is not None and previous is not None:
            kept = [e for e in evidence if not e.startswith("action codes against the previous release:")]
            return kept + prove_hcpcs(files, table, previous, release.id, previous_only=True,
                                      lines=(state or {}).get("anweb_lines"))
        return prove_hcpcs(files, table, previous, release.id)
    return ["the curated list is reviewed in git; read_pos_csv checks its rows"]
