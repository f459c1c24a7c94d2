"""Which releases exist, which one is in force on a date, and whether it is ingested.

Every known release of a code set gets a state:
- ingested: its table is stored (with its files' sha256 and the date it was written);
- published: discovery found it (a listing page, a mirror or cache folder) and it is not ingested;
- listed: sources.toml lists it and nothing has shown it posted or ingested;
- due: a release the code set's cadence (codesets/discovery.toml `expected`) puts on or before the date,
  that no source knows of: HCPCS Level II October 2026 when nothing has been checked since;
- expected: the next release the cadence puts after the date (HCPCS January 2027 in December 2026).
The release in force on a date is the newest of these that took effect on or before it. The freshness
gate of a code set passes when that release is ingested; `codegov releases`, `codegov check`, the PR body,
the site's home page and `codegov lookup` all read it from here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from ingest import systems as registry

STATES = ("ingested", "published", "listed", "due", "expected")


@dataclass
class ReleaseStatus:
    system: str
    id: str
    label: str
    state: str
    detail: str = ""
    in_force: bool = False
    sha256: str = ""  # ingested: the first official file's
    ingested_at: str = ""  # ingested: when its table was written (YYYY-MM-DD)
    source: str = ""  # URL, mirror folder, or sources.toml

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Freshness:
    """One code set on one date: the newest ingested release, the one in force, and whether they agree."""

    system: str
    on: str
    newest: str | None  # id of the newest ingested release
    newest_label: str
    in_force: str | None  # id of the release in force on `on` (None: no release known that early)
    in_force_label: str
    in_force_state: str
    ok: bool

    @property
    def name(self) -> str:
        return registry.name(self.system)

    @property
    def message(self) -> str:
        newest = f"{self.newest} ({self.newest_label})" if self.newest else "none"
        if self.in_force is None:
            return f"{self.name}: no release is known to be in force on {self.on}"
        force = f"{self.in_force} ({self.in_force_label})" if self.in_force_label != self.in_force else self.in_force
        if self.ok:
            return f"{self.name}: the release in force on {self.on}, {force}, is ingested"
        return (f"{self.name}: the newest ingested release is {newest}; {force} is in force on {self.on} "
                f"({self.in_force_state}, not ingested)")

    def to_dict(self) -> dict:
        return {**asdict(self), "name": self.name, "message": self.message}


def release_statuses(sources, repo, on: dt.date, systems=None) -> list[ReleaseStatus]:
    """Every known release of each code set, oldest first, with its state and which one is in force on `on`."""
    from ingest.store import manifest_path

    out: list[ReleaseStatus] = []
    for system in systems or registry.LOADED:
        rules = sources.rules.get(system)
        rows: dict[str, ReleaseStatus] = {}
        for s in sources.systems[system].releases:
            r = s.release
            if s.discovered:
                rows[r.id] = ReleaseStatus(system, r.id, r.label, "published", f"found: {s.discovered}",
                                           source=(s.urls[0] if s.urls else s.discovered))
            else:
                where = s.urls[0] if s.urls else (s.index or str(sources.path))
                rows[r.id] = ReleaseStatus(system, r.id, r.label, "listed", "listed in sources.toml" +
                                           (f"; {s.note}" if s.note else ""), source=where)
        for rid in repo.ids[system]:
            manifest = repo.manifest(system, rid) or {}
            files = manifest.get("files") or []
            path = manifest_path(repo.out, system, rid)
            written = dt.date.fromtimestamp(path.stat().st_mtime).isoformat() if path.exists() else ""
            sha = files[0]["sha256"] if files else ""
            prior = rows.get(rid)
            rows[rid] = ReleaseStatus(system, rid, repo.label(system, rid), "ingested",
                                      f"{manifest.get('rows', 0):,} rows" + (f", sha256 {sha[:12]}..." if sha else ""),
                                      sha256=sha, ingested_at=written,
                                      source=prior.source if prior else str(repo.out / system))
        if rules is not None:
            newest_known = max((dt.date.fromisoformat(k) for k in rows), default=None)
            for day in _cadence(rules.expected, newest_known, on):
                if day.isoformat() not in rows:
                    r = rules.release(day)
                    state = "due" if day <= on else "expected"
                    detail = (f"due {day} by the {registry.short(system)} cadence; no source shows it posted" if
                              state == "due" else f"expected {day}; not posted yet")
                    rows[day.isoformat()] = ReleaseStatus(system, r.id, r.label, state, detail)
        ordered = [rows[k] for k in sorted(rows)]
        started = [r for r in ordered if r.id <= on.isoformat()]
        if started:
            started[-1].in_force = True
        out += ordered
    return out


def _cadence(months: tuple[int, ...], after: dt.date | None, on: dt.date) -> list[dt.date]:
    """The cadence's dates after the newest known release, through the first one after `on`."""
    if not months:
        return []
    start = after or dt.date(on.year - 1, 1, 1)
    days, year = [], start.year
    while True:
        for m in sorted(months):
            day = dt.date(year, m, 1)
            if day <= start:
                continue
            days.append(day)
            if day > on:
                return days
        year += 1


def freshness(statuses: list[ReleaseStatus], on: dt.date, systems=None) -> list[Freshness]:
    out = []
    for system in systems or registry.LOADED:
        rows = [r for r in statuses if r.system == system]
        ingested = [r for r in rows if r.state == "ingested"]
        force = next((r for r in rows if r.in_force), None)
        newest = ingested[-1] if ingested else None
        out.append(Freshness(system, on.isoformat(), newest.id if newest else None, newest.label if newest else "",
                             force.id if force else None, force.label if force else "",
                             force.state if force else "", force is not None and force.state == "ingested"))
    return out


def check(sources, repo, on: dt.date, systems=None) -> tuple[list[ReleaseStatus], list[Freshness]]:
    """Statuses and freshness of every code set (or `systems`) on `on`."""
    statuses = release_statuses(sources, repo, on, systems)
    return statuses, freshness(statuses, on, systems)
