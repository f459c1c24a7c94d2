"""Release discovery: a mirror folder or listing-page link nobody listed in sources.toml becomes a release.

The FY2027 mirror is the bundled sample plus a hand-written icd10cm/FY2027/ in the official layout (the
FY2026 sample's lines, I42.0 turned into a header with three new children as in the real FY2027, E11.9
kept). The pages are hand-written fixtures in the structure of the CMS and CDC pages (tests/fixtures/pages).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import zipfile
from pathlib import Path

import pytest
import requests
import responses

from codegov.cli import main
from ingest.discover import discover, discover_mirror, discover_pages
from ingest.model import CodegovError
from ingest.pages import PageCache
from ingest.sources import load_sources
from tests.conftest import CODESETS, ROOT

SAMPLE = ROOT / "codesets" / "sample"
PAGES = ROOT / "tests" / "fixtures" / "pages"
TODAY = dt.date(2026, 12, 1)
HCPCS_PAGE = "https://www.cms.gov/medicare/coding-billing/healthcare-common-procedure-system/quarterly-update"
CMS_ICD = "https://www.cms.gov/medicare/coding-billing/icd-10-codes"
CDC = "https://ftp.cdc.gov/pub/Health_Statistics/NCHS/Publications/ICD10CM"

# FY2027 lines in the order-file layout: order number, code, billable flag, short and long descriptor
FY2027_ORDER = [
    ("11581", "I42", "0", "Cardiomyopathy", "Cardiomyopathy"),
    ("11582", "I420", "0", "Dilated cardiomyopathy", "Dilated cardiomyopathy"),
    ("11583", "I4200", "1", "Dilated cardiomyopathy, unspecified", "Dilated cardiomyopathy, unspecified"),
    ("11584", "I4201", "1", "Dilated cardiomyopathy, familial", "Familial dilated cardiomyopathy"),
    ("11585", "I4209", "1", "Other dilated cardiomyopathy", "Other dilated cardiomyopathy"),
]


def order_line(order: str, code: str, flag: str, short: str, long_: str) -> str:
    return f"{order} {code:<7} {flag} {short:<60} {long_}\r\n"


def write_fy2027(folder: Path, suffix: str = "2027") -> Path:
    """icd10cm_order_2027.txt and icd10cm_codes_2027.txt: the FY2026 sample plus FY2027_ORDER, in order."""
    folder.mkdir(parents=True)
    src = SAMPLE / "icd10cm" / "FY2026"
    lines = (src / "icd10cm_order_2026.txt").read_text(encoding="ascii").splitlines(keepends=True)
    lines += [order_line(*row) for row in FY2027_ORDER]
    lines.sort(key=lambda line: line[:5])
    (folder / f"icd10cm_order_{suffix}.txt").write_text("".join(lines), encoding="ascii", newline="")
    codes = (src / "icd10cm_codes_2026.txt").read_text(encoding="ascii").splitlines(keepends=True)
    codes += [f"{code:<7} {long_}\r\n" for _, code, flag, _, long_ in FY2027_ORDER if flag == "1"]
    codes.sort()
    (folder / f"icd10cm_codes_{suffix}.txt").write_text("".join(codes), encoding="ascii", newline="")
    return folder


@pytest.fixture
def fy2027_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLE, mirror)
    write_fy2027(mirror / "icd10cm" / "FY2027")
    codesets = tmp_path / "codesets"
    shutil.copytree(CODESETS, codesets, ignore=shutil.ignore_patterns("releases*", "sample"))
    return mirror, codesets


def test_a_mirror_folder_nobody_listed_is_ingested_diffed_and_looked_up(fy2027_mirror, tmp_path, capsys):
    mirror, codesets = fy2027_mirror
    assert "FY2027" not in (codesets / "sources.toml").read_text()
    out = tmp_path / "releases"
    common = ["--codesets", str(codesets), "--releases", str(out)]
    assert main([*common, "ingest", "--mirror", str(mirror), "--offline", "--system", "icd10cm"]) == 0
    said = capsys.readouterr().out
    assert "found   icd10cm  2026-10-01 (FY2027): folder name FY2027" in said
    manifest = json.loads((out / "icd10cm" / "2026-10-01.manifest.json").read_text())
    assert manifest["label"] == "FY2027" and manifest["rows"] > 0

    assert main([*common, "diff", "--system", "icd10cm", "--format", "json"]) == 0
    cs = json.loads(capsys.readouterr().out)
    assert (cs["from"], cs["to"], cs["to_label"]) == ("2025-10-01", "2026-10-01", "FY2027")
    assert {a["code"] for a in cs["added"]} == {"I4200", "I4201", "I4209"}
    assert {h["code"] for h in cs["headers"]["added"]} == {"I42", "I420"}

    assert main([*common, "lookup", "E11.9", "--on", "2026-12-01", "--format", "json"]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["release"] == "2026-10-01" and answer["status"] == "valid"
    # the alias works everywhere a release is named, though no file lists it
    assert main([*common, "diff", "--system", "icd10cm", "--from", "FY2026", "--to", "FY2027"]) == 0


def test_a_folder_with_another_name_is_known_by_its_files(tmp_path):
    mirror = tmp_path / "m"
    write_fy2027(mirror / "icd10cm" / "october files")
    found = discover_mirror(mirror, load_sources(CODESETS).rules)
    assert [(f.release.id, f.release.label, f.release.mirror_dir, f.evidence) for f in found] == [
        ("2026-10-01", "FY2027", "october files", "file icd10cm_order_2027.txt")]


def test_two_folders_that_give_one_release_are_an_error_naming_both(tmp_path):
    mirror = tmp_path / "m"
    write_fy2027(mirror / "icd10cm" / "FY2027")
    write_fy2027(mirror / "icd10cm" / "april")  # April files keep the October names
    with pytest.raises(CodegovError, match=r"icd10cm/april: gives icd10cm FY2027 .*icd10cm/FY2027.*FY2026-APR"):
        discover_mirror(mirror, load_sources(CODESETS).rules)


def test_hcpcs_mirror_files_name_their_quarter(tmp_path):
    rules = load_sources(CODESETS).rules
    for folder, name in (("oct", "HCPC2026_OCT_ANWEB_v2.txt"), ("jan", "HCPC2027_JAN_ANWEB_01122027.txt"),
                         ("old", "HCPC17_CONTR_ANWEB.txt")):
        (tmp_path / "hcpcs" / folder).mkdir(parents=True)
        (tmp_path / "hcpcs" / folder / name).write_text("x")
    found = {f.release.id: f.release.label for f in discover_mirror(tmp_path, rules)}
    assert found == {"2017-01-01": "HCPCS January 2017", "2026-10-01": "HCPCS October 2026",
                     "2027-01-01": "HCPCS January 2027"}


def pages(extra: dict[str, str] | None = None):
    """A get(url) over the fixture pages; any other URL is not posted (404)."""
    served = {
        HCPCS_PAGE: (PAGES / "cms-hcpcs-quarterly-update.html").read_text(),
        CMS_ICD: (PAGES / "cms-icd10.html").read_text(),
        f"{CMS_ICD}/2027-icd-10-cm": (PAGES / "cms-icd10-2027.html").read_text(),
        f"{CDC}/2027/": (PAGES / "cdc-icd10cm-2027.html").read_text(),
        f"{CDC}/2026-Update/": (PAGES / "cdc-icd10cm-2026-update.html").read_text(),
        **(extra or {}),
    }
    asked: list[str] = []

    def get(url: str):
        asked.append(url)
        return served[url].encode() if url in served else None

    get.asked = asked
    return get


def found_ids(found, system):
    return {f.release.id: f for f in found if f.release.system == system}


def test_pages_give_every_quarter_and_fiscal_year_on_them():
    sources = load_sources(CODESETS)
    found, results = discover_pages(sources.rules, pages(), on=TODAY,
                                    known={s: sources.releases(s) for s in sources.systems})
    hcpcs = found_ids(found, "hcpcs")
    assert set(hcpcs) == {"2024-10-01", "2026-01-01", "2026-04-01", "2026-07-01", "2026-10-01"}
    assert hcpcs["2024-10-01"].urls == ("https://www.cms.gov/files/zip/october-2024-alpha-numeric-hcpcs-files.zip",)
    assert hcpcs["2026-10-01"].release.label == "HCPCS October 2026"
    icd = found_ids(found, "icd10cm")
    assert set(icd) == {"2026-04-01", "2026-10-01"}
    # CMS first (rule order), with the conversion table beside it; CDC's copy is the same release
    assert icd["2026-10-01"].urls == ("https://www.cms.gov/files/zip/2027-code-descriptions-tabular-order.zip",
                                      "https://www.cms.gov/files/zip/2027-conversion-table.zip")
    assert icd["2026-10-01"].release.aliases == ("FY2027",)
    assert icd["2026-04-01"].release.label == "FY2026 April update"
    assert all(r.status in ("ok", "not posted") for r in results)


def test_a_new_link_is_a_new_release_with_no_code_change():
    sources = load_sources(CODESETS)
    known = {s: sources.releases(s) for s in sources.systems}
    page = (PAGES / "cms-hcpcs-quarterly-update.html").read_text().replace(
        "<ul>", '<ul>\n<li><a href="/files/zip/january-2027-alpha-numeric-hcpcs-file.zip">January 2027</a></li>', 1)
    fy2028 = '<a href="/files/zip/2028-code-descriptions-tabular-order.zip">2028 Code Descriptions</a>'
    cdc2028 = '<A HREF="/pub/Health_Statistics/NCHS/Publications/ICD10CM/2028/icd10cm-code-descriptions-2028.zip">z</A>'
    get = pages({HCPCS_PAGE: page, f"{CMS_ICD}/2028-icd-10-cm": f"<html><body>{fy2028}</body></html>",
                 f"{CDC}/2028/": f"<html><body><pre>{cdc2028}</pre></body></html>"})
    found, _ = discover_pages(sources.rules, get, on=TODAY, known=known)
    assert found_ids(found, "hcpcs")["2027-01-01"].release.label == "HCPCS January 2027"
    fy = found_ids(found, "icd10cm")["2027-10-01"]
    assert fy.release.label == "FY2028" and fy.urls[0].endswith("/2028-code-descriptions-tabular-order.zip")
    assert f"{CDC}/2028/" in get.asked  # the templated pages are tried up to next year


def test_a_page_that_stopped_matching_fails_the_live_check(tmp_path):
    sources = load_sources(CODESETS)
    moved = "<html><body><p>This page has moved.</p><a href='/medicare'>Medicare</a></body></html>"
    result = discover(sources, mirror=None, cache=tmp_path, offline=False, on=TODAY, get=pages({HCPCS_PAGE: moved}))
    missing = result.missing_required()
    assert [p.url for p in missing] == [HCPCS_PAGE]
    ok = discover(load_sources(CODESETS), mirror=None, cache=tmp_path, offline=False, on=TODAY, get=pages())
    assert ok.missing_required() == []


ANWEB_LINE = (SAMPLE / "hcpcs" / "2019-01" / "HCPC2019_CONTR_ANWEB.txt").read_bytes()


def zip_of(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


@responses.activate
def test_update_finds_fetches_and_ingests_a_new_quarter_with_conditional_requests(tmp_path):
    """January 2027 appears on the quarterly page: found, downloaded (members inside a folder), ingested."""
    from codegov.update import UpdateOptions, run_update

    page = (PAGES / "cms-hcpcs-quarterly-update.html").read_text().replace(
        "<ul>", '<ul>\n<li><a href="/files/zip/january-2027-alpha-numeric-hcpcs-file.zip">January 2027</a></li>', 1)
    responses.get(HCPCS_PAGE, body=page, headers={"ETag": '"v1"'})
    zipped = zip_of({"HCPC2027_JAN/HCPC2027_JAN_ANWEB_12152026.txt": ANWEB_LINE,
                     "HCPC2027_JAN/HCPC2027_recordlayout.txt": b"layout"})
    responses.get("https://www.cms.gov/files/zip/january-2027-alpha-numeric-hcpcs-file.zip", body=zipped)
    codesets = tmp_path / "codesets"
    shutil.copytree(CODESETS, codesets, ignore=shutil.ignore_patterns("releases*", "sample"))
    opts = UpdateOptions(codesets=codesets, cache=tmp_path / "cache", systems=["hcpcs"], releases=["2027-01"],
                         build=tmp_path / "build", checks=False, render=False, site=False,
                         releases_dir=tmp_path / "releases", on=TODAY, workers=1)
    result = run_update(opts)
    assert any("found   hcpcs    2027-01-01 (HCPCS January 2027)" in line for line in result.log)
    manifest = json.loads((tmp_path / "releases" / "hcpcs" / "2027-01-01.manifest.json").read_text())
    assert manifest["label"] == "HCPCS January 2027" and manifest["rows"] > 0
    assert [f["file"] for f in manifest["files"]] == ["HCPC2027_JAN_ANWEB_12152026.txt"]

    # the next run asks the page with If-None-Match; a 304 is read from the cache, the release is not fetched
    responses.reset()
    responses.get(HCPCS_PAGE, status=304, match=[responses.matchers.header_matcher({"If-None-Match": '"v1"'})])
    again = run_update(opts)
    assert any("not modified" in line for line in again.log)
    assert [c.request.url for c in responses.calls] == [HCPCS_PAGE]


@responses.activate
def test_page_cache_reports_403_and_404_plainly(tmp_path):
    responses.get("https://example.org/refused", status=403)
    responses.get("https://example.org/missing", status=404)
    cache = PageCache(tmp_path, requests.Session())
    assert cache.get("https://example.org/missing") is None
    with pytest.raises(CodegovError, match="HTTP 403: the server refused"):
        cache.get("https://example.org/refused")


def test_verify_checks_the_pinned_sha256_of_the_real_files_and_names_a_changed_one(tmp_path, capsys):
    from tests.conftest import shared

    real = shared("hcpcs", "2019-01")
    common = ["--codesets", str(CODESETS), "--releases", str(tmp_path / "none"), "releases", "--offline",
              "--verify", "--format", "csv", "--system", "hcpcs"]
    assert main([*common, "--mirror", str(real.parent.parent)]) == 0
    assert "verified hcpcs    2019-01-01 anweb" in capsys.readouterr().err
    mirror = tmp_path / "mirror" / "hcpcs"
    for month in ("2017-01", "2018-01", "2019-01"):
        shutil.copytree(real.parent / month, mirror / month)
    anweb = mirror / "2019-01" / "HCPC2019_CONTR_ANWEB.txt"
    anweb.write_bytes(anweb.read_bytes()[:-3200])  # the last lines cut: it still parses
    assert main([*common, "--mirror", str(tmp_path / "mirror")]) == 3  # a finding: codegov.options.POLICY
    err = capsys.readouterr().err
    assert f"Error: hcpcs 2019-01-01 (HCPCS 2019) anweb {anweb}: sha256" in err
    assert "is not the pinned c8e38e89b9b4" in err
