"""Release sources: codesets/sources.toml (explicit entries) merged with what discovery found (ingest.discover,
rules in codesets/discovery.toml); resolves release names, finds official files by pattern."""

from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path

from ingest.model import CodegovError, Release
from ingest.systems import EDIT_SETS, RELEASED

# Files a release cannot be ingested without; the others are used when present.
REQUIRED_FILES = {"icd10cm": ("order", "codes"), "hcpcs": ("anweb",), "pos": (),
                  **{s.id: s.required for s in EDIT_SETS.values()}}


@dataclass(frozen=True)
class ReleaseSource:
    release: Release
    urls: tuple[str, ...] = ()
    index: str = ""
    link: str = ""
    verified: bool = False
    note: str = ""
    discovered: str = ""  # what discovery saw (a mirror folder, a listing page); empty: an explicit entry
    sha256: tuple[tuple[str, str], ...] = ()  # (role, sha256) pins of a verified release's official files


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

    def __init__(self, path: Path, systems: dict[str, SystemSources], rules: dict | None = None):
        self.path = path
        self.systems = systems
        self.rules = rules or {}  # system -> ingest.discover.SystemRules

    def merge(self, found) -> list[ReleaseSource]:
        """Add discovered releases (ingest.discover.Found) that sources.toml does not list; an explicit
        entry wins, but takes a mirror folder's name when the mirror names its folder otherwise.
        Returns the sources added."""
        added = []
        for f in found:
            ss = self.systems[f.release.system]
            i = next((i for i, s in enumerate(ss.releases) if s.release == f.release), None)
            if i is not None:
                explicit = ss.releases[i]
                if f.folder is not None and explicit.release.mirror_dir != f.folder.name and not (
                        f.folder.parent / explicit.release.mirror_dir).is_dir():
                    ss.releases[i] = replace(explicit, release=replace(explicit.release, mirror_dir=f.folder.name))
                continue
            source = ReleaseSource(f.release, urls=tuple(f.urls), discovered=f.evidence)
            ss.releases.append(source)
            added.append(source)
        for ss in self.systems.values():
            ss.releases.sort(key=lambda s: s.release)
        return added

    def releases(self, system: str) -> list[Release]:
        return [s.release for s in self.systems[system].releases]

    def source(self, release: Release) -> ReleaseSource:
        for s in self.systems[release.system].releases:
            if s.release == release:
                return s
        raise CodegovError(f"{self.path}: no source for {release}")

    def resolve(self, system: str, name: str) -> Release:
        """A release by id (2025-10-01), alias (FY2026, 2019-01) or label, case-insensitive: a listed or
        discovered one, else the one the naming rules give (FY2027 is 2026-10-01 before anyone lists it)."""
        if system not in self.systems:
            raise CodegovError(f"unknown code set {system!r}; expected one of {', '.join(RELEASED)}")
        wanted = name.strip().lower()
        for r in self.releases(system):
            names = {r.id, r.label.lower(), r.mirror_dir.lower(), *(a.lower() for a in r.aliases)}
            if wanted in names:
                return r
        rules = self.rules.get(system)
        effective = rules.parse_name(name) if rules is not None else None
        if effective is not None:
            return rules.release(effective)
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
        parts = system in EDIT_SETS and EDIT_SETS[system].parts
        for role, pattern in patterns.items():
            matches = [p for p in names if pattern.search(p.name)]
            if parts and matches:  # NCCI PTP: f1..f4 of one role, keyed role-f1 .. role-f4
                found.update(_parts(folder, role, matches))
                continue
            if len(matches) > 1:
                listed = ", ".join(p.name for p in matches)
                raise CodegovError(f"{folder}: more than one {role} file matches ({listed}); keep one")
            if matches:
                found[role] = matches[0]
        missing = [role for role in REQUIRED_FILES[system]
                   if role not in found and not any(k.startswith(f"{role}-f") for k in found)]
        if missing:
            expected = "; ".join(f"{r} file matching {patterns[r].pattern}" for r in missing)
            raise CodegovError(f"{folder}: expected {expected}")
        return found


def _parts(folder: Path, role: str, matches: list[Path]) -> dict[str, Path]:
    """The part files of one role by part number (ccipra-v322r0-f1.txt -> role-f1). The parts must be
    one version and revision, numbered 1 to n without a gap: a missing f3 is an error, not a smaller
    release."""
    numbered: dict[int, Path] = {}
    versions = set()
    for path in matches:
        m = re.search(r"-v(\d+)r(\d+)-f(\d+)\.", path.name, re.IGNORECASE)
        if not m:
            raise CodegovError(f"{path}: expected a part name ...-v<version>r<revision>-f<n>.txt")
        versions.add((m.group(1), m.group(2)))
        n = int(m.group(3))
        if n in numbered:
            raise CodegovError(f"{folder}: {numbered[n].name} and {path.name} are both part {n} of the {role} "
                               f"files; keep one")
        numbered[n] = path
    if len(versions) > 1:
        raise CodegovError(f"{folder}: the {role} files mix versions "
                           f"({', '.join(f'v{v}r{r}' for v, r in sorted(versions))}); keep one quarter's files")
    gap = [n for n in range(1, max(numbered) + 1) if n not in numbered]
    if gap:
        raise CodegovError(f"{folder}: the {role} files lack part(s) {', '.join(f'f{n}' for n in gap)} "
                           f"(found {', '.join(p.name for _, p in sorted(numbered.items()))})")
    return {f"{role}-f{n}": numbered[n] for n in sorted(numbered)}


def _release(system: str, entry: dict, path: Path, rules=None) -> Release:
    """An explicit entry's release; what it leaves out (label, aliases, mirror folder) the naming rules give."""
    try:
        effective = dt.date.fromisoformat(entry["id"])
    except (KeyError, ValueError) as exc:
        raise CodegovError(f"{path}: [[{system}.releases]] needs id = 'YYYY-MM-DD' ({exc})") from None
    named = rules.release(effective) if rules is not None else Release(system, effective)
    return replace(named, aliases=tuple(entry.get("aliases", named.aliases)), label=entry.get("label", named.label),
                   mirror_dir=entry.get("mirror", named.mirror_dir or entry["id"]))


def load_sources(codesets: Path) -> Sources:
    """sources.toml's entries, with the discovery rules beside them (nothing discovered yet: see merge)."""
    from ingest.discover import load_rules

    path = Path(codesets) / "sources.toml"
    rules = load_rules(codesets)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CodegovError(f"{path}: not found; pass --codesets DIR pointing at the codesets folder") from None
    except tomllib.TOMLDecodeError as exc:
        raise CodegovError(f"{path}: {exc}") from None
    systems = {}
    for system in RELEASED:
        table = data.get(system, {})
        files = {k: re.compile(v, re.IGNORECASE) for k, v in table.get("files", {}).items()}
        ss = SystemSources(system, table.get("name", system), table.get("page", ""), files,
                           curated=table.get("curated", ""))
        for entry in table.get("releases", []):
            ss.releases.append(
                ReleaseSource(
                    release=_release(system, entry, path, rules.get(system)),
                    urls=tuple(entry.get("urls", ())),
                    index=entry.get("index", ""),
                    link=entry.get("link", ""),
                    verified=bool(entry.get("verified", False)),
                    note=entry.get("note", ""),
                    sha256=tuple(sorted((str(k), str(v).lower()) for k, v in entry.get("sha256", {}).items())),
                )
            )
        ss.releases.sort(key=lambda s: s.release)
        systems[system] = ss
    return Sources(path, systems, rules)
