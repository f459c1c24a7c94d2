"""A broken or hostile publisher: links that name files outside the cache, zip bombs, downloads that lack
the release's files. Served by a real HTTP server on 127.0.0.1, fetched through requests as a run does."""

from __future__ import annotations

import dataclasses
import http.server
import io
import json
import threading
import zipfile

import pytest
import requests

from ingest.fetch import DOWNLOAD_MANIFEST, release_folder, safe_extract
from ingest.model import FetchError
from ingest.sources import ReleaseSource, load_sources
from tests.conftest import CODESETS

ANWEB = b"A0021" + b" " * 315 + b"\r\n"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def server():
    """A local publisher: {path: bytes} served on 127.0.0.1; every request is recorded."""
    routes: dict[str, bytes] = {}
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            seen.append(self.path)
            body = routes.get(self.path)
            if body is None:
                self.send_response(404)
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    yield base, routes, seen
    httpd.shutdown()


def _hcpcs_april(sources, base: str, link: str = r"/files/zip/april-2026[^\"]*\.zip"):
    """HCPCS April 2026 as sources.toml lists it, its listing page moved to the local server."""
    release = sources.resolve("hcpcs", "2026-04")
    ss = sources.systems["hcpcs"]
    i = next(i for i, s in enumerate(ss.releases) if s.release == release)
    ss.releases[i] = dataclasses.replace(ReleaseSource(release), index=f"{base}/quarterly-update", link=link)
    return release


def test_hostile_links_on_a_local_page_never_write_outside_the_cache(tmp_path, server):
    base, routes, _ = server
    sources = load_sources(CODESETS)
    release = _hcpcs_april(sources, base)
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = "/files/zip/april-2026%2F..%2F..%2F..%2Foutside%2Fpwned.zip"
    routes["/quarterly-update"] = f'<html><a href="{evil}">April 2026</a></html>'.encode()
    routes[evil] = zip_bytes({"../../outside/x.txt": b"x"})
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match="would escape the target folder"):
        release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    routes[evil] = zip_bytes({"HCPC2026_APR_ANWEB.txt": ANWEB})
    folder = release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    assert list(outside.iterdir()) == []
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert written and all(cache in p.resolve().parents for p in written)
    assert json.loads((folder / DOWNLOAD_MANIFEST).read_text())["downloads"][0]["file"] == "pwned.zip"


def test_a_download_lacking_the_release_files_is_never_cached(tmp_path, server):
    base, routes, seen = server
    sources = load_sources(CODESETS)
    release = _hcpcs_april(sources, base)
    routes["/quarterly-update"] = b'<html><a href="/files/zip/april-2026-hcpcs.zip">April</a></html>'
    routes["/files/zip/april-2026-hcpcs.zip"] = zip_bytes({"README.txt": b"the files come later"})
    cache = tmp_path / "cache"
    with pytest.raises(FetchError, match=r"holds README\.txt.*expected anweb file"):
        release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    assert not (cache / "hcpcs" / release.mirror_dir).exists()
    assert [p for p in cache.rglob("*") if p.is_file()] == []
    # the publisher fixes the zip: the next run downloads again (nothing bad was cached)
    routes["/files/zip/april-2026-hcpcs.zip"] = zip_bytes({"HCPC2026_APR_ANWEB.txt": ANWEB})
    before = len(seen)
    folder = release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    assert len(seen) > before and (folder / "HCPC2026_APR_ANWEB.txt").exists()


def test_a_cached_folder_missing_its_files_is_downloaded_again(tmp_path, server):
    base, routes, seen = server
    sources = load_sources(CODESETS)
    release = _hcpcs_april(sources, base)
    routes["/quarterly-update"] = b'<html><a href="/files/zip/april-2026-hcpcs.zip">April</a></html>'
    routes["/files/zip/april-2026-hcpcs.zip"] = zip_bytes({"HCPC2026_APR_ANWEB.txt": ANWEB})
    cache = tmp_path / "cache"
    folder = release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    (folder / "HCPC2026_APR_ANWEB.txt").unlink()  # damaged by hand, or cached by an older codegov
    with pytest.raises(FetchError, match="cached download is incomplete"):
        release_folder(sources, release, mirror=None, cache=cache, offline=True)
    before = len(seen)
    folder = release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    assert len(seen) > before and (folder / "HCPC2026_APR_ANWEB.txt").exists()


def test_zip_limits_members_size_and_depth(tmp_path):
    many = tmp_path / "many.zip"
    many.write_bytes(zip_bytes({f"f{i}.txt": b"x" for i in range(501)}))
    with pytest.raises(FetchError, match="501 members"):
        safe_extract(many, tmp_path / "out")
    bomb = tmp_path / "bomb.zip"  # 64 MiB of zeros deflates to about 64 KiB
    bomb.write_bytes(zip_bytes({"HCPC2026_APR_ANWEB.txt": b"\0" * (64 << 20)}))
    assert bomb.stat().st_size < 1 << 20
    (tmp_path / "out").mkdir()
    with pytest.raises(FetchError, match="over the 1,048,576-byte limit"):
        safe_extract(bomb, tmp_path / "out", max_bytes=1 << 20)
    deep = tmp_path / "deep.zip"
    deep.write_bytes(zip_bytes({"a/b/c/d/e/f.txt": b"x"}))
    with pytest.raises(FetchError, match="nested 5 folders deep"):
        safe_extract(deep, tmp_path / "out")
    nested = tmp_path / "nested.zip"  # a zip inside: kept as a file, never unpacked
    nested.write_bytes(zip_bytes({"Code Descriptions/inner.zip": zip_bytes({"x.txt": b"x"})}))
    assert safe_extract(nested, tmp_path / "out") == ["inner.zip"]
    assert zipfile.is_zipfile(tmp_path / "out" / "inner.zip") and not (tmp_path / "out" / "x.txt").exists()


def test_a_zip_that_declares_small_sizes_cannot_unpack_to_more(tmp_path, monkeypatch):
    """A zip can declare small sizes and hold more: Python's reader stops at the declared size (the CRC
    then fails) and codegov counts the bytes as they come out besides; either way it is refused."""
    bomb = tmp_path / "bomb.zip"
    bomb.write_bytes(zip_bytes({"a.txt": b"\0" * (4 << 20)}))
    real = zipfile.ZipFile.infolist

    def lying(self):
        infos = real(self)
        for info in infos:
            info.file_size = 10
        return infos

    monkeypatch.setattr(zipfile.ZipFile, "infolist", lying)
    monkeypatch.setattr(zipfile.ZipFile, "testzip", lambda self: None)
    (tmp_path / "out").mkdir()
    with pytest.raises(FetchError, match="unpacks to more than|Bad CRC-32"):
        safe_extract(bomb, tmp_path / "out", max_bytes=1 << 20)
    assert all(p.stat().st_size <= 1 << 20 for p in (tmp_path / "out").iterdir())
