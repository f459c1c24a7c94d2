"""Discovery of the edit tables (NCCI PTP, MUE, add-on codes, PFS RVU) on their CMS pages.

The pages are hand-written fixtures in the structure of the CMS pages (tests/fixtures/pages/cms-ncci-*.html,
cms-pfs-*.html): the NCCI files linked through the AMA licence page (/license/ama?file=...), several quarters,
decoys (quarterly change files, Medicaid tables, the QPP twin, a mid-quarter RVU revision, hostile licence
links). The end-to-end test serves one PTP quarter, zipped from codesets/sample/ptp/2026-Q3, on 127.0.0.1.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import http.server
import io
import json
import threading
import zipfile

import pytest
import requests
import responses

from codegov.cli import main
from ingest.discover import Discovery, discover, discover_pages, links_of, load_rules, unwrap_licence
from ingest.fetch import DOWNLOAD_MANIFEST, release_folder
from ingest.model import CodegovError
from ingest.sources import load_sources
from tests.conftest import CODESETS, ROOT

PAGES = ROOT / "tests" / "fixtures" / "pages"
SAMPLE = ROOT / "codesets" / "sample"
TODAY = dt.date(2026, 12, 1)
NCCI = "https://www.cms.gov/medicare/coding-billing/national-correct-coding-initiative-ncci-edits"
PTP_PAGE = f"{NCCI}/medicare-ncci-procedure-procedure-ptp-edits"
MUE_PAGE = f"{NCCI}/medicare-ncci-medically-unlikely-edits-mues"
AOC_PAGE = f"{NCCI}/medicare-ncci-add-code-edits"
PFS_PAGE = "https://www.cms.gov/medicare/payment/fee-schedules/physician/pfs-relative-value-files"
ZIP = "https://www.cms.gov/files/zip/"
EDITS = ["ptp", "mue", "aoc", "pfs"]


def served() -> dict[str, bytes]:
    pages = {PTP_PAGE: "cms-ncci-ptp.html", MUE_PAGE: "cms-ncci-mue.html", AOC_PAGE: "cms-ncci-aoc.html",
             PFS_PAGE: "cms-pfs-relative-value-files.html",
             **{f"{PFS_PAGE}/rvu{q}": f"cms-pfs-rvu{q}.html" for q in ("26a", "26c", "26d", "27a")}}
    return {url: (PAGES / name).read_bytes() for url, name in pages.items()}


def pages(extra: dict[str, bytes | str] | None = None):
    """A get(url) over the fixture pages; any other URL is not posted (404)."""
    body = {**served(), **{k: v.encode() if isinstance(v, str) else v for k, v in (extra or {}).items()}}
    asked: list[str] = []

    def get(url: str):
        asked.append(url)
        return body.get(url)

    get.asked = asked
    return get


def found_on_pages(get=None, systems=EDITS):
    sources = load_sources(CODESETS)
    found, results = discover_pages(sources.rules, get or pages(), on=TODAY,
                                    known={s: sources.releases(s) for s in sources.systems}, systems=systems)
    return {(f.release.system, f.release.id): f for f in found}, results


def ptp_parts(quarter: str, version: int, *, sep: str = "") -> list[str]:
    year, q = quarter.split("q")
    stem = f"{ZIP}medicare-ncci-{year}{sep}q{q}"
    return ([f"{stem}-practitioner-ptp-edits-ccipra-v{version}r0-f{n}.zip" for n in range(1, 5)]
            + [f"{stem}-hospital-ptp-edits-ccioph-v{version}r0-f{n}.zip" for n in range(1, 5)])


# ---------------------------------------------------------------------------------------------------------
# Each set's page: every quarter on it, and all of a quarter's files


def test_ptp_page_gives_each_quarter_with_its_eight_parts_unwrapped():
    found, _ = found_on_pages(systems=["ptp"])
    assert set(found) == {("ptp", "2026-07-01"), ("ptp", "2026-10-01")}
    q3, q4 = found["ptp", "2026-07-01"], found["ptp", "2026-10-01"]
    assert q3.urls == tuple(ptp_parts("2026q3", 322))
    # Q4's practitioner parts are 2026q4 (one encoded, one absolute with another parameter), its hospital 2026-q4
    assert q4.urls == tuple(ptp_parts("2026q4", 323)[:4] + ptp_parts("2026q4", 323, sep="-")[4:])
    assert (q4.release.label, q4.release.aliases, q4.release.mirror_dir) == (
        "NCCI PTP 2026 Q4", ("2026Q4", "2026-Q4"), "2026-Q4")
    assert q4.evidence == PTP_PAGE
    everything = q3.urls + q4.urls
    assert not any("license" in u or "additions-deletions" in u or "medicaid" in u or "example.net" in u
                   for u in everything)


def test_mue_page_gives_each_quarter_with_its_three_tables():
    found, _ = found_on_pages(systems=["mue"])
    assert set(found) == {("mue", "2026-07-01"), ("mue", "2026-10-01")}
    for quarter, rid in (("2026-q3", "2026-07-01"), ("2026-q4", "2026-10-01")):
        assert found["mue", rid].urls == (
            f"{ZIP}medicare-ncci-{quarter}-practitioner-services-mue-table.zip",
            f"{ZIP}medicare-ncci-{quarter}-facility-outpatient-hospital-services-mue-table.zip",
            f"{ZIP}medicare-ncci-{quarter}-dme-supplier-services-mue-table.zip")  # a direct link among licence links
    assert found["mue", "2026-10-01"].release.label == "MUE 2026 Q4"


def test_aoc_page_gives_each_quarter_whatever_the_zip_naming():
    found, _ = found_on_pages(systems=["aoc"])
    assert {rid: f.urls for (_, rid), f in found.items()} == {
        "2026-01-01": (f"{ZIP}medicare-aoc-edits-january-2026.zip",),
        "2026-04-01": (f"{ZIP}medicare-ncci-add-on-code-edits-q2-2026.zip",),
        "2026-07-01": (f"{ZIP}medicare-ncci-2026-q3-add-on-code-edits.zip",),
        "2026-10-01": (f"{ZIP}aoc-v2026q4-f-mcr.zip",),  # not the quarterly changes, Medicaid or javascript: links
    }


def test_pfs_page_follows_the_quarter_sub_pages_of_the_years_in_view():
    get = pages()
    found, results = found_on_pages(get, systems=["pfs"])
    assert {rid: f.urls for (_, rid), f in found.items()} == {
        "2025-10-01": (f"{ZIP}rvu25d.zip",),  # linked from the RVU26A page: a link to that quarter's zip
        "2026-01-01": (f"{ZIP}rvu26a-updated-01-02-2026.zip",),
        "2026-07-01": (f"{ZIP}rvu26c.zip",),  # not the QPP twin's zip listed before it
        "2026-10-01": (f"{ZIP}rvu26d-updated-08-26-2026.zip",),
        "2027-01-01": (f"{ZIP}rvu27a.zip",),
    }
    assert found["pfs", "2026-07-01"].release.label == "PFS 2026 C (July)"
    assert found["pfs", "2026-07-01"].evidence == f"{PFS_PAGE}/rvu26c"
    # the years a templated page would be read (2026 and 2027 in December 2026): not RVU25D's page, and
    # never the mid-quarter revision RVU24AR or the listing's next page
    assert get.asked == [PFS_PAGE, *(f"{PFS_PAGE}/rvu{q}" for q in ("27a", "26d", "26c", "26b", "26a"))]
    by_url = {r.url: r for r in results}
    assert by_url[f"{PFS_PAGE}/rvu26b"].status == "not posted" and by_url[f"{PFS_PAGE}/rvu26b"].via == PFS_PAGE
    assert len(by_url[PFS_PAGE].matched) == 6 and not by_url[PFS_PAGE].via


def test_a_release_the_sources_list_moves_the_followed_years():
    sources = load_sources(CODESETS)
    known = {"pfs": [sources.rules["pfs"].release(dt.date(2025, 10, 1))]}
    get = pages()
    discover_pages(sources.rules, get, on=TODAY, known=known, systems=["pfs"])
    assert f"{PFS_PAGE}/rvu25d" in get.asked


# ---------------------------------------------------------------------------------------------------------
# The AMA licence link


@pytest.mark.parametrize("href, expected", [
    ("/license/ama?file=/files/zip/x.zip", "https://www.cms.gov/files/zip/x.zip"),
    ("https://www.cms.gov/license/ama?file=/files/zip/x.zip", "https://www.cms.gov/files/zip/x.zip"),
    ("/license/ama?file=%2Ffiles%2Fzip%2Fx.zip", "https://www.cms.gov/files/zip/x.zip"),
    ("/license/ama?type=zip&file=/files/zip/x.zip&utm_source=page", "https://www.cms.gov/files/zip/x.zip"),
    ("/license/ama?file=/files/zip/x.zip&amp;type=zip", "https://www.cms.gov/files/zip/x.zip"),  # &amp; in HTML
    ("/License/AMA/?FILE=/files/zip//x.zip", "https://www.cms.gov/files/zip/x.zip"),
    ("/license/ama?file=https://www.cms.gov/files/zip/x.zip", "https://www.cms.gov/files/zip/x.zip"),
    ("/license/ama?file=/files/zip/a%2520b.zip", "https://www.cms.gov/files/zip/a b.zip"),  # decoded like any link
    ("/apps/ama/license.asp?file=/Medicare/Downloads/RVU18A.zip", "https://www.cms.gov/Medicare/Downloads/RVU18A.zip"),
    ("/files/zip/direct.zip", "https://www.cms.gov/files/zip/direct.zip"),  # not a licence link: as it is
])
def test_a_licence_link_is_the_file_it_names_on_the_same_host(href, expected):
    page = f'<html><body><a href="{href}">file</a></body></html>'
    assert links_of(page, f"{NCCI}/page") == [expected]


HOSTILE = [
    "/files/zip/../../etc/passwd.zip",
    "/files/zip/..%2F..%2Foutside.zip",
    "/files/zip/%252e%252e/%252e%252e/outside.zip",
    "%2E%2E/outside.zip",
    "files/zip/relative.zip",
    "//evil.example/files/zip/x.zip",
    "https://evil.example/files/zip/x.zip",
    "http://www.cms.gov.evil.example/files/zip/x.zip",
    "https:/files/zip/x.zip",
    "javascript:alert(1)//x.zip",
    "file:///etc/passwd",
    "ftp://www.cms.gov/files/zip/x.zip",
    "data:application/zip;base64,UEsFBg==",
    "/%5Cevil.example/files/zip/x.zip",
    "/files/zip/x.zip%0d%0aSet-Cookie:a=b",
    "",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_a_hostile_licence_file_is_refused(value):
    assert unwrap_licence(f"https://www.cms.gov/license/ama?file={value}") is None
    name = "medicare-ncci-2026q4-practitioner-ptp-edits-ccipra-v323r0-f1.zip"
    # the licence link itself ends in the zip's name: it is left out, never matched as a file
    page = f'<a href="/license/ama?file={value}&amp;n=/{name}">x</a><a href="/license/ama?x={name}">y</a>'
    assert links_of(page, PTP_PAGE) == []
    found, results = found_on_pages(pages({PTP_PAGE: f"<html><body>{page}</body></html>"}), systems=["ptp"])
    assert found == {} and results[0].matched == []


def test_two_file_values_are_refused():
    assert unwrap_licence("https://www.cms.gov/license/ama?file=/files/zip/a.zip&file=/files/zip/b.zip") is None
    assert unwrap_licence("https://www.cms.gov/license/ama?file=/files/zip/a.zip&file=/files/zip/a.zip") == \
        "https://www.cms.gov/files/zip/a.zip"


# ---------------------------------------------------------------------------------------------------------
# The rules and the live check


def test_a_misspelt_page_rule_key_is_an_error(tmp_path):
    (tmp_path / "discovery.toml").write_text(
        '[ptp]\n[ptp.names]\ndefault = { label = "x" }\n[[ptp.pages]]\nurl = "https://x"\nlink = "y"\nfollows = "z"\n')
    with pytest.raises(CodegovError, match=r"\[ptp\] rule is incomplete or invalid.*unknown key\(s\) follows"):
        load_rules(tmp_path)


def required_sources():
    """The rules with every edit-set page marked required, as discovery.toml will once they are proven on
    the real pages (its comment on the edit tables)."""
    sources = load_sources(CODESETS)
    for system in EDITS:
        sr = sources.rules[system]
        sr.pages = [dataclasses.replace(rule, required=True) for rule in sr.pages]
    return sources


def test_every_edit_page_matches_its_fixture_and_gives_its_releases(tmp_path):
    sources = required_sources()
    result = discover(sources, mirror=None, cache=tmp_path, offline=False, on=TODAY, systems=EDITS, get=pages())
    assert result.missing_required() == []
    assert {p.url for p in result.pages if p.matched and not p.via} == {PTP_PAGE, MUE_PAGE, AOC_PAGE, PFS_PAGE}
    assert {(s.release.system, s.release.id) for s in result.added} >= {
        ("ptp", "2026-10-01"), ("mue", "2026-10-01"), ("aoc", "2026-10-01"), ("pfs", "2026-10-01")}
    ptp = sources.source(sources.resolve("ptp", "2026Q4"))
    assert len(ptp.urls) == 8 and ptp.discovered == PTP_PAGE
    # as discovery.toml has them today, no edit page is required: a run that reads none of them passes
    plain = discover(load_sources(CODESETS), mirror=None, cache=tmp_path, offline=False, on=TODAY, systems=EDITS,
                     get=pages({u: "<html></html>" for u in (PTP_PAGE, MUE_PAGE, AOC_PAGE, PFS_PAGE)}))
    assert plain.missing_required() == [] and plain.found == []


def test_a_moved_edit_page_fails_the_live_check_and_one_naming_of_the_aoc_zip_is_enough(tmp_path):
    moved = "<html><body><p>This page has moved.</p><a href='/medicare'>Medicare</a></body></html>"
    only_q_first = '<html><body><a href="/files/zip/aoc-q4-2026.zip">AOC</a></body></html>'
    get = pages({PTP_PAGE: moved, PFS_PAGE: moved, AOC_PAGE: only_q_first})
    result = discover(required_sources(), mirror=None, cache=tmp_path, offline=False, on=TODAY, systems=EDITS,
                      get=get)
    assert sorted({p.url for p in result.missing_required()}) == sorted([PFS_PAGE, PTP_PAGE])
    assert ("aoc", "2026-10-01") in {(f.release.system, f.release.id) for f in result.found}


def test_a_sub_page_is_not_required_itself():
    rule = load_rules(CODESETS)["pfs"].pages[0]
    from ingest.discover import PageResult

    d = Discovery(pages=[PageResult(rule, PFS_PAGE, "ok", ["x"]),
                         PageResult(rule, f"{PFS_PAGE}/rvu26b", "not posted", via=PFS_PAGE)])
    assert d.missing_required() == []


@responses.activate
def test_codegov_releases_lists_an_edit_table_found_on_its_page(tmp_path, capsys):
    responses.get(PTP_PAGE, body=served()[PTP_PAGE])
    common = ["--codesets", str(CODESETS), "--releases", str(tmp_path / "releases"), "releases", "--cache",
              str(tmp_path / "cache"), "--on", "2026-12-01", "--system", "ptp"]
    assert main([*common, "--format", "json", "--check-pages"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = {r["id"]: r for r in out["releases"]}
    assert rows["2026-10-01"]["state"] == "published" and rows["2026-10-01"]["in_force"]
    assert rows["2026-10-01"]["source"] == ptp_parts("2026q4", 323)[0]
    assert rows["2027-01-01"]["state"] == "expected"
    assert {r["system"] for r in out["releases"]} == {"ptp"}


def test_codegov_releases_shows_an_ingested_edit_table(tmp_path, capsys):
    from ingest.build_edits import ingest_edit_releases

    sources = load_sources(CODESETS)
    out = tmp_path / "releases"
    mirror = SAMPLE
    list(ingest_edit_releases(sources, [sources.resolve("ptp", "2026Q3")], out, mirror=mirror, cache=tmp_path,
                              offline=True))
    assert main(["--codesets", str(CODESETS), "--releases", str(out), "releases", "--offline", "--mirror",
                 str(mirror), "--system", "ptp", "--on", "2026-08-01", "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("ptp,2026-07-01,NCCI PTP 2026 Q3,ingested") for line in lines), lines


# ---------------------------------------------------------------------------------------------------------
# End to end: one PTP quarter found on a page served on 127.0.0.1, fetched and cached


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


LICENCE_PAGE = b"<!DOCTYPE html><html><body><h1>License for use of CPT</h1><a href='?accept'>Accept</a></body></html>"


@pytest.fixture
def publisher():
    """A local CMS: {path: bytes} on 127.0.0.1; /license/... answers with the licence page (HTML), as the
    real one does; every request path (query and all) is recorded."""
    routes: dict[str, bytes] = {}
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            seen.append(self.path)
            body = LICENCE_PAGE if self.path.startswith("/license/") else routes.get(self.path)
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
    yield f"http://127.0.0.1:{httpd.server_address[1]}", routes, seen
    httpd.shutdown()


def local_ptp_rules(sources, base: str):
    """The PTP page rule of discovery.toml, its page moved to the local publisher."""
    sr = sources.rules["ptp"]
    sr.pages = [dataclasses.replace(rule, url=f"{base}/ptp-edits") for rule in sr.pages]


def test_one_ptp_quarter_is_found_fetched_and_cached_from_a_local_page(tmp_path, publisher):
    from ingest.build_edits import build_edit_release

    base, routes, seen = publisher
    sample = SAMPLE / "ptp" / "2026-Q3"
    links, expected = [], []
    for path in sorted(sample.iterdir()):  # ccioph-v322r0-f1, ccipra-v322r0-f1, -f2: one zip each
        setting = "practitioner" if path.name.startswith("ccipra") else "hospital"
        zname = f"medicare-ncci-2026q3-{setting}-ptp-edits-{path.stem}.zip"
        member = f"{path.stem}/{path.stem}.TXT"  # in a folder, upper-case extension
        routes[f"/files/zip/{zname}"] = zip_of({member: path.read_bytes(), f"{path.stem}/README.txt": b"x"})
        links.append(f'<li><a href="/license/ama?file=%2Ffiles%2Fzip%2F{zname}">{zname}</a></li>')
        expected.append(f"{base}/files/zip/{zname}")
    # decoys: an older quarter (not served: never asked for), a '..' licence link, the quarter's changes file
    q2 = "/files/zip/medicare-ncci-2026q2-practitioner-ptp-edits-ccipra-v321r0-f1.zip"
    climb = "/files/zip/../../medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0-f3.zip"
    changes = "/files/zip/medicare-ncci-2026q3-practitioner-quarterly-additions-deletions-revisions-ptp.zip"
    decoys = [f'<li><a href="/license/ama?file={q2}">Q2</a></li>',
              f'<li><a href="/license/ama?file={climb}">f3</a></li>', f'<li><a href="{changes}">changes</a></li>']
    routes["/ptp-edits"] = f"<html><body><ul>{''.join(links + decoys)}</ul></body></html>".encode()

    sources = load_sources(CODESETS)
    local_ptp_rules(sources, base)
    cache = tmp_path / "cache"
    result = discover(sources, mirror=None, cache=cache, offline=False, on=TODAY, systems=["ptp"],
                      session=requests.Session())
    assert result.missing_required() == []
    release = sources.resolve("ptp", "2026Q3")
    assert sorted(sources.source(release).urls) == sorted(expected)
    assert sorted(f.release.id for f in result.found) == ["2026-04-01", "2026-07-01"]

    folder = release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    assert folder == cache / "ptp" / "2026-Q3"
    files = sources.find_files("ptp", folder)
    assert {role: p.name for role, p in files.items()} == {
        "practitioner-f1": "ccipra-v322r0-f1.TXT", "practitioner-f2": "ccipra-v322r0-f2.TXT",
        "hospital-f1": "ccioph-v322r0-f1.TXT"}
    for path in files.values():
        assert path.read_bytes() == (sample / path.name.replace(".TXT", ".txt")).read_bytes()
    manifest = json.loads((folder / DOWNLOAD_MANIFEST).read_text())
    assert sorted(d["url"] for d in manifest["downloads"]) == sorted(expected)
    # the files were asked for at their own path, never through the licence page, nor Q2 or the '..' link
    assert not [p for p in seen if p.startswith("/license/") or "v321r0" in p or ".." in p]
    assert sorted(p for p in seen if p.startswith("/files/")) == sorted(u.removeprefix(base) for u in expected)
    # every file written is inside the cache
    assert all(cache in p.resolve().parents for p in tmp_path.rglob("*") if p.is_file())
    built = build_edit_release(sources, release, folder)  # the parsers and proofs take the download
    assert built.table.num_rows > 0

    # cached: the next fetch reads the folder, asks nothing
    before = len(seen)
    assert release_folder(sources, release, mirror=None, cache=cache, offline=True) == folder
    assert len(seen) == before


def test_an_unwrapped_link_to_the_licence_page_html_is_never_cached(tmp_path, publisher):
    """If a page's link is the licence page itself (the file moved behind a form), the download is HTML and
    refused; nothing is cached."""
    base, routes, _ = publisher
    name = "medicare-ncci-2026q3-practitioner-ptp-edits-ccipra-v322r0-f1.zip"
    routes["/ptp-edits"] = (f'<a href="/license/ama/{name}">f1</a>'
                            f'<a href="/license/ama?file=/license/ama/{name}">f1</a>').encode()
    sources = load_sources(CODESETS)
    local_ptp_rules(sources, base)
    cache = tmp_path / "cache"
    discover(sources, mirror=None, cache=cache, offline=False, on=TODAY, systems=["ptp"], session=requests.Session())
    release = sources.resolve("ptp", "2026Q3")
    assert sources.source(release).urls == (f"{base}/license/ama/{name}",)
    from ingest.model import FetchError

    with pytest.raises(FetchError, match="the server sent an HTML page"):
        release_folder(sources, release, mirror=None, cache=cache, offline=False, session=requests.Session())
    assert not (cache / "ptp" / "2026-Q3").exists()


def test_a_sources_index_entry_takes_the_licence_links_file_and_never_a_hostile_one(tmp_path, publisher):
    """sources.toml `index` + `link` (a publisher that renames files) reads licence links as discovery does."""
    from ingest.sources import ReleaseSource

    base, routes, seen = publisher
    rvu = SAMPLE / "pfs" / "2026-C" / "PPRRVU2026_Jul_nonQPP.csv"
    routes["/files/zip/rvu26c.zip"] = zip_of({rvu.name: rvu.read_bytes()})
    # the hostile one would sort last (https://evil... after http://127...) and be taken if it were read
    routes["/rvu26c"] = (b'<a href="/license/ama?file=%2Ffiles%2Fzip%2Frvu26c.zip">RVU26C</a>'
                         b'<a href="/license/ama?file=https://evil.example/files/zip/rvu26c-zz.zip">mirror</a>')
    sources = load_sources(CODESETS)
    release = sources.resolve("pfs", "2026C")
    sources.systems["pfs"].releases.append(ReleaseSource(release, index=f"{base}/rvu26c", link=r"/rvu26c[^/]*\.zip$"))
    folder = release_folder(sources, release, mirror=None, cache=tmp_path / "cache", offline=False,
                            session=requests.Session())
    assert sources.find_files("pfs", folder)["rvu"].name == rvu.name
    assert json.loads((folder / DOWNLOAD_MANIFEST).read_text())["downloads"][0]["url"] == f"{base}/files/zip/rvu26c.zip"
    assert seen == ["/rvu26c", "/files/zip/rvu26c.zip"]
