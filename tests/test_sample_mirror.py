"""The hand-picked sample mirror: official byte formats, internal consistency, and lines taken from the real files."""

from __future__ import annotations

from collections import Counter

import openpyxl
import pytest

from tests.conftest import SAMPLE, shared

ICD = SAMPLE / "icd10cm"
HCPCS = SAMPLE / "hcpcs"
ORDER_25 = ICD / "FY2025" / "icd10cm_order_2025.txt"
ORDER_26 = ICD / "FY2026" / "icd10cm_order_2026.txt"
CODES_25 = ICD / "FY2025" / "icd10cm_codes_2025.txt"
CODES_26 = ICD / "FY2026" / "icd10cm_codes_2026.txt"
CODES_ADDENDA = ICD / "FY2026" / "icd10cm_codes_addenda_2026.txt"
ORDER_ADDENDA = ICD / "FY2026" / "icd10cm_order_addenda_2026.txt"
CONVERSION = ICD / "FY2026" / "ICD-10-CM-CONVERSION-TABLE-FY2026.xlsx"
ANWEB = {
    "2018-01": HCPCS / "2018-01" / "HCPC2018_CONTR_ANWEB_disc.txt",
    "2019-01": HCPCS / "2019-01" / "HCPC2019_CONTR_ANWEB.txt",
}
DISCLAIMER_LINES = {"2018-01": 11, "2019-01": 8}
TEXT_FILES = sorted([*ICD.rglob("*.txt"), *HCPCS.rglob("*.txt")])


def lines(path) -> list[str]:
    """The file's lines without their CRLF, read as Latin-1 so every byte maps to one character."""
    return path.read_bytes().decode("latin-1").split("\r\n")[:-1]


def records(path) -> list[str]:
    """Addenda record lines: everything before the blank line that opens the summary."""
    text = lines(path)
    return text[: text.index("")]


def order_rows(path) -> dict[tuple[str, str], tuple[str, str]]:
    """(code, billable flag) -> (short title, long title)."""
    return {(ln[6:13].strip(), ln[14]): (ln[16:76].rstrip(), ln[77:]) for ln in lines(path)}


def codes_rows(path) -> dict[str, str]:
    return {ln[:7].strip(): ln[8:] for ln in lines(path)}


def anweb_groups(year: str) -> dict[str, list[str]]:
    """Code -> its record lines (3 + 4s, or 7 + 8s), after the disclaimer lines."""
    groups: dict[str, list[str]] = {}
    for ln in lines(ANWEB[year])[DISCLAIMER_LINES[year]:]:
        groups.setdefault(ln[:5].strip(), []).append(ln)
    return groups


@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(SAMPLE)))
def test_every_line_ends_crlf(path):
    data = path.read_bytes()
    assert data.endswith(b"\r\n")
    assert data.count(b"\n") == data.count(b"\r\n") == data.count(b"\r")


@pytest.mark.parametrize(("order", "codes"), [(ORDER_25, CODES_25), (ORDER_26, CODES_26)], ids=["FY2025", "FY2026"])
def test_order_billable_rows_equal_codes_file(order, codes):
    billable = [(ln[6:13].strip(), ln[77:]) for ln in lines(order) if ln[14] == "1"]
    assert billable == list(codes_rows(codes).items())


@pytest.mark.parametrize("path", [ORDER_25, ORDER_26], ids=["FY2025", "FY2026"])
def test_order_file_is_in_tabular_order_under_header_rows(path):
    text = lines(path)
    numbers = [ln[:5] for ln in text]
    assert numbers == sorted(numbers) and all(n.isdigit() for n in numbers)
    flags = {ln[6:13].strip(): ln[14] for ln in text}
    for code in flags:
        ancestors = [code[:i] for i in range(3, len(code))]
        assert all(flags.get(a) == "0" for a in ancestors if a in flags), code
        assert len(code) == 3 or code[:3] in flags, code


def test_codes_addenda_equal_a_diff_of_the_sample_codes_files():
    before, after = codes_rows(CODES_25), codes_rows(CODES_26)
    entries = Counter()
    for ln in records(CODES_ADDENDA):
        keyword, code, title = ln[:13].strip(), ln[13:20].strip(), ln[21:]
        entries[keyword] += 1
        expected = {"Add:": after, "Delete:": before, "Revise from:": before, "Revise to:": after}[keyword]
        assert expected.get(code) == title, ln
    added, deleted = after.keys() - before.keys(), before.keys() - after.keys()
    revised = {code for code in before.keys() & after.keys() if before[code] != after[code]}
    assert entries == Counter({"Add:": len(added), "Delete:": len(deleted),
                               "Revise from:": len(revised), "Revise to:": len(revised)})
    summary = lines(CODES_ADDENDA)[len(records(CODES_ADDENDA)):]
    assert summary == [
        "", "Codes",
        f"{len(before):7d} codes in icd10cm_order_2025.txt",
        f"{len(after):7d} codes in icd10cm_order_2026.txt",
        f"{len(added):7d} additions", f"{len(deleted):7d} deletions", f"{len(revised):7d} revisions",
    ]


def test_order_addenda_equal_a_diff_of_the_sample_order_files():
    before, after = order_rows(ORDER_25), order_rows(ORDER_26)
    listed = {(ln[:13].strip(), ln[15:22].strip(), ln[13]) for ln in records(ORDER_ADDENDA)}
    added, deleted = after.keys() - before.keys(), before.keys() - after.keys()
    revised = {key for key in before.keys() & after.keys() if before[key] != after[key]}
    assert listed == ({("Add:", code, flag) for code, flag in added}
                      | {("Delete:", code, flag) for code, flag in deleted}
                      | {(kw, code, flag) for code, flag in revised for kw in ("Revise from:", "Revise to:")})

    def block(name: str, flag: str) -> list[str]:
        changed = [key for key in revised if key[1] == flag]
        return [
            "", name,
            f"{sum(key[1] == flag for key in before):7d} {name.lower()} in icd10cm_order_2025.txt",
            f"{sum(key[1] == flag for key in after):7d} {name.lower()} in icd10cm_order_2026.txt",
            f"{sum(key[1] == flag for key in added):7d} additions",
            f"{sum(key[1] == flag for key in deleted):7d} deletions",
            f"{len(changed):7d} revisions",
            "of which",
            f"{sum(before[k][0] != after[k][0] and before[k][1] != after[k][1] for k in changed):7d}"
            " revisions to both long and short titles",
            f"{sum(before[k][0] == after[k][0] for k in changed):7d} revisions to long title only",
            f"{sum(before[k][1] == after[k][1] for k in changed):7d} revisions to short title only",
        ]

    summary = lines(ORDER_ADDENDA)[len(records(ORDER_ADDENDA)):]
    assert summary == block("Headers", "0") + block("Codes", "1")


def test_icd_scenarios_are_present():
    before, after = order_rows(ORDER_25), order_rows(ORDER_26)
    for code in ("G35", "R102", "E7801"):
        assert (code, "1") in before and (code, "0") in after
    assert {"G35A", "G35B0", "G35C0", "G35D", "R1020", "R1024", "E78010", "E11A"} <= {c for c, _ in after}
    assert {("G35B", "0"), ("G35C", "0")} <= after.keys()
    assert before[("Z83718", "1")][1] != after[("Z83718", "1")][1]


def test_conversion_table_layout_and_codes():
    sheet = openpyxl.load_workbook(CONVERSION, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0].startswith("The National Center for Health Statistics (NCHS)")
    assert rows[1] == ("Current code assignment", "Effective", "Previous Code(s) Assignment")
    sample_codes = {code for code, _ in order_rows(ORDER_26)}
    assert all("." in current or len(current) == 3 for current, _, _ in rows[2:])
    assert {current.replace(".", "") for current, _, _ in rows[2:]} <= sample_codes
    assert ("G35.A", 2025, "G35") in rows and ("R10.24", 2025, "R10.2") in rows


@pytest.mark.parametrize("year", sorted(ANWEB))
def test_hcpcs_record_lines(year):
    for number, ln in enumerate(lines(ANWEB[year])[DISCLAIMER_LINES[year]:], DISCLAIMER_LINES[year] + 1):
        assert len(ln) == 320 and ln[10] in "3478" and ln[5:10].isdigit(), f"line {number}"
    for code, group in anweb_groups(year).items():
        first, *rest = group
        continuation = {"3": "4", "7": "8"}[first[10]]
        assert all(ln[10] == continuation for ln in rest), code
        assert [ln[5:10] for ln in group] == [f"{100 * i:05d}" for i in range(1, len(group) + 1)], code


def test_hcpcs_scenarios_are_present():
    g18, g19 = anweb_groups("2018-01"), anweb_groups("2019-01")
    for code in ("G9890", "G9891"):
        assert g18[code][0][268:276] == "20180101" and g19[code][0][268:276] == "20180401"
        assert g18[code][0][11:91] != g19[code][0][11:91]
    assert {"DA", "G9976", "G9977"} <= g18.keys() and not {"DA", "G9976", "G9977"} & g19.keys()
    for code, xrefs in {"C9029": "J1628", "C9465": "J7318", "C9744": "7697876979"}.items():
        record = g19[code][0]
        assert (record[292], record[284:292], record[204:229].strip()) == ("D", "20181231", xrefs)
    assert {g19[code][0][292] for code in ("J1628", "J7318", "G2010", "G2012")} == {"A"}
    assert {g19[code][0][292] for code in ("A9273", "E0218", "QE")} == {"C"}
    assert {"95", "50", "59", "G2211"}.isdisjoint(g18.keys() | g19.keys())


@pytest.mark.realdata
@pytest.mark.parametrize("path", TEXT_FILES, ids=lambda p: str(p.relative_to(SAMPLE)))
def test_sample_lines_are_real_lines_in_file_order(path):
    relative = path.relative_to(SAMPLE)
    real = iter(lines(shared(*relative.parts)))
    taken = records(path) if "addenda" in path.name else lines(path)
    missing = [ln for ln in taken if not any(ln == candidate for candidate in real)]
    assert not missing, f"{relative}: not a line of the real file (or out of order): {missing[0]!r}"


@pytest.mark.realdata
def test_conversion_rows_are_real_rows():
    real_sheet = openpyxl.load_workbook(shared("icd10cm", "FY2026", CONVERSION.name), read_only=True).active
    real_rows = list(real_sheet.iter_rows(values_only=True))
    sample_rows = list(openpyxl.load_workbook(CONVERSION, read_only=True).active.iter_rows(values_only=True))
    assert sample_rows[:2] == real_rows[:2]
    assert set(sample_rows[2:]) <= set(real_rows[2:])
