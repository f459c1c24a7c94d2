"""Getting official files: a local mirror, the cache, or a download (retries, size limit, sha256, manifest)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlparse

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from ingest.model import CodegovError, FetchError, NotPublished, Release
from ingest.sources import ReleaseSource, Sources
from ingest.store import atomic_write, json_bytes, sha256_file

MAX_BYTES = 512 * 1024 * 1024  # no official release file comes near this
TIMEOUT = (10, 120)  # connect, read seconds
USER_AGENT = "codegov (code-set update tool; +https://github.com/)"
DOWNLOAD_MANIFEST = "download-manifest.json"


def session_with_retries(retries: int = 4, backoff: float = 1.0) -> requests.Session:
    s = requests.Session()
    retry = Retry(total=retries, backoff_factor=backoff, status_forcelist=(429, 500, 502, 503, 504),
                  allowed_methods=("GET", "HEAD"), respect_retry_after_header=True)
    s.mount("https://", HTTPAdapter(max_retries=retry))
    s.mount("http://", HTTPAdapter(max_retries=retry))
    s.headers["User-Agent"] = USER_AGENT
    return s


def _looks_like_html(head: bytes) -> bool:
    return head.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html", b"<head", b"<body"))


def download(url: str, dest_dir: Path, session: requests.Session, max_bytes: int = MAX_BYTES,
             progress=None) -> dict:
    """Stream one URL into dest_dir through a temporary file; return its manifest entry."""
    name = download_name(url)
    dest_dir.mkdir(parents=True, exist_ok=True)
    if (dest_dir.resolve() / name).parent != dest_dir.resolve():  # cannot happen with download_name: checked anyway
        raise FetchError(f"{url}: the download name {name!r} would leave {dest_dir}")
    try:
        resp = session.get(url, stream=True, timeout=TIMEOUT)
        if resp.status_code in (404, 410):
            raise NotPublished(f"{url}: HTTP {resp.status_code}: the publisher has not posted it (yet)")
        if resp.status_code == 403:
            raise NotPublished(f"{url}: HTTP 403: the server refused the download (CMS refuses some clients; "
                               f"try from another network or put the files in a --mirror folder)")
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise FetchError(f"{url}: download failed ({exc})") from None
    expected_size = int(resp.headers.get("Content-Length") or 0)
    if expected_size > max_bytes:
        raise FetchError(f"{url}: {expected_size} bytes is over the {max_bytes}-byte limit")
    h, size = hashlib.sha256(), 0
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=dest_dir)
    task = progress.add_task(name, total=expected_size or None) if progress else None
    try:
        with os.fdopen(fd, "wb") as fh:
            head = b""
            for chunk in resp.iter_content(chunk_size=1 << 16):
                if not head:
                    head = chunk[:512]
                    if name.lower().endswith((".zip", ".xlsx", ".txt")) and _looks_like_html(head):
                        raise FetchError(f"{url}: expected {name}, the server sent an HTML page "
                                         f"(moved or login page?)")
                size += len(chunk)
                if size > max_bytes:
                    raise FetchError(f"{url}: more than the {max_bytes}-byte limit")
                h.update(chunk)
                fh.write(chunk)
                if task is not None:
                    progress.update(task, advance=len(chunk))
        if expected_size and size != expected_size:  # pragma: no cover - urllib3 usually raises first
            raise FetchError(f"{url}: truncated download, {size} of {expected_size} bytes")
        os.replace(tmp, dest_dir / name)
    except requests.RequestException as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FetchError(f"{url}: truncated download, connection broken after {size} bytes ({exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return {"url": url, "file": name, "size": size, "sha256": h.hexdigest(),
            "retrieved_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()}


_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def download_name(url: str) -> str:
    """The file name a download is stored under, derived here and never taken as given: the URL path's last
    segment, percent-decoded, with anything but letters, digits, '.', '_' and '-' replaced by '_' (so a link
    ending in %2F..%2F..%2Ftmp%2Fx cannot name a file outside the cache), never starting with a dot."""
    raw = unquote(PurePosixPath(urlparse(url).path).name)
    raw = raw.replace("\\", "/").rsplit("/", 1)[-1]  # a decoded slash or backslash: keep the last part only
    name = _SAFE_NAME.sub("_", raw).lstrip(".")
    return name[:200] or "download"


MAX_MEMBERS = 500  # the largest official zip holds a few dozen files
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024  # the largest official release unpacks to about 100 MB
MAX_DEPTH = 4  # folders inside a zip ("Code Descriptions/..."); deeper is no official layout


def safe_extract(zip_path: Path, dest: Path, *, max_members: int = MAX_MEMBERS,
                 max_bytes: int = MAX_UNPACKED_BYTES) -> list[str]:
    """Unpack a zip flat into dest, refusing corrupt archives, members that escape the folder, more than
    max_members files, folders nested deeper than MAX_DEPTH, and more than max_bytes unpacked (counted
    as the bytes come out, not as the archive declares them). A zip inside the zip is kept as a file,
    never unpacked."""
    try:
        with zipfile.ZipFile(zip_path) as zf:
            infos = [i for i in zf.infolist() if not i.is_dir()]
            if len(infos) > max_members:
                raise FetchError(f"{zip_path}: {len(infos):,} members, more than the {max_members:,} an official "
                                 f"release has; refused")
            declared = sum(i.file_size for i in infos)
            if declared > max_bytes:
                raise FetchError(f"{zip_path}: unpacks to {declared:,} bytes, over the {max_bytes:,}-byte limit")
            bad = zf.testzip()
            if bad is not None:
                raise FetchError(f"{zip_path}: corrupt zip, member {bad!r} fails its CRC check")
            names, total = [], 0
            for info in infos:
                member = PurePosixPath(info.filename.replace("\\", "/"))
                if member.is_absolute() or ".." in member.parts or re.match(r"^[A-Za-z]:", info.filename):
                    raise FetchError(f"{zip_path}: member {info.filename!r} would escape the target folder")
                if len(member.parts) - 1 > MAX_DEPTH:
                    raise FetchError(f"{zip_path}: member {info.filename!r} is nested {len(member.parts) - 1} "
                                     f"folders deep (at most {MAX_DEPTH})")
                if (info.external_attr >> 16) & 0o170000 == 0o120000:
                    raise FetchError(f"{zip_path}: member {info.filename!r} is a symbolic link")
                if member.name in names:
                    raise FetchError(f"{zip_path}: two members are named {member.name!r}")
                target = dest / member.name  # one path segment: no slash survives PurePosixPath
                with zf.open(info) as src, open(target, "wb") as out:
                    for block in iter(lambda src=src: src.read(1 << 20), b""):
                        total += len(block)
                        if total > max_bytes:
                            raise FetchError(f"{zip_path}: unpacks to more than the {max_bytes:,}-byte limit "
                                             f"(at {info.filename!r})")
                        out.write(block)
                names.append(member.name)
            return names
    except zipfile.BadZipFile as exc:
        raise FetchError(f"{zip_path}: not a readable zip ({exc}); truncated or corrupt download?") from None


def resolve_index(source: ReleaseSource, session: requests.Session) -> list[str]:
    """The download URL(s) a listing page links to, for publishers that rename files at each re-issue. An
    AMA licence link is the file it names (ingest.discover.unwrap_licence), matched and fetched as that;
    one naming a file codegov will not fetch is left out."""
    from lxml import html

    from ingest.discover import is_licence_link, unwrap_licence

    try:
        resp = session.get(source.index, timeout=TIMEOUT)
        resp.raise_for_status()
    except requests.RequestException as exc:
        raise FetchError(f"{source.index}: listing page failed ({exc})") from None
    pattern = re.compile(source.link, re.IGNORECASE)
    hits = set()
    for h in html.fromstring(resp.content).xpath("//a/@href"):
        url = urljoin(source.index, h)
        if is_licence_link(url):
            url = h = unwrap_licence(url)
            if url is None:
                continue
        if pattern.search(h):
            hits.add(url)
    hits = sorted(hits)
    if not hits:
        raise NotPublished(f"{source.index}: no link matches {source.link!r}; has {source.release} been published?")
    return hits[-1:]  # the last re-issue sorts last (dated or versioned suffixes)


def require_mirror(mirror: Path | None) -> None:
    """A --mirror folder that does not exist is an error, not a run that finds nothing."""
    if mirror is not None and not Path(mirror).is_dir():
        raise FetchError(f"{mirror}: no such mirror folder (expected <mirror>/<system>/<release folder>/)")


def release_folder(sources: Sources, release: Release, *, mirror: Path | None, cache: Path,
                   offline: bool, session: requests.Session | None = None, progress=None) -> Path:
    """The folder holding a release's official files: the mirror's, or the cache's after a download."""
    if mirror is not None:
        folder = Path(mirror) / release.system / release.mirror_dir
        if not folder.is_dir():
            raise NotPublished(f"{folder} is not in the mirror (<mirror>/{release.system}/{release.mirror_dir}/)")
        return folder
    folder = Path(cache) / release.system / release.mirror_dir
    if (folder / DOWNLOAD_MANIFEST).exists():
        try:
            sources.find_files(release.system, folder)
            return folder
        except CodegovError as exc:  # a cache from an older codegov, or damaged: never used as good
            if offline:
                raise FetchError(f"{folder}: the cached download is incomplete ({exc}); rerun without "
                                 f"--offline to download it again") from None
            shutil.rmtree(folder)
    if offline:
        raise FetchError(f"{release} is not in the cache {folder}; run without --offline or pass --mirror DIR")
    source = sources.source(release)
    session = session or session_with_retries()
    urls = list(source.urls) or resolve_index(source, session)
    staging = Path(tempfile.mkdtemp(prefix=f".{release.mirror_dir}.", dir=folder.parent if folder.parent.exists()
                                    else _mkdir(folder.parent)))
    try:
        entries = []
        for url in urls:
            entry = download(url, staging / "downloads", session, progress=progress)
            archive = staging / "downloads" / entry["file"]
            if entry["file"].lower().endswith(".zip"):
                entry["members"] = safe_extract(archive, staging)
            else:
                shutil.copy2(archive, staging / entry["file"])
            entries.append(entry)
        shutil.rmtree(staging / "downloads")
        try:  # a download that lacks a required file is never cached as good
            sources.find_files(release.system, staging)
        except CodegovError as exc:
            got = ", ".join(sorted(p.name for p in staging.iterdir())) or "nothing"
            raise FetchError(f"{release}: the download from {', '.join(urls)} holds {got}; {exc}") from None
        atomic_write(staging / DOWNLOAD_MANIFEST, json_bytes({"release": release.id, "system": release.system,
                                                              "downloads": entries}))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return folder


def provenance(folder: Path | None, files: dict[str, Path]) -> dict[str, dict]:
    """Where each of a release's files came from, by role: {role: {url, retrieved_at}} for a folder a
    download filled (its download manifest; a zip's members carry the zip's URL), empty for a mirror."""
    if folder is None or not (Path(folder) / DOWNLOAD_MANIFEST).is_file():
        return {}
    try:
        downloads = json.loads((Path(folder) / DOWNLOAD_MANIFEST).read_text(encoding="utf-8")).get("downloads") or []
    except (OSError, ValueError):
        return {}
    by_name = {}
    for entry in downloads:
        fact = {"url": entry.get("url", ""), "retrieved_at": entry.get("retrieved_at", "")}
        for name in entry.get("members") or [entry.get("file", "")]:
            by_name[name] = fact
    return {role: by_name[path.name] for role, path in files.items() if path.name in by_name}


def keep_first_retrieval(entries: list[dict], previous: dict | None) -> list[dict]:
    """File entries whose bytes a stored manifest already records (same role and sha256) keep the URL and
    retrieval date recorded then, so a rerun from a new cache or a mirror changes no manifest."""
    before = {(f.get("role"), f.get("sha256")): f for f in (previous or {}).get("files") or [] if f.get("url")}
    out = []
    for entry in entries:
        old = before.get((entry.get("role"), entry.get("sha256")))
        if old is not None:
            entry = {**entry, "url": old["url"], "retrieved_at": old.get("retrieved_at", "")}
        out.append(entry)
    return out


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def verify_pins(sources: Sources, *, mirror: Path | None, cache: Path, offline: bool, systems=None,
                session: requests.Session | None = None) -> list[dict]:
    """Every pinned file of a verified release (sources.toml `sha256`), fetched like ingest fetches it and
    hashed: one {system, release, role, file, pinned, sha256, ok} per pin, or {..., error} when the
    release could not be had (not in the mirror, not posted, refused)."""
    out = []
    for system, ss in sources.systems.items():
        if systems and system not in systems:
            continue
        for source in ss.releases:
            if not source.sha256:
                continue
            base = {"system": system, "release": source.release.id, "label": source.release.label}
            try:
                folder = release_folder(sources, source.release, mirror=mirror, cache=cache, offline=offline,
                                        session=session)
                files = sources.find_files(system, folder)
            except FetchError as exc:
                out += [{**base, "role": role, "file": "", "pinned": pin, "sha256": "", "ok": False,
                         "error": str(exc)} for role, pin in source.sha256]
                continue
            for role, pin in source.sha256:
                path = files.get(role)
                digest = sha256_file(path) if path else ""
                out.append({**base, "role": role, "file": str(path or ""), "pinned": pin, "sha256": digest,
                            "ok": digest == pin, "error": "" if path else f"no {role} file in {folder}"})
    return out
