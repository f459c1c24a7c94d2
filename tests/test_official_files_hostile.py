"""Official files that are damaged or hostile beyond what the parsers' own tests try: a line of 64 MiB, a
conversion table that is not a workbook. Each is one line naming the file (and line)."""

from __future__ import annotations

import shutil

import pytest

from ingest.model import ParseError
from ingest.parse_icd10cm import parse_conversion, parse_order
from tests.conftest import SAMPLE


def test_a_huge_line_is_refused_naming_it_before_arrow_sees_it(tmp_path):
    path = tmp_path / "icd10cm_order_2026.txt"
    good = (SAMPLE / "icd10cm" / "FY2026" / "icd10cm_order_2026.txt").read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join([*good[:3], b"X" * (64 << 20), *good[3:]]))
    with pytest.raises(ParseError, match=r"icd10cm_order_2026.txt:4: expected .* records of at most 65,536 bytes, "
                                         r"found a line of 67,108,86[45] bytes"):
        parse_order(path)


def test_a_conversion_table_that_is_not_a_workbook_names_the_file(tmp_path):
    path = tmp_path / "ICD-10-CM-CONVERSION-TABLE-FY2026.xlsx"
    shutil.copy(SAMPLE / "icd10cm" / "FY2026" / "icd10cm_order_2026.txt", path)
    with pytest.raises(ParseError, match=r"ICD-10-CM-CONVERSION-TABLE-FY2026.xlsx: expected the conversion table "
                                         r"workbook \(xlsx\), could not read it"):
        parse_conversion(path)
