"""The release repository: the stored releases of one folder, read once each, and everything derived from them.

One `ReleaseRepository` answers for a whole run: which releases are ingested, their labels, an id or alias
resolved, the previous release, the release in force on a date, the latest; each table, conversion table
and replacement engine read or built once; each change set computed once (memoised, with its inventory
impact); and the `ReleaseHistory` every date-of-service answer comes from. `stats` counts table reads and
diffs, so a test can prove that one update reads each table once and computes each change set once.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from ingest import systems as registry
from ingest.model import SYSTEMS, CodegovError
from ingest.store import conversion_path, list_releases, read_manifest, read_release_table, releases_dir

_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


class ReleaseRepository:
    """The ingested release tables under `out` (default <codesets>/releases); labels from sources.toml."""

    def __init__(self, out: Path | None = None, codesets: Path | None = None, sources=None, full_check: bool = False):
        if out is None and codesets is None:
            raise CodegovError("a release repository needs its folder or the codesets folder")
        self.codesets = Path(codesets) if codesets is not None else None
        self.out = Path(out) if out is not None else releases_dir(self.codesets)
        self._sources = sources
        self._sources_loaded = sources is not None
        self.full_check = full_check  # rebuilt tables checked by their full sha256 (`codegov check`), not counts
        self.ids: dict[str, list[str]] = {s: [r for r in list_releases(self.out, s) if _ISO_DAY.fullmatch(r)]
                                          for s in SYSTEMS}
        self.stats: Counter = Counter()
        self._tables: dict = {}
        self._conversions: dict = {}
        self._engines: dict = {}
        self._changes: dict = {}
        self._impacts: dict = {}
        self._history = None
        self._derived: dict = {}

    # -- what is stored ----------------------------------------------------------------------------------

    @property
    def sources(self):
        """sources.toml, parsed once; None when the codesets folder has none (a bare release folder)."""
        if not self._sources_loaded:
            self._sources_loaded = True
            if self.codesets is not None:
                from ingest.sources import load_sources

                try:
                    self._sources = load_sources(self.codesets)
                except CodegovError:
                    self._sources = None
        return self._sources

    def empty(self) -> bool:
        return not any(self.ids.values())

    def label(self, system: str, release_id: str) -> str:
        if self.sources is not None and system in self.sources.systems:
            for r in self.sources.releases(system):
                if r.id == release_id and r.label:
                    return r.label
        return (self.manifest(system, release_id) or {}).get("label") or release_id

    def target(self, system: str, release_id: str) -> str:
        label = self.label(system, release_id)
        return f"{system} {release_id} ({label})" if label and label != release_id else f"{system} {release_id}"

    def manifest(self, system: str, release_id: str) -> dict | None:
        key = ("manifest", system, release_id)
        if key not in self._tables:
            self._tables[key] = read_manifest(self.out, system, release_id)
        return self._tables[key]

    def resolve(self, system: str, name: str) -> str | None:
        """A release id from an id, alias or label; None when that code set has no such ingested release."""
        if name in self.ids[system]:
            return name
        if self.sources is None:
            return None
        try:
            rid = self.sources.resolve(system, name).id
        except CodegovError:
            return None
        return rid if rid in self.ids[system] else None

    def require(self, system: str, name: str) -> str:
        """Like resolve, but a name that is no ingested release is an error that lists what is."""
        registry.get(system)
        rid = self.resolve(system, name)
        if rid is None:
            if self.sources is not None:
                self.sources.resolve(system, name)  # an unknown alias: sources.toml's own error
            known = ", ".join(self.ids[system]) or "none"
            raise CodegovError(f"{self.out / system}: no {system} release {name!r} is ingested; ingested: {known}. "
                               f"Run `codegov ingest --system {system}` first")
        return rid

    def previous(self, system: str, release_id: str) -> str | None:
        earlier = [r for r in self.ids[system] if r < release_id]
        return earlier[-1] if earlier else None

    def in_force(self, system: str, on: dt.date | str) -> str | None:
        """The newest ingested release of `system` effective on or before `on`."""
        on = on.isoformat() if isinstance(on, dt.date) else str(on)
        earlier = [r for r in self.ids[system] if r <= on]
        return earlier[-1] if earlier else None

    def latest(self, system: str) -> str | None:
        return self.ids[system][-1] if self.ids[system] else None

    def row_count(self, system: str, release_id: str) -> int:
        """Rows of a stored release: from its manifest when it has one, else counted."""
        if (system, release_id) not in self._tables:
            rows = (self.manifest(system, release_id) or {}).get("rows")
            if isinstance(rows, int):
                return rows
        return len(self.table(system, release_id))

    # -- read once ---------------------------------------------------------------------------------------

    def memo(self, key, build):
        """Something another stage derives from the stored releases (checks' code sets), built once."""
        if key not in self._derived:
            self._derived[key] = build()
        return self._derived[key]

    def table(self, system: str, release_id: str) -> pd.DataFrame:
        key = (system, release_id)
        if key not in self._tables:
            self.stats[("read", system, release_id)] += 1
            # a release stored as changes is rebuilt from the table they are against, itself read once here
            self._tables[key] = read_release_table(self.out, system, release_id,
                                                   source=lambda against: self.table(system, against),
                                                   full_check=self.full_check)
        return self._tables[key]

    def read_all(self) -> None:
        """Every stored table and conversion table read now (once), e.g. before a process that needs them all
        is forked (playbooks.lookup.start_build)."""
        for system in SYSTEMS:
            for release_id in self.ids[system]:
                self.table(system, release_id)
                self.conversion(system, release_id)

    def conversion(self, system: str, release_id: str) -> pd.DataFrame | None:
        """The official conversion table stored beside an ICD-10-CM release; None when there is none."""
        key = (system, release_id)
        if key not in self._conversions:
            path = conversion_path(self.out, system, release_id)
            self._conversions[key] = pd.read_csv(path, dtype=str, keep_default_na=False) if path.exists() else None
        return self._conversions[key]

    def replacements(self, system: str, release_id: str):
        """The replacement engine on one release (ingest.replacements)."""
        key = (system, release_id)
        if key not in self._engines:
            from ingest.replacements import ReleaseReplacements

            self._engines[key] = ReleaseReplacements(
                system, self.table(system, release_id), self.conversion(system, release_id),
                f"conversion table {self.label(system, release_id)}")
        return self._engines[key]

    def change_set(self, system: str, from_id: str | None = None, to_id: str | None = None, inventory=None):
        """The change set between two stored releases (default: the latest and the one before it), computed
        once; with an inventory its impact is attached (once per inventory)."""
        to_id = self.require(system, to_id) if to_id else self.latest(system)
        if to_id is None:
            raise CodegovError(f"{self.out / system}: no {system} release ingested yet; run `codegov ingest` first")
        if from_id:
            from_id = self.require(system, from_id)
        else:
            from_id = self.previous(system, to_id)
            if from_id is None:
                raise CodegovError(f"no {system} release before {to_id} is ingested; nothing to diff against")
        key = (system, from_id, to_id)
        if key not in self._changes:
            from ingest.diff import diff_releases

            self.stats[("diff", system, from_id, to_id)] += 1
            self._changes[key] = diff_releases(
                self.table(system, from_id), self.table(system, to_id), engine=self.replacements(system, to_id),
                from_label=self.label(system, from_id), to_label=self.label(system, to_id))
        cs = self._changes[key]
        if inventory is not None and self._impacts.get(key) is not inventory:
            from ingest.impact import inventory_impact

            cs.inventory = inventory_impact(cs, inventory, self.table(system, to_id), self.table(system, from_id))
            self._impacts[key] = inventory
        return cs

    def change_sets(self, system: str, inventory=None) -> list:
        """Every change set between neighbouring releases of system, oldest first."""
        ids = self.ids[system]
        out = []
        for old, new in zip(ids, ids[1:], strict=False):
            try:
                out.append(self.change_set(system, old, new, inventory=inventory))
            except CodegovError as exc:
                raise CodegovError(f"{system} {old} -> {new}: {exc}") from None
        return out

    def history(self):
        """Every release as one ReleaseHistory (ingest.history), built once, with this repository's
        replacement engines."""
        if self._history is None:
            from ingest.history import ReleaseHistory

            tables = {(s, r): self.table(s, r) for s in SYSTEMS for r in self.ids[s]}
            self._history = ReleaseHistory(tables, engines=self.replacements)
        return self._history


def load_change_set(codesets: Path, system: str, from_id: str | None = None, to_id: str | None = None,
                    inventory=None, out: Path | None = None):
    """One change set from the stored releases (default: the latest and the one before it)."""
    return ReleaseRepository(out, codesets).change_set(system, from_id, to_id, inventory=inventory)
