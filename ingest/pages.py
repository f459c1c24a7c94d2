"""Listing pages over the network, with conditional requests: a page that has not changed since the last
run answers 304 and is read from the cache, so a monthly run that finds nothing new downloads only the
listing pages' headers. Discovery (ingest.discover) reads pages through `PageCache.get`."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import requests

from ingest.model import CodegovError
from ingest.store import atomic_write, json_bytes

PAGES_DIR = "pages"  # under the cache folder
INDEX = "index.json"
TIMEOUT = (10, 60)
MAX_PAGE_BYTES = 16 * 1024 * 1024


@dataclass
class PageCache:
    """GET with If-None-Match / If-Modified-Since from what the last run stored; 404 and 410 are None
    (not posted), 403 and other failures a CodegovError naming the page."""

    folder: Path
    session: requests.Session | None = None
    log: list[str] = field(default_factory=list)  # one line per page: fetched, not modified, not posted

    def __post_init__(self) -> None:
        self.folder = Path(self.folder) / PAGES_DIR
        try:
            self._index = json.loads((self.folder / INDEX).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            self._index = {}

    def _body_path(self, url: str) -> Path:
        return self.folder / (hashlib.sha256(url.encode()).hexdigest()[:24] + ".html")

    def get(self, url: str) -> bytes | None:
        from ingest.fetch import session_with_retries

        self.session = self.session or session_with_retries()
        known = self._index.get(url) or {}
        body_path = self._body_path(url)
        headers = {}
        if body_path.exists():
            if known.get("etag"):
                headers["If-None-Match"] = known["etag"]
            if known.get("last_modified"):
                headers["If-Modified-Since"] = known["last_modified"]
        try:
            resp = self.session.get(url, headers=headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            raise CodegovError(f"{url}: listing page failed ({exc})") from None
        if resp.status_code == 304 and body_path.exists():
            self.log.append(f"page    {url}: not modified since {known.get('retrieved_at', '?')}")
            self._checked(url)
            return body_path.read_bytes()
        if resp.status_code in (404, 410):
            self.log.append(f"page    {url}: HTTP {resp.status_code}, not posted")
            self._checked(url)
            return None
        if resp.status_code == 403:
            raise CodegovError(f"{url}: HTTP 403: the server refused the listing page (CMS refuses some clients)")
        if resp.status_code >= 400:
            raise CodegovError(f"{url}: listing page failed (HTTP {resp.status_code})")
        body = resp.content
        if len(body) > MAX_PAGE_BYTES:
            raise CodegovError(f"{url}: listing page over {MAX_PAGE_BYTES} bytes")
        atomic_write(body_path, body)
        self._index[url] = {"etag": resp.headers.get("ETag", ""),
                            "last_modified": resp.headers.get("Last-Modified", ""),
                            "sha256": hashlib.sha256(body).hexdigest(), "retrieved_at": _now()}
        self._checked(url)
        self.log.append(f"page    {url}: fetched, {len(body):,} bytes")
        return body

    def _checked(self, url: str) -> None:
        self._index.setdefault(url, {})["checked_at"] = _now()
        atomic_write(self.folder / INDEX, json_bytes(self._index))

    def checked(self) -> dict[str, str]:
        """url -> when the publisher last answered for it (for "publishers last checked")."""
        return {u: e.get("checked_at", "") for u, e in self._index.items()}


def last_checked(cache: Path) -> str:
    """When any listing page was last answered, from the cache's page index; empty when never."""
    try:
        index = json.loads((Path(cache) / PAGES_DIR / INDEX).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return ""
    return max((e.get("checked_at", "") for e in index.values()), default="")


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
