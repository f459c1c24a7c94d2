"""The ICD-10-CM self-proof on the real files: FY2024->FY2025 and FY2025->FY2026 pass; a line cut from an
order or codes file, a title changed, a code swapped, or another year's files in the folder are refused
with the file and the line or code named, and nothing is stored."""

from __future__ import annotations

import shutil

import pytest

from ingest.build import build_table, ingest_release
from ingest.model import CodegovError, ParseError
from ingest.proof import check_file_years
from ingest.proof_icd10cm import prove_icd10cm
from ingest.sources import load_sources
from ingest.store import list_releases
from tests.conftest import CODESETS, shared


@pytest.fixture(scope="module")
def sources():
    return load_sources(CODESETS)


@pytest.fixture(scope="module")
def fy2025_built(sources):
    """FY2025 built from the real files once for the module: (its table, its files)."""
    return build_table(sources, sources.resolve("icd10cm", "FY2025"), shared("icd10cm", "FY2025"), CODESETS)


@pytest.fixture(scope="module")
def fy2025(fy2025_built):
    return fy2025_built[0]


def _copy(tmp_path, fy: str):
    folder = tmp_path / fy
    shutil.copytree(shared("icd10cm", fy), folder)
    return folder


def _build(sources, name, folder):
    release = sources.resolve("icd10cm", name)
    table, files = build_table(sources, release, folder, CODESETS)
    return table, files


def test_the_real_releases_pass_and_say_what_was_proven(sources, fy2025, fy2025_built):
    table, files = _build(sources, "FY2026", shared("icd10cm", "FY2026"))
    evidence = prove_icd10cm(files, table, fy2025, "FY2025")
    assert evidence == ["counts: 74,719 codes and 23,467 headers, as icd10cm_order_addenda_2026.txt says",
                        "replay: FY2025 plus icd10cm_order_addenda_2026.txt gives icd10cm_order_2026.txt code for code",
                        "replay: FY2025 plus icd10cm_codes_addenda_2026.txt gives the billable codes"]
    fy2024 = build_table(sources, sources.resolve("icd10cm", "FY2024"), shared("icd10cm", "FY2024"), CODESETS)[0]
    files25 = fy2025_built[1]  # what _build(sources, "FY2025", shared("icd10cm", "FY2025")) gives
    assert len(prove_icd10cm(files25, fy2025, fy2024, "FY2024")) == 3
    # without the previous release, the counts alone
    assert prove_icd10cm(files, table, None)[1].startswith("replay: no previous release")


def _lines(path) -> list[str]:
    return path.read_bytes().decode().split("\r\n")


def _drop_line(path, number: int) -> str:
    lines = path.read_bytes().split(b"\r\n")
    gone = lines.pop(number - 1)
    path.write_bytes(b"\r\n".join(lines))
    return gone.decode()


@pytest.mark.parametrize("line", [1, 2, 50_000, 98_186])
def test_any_order_line_cut_is_refused_naming_the_code(tmp_path, sources, fy2025, line):
    folder = _copy(tmp_path, "FY2026")
    gone = _drop_line(folder / "icd10cm_order_2026.txt", line)
    code, billable = gone[6:13].strip(), gone[14] == "1"
    if billable:  # the codes file still lists it: the order/codes cross-check refuses it first
        with pytest.raises(ParseError, match=rf"icd10cm_codes_2026.txt: expected the same billable codes.*"
                                             rf"first {code}"):
            _build(sources, "FY2026", folder)
        return
    table, files = _build(sources, "FY2026", folder)
    from ingest.parse_icd10cm import dotted

    with pytest.raises(ParseError, match=rf"icd10cm_order_2026.txt: .*first difference: {dotted(code)} is missing"):
        prove_icd10cm(files, table, fy2025, "FY2025")
    # with no previous release, the addenda's counts refuse it, and the order numbers give the line
    with pytest.raises(ParseError, match=r"icd10cm_order_2026.txt(:\d+)?: expected 23,467 headers.*found 23,466"):
        prove_icd10cm(files, table, None)


def test_the_same_line_cut_from_order_and_codes_files_is_refused(tmp_path, sources, fy2025):
    folder = _copy(tmp_path, "FY2026")
    order_line = next(i for i, ln in enumerate(_lines(folder / "icd10cm_order_2026.txt"), 1)
                      if ln[6:13].strip() == "E119")
    _drop_line(folder / "icd10cm_order_2026.txt", order_line)
    codes_line = next(i for i, ln in enumerate(_lines(folder / "icd10cm_codes_2026.txt"), 1)
                      if ln[:8].strip() == "E119")
    _drop_line(folder / "icd10cm_codes_2026.txt", codes_line)
    table, files = _build(sources, "FY2026", folder)
    with pytest.raises(ParseError, match=r"first difference: E11\.9 is missing"):
        prove_icd10cm(files, table, fy2025, "FY2025")
    with pytest.raises(ParseError, match=rf"icd10cm_order_2026.txt:{order_line}: expected 74,719 codes"):
        prove_icd10cm(files, table, None)


def test_a_title_changed_or_a_code_swapped_is_refused(tmp_path, sources, fy2025):
    folder = _copy(tmp_path, "FY2026")
    order = folder / "icd10cm_order_2026.txt"
    text = order.read_bytes()
    order.write_bytes(text.replace(b"Cholera due to Vibrio cholerae 01, biovar eltor              Cholera due",
                                   b"Cholera due to Vibrio cholerae 01, biovar ELTOR              Cholera due", 1))
    table, files = _build(sources, "FY2026", folder)
    with pytest.raises(ParseError, match=r"first difference: A00\.1 has the short title"):
        prove_icd10cm(files, table, fy2025, "FY2025")
    order.write_bytes(text.replace(b" A00     0 Cholera", b" A0Z     0 Cholera", 1))  # a header renamed
    table, files = _build(sources, "FY2026", folder)
    with pytest.raises(ParseError, match=r"first difference: A00 is missing"):
        prove_icd10cm(files, table, fy2025, "FY2025")


def test_an_addenda_page_that_is_html_is_refused(tmp_path, sources, fy2025):
    folder = _copy(tmp_path, "FY2026")
    (folder / "icd10cm_order_addenda_2026.txt").write_bytes(b"<!DOCTYPE html><html><body>Moved</body></html>")
    table, files = _build(sources, "FY2026", folder)
    with pytest.raises(ParseError, match="icd10cm_order_addenda_2026.txt:1: expected an ICD-10-CM addenda file, "
                                         "got an HTML page"):
        prove_icd10cm(files, table, fy2025, "FY2025")


def test_another_years_files_in_the_folder_are_refused(tmp_path, sources):
    folder = tmp_path / "FY2026"
    shutil.copytree(shared("icd10cm", "FY2025"), folder)  # FY2025 files placed in the FY2026 folder
    release = sources.resolve("icd10cm", "FY2026")
    files = sources.find_files("icd10cm", folder)
    with pytest.raises(ParseError, match=r"icd10cm_codes_2025.txt: expected a codes file of fiscal year 2026 "
                                         r"for .*its name says 2025"):
        check_file_years(release, files)
    out = tmp_path / "releases"
    with pytest.raises(CodegovError, match="fiscal year 2026"):
        ingest_release(sources, release, folder, out, CODESETS)
    assert list_releases(out, "icd10cm") == []


def test_hcpcs_names_give_the_year_and_quarter(tmp_path, sources):
    release = sources.resolve("hcpcs", "2026-07")
    ok = tmp_path / "HCPC2026_JUL_ANWEB_06172026.txt"
    check_file_years(release, {"anweb": ok})
    check_file_years(sources.resolve("hcpcs", "2017-01"), {"anweb": tmp_path / "HCPC17_CONTR_ANWEB.txt"})
    with pytest.raises(ParseError, match="expected the July file"):
        check_file_years(release, {"anweb": tmp_path / "HCPC2026_APR_ANWEB.txt"})
    with pytest.raises(ParseError, match="its name says 2025"):
        check_file_years(release, {"anweb": tmp_path / "HCPC2025_JUL_ANWEB.txt"})
