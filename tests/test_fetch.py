"""Downloads through a fake HTTP server (responses): cache, manifest, and each kind of bad download."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
import requests
import responses

from ingest.fetch import DOWNLOAD_MANIFEST, download, release_folder, safe_extract, session_with_retries
from ingest.model import FetchError
from ingest.sources import load_sources
from tests.conftest import CODESETS

ORDER_LINE = "00001 A00     0 Cholera                                                      Cholera\r\n"


def zip_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@pytest.fixture
def sources():
    return load_sources(CODESETS)


@pytest.fixture
def fy2026(sources):
    return sources.resolve("icd10cm", "FY2026")


@responses.activate
def test_download_unpacks_into_cache_with_manifest(tmp_path, sources, fy2026):
    zipped = zip_bytes({"Code Descriptions/icd10cm_order_2026.txt": ORDER_LINE.encode(),
                        "Code Descriptions/icd10cm_codes_2026.txt": b"A000    Cholera\r\n"})
    for url in sources.source(fy2026).urls:
        body = zipped if url.endswith(".zip") else b"PK-xlsx-bytes"
        responses.get(url, body=body, headers={"Content-Length": str(len(body))})
    folder = release_folder(sources, fy2026, mirror=None, cache=tmp_path, offline=False,
                            session=requests.Session())
    assert (folder / "icd10cm_order_2026.txt").read_bytes() == ORDER_LINE.encode()
    manifest = json.loads((folder / DOWNLOAD_MANIFEST).read_text())
    entry = manifest["downloads"][0]
    assert entry["url"] == sources.source(fy2026).urls[0]
    assert entry["size"] == len(zipped) and len(entry["sha256"]) == 64 and entry["retrieved_at"]
    assert entry["members"] == ["icd10cm_order_2026.txt", "icd10cm_codes_2026.txt"]
    # a second call is served from the cache: no request at all
    responses.reset()
    assert release_folder(sources, fy2026, mirror=None, cache=tmp_path, offline=True) == folder


def test_offline_without_cache_is_a_clear_error(tmp_path, sources, fy2026):
    with pytest.raises(FetchError, match="not in the cache.*--offline"):
        release_folder(sources, fy2026, mirror=None, cache=tmp_path, offline=True)


def test_mirror_without_the_release_folder(tmp_path, sources, fy2026):
    with pytest.raises(FetchError, match="icd10cm/FY2026"):
        release_folder(sources, fy2026, mirror=tmp_path, cache=tmp_path, offline=True)


@responses.activate
def test_html_page_instead_of_zip(tmp_path):
    url = "https://example.org/files/zip/2026-code-descriptions.zip"
    responses.get(url, body=b"<!DOCTYPE html><html><body>We moved this page</body></html>")
    with pytest.raises(FetchError, match="HTML page"):
        download(url, tmp_path, requests.Session())
    assert not list(tmp_path.iterdir())  # no partial file left behind


@responses.activate
def test_size_limit(tmp_path):
    url = "https://example.org/big.zip"
    responses.get(url, body=b"PK" + b"x" * 5000)
    with pytest.raises(FetchError, match="byte limit"):
        download(url, tmp_path, requests.Session(), max_bytes=1000)
    assert not list(tmp_path.iterdir())


@responses.activate
def test_truncated_download(tmp_path):
    url = "https://example.org/cut.zip"
    responses.get(url, body=b"PK" + b"x" * 100, headers={"Content-Length": "5000"}, auto_calculate_content_length=False)
    with pytest.raises(FetchError, match="truncated download|download failed"):
        download(url, tmp_path, requests.Session())


@responses.activate
def test_retries_server_errors_then_succeeds(tmp_path):
    url = "https://example.org/flaky.txt"
    responses.get(url, status=503)
    responses.get(url, body=ORDER_LINE)
    entry = download(url, tmp_path, session_with_retries(retries=2, backoff=0))
    assert entry["size"] == len(ORDER_LINE)
    assert len(responses.calls) == 2


def test_corrupt_zip(tmp_path):
    bad = tmp_path / "cut.zip"
    bad.write_bytes(zip_bytes({"a.txt": b"x" * 10_000})[:-40])
    with pytest.raises(FetchError, match="not a readable zip"):
        safe_extract(bad, tmp_path)


@pytest.mark.parametrize("member", ["../evil.txt", "/etc/evil.txt", "dir/../../evil.txt"])
def test_zip_member_escaping_the_folder(tmp_path, member):
    archive = tmp_path / "slip.zip"
    archive.write_bytes(zip_bytes({member: b"owned"}))
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(FetchError, match="escape the target folder"):
        safe_extract(archive, target)
    assert not (tmp_path / "evil.txt").exists()


@responses.activate
def test_index_page_link_resolution(tmp_path, sources):
    release = sources.resolve("hcpcs", "2026-04")
    src = sources.source(release)
    responses.get(src.index, body='<html><a href="/files/zip/april-2026-alpha-numeric-hcpcs-file.zip">April</a>'
                                   '<a href="/files/zip/january-2026-alpha-numeric-hcpcs-file.zip">Jan</a></html>')
    zipped = zip_bytes({"HCPC2026_APR_ANWEB.txt": b"x"})
    responses.get("https://www.cms.gov/files/zip/april-2026-alpha-numeric-hcpcs-file.zip", body=zipped)
    folder = release_folder(sources, release, mirror=None, cache=tmp_path, offline=False, session=requests.Session())
    assert (folder / "HCPC2026_APR_ANWEB.txt").exists()


@responses.activate
def test_update_skips_a_listed_release_not_yet_published(tmp_path, sources):
    from codegov.update import UpdateOptions, run_update

    release = sources.resolve("hcpcs", "2026-04")
    src = sources.source(release)
    responses.get(src.index, body='<html><a href="/files/zip/january-2026-alpha-numeric-hcpcs-file.zip">Jan</a></html>')
    codesets = tmp_path / "codesets"
    codesets.mkdir()
    (codesets / "sources.toml").write_text(f"""
[hcpcs]
name = "HCPCS Level II"
[hcpcs.files]
anweb = '{sources.systems["hcpcs"].files["anweb"].pattern}'
[[hcpcs.releases]]
id = "2026-04-01"
label = "HCPCS April 2026"
mirror = "2026-04"
index = "{src.index}"
link = '{src.link}'
""")
    (codesets / "inventory").mkdir()
    (codesets / "inventory" / "inventory.csv").write_text("system,code,specialty,service_line,owner,notes\n")
    result = run_update(UpdateOptions(codesets=codesets, cache=tmp_path / "cache", systems=["hcpcs"],
                                      build=tmp_path / "build", checks=False, render=False, site=False))
    assert any("not published yet" in line for line in result.log)


@responses.activate
@pytest.mark.parametrize("status, said", [(404, "HTTP 404: the publisher has not posted it"),
                                          (410, "HTTP 410"), (403, "HTTP 403: the server refused the download")])
def test_a_listed_file_the_server_does_not_give_is_not_published(tmp_path, status, said):
    """404 and 410 mean not posted (yet); 403 is said as a refusal (CMS refuses some clients). Either way the
    update skips the release with a line instead of aborting, and nothing is cached for it."""
    from codegov.update import UpdateOptions, run_update
    from ingest.model import NotPublished

    url = "https://www.cms.gov/files/zip/july-2026-alpha-numeric-hcpcs-file.zip"
    responses.get(url, status=status)
    with pytest.raises(NotPublished, match=said):
        download(url, tmp_path / "d", requests.Session())
    codesets = tmp_path / "codesets"
    codesets.mkdir()
    (codesets / "sources.toml").write_text(f"""
[hcpcs]
name = "HCPCS Level II"
[hcpcs.files]
anweb = 'ANWEB'
[[hcpcs.releases]]
id = "2026-07-01"
label = "HCPCS July 2026"
mirror = "2026-07"
urls = ["{url}"]
""")
    (codesets / "inventory").mkdir()
    (codesets / "inventory" / "inventory.csv").write_text("system,code,specialty,service_line,owner,notes\n")
    result = run_update(UpdateOptions(codesets=codesets, cache=tmp_path / "cache", systems=["hcpcs"],
                                      build=tmp_path / "build", checks=False, render=False, site=False))
    assert [line for line in result.log if line.startswith("skip")] == [
        f"skip    hcpcs    2026-07-01 not published yet: {url}: {said}" + next(
            line for line in result.log if line.startswith("skip")).split(said, 1)[1]]
    assert not (tmp_path / "cache" / "hcpcs" / "2026-07").exists()


@pytest.mark.parametrize("url, name", [
    ("https://www.cms.gov/files/zip/april-2026-hcpcs-file.zip", "april-2026-hcpcs-file.zip"),
    ("https://x.example/a/%2F..%2F..%2Ftmp%2Fx?x=.zip", "x"),
    ("https://x.example/a/..%5C..%5Cevil.zip", "evil.zip"),
    ("https://x.example/Code%20Descriptions%20in%20Tabular%20Order.zip", "Code_Descriptions_in_Tabular_Order.zip"),
    ("https://x.example/.bashrc", "bashrc"),
    ("https://x.example/", "download"),
])
def test_download_names_are_derived_never_taken(url, name):
    from ingest.fetch import download_name

    assert download_name(url) == name


@responses.activate
def test_a_hostile_link_on_a_listing_page_cannot_write_outside_the_cache(tmp_path, sources):
    """The link matches the release's pattern but its name decodes to ../../ paths: the file lands in the
    cache under a name codegov derives, and nothing is written beside the cache."""
    release = sources.resolve("hcpcs", "2026-04")
    src = sources.source(release)
    outside = tmp_path / "outside"
    outside.mkdir()
    evil = "/files/zip/april-2026-alpha-numeric-hcpcs-file.zip%2F..%2F..%2F..%2Foutside%2Fpwned.zip"
    responses.get(src.index, body=f'<html><a href="{evil}">April</a></html>')
    responses.get("https://www.cms.gov" + evil, body=zip_bytes({"HCPC2026_APR_ANWEB.txt": b"x"}))
    cache = tmp_path / "cache"
    folder = release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    assert (folder / "HCPC2026_APR_ANWEB.txt").exists()
    assert list(outside.iterdir()) == []
    assert all(cache in p.resolve().parents for p in tmp_path.rglob("*") if p.is_file() and outside not in p.parents)
    manifest = json.loads((folder / DOWNLOAD_MANIFEST).read_text())
    assert [d["file"] for d in manifest["downloads"]] == ["pwned.zip"]


@responses.activate
def test_a_downloaded_file_carries_its_url_and_retrieval_date_into_the_release_manifest(tmp_path, sources, fy2026):
    """ingest.fetch.provenance: each role of a downloaded release names the URL it came from (a zip member,
    the zip's) and when; keep_first_retrieval: a file already recorded with the same bytes keeps the URL
    and date recorded first, so a new cache or a mirror run rewrites no manifest."""
    from ingest.fetch import keep_first_retrieval, provenance

    zipped = zip_bytes({"icd10cm_order_2026.txt": ORDER_LINE.encode(),
                        "icd10cm_codes_2026.txt": b"A000    Cholera\r\n"})
    urls = sources.source(fy2026).urls
    for url in urls:
        body = zipped if url.endswith(".zip") else b"PK-xlsx-bytes"
        responses.get(url, body=body, headers={"Content-Length": str(len(body))})
    folder = release_folder(sources, fy2026, mirror=None, cache=tmp_path, offline=False, session=requests.Session())
    retrieved = json.loads((folder / DOWNLOAD_MANIFEST).read_text())["downloads"][0]["retrieved_at"]
    found = provenance(folder, sources.find_files("icd10cm", folder))
    assert found["order"] == found["codes"] == {"url": urls[0], "retrieved_at": retrieved}
    # no download manifest: a mirror
    assert provenance(tmp_path, {"order": folder / "icd10cm_order_2026.txt"}) == {}
    first = {"url": urls[0], "retrieved_at": "2025-08-01T00:00:00+00:00"}
    old = {"files": [{"role": "order", "sha256": "a" * 64, **first}]}
    again = [{"role": "order", "sha256": "a" * 64},
             {"role": "codes", "sha256": "b" * 64, "url": "x", "retrieved_at": "y"}]
    assert keep_first_retrieval(again, old) == [{"role": "order", "sha256": "a" * 64, **first}, again[1]]
