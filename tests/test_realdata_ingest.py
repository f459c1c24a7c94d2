"""The official releases in ../shared/data/cms parse to the counts the publishers state."""

from __future__ import annotations

import pytest

from ingest.parse_hcpcs import parse_anweb
from ingest.parse_icd10cm import parse_addenda, parse_codes, parse_conversion, parse_order
from tests.conftest import shared

pytestmark = pytest.mark.realdata

ICD = {
    "FY2024": ("icd10cm-order-2024.txt", "icd10cm-codes-2024.txt", 97_296, 74_044),
    "FY2025": ("icd10cm_order_2025.txt", "icd10cm_codes_2025.txt", 97_584, 74_260),
    "FY2026": ("icd10cm_order_2026.txt", "icd10cm_codes_2026.txt", 98_186, 74_719),
}
HCPCS = {
    "2017-01": ("HCPC17_CONTR_ANWEB.txt", 6_155, 343, 530,
                {"A": 278, "B": 1, "C": 124, "D": 147, "F": 1, "N": 5902, "P": 38, "R": 1, "S": 2, "T": 4}),
    "2018-01": ("HCPC2018_CONTR_ANWEB_disc.txt", 6_205, 354, 466,
                {"A": 152, "C": 50, "D": 40, "F": 2, "N": 6232, "P": 64, "S": 19}),
    "2019-01": ("HCPC2019_CONTR_ANWEB.txt", 6_440, 360, 515,
                {"A": 228, "B": 1, "C": 94, "D": 49, "F": 1, "N": 6372, "P": 47, "S": 8}),
}


@pytest.mark.parametrize("fy", sorted(ICD))
def test_icd10cm_order_and_codes_counts(fy):
    order_name, codes_name, rows, billable = ICD[fy]
    order = parse_order(shared("icd10cm", fy, order_name))
    codes = parse_codes(shared("icd10cm", fy, codes_name))
    assert len(order) == rows
    assert (order["billable"] == "1").sum() == billable == len(codes)
    billable_rows = order[order["billable"] == "1"].set_index("code")["long_desc"]
    assert billable_rows.sort_index().equals(codes.set_index("code")["long_desc"].sort_index())


@pytest.mark.parametrize("year", sorted(HCPCS))
def test_hcpcs_counts_and_action_codes(year):
    name, procedures, modifiers, terminated, actions = HCPCS[year]
    df = parse_anweb(shared("hcpcs", year, name))
    assert (df["kind"] == "procedure").sum() == procedures
    assert (df["kind"] == "modifier").sum() == modifiers
    assert (df["termination_date"] != "").sum() == terminated
    assert df["action_code"].value_counts().to_dict() == actions


def test_reused_hcpcs_codes_have_different_meanings():
    y2018 = parse_anweb(shared("hcpcs", "2018-01", "HCPC2018_CONTR_ANWEB_disc.txt")).set_index("code")
    y2019 = parse_anweb(shared("hcpcs", "2019-01", "HCPC2019_CONTR_ANWEB.txt")).set_index("code")
    assert y2018.loc["G9890", "short_desc"] == "Mac exam perf"
    assert y2019.loc["G9890", "short_desc"] == "Em bridge payment"
    assert y2018.loc["G9890", "add_date"] != y2019.loc["G9890", "add_date"]


def test_addenda_footer_counts():
    adds = parse_addenda(shared("icd10cm", "FY2026", "icd10cm_codes_addenda_2026.txt"))
    assert adds["action"].value_counts().to_dict() == {"add": 487, "revise_from": 38, "revise_to": 38, "delete": 28}
    order = parse_addenda(shared("icd10cm", "FY2026", "icd10cm_order_addenda_2026.txt"))
    assert (order["action"] == "add").sum() == 487 + 143


def test_conversion_table_maps_g35_children():
    conv = parse_conversion(shared("icd10cm", "FY2026", "ICD-10-CM-CONVERSION-TABLE-FY2026.xlsx"))
    g35 = conv[conv["code"].str.startswith("G35")]
    assert set(g35["previous"]) == {"G35"}
    assert {"G35A", "G35B0", "G35C1"} <= set(g35["code"])
    ranged = conv[conv["previous"].str.contains("-")]
    assert "H02101-H02106" in " ".join(ranged["previous"])
