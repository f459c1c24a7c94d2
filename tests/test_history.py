"""Validity by date of service: ICD-10-CM October/April releases, HCPCS add/termination dates and reuse, POS."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ingest.history import ReleaseHistory, guess_system
from ingest.model import COLUMNS
from ingest.store import table_bytes

D = dt.date


def table(system: str, release: str, rows: list[dict]) -> pd.DataFrame:
    """A release table with exactly ingest.model.COLUMNS, all strings."""
    out = []
    for r in rows:
        row = {c: "" for c in COLUMNS}
        row.update(system=system, release=release, **r)
        if not row["display_code"]:
            code = row["code"]
            row["display_code"] = code if system != "icd10cm" or len(code) <= 3 else f"{code[:3]}.{code[3:]}"
        out.append(row)
    return pd.DataFrame(out, columns=list(COLUMNS)).astype(str)


def icd(release: str, end: str, codes: dict[str, tuple[int, str]]) -> pd.DataFrame:
    return table("icd10cm", release, [
        {"code": c, "kind": "code" if b else "header", "billable": str(b), "long_desc": d,
         "effective_start": release, "effective_end": end} for c, (b, d) in codes.items()])


def hcpcs(release: str, rows: list[tuple]) -> pd.DataFrame:
    """rows: (code, kind, desc, add_date, termination_date, xrefs)."""
    return table("hcpcs", release, [
        {"code": c, "kind": k, "long_desc": d, "add_date": a, "termination_date": t, "xrefs": x,
         "billable": "0" if t and t < release else "1", "effective_start": a or release, "effective_end": t}
        for c, k, d, a, t, x in rows])


def pos(release: str, rows: list[tuple]) -> pd.DataFrame:
    return table("pos", release, [{"code": c, "kind": "pos", "billable": "1", "long_desc": d,
                                   "effective_start": s, "effective_end": e} for c, d, s, e in rows])


BASE = {"E11": (0, "Type 2 diabetes mellitus"), "E119": (1, "Type 2 diabetes mellitus without complications"),
        "G35": (1, "Multiple sclerosis"), "M545": (0, "Low back pain"), "M5450": (1, "Low back pain, unspecified"),
        "M5459": (1, "Other low back pain"), "Z86010": (1, "Personal history of colonic polyps")}


@pytest.fixture(scope="module")
def history() -> ReleaseHistory:
    fy25 = dict(BASE)
    april = dict(BASE, E11A=(1, "Type 2 diabetes mellitus without complications in remission"))
    fy26 = dict(april)
    fy26.update(G35=(0, "Multiple sclerosis"), G35A=(1, "Relapsing-remitting multiple sclerosis"),
                G35D=(1, "Multiple sclerosis, unspecified"))
    del fy26["Z86010"]
    tables = {
        ("icd10cm", "2024-10-01"): icd("2024-10-01", "2025-09-30", fy25),
        ("icd10cm", "2025-04-01"): icd("2025-04-01", "2025-09-30", april),
        ("icd10cm", "2025-10-01"): icd("2025-10-01", "2026-09-30", fy26),
        ("hcpcs", "2018-01-01"): hcpcs("2018-01-01", [
            ("G9890", "procedure", "Dilated macular exam performed", "2018-01-01", "", ""),
            ("C9029", "procedure", "Injection, guselkumab, 1 mg", "2017-07-01", "", ""),
            ("G9976", "procedure", "Documentation of patient reason", "2018-01-01", "", ""),
            ("GP", "modifier", "Services delivered under an outpatient physical therapy plan of care",
             "1999-01-01", "", "")]),
        ("hcpcs", "2019-01-01"): hcpcs("2019-01-01", [
            ("G9890", "procedure", "Bridge payment: a one-time payment for the first MDPP session",
             "2018-04-01", "", ""),
            ("C9029", "procedure", "Injection, guselkumab, 1 mg", "2017-07-01", "2018-12-31", "J1628"),
            ("C9465", "procedure", "Hyaluronan or derivative, durolane", "2018-07-01", "2018-12-31", "J7318"),
            ("J1628", "procedure", "Injection, guselkumab, 1 mg", "2019-01-01", "", ""),
            ("J7318", "procedure", "Hyaluronan or derivative, durolane", "2019-04-01", "", ""),
            ("GP", "modifier", "Services delivered under an outpatient physical therapy plan of care",
             "1999-01-01", "", "")]),
        ("pos", "2022-01-01"): pos("2022-01-01", [("02", "Telehealth Provided Other than in Patient's Home",
                                                   "2022-01-01", ""), ("11", "Office", "2003-01-01", "")]),
        ("pos", "2023-10-01"): pos("2023-10-01", [("02", "Telehealth Provided Other than in Patient's Home",
                                                   "2022-01-01", ""), ("11", "Office", "2003-01-01", ""),
                                                  ("27", "Outreach Site/Street", "2023-10-01", "")]),
    }
    return ReleaseHistory(tables)


def test_valid_billable_code_accepts_dots_and_lower_case(history):
    for raw in ("E11.9", "e119", " e11.9 "):
        v = history.lookup(raw, D(2025, 1, 15))
        assert (v.system, v.code, v.display_code, v.status, v.billable) == ("icd10cm", "E119", "E11.9", "valid", True)
        assert v.release == "2024-10-01" and v.since == D(2024, 10, 1)
        assert v.description == "Type 2 diabetes mellitus without complications"


def test_header_needs_more_characters_and_lists_its_children(history):
    v = history.lookup("M54.5", D(2025, 1, 15))
    assert (v.status, v.billable) == ("header", False)
    assert v.replacements == [("M54.50", "children"), ("M54.59", "children")]
    assert "needs more characters" in v.message


def test_code_that_became_a_header_is_deleted_since_that_release_with_its_children(history):
    before = history.lookup("G35", D(2025, 9, 30))
    assert before.status == "valid"
    v = history.lookup("G35", D(2025, 10, 1))
    assert (v.status, v.billable, v.since, v.release) == ("deleted", False, D(2025, 10, 1), "2025-10-01")
    assert v.replacements == [("G35.A", "children"), ("G35.D", "children")]
    assert "became a header on 2025-10-01" in v.message


def test_april_release_is_in_force_from_april(history):
    assert history.lookup("E11.A", D(2025, 3, 31)).status == "not-yet-effective"
    assert history.lookup("E11.A", D(2025, 3, 31)).since == D(2025, 4, 1)
    v = history.lookup("E11.A", D(2025, 4, 1))
    assert (v.status, v.release, v.since) == ("valid", "2025-04-01", D(2025, 4, 1))
    assert history.lookup("E11.9", D(2025, 6, 1)).release == "2025-04-01"


def test_removed_code_is_deleted_with_replacements_from_an_added_source(history):
    v = history.lookup("Z86.010", D(2025, 12, 1))
    assert (v.status, v.since, v.replacements) == ("deleted", D(2025, 10, 1), [])
    h = ReleaseHistory({k: t for k, t in history_tables(history).items()})
    h.add_replacement_source("icd10cm", lambda code, release: [("Z86.0100", "conversion")] if code == "Z86010"
                             else [])
    v = h.lookup("Z86.010", D(2025, 12, 1))
    assert v.replacements == [("Z86.0100", "conversion")]
    assert "replaced by Z86.0100" in v.message


def history_tables(history: ReleaseHistory) -> dict:
    """The fixture's tables again (ReleaseHistory keeps arrays, not the frames)."""
    return {("icd10cm", "2024-10-01"): icd("2024-10-01", "2025-09-30", BASE),
            ("icd10cm", "2025-10-01"): icd("2025-10-01", "2026-09-30",
                                           {k: v for k, v in BASE.items() if k != "Z86010"})}


def test_dates_no_release_covers_are_unknown_not_invalid(history):
    for day in (D(2024, 9, 30), D(2026, 10, 1)):
        v = history.lookup("E11.9", day)
        assert (v.status, v.release) == ("unknown", None)
        assert "no loaded ICD-10-CM release covers" in v.message
    assert history.coverage("icd10cm") == (D(2024, 10, 1), D(2026, 9, 30))
    assert history.coverage("hcpcs") == (D(2018, 1, 1), D(2019, 12, 31))  # newest file + 12 months


def test_code_in_no_release_is_unknown(history):
    v = history.lookup("Z99.99", D(2025, 1, 1))
    assert (v.status, v.release) == ("unknown", "2024-10-01")
    assert "in no loaded ICD-10-CM release" in v.message


def test_reused_hcpcs_code_answers_with_the_meaning_in_force(history):
    jan = history.lookup("G9890", D(2018, 2, 1))
    assert (jan.status, jan.release) == ("valid", "2018-01-01")
    assert jan.description.startswith("Dilated macular exam")
    june = history.lookup("g9890", D(2018, 6, 1))  # re-added 2018-04-01: the 2019 file's meaning
    assert (june.status, june.since) == ("valid", D(2018, 4, 1))
    assert june.description.startswith("Bridge payment")
    assert history.lookup("G9890", D(2019, 6, 1)).description.startswith("Bridge payment")


def test_hcpcs_termination_and_add_dates(history):
    v = history.lookup("C9029", D(2019, 3, 1))
    assert (v.status, v.since, v.replacements) == ("deleted", D(2019, 1, 1), [("J1628", "xref")])
    assert history.lookup("C9029", D(2018, 12, 31)).status == "valid"
    mid = history.lookup("C9465", D(2018, 8, 1))  # added and ended between the two annual files
    assert (mid.status, mid.since) == ("valid", D(2018, 7, 1))
    assert history.lookup("C9465", D(2019, 2, 1)).replacements == [("J7318", "xref")]
    early = history.lookup("J7318", D(2019, 2, 1))  # in the 2019 file, added 2019-04-01
    assert (early.status, early.since) == ("not-yet-effective", D(2019, 4, 1))
    gone = history.lookup("G9976", D(2019, 2, 1))  # vanished with no termination date
    assert (gone.status, gone.since) == ("deleted", D(2019, 1, 1))
    assert history.lookup("GP", D(2019, 2, 1)).status == "valid"


def test_pos_codes_by_snapshot(history):
    assert history.lookup("2", D(2023, 1, 1)).code == "02"
    assert history.lookup("2", D(2023, 1, 1)).status == "valid"
    v = history.lookup("27", D(2023, 1, 1))
    assert (v.status, v.since) == ("not-yet-effective", D(2023, 10, 1))
    assert history.lookup("27", D(2024, 1, 1), system="pos").status == "valid"
    assert history.lookup("02", D(2021, 6, 1)).status == "unknown"  # before the first snapshot


def test_cpt_is_recognised_but_not_validated(history):
    for code in ("99213", "0591T"):
        v = history.lookup(code, D(2025, 1, 1))
        assert (v.system, v.status, v.billable) == ("cpt", "unknown", False)
        assert "AMA" in v.message


@pytest.mark.parametrize("code, system", [
    ("E11.9", "icd10cm"), ("e119", "icd10cm"), ("M54.50", "icd10cm"), ("S83511A", "icd10cm"),
    ("M5450", "hcpcs"),  # a letter and four digits: HCPCS unless the history says it is ICD-10-CM
    ("G0283", "hcpcs"), ("gp", "hcpcs"), ("KX", "hcpcs"), ("2", "pos"), ("02", "pos"), ("99213", "cpt"),
    ("0591T", "cpt"), ("12-34", "unknown"),
])
def test_guess_system(code, system):
    assert guess_system(code) == system


def test_letter_and_four_digits_is_the_code_set_that_holds_it():
    h = ReleaseHistory({("icd10cm", "2024-10-01"): icd("2024-10-01", "2025-09-30", {"A0421": (1, "x")}),
                        ("hcpcs", "2025-01-01"): hcpcs("2025-01-01", [("A0425", "procedure", "y", "", "", "")])})
    assert guess_system("A0421", h) == "icd10cm"
    assert guess_system("A0425", h) == "hcpcs"
    assert guess_system("A9999", h) == "hcpcs"


def test_validate_matches_lookup_row_by_row_and_keeps_the_index(history):
    codes = pd.Series(["E11.9", "G35", "G35", "m54.5", "Z99.99", "E11.A", "E11.9", "E11.9"],
                      index=[10, 11, 12, 13, 14, 15, 16, 17], dtype=object)
    dates = pd.Series(pd.to_datetime(["2025-01-02", "2025-01-02", "2025-10-02", "2025-01-02", "2025-01-02",
                                      "2025-03-01", "2030-01-01", None]), index=codes.index)
    out = history.validate(codes, dates, "icd10cm")
    assert list(out.index) == list(codes.index)
    assert out["status"].tolist() == ["valid", "valid", "deleted", "header", "unknown", "not-yet-effective",
                                      "unknown", "unknown"]
    assert out["covered"].tolist() == [True] * 6 + [False, False]
    for i in range(6):
        v = history.lookup(codes.iloc[i], dates.iloc[i].date(), "icd10cm")
        row = out.iloc[i]
        assert (row["code"], row["status"], bool(row["billable"]), row["release"]) == (
            v.code, v.status, v.billable, v.release)
        assert (row["since"].date() if not pd.isna(row["since"]) else None) == v.since
    detail = history.validate(codes, dates, "icd10cm", detail=True)
    assert detail.loc[12, "replacements"] == "G35.A G35.D"
    assert detail.loc[10, "display_code"] == "E11.9"


def test_validate_works_once_per_distinct_code_and_date(history):
    n = 200_000
    codes = pd.Series(np.where(np.arange(n) % 2, "E11.9", "G35"), dtype=object)
    dates = pd.Series(pd.to_datetime(np.where(np.arange(n) % 3, "2025-01-02", "2025-10-02")))
    out = history.validate(codes, dates, "icd10cm")
    deleted = int(((np.arange(n) % 2 == 0) & (np.arange(n) % 3 == 0)).sum())  # G35 on 2025-10-02
    assert out["status"].value_counts().to_dict() == {"valid": n - deleted, "deleted": deleted}


def test_from_store_reads_release_tables_and_skips_other_csvs(tmp_path):
    folder = tmp_path / "releases" / "icd10cm"
    folder.mkdir(parents=True)
    (folder / "2024-10-01.csv").write_bytes(table_bytes(icd("2024-10-01", "2025-09-30", BASE)))
    (folder / "2024-10-01.conversion.csv").write_text("code,effective,previous\nE119,2016,E119\n")
    h = ReleaseHistory.from_store(tmp_path)
    assert h.releases("icd10cm") == ["2024-10-01"]
    assert h.releases("hcpcs") == []
    assert h.lookup("E11.9", D(2025, 1, 1)).status == "valid"
    assert "run `codegov ingest`" in h.lookup("G0283", D(2025, 1, 1)).message


def test_validity_to_dict_is_json_ready(history):
    d = history.lookup("G35", D(2025, 11, 1)).to_dict()
    assert d["since"] == "2025-10-01"
    assert d["replacements"][0] == {"code": "G35.A", "source": "children"}


def test_lookup_many_gives_lookup_s_answer_for_each_code(history):
    """lookup_many (one validate per code set) answers each (code, date) as lookup does one at a time: mixed
    code sets, typed forms, repeats, CPT and shapeless codes, dates before, inside and after the releases."""
    codes = ["G35", "g35", "E11.9", "E11A", "Z86.010", "G9890", "C9029", "K0903", "97110", "AB-1", "11", "2", "G35",
             "M54.5", "G35.A"]
    dates = [D(2024, 9, 30), D(2025, 10, 1), D(2025, 4, 1), D(2025, 3, 31), D(2026, 1, 1), D(2018, 6, 1),
             D(2019, 2, 1), D(2019, 1, 1), D(2026, 10, 1), D(2025, 1, 1), D(2024, 9, 1), D(2030, 1, 1),
             D(2025, 10, 1), D(2025, 10, 1), D(2025, 9, 30)]
    assert history.lookup_many(codes, dates) == [history.lookup(c, d) for c, d in zip(codes, dates, strict=True)]
    assert history.lookup_many(codes[:5], dates[:5], "icd10cm") == [
        history.lookup(c, d, "icd10cm") for c, d in zip(codes[:5], dates[:5], strict=True)]
    assert history.lookup_many([], []) == []


@pytest.fixture(scope="module")
def real_history(real_releases):
    """The official FY2024-FY2026 ICD-10-CM and 2017-2019 HCPCS files (the session's one ingest of them)."""
    from tests.conftest import CODESETS

    return ReleaseHistory.from_store(CODESETS, real_releases)


def order_addenda(path) -> dict[str, set[tuple[str, str]]]:
    """{'Add': {(flag, code)}, 'Delete': ...} from an official order addenda file ('Add:   1 C810A  title')."""
    out: dict[str, set[tuple[str, str]]] = {"Add": set(), "Delete": set()}
    for line in path.read_text(encoding="latin-1").splitlines():
        keyword, _, rest = line.partition(":")
        if keyword in out:
            flag, code = rest.split()[:2]
            out[keyword].add((flag, code))
    return out


@pytest.mark.realdata
@pytest.mark.parametrize("year, effective", [(2025, D(2024, 10, 1)), (2026, D(2025, 10, 1))])
def test_lookup_agrees_with_the_official_addenda(real_history, year, effective):
    from tests.conftest import shared

    adds = order_addenda(shared("icd10cm", f"FY{year}", f"icd10cm_order_addenda_{year}.txt"))
    day_before = effective - dt.timedelta(days=1)
    added_headers = {c for f, c in adds["Add"] if f == "0"}
    became_header = {c for f, c in adds["Delete"] if f == "1"} & added_headers
    removed = {c for f, c in adds["Delete"] if f == "1"} - added_headers
    assert len(became_header) > 5 and len(removed) >= 3
    for code in became_header:
        v = real_history.lookup(code, effective, "icd10cm")
        assert (v.status, v.since) == ("deleted", effective), code
        # its children first; the official conversion table may add a code elsewhere (G90.8 -> G90.B)
        children = [r for r, source in v.replacements if source == "children"]
        assert children and all(r.replace(".", "").startswith(code) for r in children), code
        assert {s for _, s in v.replacements} <= {"children", "conversion"}, code
        assert real_history.lookup(code, day_before, "icd10cm").status == "valid", code
    for code in removed:
        assert real_history.lookup(code, effective, "icd10cm").status == "deleted", code
    new_billable = {c for f, c in adds["Add"] if f == "1"}
    codes = sorted(new_billable)
    after = real_history.validate(pd.Series(codes, dtype=object), pd.Series([pd.Timestamp(effective)] * len(codes)),
                                  "icd10cm")
    before = real_history.validate(pd.Series(codes, dtype=object),
                                   pd.Series([pd.Timestamp(day_before)] * len(codes)), "icd10cm")
    assert set(after["status"]) == {"valid"}
    assert set(before["status"]) == {"not-yet-effective"}
    assert len(new_billable) > 200


@pytest.mark.realdata
def test_every_replacement_named_on_a_release_day_is_billable_that_day(real_history):
    """'bill one of ...' names billable codes only: a conversion target that is itself a header in the release
    (E78.01: FY2017's table maps E78.0 to it, FY2026 expands it) stands for its billable children."""
    effective = D(2025, 10, 1)
    v = real_history.lookup("E78.0", effective, "icd10cm")
    assert v.status == "header"
    assert [r for r, _ in v.replacements] == ["E78.00", "E78.010", "E78.011", "E78.019"]
    assert dict(v.replacements)["E78.010"] == "children"
    headers = ["E78.0", "E78.01", "G35", "E11.A", "M62.5", "R40.2"]
    named = sorted({r for code in headers for r, _ in real_history.lookup(code, effective, "icd10cm").replacements})
    assert named
    checked = real_history.lookup_many(named, [effective] * len(named), "icd10cm")
    assert {(c, a.status) for c, a in zip(named, checked, strict=True) if a.status != "valid"} == set()


def test_replacements_of_many_codes_at_once_are_the_rules_answers():
    """pairs_many (the lookup index asks about every header of a release at once) gives what the rules give one
    code at a time (for_code): the children, the conversion targets that are not children (an exact previous
    code, a range, a target that is a header standing for its children), in code order; nothing for a code
    the release lacks or one with no children."""
    from ingest.replacements import _EAGER_AFTER, ReleaseReplacements

    codes: dict[str, tuple[int, str]] = {}
    for n in range(_EAGER_AFTER + 50):  # more headers than the engine answers one by one before whole columns
        head = f"A{n:02d}" if n < 100 else f"B{n - 100:02d}" if n < 200 else f"C{n - 200:02d}"
        codes[head] = (0, f"header {n}")
        codes[head + "0"] = (1, f"child {n}.0")
        codes[head + "9"] = (int(n % 7 != 0), f"child {n}.9")  # some children are headers themselves
        if n % 7 == 0:
            codes[head + "91"] = (1, f"grandchild {n}.91")
    table = icd("2025-10-01", "2026-09-30", codes)
    conversion = pd.DataFrame({"code": ["B050", "A030", "C1091", "A079"],
                               "previous": ["A03 A010", "A04", "A07-A09", "A15"]})
    engine = ReleaseReplacements("icd10cm", table.sort_values("code", ignore_index=True), conversion)
    asked = sorted(codes) + ["A1", "Z99", "A039", "A08", "B00", "C10"]

    def rules(code):
        return [(r["display_code"], r["kind"].split(", ")[0]) for r in engine.for_code(code)]

    expected = [rules(c) for c in asked]
    assert ReleaseReplacements("icd10cm", table, conversion).pairs_many(asked) == expected
    assert expected[asked.index("A03")] == [("A03.0", "children"), ("A03.9", "children"), ("B05.0", "conversion")]
    assert ("C10.91", "conversion") in expected[asked.index("A08")]  # the range A07-A09
    assert ("A07.91", "conversion") in expected[asked.index("A15")]  # A07.9 is a header: its child
    assert expected[asked.index("Z99")] == []
