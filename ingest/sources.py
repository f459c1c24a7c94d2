"""Release sources: reads codesets/sources.toml, resolves release names, finds official files by pattern."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ingest.model import SYSTEMS, CodegovError, Release

# Files a release cannot be ingested without; the others are used when present.
REQUIRED_FILES = {"icd10cm": ("order", "codes"), "hcpcs": ("anweb",), "pos": ()}


@dataclass(frozen=True)
class ReleaseSource:
    release: Release
    urls: tuple[str, ...] = ()
    index: str = ""
    link: str = ""
    verified: bool = False
    note: str = ""


@dataclass
class SystemSources:
    system: str
    name: str
    page: str
    files: dict[str, re.Pattern]
    releases: list[ReleaseSource] = field(default_factory=list)
    curated: str = ""


class Sources:
    """Every release codegov knows how to get, per code set."""

    def __init__(self, path: Path, systems: dict[str, SystemSources]):
        self.path = path
        self.systems = systems

    def releases(self, system: str) -> list[Release]:
        return [s.release for s in self.systems[system].releases]

    def source(self, release: Release) -> ReleaseSource:
        for s in self.systems[release.system].releases:
            if s.release == release:
                return s
        raise CodegovError(f"{self.path}: no source for {release}")

    def resolve(self, system: str, name: str) -> Release:
        """A release by id (2025-10-01), alias (FY2026, 2019-01) or label, case-insensitive."""
        if system not in self.systems:
            raise CodegovError(f"unknown code set {system!r}; expected one of {', '.join(SYSTEMS)}")
        wanted = name.strip().lower()
        for r in self.releases(system):
            names = {r.id, r.label.lower(), r.mirror_dir.lower(), *(a.lower() for a in r.aliases)}
            if wanted in names:
                return r
        known = ", ".join(r.aliases[0] if r.aliases else r.id for r in self.releases(system))
        raise CodegovError(f"{self.path}: no {system} release {name!r}; known: {known}")

    def previous(self, release: Release) -> Release | None:
        earlier = [r for r in self.releases(release.system) if r.effective < release.effective]
        return max(earlier) if earlier else None

    def find_files(self, system: str, folder: Path) -> dict[str, Path]:
        """The official files of one release folder, by role (order, codes, anweb ...)."""
        patterns = self.systems[system].files
        found: dict[str, Path] = {}
        names = sorted(p for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
        for role, pattern in patterns.items():
            matches = [p for p in names if pattern.search(p.name)]
            if len(matches) > 1:
                listed = ", ".join(p.name for p in matches)
                raise CodegovError(f"{folder}: more than one {role} file matches ({listed}); keep one")
            if matches:
                found[role] = matches[0]
        missing = [role for role in REQUIRED_FILES[system] if role not in found]
        if missing:
            expected = "; ".join(f"{r} file matching {patterns[r].pattern}" for r in missing)
            raise CodegovError(f"{folder}: expected {expected}")
        return found


def _release(system: str, entry: dict, path: Path) -> Release:
    try:
        effective = dt.date.fromisoformat(entry["id"])
    except (KeyError, ValueError) as exc:
        raise CodegovError(f"{path}: [[{system}.releases]] needs id = 'YYYY-MM-DD' ({exc})") from None
    end = None
    if system == "icd10cm":  # the fiscal year ends on September 30
        end = dt.date(effective.year + (1 if effective.month >= 10 else 0), 9, 30)
    return Release(
        system=system,
        effective=effective,
        aliases=tuple(entry.get("aliases", ())),
        label=entry.get("label", ""),
        mirror_dir=entry.get("mirror", entry["id"]),
        end=end,
    )


def load_sources(codesets: Path) -> Sources:
    path = Path(codesets) / "sources.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CodegovError(f"{path}: not found; pass --codesets DIR pointing at the codesets folder") from None
    except tomllib.TOMLDecodeError as exc:
        raise CodegovError(f"{path}: {exc}") from None
    systems = {}
    for system in SYSTEMS:
        table = data.get(system, {})
        files = {k: re.compile(v, re.IGNORECASE) for k, v in table.get("files", {}).items()}
        ss = SystemSources(system, table.get("name", system), table.get("page", ""), files,
                           curated=table.get("curated", ""))
        for entry in table.get("releases", []):
            ss.releases.append(
                ReleaseSource(
                    release=_release(system, entry, path),
                    urls=tuple(entry.get("urls", ())),
                    index=entry.get("index", ""),
                    link=entry.get("link", ""),
                    verified=bool(entry.get("verified", False)),
                    note=entry.get("note", ""),
                )
            )
        ss.releases.sort(key=lambda s: s.release)
        systems[system] = ss
    return Sources(path, systems)
