"""The organisation's own CPT descriptors: a private, git-ignored file read when it is there.

CPT descriptors are the AMA's, licensed; codegov ships none. An organisation that licenses them can put them in
`<codesets>/private/cpt-descriptors.csv` (columns `code,descriptor`, UTF-8). The folder is git-ignored and no
workflow script stages it (.github/scripts/commit.sh commits only codesets/releases and site_src/generated).

Where they are shown:

- `codegov lookup 99214` prints the descriptor beside its answer (the command line, on the machine that has the
  file): always, when the file has the code;
- the site's pages (playbooks, inventory) use it where a playbook gives no wording of its own, only when the
  organisation says so with `CODEGOV_CPT_DESCRIPTORS_ON_SITE=true` (its site is private: generated pages are
  committed by the update workflow and published by Pages); otherwise never;
- the pull-request body and the reports (build/report/) never: nothing there reads this file.
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path

from ingest.model import CodegovError

DESCRIPTORS = Path("private") / "cpt-descriptors.csv"
ON_SITE = "CODEGOV_CPT_DESCRIPTORS_ON_SITE"
HEADER = ["code", "descriptor"]
_CODE = re.compile(r"\d{4}[0-9FTU]")  # CPT Category I (99214), II (0001F), III (0042T) and PLA (0001U) codes
MAX_BYTES = 64 * 1024 * 1024


def descriptor_path(codesets: Path) -> Path:
    return Path(codesets) / DESCRIPTORS


def load(codesets: Path | None) -> dict[str, str]:
    """code -> descriptor from the private file; {} when there is none. A malformed file is a one-line error
    naming the file and line."""
    if codesets is None:
        return {}
    path = descriptor_path(codesets)
    if not path.is_file():
        return {}
    data = path.read_bytes()
    if len(data) > MAX_BYTES:
        raise CodegovError(f"{path}: {len(data):,} bytes; expected a CPT descriptor file of at most {MAX_BYTES:,}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CodegovError(f"{path}:{line}: expected UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    out: dict[str, str] = {}
    try:
        header = next(reader, None)
        if [h.strip().lower() for h in header or []] != HEADER:
            raise CodegovError(f"{path}:1: expected the header code,descriptor, found {','.join(header or [])!r}")
        for row in reader:
            line = reader.line_num
            if not row or not "".join(row).strip():
                continue
            if len(row) != 2:
                raise CodegovError(f"{path}:{line}: expected 2 fields (code,descriptor), found {len(row)}")
            code, descriptor = row[0].strip().upper(), row[1].strip()
            if not _CODE.fullmatch(code):
                raise CodegovError(f"{path}:{line}: expected a CPT code of 5 characters (99214, 0001F, 0042T), "
                                   f"found {row[0]!r}")
            if not descriptor:
                raise CodegovError(f"{path}:{line}: expected a descriptor for {code}, found none")
            if code in out:
                raise CodegovError(f"{path}:{line}: {code} is listed twice")
            out[code] = descriptor
    except csv.Error as exc:
        raise CodegovError(f"{path}:{reader.line_num}: not CSV: {exc}") from None
    return out


def on_site() -> bool:
    """Whether the organisation lets its site's pages show its CPT descriptors (CODEGOV_CPT_DESCRIPTORS_ON_SITE)."""
    return os.environ.get(ON_SITE, "").strip().lower() == "true"


def for_site(codesets: Path | None) -> dict[str, str]:
    """The descriptors the site's pages may show: the private file's when the setting allows, else none."""
    return load(codesets) if on_site() else {}
