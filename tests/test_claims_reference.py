"""The CMS NCCI PTP and MUE readers on the shipped samples and on broken variants of their layouts."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from claims.mue import effective_from_name, read_mue
from claims.ncci import part_name, read_ptp, read_ptp_files
from ingest.model import ParseError
from tests.conftest import SAMPLE

PTP = SAMPLE / "ncci" / "ccipra-sample-f1.txt"
MUE = SAMPLE / "mue" / "MCR_MUE_PractitionerServices_Eff_01-01-2025_sample.csv"


def test_ptp_sample_reads_in_the_official_layout():
    ptp = read_ptp(PTP)
    assert len(ptp) == 10
    first = ptp.iloc[0]
    assert (first["column1"], first["column2"], first["modifier_indicator"], first["line"]) == (
        "11055", "11056", "0", 4)
    assert first["effective"] == pd.Timestamp("2000-01-01") and pd.isna(first["deletion"])
    deleted = ptp[(ptp["column1"] == "97116")].iloc[0]
    assert deleted["deletion"] == pd.Timestamp("2021-01-01")
    assert ptp.loc[ptp["column1"] == "73562", "prior_1996"].item()
    assert set(ptp["modifier_indicator"]) == {"0", "1", "9"}
    assert PTP.read_bytes().count(b"\r\n") == 13  # CRLF like the CMS files


def test_ptp_header_continuation_rows_and_blank_lines_are_skipped(tmp_path):
    text = PTP.read_text(encoding="cp1252").replace(
        "PTP Edit Rationale\n", "PTP Edit Rationale\n\t\t\t\t*=no data\t1=allowed\t\n\n")
    path = tmp_path / "ccipra-v321r0-f1.txt"
    path.write_text(text, encoding="cp1252")
    assert len(read_ptp(path)) == 10
    assert part_name(path) == "ccipra-v321r0"


@pytest.mark.parametrize("old, new, line, expected", [
    ("11055\t11056\t\t20000101", "11055\t11056\t\t2000-01-01", 4, "an effective date YYYYMMDD"),
    ("\t*\t0\tMutually", "\t*\t3\tMutually", 4, "a modifier indicator 0, 1 or 9"),
    ("97116\t97530\t\t20200101\t20210101", "97116\t97530\t\t20200101\t2021", 9, "a deletion date"),
    ("36591\t36415", "3659\t36415", 6, "a column 1 code"),
    ("20200101\t20200101\t9", "20200101\t20201301\t9", 13, "calendar dates"),
])
def test_ptp_broken_rows_name_the_file_and_line(tmp_path, old, new, line, expected):
    path = tmp_path / "ptp.txt"
    path.write_text(PTP.read_text(encoding="cp1252").replace(old, new), encoding="cp1252")
    with pytest.raises(ParseError, match=f"ptp.txt:{line}: expected {expected}"):
        read_ptp(path)


def test_ptp_without_its_header_is_an_error(tmp_path):
    path = tmp_path / "ptp.txt"
    path.write_text("11055\t11056\t\t20000101\t*\t0\tx\n")
    with pytest.raises(ParseError, match="'Column 1' and 'Column 2'"):
        read_ptp(path)


def test_ptp_parts_concatenate():
    assert len(read_ptp_files([PTP, PTP])) == 20
    assert list(read_ptp_files([]).columns) == list(read_ptp(PTP).columns)


def test_mue_sample_reads_in_the_official_layout():
    mue = read_mue(MUE)
    assert len(mue) == 13
    row = mue.set_index("code").loc["97110"]
    assert (row["mue"], row["mai"], row["rationale"], row["line"]) == (4, 3, "Clinical: Data", 9)
    assert mue.set_index("code").loc["20610", "mai"] == 1
    assert (mue["effective"] == pd.Timestamp("2025-01-01")).all()


def test_mue_effective_date_comes_from_the_name_or_the_rule_file(tmp_path):
    assert effective_from_name("MCR_MUE_PractitionerServices_Eff_04-01-2026.csv") == dt.date(2026, 4, 1)
    assert effective_from_name("mue.csv") is None
    path = tmp_path / "mue.csv"
    path.write_bytes(MUE.read_bytes())
    with pytest.raises(ParseError, match="effective date in the file name"):
        read_mue(path)
    assert (read_mue(path, dt.date(2026, 1, 1))["effective"] == pd.Timestamp("2026-01-01")).all()


@pytest.mark.parametrize("old, new, expected", [
    ("97110,4,", "97110,four,", "an MUE value"),
    ("97110,4,\"3 Date", "97110,4,\"5 Date", "adjudication indicator 1, 2 or 3"),
    ("97110,4,", "9711,4,", "a HCPCS/CPT code"),
    ("97112,4,", "97110,4,", "one row per code"),
    ("\"HCPCS/\nCPT Code\"", "\"Code\"", "a header row starting 'HCPCS/CPT Code'"),
])
def test_mue_broken_rows_are_errors(tmp_path, old, new, expected):
    path = tmp_path / "MCR_MUE_PractitionerServices_Eff_01-01-2025.csv"
    text = MUE.read_bytes().decode("cp1252")
    assert old in text
    path.write_bytes(text.replace(old, new).encode("cp1252"))
    with pytest.raises(ParseError, match=expected):
        read_mue(path)
