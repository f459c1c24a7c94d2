"""Release discovery: what the publishers (or a mirror, or the cache) hold, with no entry in sources.toml.

The rules are data, codesets/discovery.toml: how each month's release of a code set is named, which
months a release is due, which folder and file names in a mirror are a release, and which links on
which listing pages are a release's files. `discover_mirror` reads a folder laid out like
../shared/data/cms; `discover_pages` reads listing pages (CMS, CDC) through a `get(url)` function, so
tests give it page fixtures and the network path gives it conditional requests (ingest.pages).
`Sources.merge` (ingest.sources) adds what was found; an explicit entry always wins.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urljoin

from ingest.model import SYSTEMS, CodegovError, Release
from ingest.systems import RELEASED

RULES_FILE = "discovery.toml"
MONTHS = {calendar.month_name[m].lower(): m for m in range(1, 13)} | \
         {calendar.month_abbr[m].lower(): m for m in range(1, 13)}
_FIELDS = {"year": r"(?P<year>\d{4})", "fy": r"(?P<fy>\d{4})", "mm": r"(?P<mm>\d{2})",
           "month_name": r"(?P<month_name>[A-Za-z]+)", "q": r"(?P<q>[1-4])", "qq": r"(?P<qq>[A-Da-d])"}


@dataclass(frozen=True)
class Naming:
    label: str
    aliases: tuple[str, ...]
    mirror: str


@dataclass(frozen=True)
class FolderRule:
    folder: re.Pattern | None
    file: re.Pattern | None
    month: int | None


@dataclass(frozen=True)
class PageRule:
    url: str
    link: re.Pattern
    month: int | None
    role: str = "files"  # files | extra
    required: bool = False

    @property
    def templated(self) -> bool:
        return "{" in self.url


@dataclass
class SystemRules:
    system: str
    names: dict[str, Naming]  # "10" (month) or "default" -> naming
    expected: tuple[int, ...] = ()
    optional: tuple[int, ...] = ()
    mirror: list[FolderRule] = field(default_factory=list)
    pages: list[PageRule] = field(default_factory=list)
    from_curated: bool = False

    def naming(self, month: int) -> Naming:
        naming = self.names.get(f"{month:02d}") or self.names.get("default")
        if naming is None:
            raise CodegovError(f"{self.system}: discovery.toml names no release of month {month:02d}")
        return naming

    def release(self, effective: dt.date, mirror_dir: str | None = None) -> Release:
        """The release of this code set that takes effect on `effective`, named by the rules."""
        naming = self.naming(effective.month)
        values = _values(effective)
        end = None
        if self.system == "icd10cm":  # a fiscal year's files are in force through September 30
            end = dt.date(values["fy"], 9, 30)
        return Release(self.system, effective, aliases=tuple(a.format(**values) for a in naming.aliases),
                       label=naming.label.format(**values),
                       mirror_dir=mirror_dir if mirror_dir is not None else naming.mirror.format(**values), end=end)

    def parse_name(self, name: str) -> dt.date | None:
        """The effective date a name (id, label or alias) gives by these rules; None when it gives none."""
        text = name.strip()
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass
        for naming in self.names.values():
            for template in (naming.label, *naming.aliases, naming.mirror):
                if not template:
                    continue
                m = re.fullmatch(_template_regex(template), text, re.IGNORECASE)
                if not m:
                    continue
                month_key = next((k for k, v in self.names.items() if v is naming), "default")
                effective = _effective(m.groupdict(), int(month_key) if month_key.isdigit() else None)
                if effective is not None and text.lower() in {n.lower() for n in _names(self.release(effective))}:
                    return effective
        return None


def _names(release: Release) -> set[str]:
    return {release.id, release.label, release.mirror_dir, *release.aliases}


def _values(effective: dt.date) -> dict:
    q = (effective.month - 1) // 3 + 1  # the calendar quarter (edit tables); qq: its letter (RVU files A-D)
    return {"year": effective.year, "mm": f"{effective.month:02d}", "month_name": calendar.month_name[effective.month],
            "fy": _fy(effective), "q": q, "qq": "ABCD"[q - 1]}


def _template_regex(template: str) -> str:
    out, pos = [], 0
    for m in re.finditer(r"\{(\w+)\}", template):
        out.append(re.escape(template[pos:m.start()]))
        out.append(_FIELDS[m.group(1)] if m.group(1) not in "".join(out) else rf"(?P={m.group(1)})")
        pos = m.end()
    out.append(re.escape(template[pos:]))
    return "".join(out)


def _effective(groups: dict, month: int | None) -> dt.date | None:
    """The effective date named groups give: year or fy (fiscal year), and month, mm or month_name."""
    if groups.get("mm"):
        month = int(groups["mm"])
    elif groups.get("q"):
        month = 3 * int(groups["q"]) - 2
    elif groups.get("qq"):
        month = 3 * "ABCD".index(groups["qq"].upper()) + 1
    elif groups.get("month_name"):
        month = MONTHS.get(groups["month_name"].lower())
    if month is None or not 1 <= month <= 12:
        return None
    if groups.get("year"):
        year = int(groups["year"])
        year += 2000 if year < 100 else 0
    elif groups.get("fy"):
        year = int(groups["fy"]) - (1 if month >= 10 else 0)
    else:
        return None
    return dt.date(year, month, 1)


def _month(value) -> int | None:
    if value in (None, ""):
        return None
    return int(value)


def load_rules(codesets: Path) -> dict[str, SystemRules]:
    """codesets/discovery.toml as rules per code set; a code set the file does not mention has none."""
    path = Path(codesets) / RULES_FILE
    if not path.exists():
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise CodegovError(f"{path}: {exc}") from None
    rules = {}
    for system in RELEASED:
        table = data.get(system)
        if not table:
            continue
        try:
            names = {k: Naming(v["label"], tuple(v.get("aliases", ())), v.get("mirror", ""))
                     for k, v in table.get("names", {}).items()}
            mirror = [FolderRule(re.compile(r["folder"], re.I) if "folder" in r else None,
                                 re.compile(r["file"], re.I) if "file" in r else None, _month(r.get("month")))
                      for r in table.get("mirror", [])]
            pages = [PageRule(r["url"], re.compile(r["link"], re.I), _month(r.get("month")), r.get("role", "files"),
                              bool(r.get("required", False))) for r in table.get("pages", [])]
        except (KeyError, re.error, ValueError, TypeError) as exc:
            raise CodegovError(f"{path}: [{system}] rule is incomplete or invalid ({type(exc).__name__}: {exc})") \
                from None
        rules[system] = SystemRules(system, names, tuple(int(m) for m in table.get("expected", ())),
                                    tuple(int(m) for m in table.get("optional", ())), mirror, pages,
                                    bool(table.get("from_curated", False)))
    return rules


# ---------------------------------------------------------------------------------------------------------
# A mirror (or the cache): folders named like releases, or holding files named like a release's


@dataclass(frozen=True)
class Found:
    """A release discovered, where: a mirror folder or the URLs of its files, and what said so."""

    release: Release
    urls: tuple[str, ...] = ()
    folder: Path | None = None
    evidence: str = ""


def discover_mirror(mirror: Path, rules: dict[str, SystemRules], systems: Iterable[str] | None = None) -> list[Found]:
    """Every release folder of a mirror laid out <mirror>/<system>/<folder>/<official files>. Two folders
    that give one release are an error naming both (an April zip's members keep the October names: name its
    folder FY2026-APR)."""
    found: list[Found] = []
    for system in systems or SYSTEMS:
        sr = rules.get(system)
        base = Path(mirror) / system
        if sr is None or not base.is_dir():
            continue
        seen: dict[str, Found] = {}
        for folder in sorted(p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")):
            hit = _folder_release(sr, folder)
            if hit is None:
                continue
            if hit.release.id in seen:
                other = seen[hit.release.id]
                raise CodegovError(f"{folder}: gives {hit.release} ({hit.evidence}), as {other.folder} does "
                                   f"({other.evidence}); keep one (an April update, whose files keep the October "
                                   f"names, needs a folder named for it, such as FY2026-APR)")
            seen[hit.release.id] = hit
        found += [seen[k] for k in sorted(seen)]
    return found


def _folder_release(sr: SystemRules, folder: Path) -> Found | None:
    for rule in sr.mirror:
        if rule.folder is not None and (m := rule.folder.fullmatch(folder.name)):
            effective = _effective(m.groupdict(), rule.month)
            if effective is not None:
                return Found(sr.release(effective, mirror_dir=folder.name), folder=folder,
                             evidence=f"folder name {folder.name}")
    names = sorted(p.name for p in folder.iterdir() if p.is_file())
    for rule in sr.mirror:
        if rule.file is None:
            continue
        for name in names:
            if m := rule.file.search(name):
                effective = _effective(m.groupdict(), rule.month)
                if effective is not None:
                    return Found(sr.release(effective, mirror_dir=folder.name), folder=folder,
                                 evidence=f"file {name}")
    return None


# ---------------------------------------------------------------------------------------------------------
# Listing pages


@dataclass
class PageResult:
    """What one listing page gave: its URL, whether it answered, the links that matched."""

    rule: PageRule
    url: str
    status: str  # ok | not posted | failed: ...
    matched: list[str] = field(default_factory=list)


def _fy(day: dt.date) -> int:
    return day.year + (1 if day.month >= 10 else 0)


def page_urls(rule: PageRule, known: Iterable[Release], on: dt.date) -> list[str]:
    """The URLs of a rule's page: itself, or a templated page for each year from the newest known
    release's to the one after the run date's ({year}: calendar years, {fy}: fiscal years)."""
    if not rule.templated:
        return [rule.url]
    newest = max((r.effective for r in known), default=on)
    if "{fy}" in rule.url:
        years = range(min(_fy(newest), _fy(on)), _fy(on) + 2)
    else:
        years = range(min(newest.year, on.year), on.year + 2)
    out = []
    for y in years:
        url = rule.url.format(year=y, fy=y)
        if url not in out:
            out.append(url)
    return out


def links_of(html: bytes | str, base_url: str) -> list[str]:
    """Every link (a href) of a listing page, absolute and percent-decoded."""
    from lxml import html as lxml_html

    if not html or not str(html if isinstance(html, str) else html[:1]).strip():
        return []
    try:
        doc = lxml_html.fromstring(html)
    except (ValueError, TypeError, SyntaxError):
        return []
    return [unquote(urljoin(base_url, h.strip())) for h in doc.xpath("//a/@href") if h and h.strip()]


def discover_pages(rules: dict[str, SystemRules], get: Callable[[str], bytes | None], *, on: dt.date,
                   known: dict[str, list[Release]] | None = None, systems: Iterable[str] | None = None,
                   ) -> tuple[list[Found], list[PageResult]]:
    """Releases the listing pages link to. get(url) -> the page's bytes, or None when it is not posted
    (404); it raises CodegovError when the page cannot be read. Returns the releases found (files in rule
    order; a release's first page wins) and what each page gave."""
    found: dict[tuple[str, str], dict] = {}
    results: list[PageResult] = []
    for system in systems or SYSTEMS:
        sr = rules.get(system)
        if sr is None:
            continue
        releases = (known or {}).get(system, [])
        cache: dict[str, bytes | None] = {}
        for rule in sr.pages:
            for url in page_urls(rule, releases, on):
                if url not in cache:
                    try:
                        cache[url] = get(url)
                    except CodegovError as exc:
                        results.append(PageResult(rule, url, f"failed: {exc}"))
                        cache[url] = None
                        continue
                body = cache[url]
                if body is None:
                    results.append(PageResult(rule, url, "not posted"))
                    continue
                matched = []
                for link in links_of(body, url):
                    m = rule.link.search(link)
                    if not m:
                        continue
                    effective = _effective(m.groupdict(), rule.month)
                    if effective is None:
                        continue
                    matched.append(link)
                    entry = found.setdefault((system, effective.isoformat()),
                                             {"release": sr.release(effective), "files": [], "extra": [],
                                              "evidence": url})
                    bucket = entry["extra" if rule.role == "extra" else "files"]
                    if link not in bucket:
                        bucket.append(link)
                results.append(PageResult(rule, url, "ok", matched))
    out = []
    for (_, _), entry in sorted(found.items()):
        if not entry["files"]:  # an extra file (a conversion table) alone is not a release
            continue
        # the first page's link (rule order: CMS before CDC), and the first extra file (the conversion table)
        urls = (entry["files"][0], *entry["extra"][:1])
        out.append(Found(entry["release"], urls=tuple(urls), evidence=entry["evidence"]))
    return out, results


# ---------------------------------------------------------------------------------------------------------
# A curated list (Place of Service): its documented effective dates are the releases


def discover_curated(sources, systems: Iterable[str] | None = None) -> list[Found]:
    """The releases of each code set whose rules say `from_curated`: one per effective date the curated
    list (sources.toml `curated`, in the codesets folder) documents (ingest.parse_pos.release_dates)."""
    from ingest import parse_pos

    found = []
    for system in systems or SYSTEMS:
        sr, ss = sources.rules.get(system), sources.systems.get(system)
        if sr is None or not sr.from_curated or ss is None or not ss.curated:
            continue
        path = Path(sources.path).parent / ss.curated
        found += [Found(sr.release(day), evidence=f"{path.name}: documented effective date")
                  for day in parse_pos.release_dates(parse_pos.read_pos_csv(path))]
    return found


# ---------------------------------------------------------------------------------------------------------
# One discovery pass for a run


@dataclass
class Discovery:
    """What one run discovered: the releases found, those new to the sources, and what each page gave."""

    found: list[Found] = field(default_factory=list)
    added: list = field(default_factory=list)  # ingest.sources.ReleaseSource
    pages: list[PageResult] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def missing_required(self) -> list[PageResult]:
        """Required pages (rules that always match on the real page) that answered and matched nothing."""
        return [p for p in self.pages if p.rule.required and (p.status != "ok" or not p.matched)]


def discover(sources, *, mirror: Path | None, cache: Path, offline: bool, on: dt.date,
             systems: Iterable[str] | None = None, get: Callable[[str], bytes | None] | None = None,
             session=None) -> Discovery:
    """Find releases and add them to `sources`: a mirror's folders; without a mirror, the cache's
    downloaded folders and (online) the listing pages, read through conditional requests."""
    from ingest.fetch import DOWNLOAD_MANIFEST, require_mirror

    require_mirror(mirror)
    systems = list(systems or SYSTEMS)
    result = Discovery()
    if mirror is not None:
        result.found = discover_mirror(Path(mirror), sources.rules, systems)
    else:
        result.found = [f for f in discover_mirror(Path(cache), sources.rules, systems)
                        if f.folder is not None and (f.folder / DOWNLOAD_MANIFEST).exists()]
        if not offline:
            pages = None
            if get is None:
                from ingest.pages import PageCache

                pages = PageCache(Path(cache), session)
                get = pages.get
            known = {s: sources.releases(s) for s in systems}
            from_pages, result.pages = discover_pages(sources.rules, get, on=on, known=known, systems=systems)
            have = {f.release for f in result.found}
            result.found += [f for f in from_pages if f.release not in have]
            if pages is not None:
                result.log += pages.log
            result.log += [f"page    {p.url}: {p.status}" for p in result.pages if p.status.startswith("failed")]
    result.added = sources.merge(result.found)
    for s in result.added:
        where = s.discovered
        result.log.append(f"found   {s.release.system:8} {s.release.id} ({s.release.label}): {where}")
    curated = discover_curated(sources, systems)  # the same every run: one line, not one per date
    result.found += curated
    added = sources.merge(curated)
    result.added += added
    for system in sorted({s.release.system for s in added}):
        days = [s.release.id for s in added if s.release.system == system]
        result.log.append(f"found   {system:8} {len(days)} release(s) from {sources.systems[system].curated}'s "
                          f"documented dates ({days[0]} to {days[-1]})")
    return result
