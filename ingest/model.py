"""Types shared by every stage: releases, the release-table schema, and the errors bad input raises."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

from ingest.systems import LOADED as SYSTEMS  # the code sets with releases; the registry is ingest.systems
from ingest.systems import REGISTRY as _REGISTRY

SYSTEM_NAMES = {s: _REGISTRY[s].name for s in SYSTEMS}

# The normalised release table: one row per code, the same columns for every code set.
# Codes are strings from the first byte; dates are ISO (YYYY-MM-DD) or empty.
COLUMNS = (
    "system",                 # icd10cm | hcpcs | pos
    "release",                # release id, e.g. 2025-10-01 (ICD-10-CM FY2026), 2019-01-01 (HCPCS)
    "code",                   # official form: no dot (E119), HCPCS 5 chars, modifiers 2 chars, POS 2 digits
    "display_code",           # what people read: ICD with its dot (E11.9); others as code
    "kind",                   # icd10cm: code | header; hcpcs: procedure | modifier; pos: pos
    "billable",               # 1 valid on a claim in this release, 0 not (header, discontinued)
    "short_desc",
    "long_desc",
    "effective_start",        # first date the row's meaning is in force
    "effective_end",          # last date in force (empty: open)
    "status",                 # active | header | discontinued
    "action_code",            # HCPCS action code (A, B, C, D, F, N, P, R, S, T); empty elsewhere
    "add_date",               # HCPCS code added date
    "action_effective_date",  # HCPCS action effective date
    "termination_date",       # HCPCS termination date
    "xrefs",                  # HCPCS cross-reference (replacement) codes, space separated
    "coverage",               # HCPCS coverage code (C, D, I, M, S)
    "betos",                  # HCPCS BETOS code
    "order_no",               # ICD-10-CM tabular order number
)


class CodegovError(Exception):
    """A known failure: the CLI prints it as one line and exits 1."""


class ParseError(CodegovError):
    """An official file that does not have the shape its layout promises."""

    def __init__(self, path: str | Path, line: int | None, expected: str):
        self.path = str(path)
        self.line = line
        self.expected = expected
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {expected}")

    def __reduce__(self):  # rebuilt from its fields when it crosses a process boundary (parallel ingest)
        return type(self), (self.path, self.line, self.expected)


class FetchError(CodegovError):
    """A download or mirror file that is missing, corrupt or not what was asked for."""


class NotPublished(FetchError):
    """A release listed in sources.toml whose files the publisher has not posted yet."""


class ChecksumChanged(CodegovError):
    """A file for a release already ingested has a different sha256 than the stored manifest."""


@dataclass(frozen=True, order=True)
class Release:
    """One release of one code set: (system, effective date). Its id is the ISO effective date."""

    system: str
    effective: dt.date
    aliases: tuple[str, ...] = field(default=(), compare=False)
    label: str = field(default="", compare=False)
    mirror_dir: str = field(default="", compare=False)
    end: dt.date | None = field(default=None, compare=False)

    @property
    def id(self) -> str:
        return self.effective.isoformat()

    def __str__(self) -> str:
        return f"{self.system} {self.label or self.id}"
