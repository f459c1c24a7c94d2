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
from urllib.parse import parse_qsl, unquote, urljoin, urlsplit

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
    all_links: bool = False  # `all = true`: every link it matches is a file of the release (PTP parts, MUE tables)
    follow: re.Pattern | None = None  # links to sub-pages (one per release) whose links `link` is matched on

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
            pages = [_page_rule(r) for r in table.get("pages", [])]
        except (KeyError, re.error, ValueError, TypeError) as exc:
            raise CodegovError(f"{path}: [{system}] rule is incomplete or invalid ({type(exc).__name__}: {exc})") \
                from None
        rules[system] = SystemRules(system, names, tuple(int(m) for m in table.get("expected", ())),
                                    tuple(int(m) for m in table.get("optional", ())), mirror, pages,
                                    bool(table.get("from_curated", False)))
    return rules


_PAGE_KEYS = {"url", "link", "month", "role", "required", "all", "follow"}


def _page_rule(r: dict) -> PageRule:
    unknown = sorted(set(r) - _PAGE_KEYS)
    if unknown:  # a misspelt `all` or `follow` would silently take one file, or read no sub-page
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in a pages rule; expected "
                         f"{', '.join(sorted(_PAGE_KEYS))}")
    if r.get("role", "files") not in ("files", "extra"):
        raise ValueError(f"role = {r['role']!r}; expected 'files' or 'extra'")
    return PageRule(r["url"], re.compile(r["link"], re.I), _month(r.get("month")), r.get("role", "files"),
                    bool(r.get("required", False)), bool(r.get("all", False)),
                    re.compile(r["follow"], re.I) if "follow" in r else None)


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
    """What one listing page gave: its URL, whether it answered, the links that matched (a `follow` rule's
    page: the sub-page links, each followed or not)."""

    rule: PageRule
    url: str
    status: str  # ok | not posted | failed: ...
    matched: list[str] = field(default_factory=list)
    via: str = ""  # a sub-page: the listing page that linked to it


def _fy(day: dt.date) -> int:
    return day.year + (1 if day.month >= 10 else 0)


def _years(known: Iterable[Release], on: dt.date, fiscal: bool = False) -> range:
    """The years a run looks at: from the newest known release's to the one after the run date's."""
    newest = max((r.effective for r in known), default=on)
    if fiscal:
        return range(min(_fy(newest), _fy(on)), _fy(on) + 2)
    return range(min(newest.year, on.year), on.year + 2)


def page_urls(rule: PageRule, known: Iterable[Release], on: dt.date) -> list[str]:
    """The URLs of a rule's page: itself, or a templated page for each year from the newest known
    release's to the one after the run date's ({year}: calendar years, {fy}: fiscal years)."""
    if not rule.templated:
        return [rule.url]
    out = []
    for y in _years(known, on, fiscal="{fy}" in rule.url):
        url = rule.url.format(year=y, fy=y)
        if url not in out:
            out.append(url)
    return out


# CMS links the files that hold CPT codes through its AMA licence page: /license/ama?file=/files/zip/x.zip
# (the older site: /apps/ama/license.asp?file=...). Downloading the file is accepting the terms that page
# shows; the file itself is served at the path `file=` names, on the same host.
LICENCE_PATHS = ("/license/ama", "/apps/ama/license.asp")


def is_licence_link(url: str) -> bool:
    """Whether an absolute link is the AMA licence page (whatever it asks for)."""
    parts = urlsplit(url)
    return parts.scheme.lower() in ("http", "https") and unquote(parts.path).rstrip("/").lower() in LICENCE_PATHS


def unwrap_licence(url: str) -> str | None:
    """The file an AMA licence link names, as an absolute percent-decoded URL on the licence page's host:
    https://www.cms.gov/license/ama?file=%2Ffiles%2Fzip%2Fx.zip&t=1 -> https://www.cms.gov/files/zip/x.zip.
    None when it names no file or one codegov will not fetch: another host (https://evil/..., //evil/...),
    a scheme other than http(s) (javascript:, file:, ftp:), a '..' segment however encoded, a backslash or
    a control character, a path not from the root, or two different `file=` values."""
    parts = urlsplit(url)
    values = {v.strip() for k, v in parse_qsl(parts.query, keep_blank_values=True) if k.strip().lower() == "file"}
    if len(values) != 1:
        return None
    value = values.pop()
    for _ in range(4):  # %252e%252e is '..' too: decode until nothing changes
        decoded = unquote(value)
        if decoded == value:
            break
        value = decoded
    else:
        return None  # still encoded after four rounds: nothing an official link does
    if not value or "\\" in value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    target = urlsplit(value)
    if target.scheme or target.netloc:
        if target.scheme.lower() not in ("http", "https", "") or target.netloc.lower() != parts.netloc.lower():
            return None
    elif not target.path.startswith("/"):
        return None
    if ".." in target.path.split("/"):
        return None
    path = re.sub(r"/{2,}", "/", target.path)  # /files/zip//x.zip, as CMS has posted
    scheme = target.scheme.lower() or parts.scheme.lower()
    return f"{scheme}://{parts.netloc}{path}" + (f"?{target.query}" if target.query else "")


def links_of(html: bytes | str, base_url: str) -> list[str]:
    """Every link (a href) of a listing page, absolute and percent-decoded. An AMA licence link is the file
    it names (unwrap_licence); one naming no file, or a file codegov will not fetch, is left out."""
    from lxml import html as lxml_html

    if not html or not str(html if isinstance(html, str) else html[:1]).strip():
        return []
    try:
        doc = lxml_html.fromstring(html)
    except (ValueError, TypeError, SyntaxError):
        return []
    out = []
    for href in doc.xpath("//a/@href"):
        if not href or not href.strip():
            continue
        link = urljoin(base_url, href.strip())
        if is_licence_link(link):
            target = unwrap_licence(link)
            if target is not None:
                out.append(target)
            continue
        out.append(unquote(link))
    return out


@dataclass
class _Pages:
    """One discovery pass over the listing pages: each page read once, what each gave, the links found."""

    get: Callable[[str], bytes | None]
    results: list[PageResult] = field(default_factory=list)
    found: dict[tuple[str, str], dict] = field(default_factory=dict)
    cache: dict[str, bytes | None] = field(default_factory=dict)

    def read(self, url: str, rule: PageRule, via: str = "") -> list[str] | None:
        """The page's links; None (and a result saying why) when it is not posted or failed."""
        if url not in self.cache:
            try:
                self.cache[url] = self.get(url)
            except CodegovError as exc:
                self.cache[url] = None
                self.results.append(PageResult(rule, url, f"failed: {exc}", via=via))
                return None
        if self.cache[url] is None:
            self.results.append(PageResult(rule, url, "not posted", via=via))
            return None
        return links_of(self.cache[url], url)

    def take(self, sr: SystemRules, rule: PageRule, links: list[str], url: str) -> list[str]:
        """The links `rule` matches, each added to the release its named groups give."""
        matched = []
        for link in links:
            m = rule.link.search(link)
            if not m:
                continue
            effective = _effective(m.groupdict(), rule.month)
            if effective is None:
                continue
            matched.append(link)
            entry = self.found.setdefault((sr.system, effective.isoformat()),
                                          {"release": sr.release(effective), "files": [], "extra": [],
                                           "evidence": url})
            bucket = entry["extra" if rule.role == "extra" else "files"]
            if link not in (b[0] for b in bucket):
                bucket.append((link, rule.all_links))
        return matched


def discover_pages(rules: dict[str, SystemRules], get: Callable[[str], bytes | None], *, on: dt.date,
                   known: dict[str, list[Release]] | None = None, systems: Iterable[str] | None = None,
                   ) -> tuple[list[Found], list[PageResult]]:
    """Releases the listing pages link to. get(url) -> the page's bytes, or None when it is not posted
    (404); it raises CodegovError when the page cannot be read. Returns the releases found (files in rule
    order; a release's first page wins) and what each page gave. A `follow` rule reads the sub-pages its
    page links to for the years a templated page would be read (the PFS page's RVU26C, RVU26D ...) and
    matches `link` on them."""
    run = _Pages(get)
    for system in systems or SYSTEMS:
        sr = rules.get(system)
        if sr is None:
            continue
        releases = (known or {}).get(system, [])
        run.cache = {}
        for rule in sr.pages:
            for url in page_urls(rule, releases, on):
                links = run.read(url, rule)
                if links is None:
                    continue
                if rule.follow is None:
                    run.results.append(PageResult(rule, url, "ok", run.take(sr, rule, links, url)))
                    continue
                subs = []
                for link in links:
                    if rule.follow.search(link) and link != url and link not in subs:
                        subs.append(link)
                run.results.append(PageResult(rule, url, "ok", subs))
                years = _years(releases, on)
                for sub in subs:
                    effective = _effective(rule.follow.search(sub).groupdict(), rule.month)
                    if effective is None or effective.year not in years:
                        continue  # an older year's page (or one the follow pattern gives no date)
                    sub_links = run.read(sub, rule, via=url)
                    if sub_links is not None:
                        run.results.append(PageResult(rule, sub, "ok", run.take(sr, rule, sub_links, sub), via=url))
    out = []
    for (_, _), entry in sorted(run.found.items()):
        if not entry["files"]:  # an extra file (a conversion table) alone is not a release
            continue
        # the first page's link (rule order: CMS before CDC), or every link of an `all` rule (the PTP parts);
        # and the first extra file (the conversion table)
        files = entry["files"]
        urls = [link for link, every in files if every] if files[0][1] else [files[0][0]]
        urls += [link for link, _ in entry["extra"][:1]]
        out.append(Found(entry["release"], urls=tuple(urls), evidence=entry["evidence"]))
    return out, run.results


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
        """Required pages (rules that always match on the real page) that answered and matched nothing, by
        any rule reading that page (the add-on code page's rules each take one naming of its zips); a
        sub-page a `follow` rule read is not itself required (its listing page is)."""
        hit = {p.url for p in self.pages if p.status == "ok" and p.matched}
        return [p for p in self.pages if p.rule.required and not p.via and (p.status != "ok" or p.url not in hit)]


def discover(sources, *, mirror: Path | None, cache: Path, offline: bool, on: dt.date,
             systems: Iterable[str] | None = None, get: Callable[[str], bytes | None] | None = None,
             session=None) -> Discovery:
    """Find releases and add them to `sources`: a mirror's folders; without a mirror, the cache's
    downloaded folders and (online) the listing pages, read through conditional requests."""
    from ingest.fetch import DOWNLOAD_MANIFEST, require_mirror

    require_mirror(mirror)
    systems = list(systems or RELEASED)
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
