"""An organisation's own NCCI PTP and MUE files (reference: lists of paths), read by the one parser per layout
(ingest.parse_edits) on the older hand-written samples and on broken variants of their layouts."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from claims.reference import PTP_COLUMNS, mue_from_file, ptp_from_files
from ingest.model import ParseError
from ingest.parse_edits import mue_effective, mue_rows, ptp_part
from tests.conftest import SAMPLE

PTP = SAMPLE / "ncci" / "ccipra-sample-f1.txt"
MUE = SAMPLE / "mue" / "MCR_MUE_PractitionerServices_Eff_01-01-2025_sample.csv"


def test_ptp_sample_reads_in_the_official_layout():
    ptp = ptp_from_files([PTP], "practitioner")
    assert list(ptp.columns) == list(PTP_COLUMNS) and len(ptp) == 10
    first = ptp.iloc[0]
    assert (first["column1"], first["column2"], first["modifier_indicator"]) == ("11055", "11056", "0")
    assert first["effective"] == pd.Timestamp("2000-01-01") and pd.isna(first["deletion"])
    deleted = ptp[(ptp["column1"] == "97116")].iloc[0]
    assert deleted["deletion"] == pd.Timestamp("2021-01-01")
    assert ptp.loc[ptp["column1"] == "73562", "prior_1996"].item()
    assert set(ptp["modifier_indicator"]) == {"0", "1", "9"}
    assert ptp["effective"].dtype == np.dtype("datetime64[ns]") == ptp["deletion"].dtype
    assert PTP.read_bytes().count(b"\r\n") == 13  # CRLF like the CMS files


def test_ptp_header_continuation_rows_and_blank_lines_are_skipped(tmp_path):
    text = PTP.read_text(encoding="cp1252").replace(
        "PTP Edit Rationale\n", "PTP Edit Rationale\n\t\t\t\t*=no data\t1=allowed\t\n\n")
    path = tmp_path / "ccipra-v321r0-f1.txt"
    path.write_text(text, encoding="cp1252")
    assert len(ptp_from_files([path], "practitioner")) == 10
    assert ptp_part(path) == 1


@pytest.mark.parametrize("old, new, line, expected", [
    ("11055\t11056\t\t20000101", "11055\t11056\t\t2000-01-01", 4, "an effective date YYYYMMDD"),
    ("\t*\t0\tMutually", "\t*\t3\tMutually", 4, "a modifier indicator 0, 1 or 9"),
    ("97116\t97530\t\t20200101\t20210101", "97116\t97530\t\t20200101\t2021", 9, "a deletion date"),
    ("36591\t36415", "3659\t36415", 6, "a column 1 code"),
    # not a calendar date: ingest.parse_edits names the field (claims.ncci said 'calendar dates')
    ("20200101\t20200101\t9", "20200101\t20201301\t9", 13, "a deletion date YYYYMMDD or \\*, found '20201301'"),
])
def test_ptp_broken_rows_name_the_file_and_line(tmp_path, old, new, line, expected):
    path = tmp_path / "ptp.txt"
    path.write_text(PTP.read_text(encoding="cp1252").replace(old, new), encoding="cp1252")
    with pytest.raises(ParseError, match=f"ptp.txt:{line}: expected {expected}"):
        ptp_from_files([path], "practitioner")


def test_ptp_without_its_header_is_an_error(tmp_path):
    path = tmp_path / "ptp.txt"
    path.write_text("11055\t11056\t\t20000101\t*\t0\tx\n")
    with pytest.raises(ParseError, match="'Column 1' and 'Column 2'"):
        ptp_from_files([path], "practitioner")


def test_ptp_parts_concatenate():
    assert len(ptp_from_files([PTP, PTP], "practitioner")) == 20
    assert list(ptp_from_files([], "practitioner").columns) == list(ptp_from_files([PTP], "practitioner").columns)


def test_mue_sample_reads_in_the_official_layout():
    table = mue_from_file(MUE, None, "practitioner")
    assert table.start == np.datetime64("2025-01-01", "ns") and table.end is None
    mue = table.frame
    assert len(mue) == 13 and list(mue.columns) == ["code", "mue", "mai", "rationale"]
    row = mue.set_index("code").loc["97110"]
    assert (row["mue"], row["mai"], row["rationale"]) == (4, 3, "Clinical: Data")
    assert mue.set_index("code").loc["20610", "mai"] == 1
    assert [r for r in mue_rows(MUE) if r[0] == "97110"] == [("97110", 4, 3, "Clinical: Data", 9)]


def test_mue_effective_date_comes_from_the_name_or_the_rule_file(tmp_path):
    assert mue_effective("MCR_MUE_PractitionerServices_Eff_04-01-2026.csv") == dt.date(2026, 4, 1)
    assert mue_effective("mue.csv") is None
    path = tmp_path / "mue.csv"
    path.write_bytes(MUE.read_bytes())
    with pytest.raises(ParseError, match="effective date in the file name"):
        mue_from_file(path, None, "practitioner")
    assert mue_from_file(path, dt.date(2026, 1, 1), "practitioner").start == np.datetime64("2026-01-01", "ns")


def test_mue_file_of_another_setting_is_refused():
    with pytest.raises(ParseError, match=r":4: expected the Outpatient Hospital Services MUE table, its values "
                                         "column is 'Practitioner Services MUE Values'"):
        mue_from_file(MUE, None, "hospital")


@pytest.mark.parametrize("old, new, line, expected", [
    ("97110,4,", "97110,four,", 9, "an MUE value"),
    ("97110,4,\"3 Date", "97110,4,\"5 Date", 9, "adjudication indicator 1, 2 or 3"),
    ("97110,4,", "9711,4,", 9, "a HCPCS/CPT code"),
    ("97112,4,", "97110,4,", 10, "one row per code"),
    ("\"HCPCS/\nCPT Code\"", "\"Code\"", None, "a header row starting 'HCPCS/CPT Code'"),
])
def test_mue_broken_rows_are_errors(tmp_path, old, new, line, expected):
    path = tmp_path / "MCR_MUE_PractitionerServices_Eff_01-01-2025.csv"
    text = MUE.read_bytes().decode("cp1252")
    assert old in text
    path.write_bytes(text.replace(old, new).encode("cp1252"))
    where = f"{path.name}:{line}" if line else path.name
    with pytest.raises(ParseError, match=f"{where}: expected {expected}"):
        mue_from_file(path, None, "practitioner")
