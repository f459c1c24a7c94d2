"""Denials from 835 remittances: the reader on the hand-written samples (codesets/sample/remits), malformed
files, the store, the taxonomy, and the exact numbers the pages and `codegov denials` show."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import pytest

from denials.read835 import read_file, read_files
from ingest.model import CodegovError
from tests.conftest import CODESETS, SAMPLE

REMITS = SAMPLE / "remits"
FILES = sorted(REMITS.glob("*.835"))


@pytest.fixture(scope="module")
def summary(sample_releases):
    from codegov.update import denial_summary
    from ingest.inventory import load_inventory
    from ingest.repository import ReleaseRepository

    repo = ReleaseRepository(sample_releases, CODESETS)
    return denial_summary([REMITS], CODESETS, repo, inventory=load_inventory(CODESETS / "inventory"))


# -- the reader ----------------------------------------------------------------------------------------------

def test_samples_are_exact_x12():
    for path in FILES:
        text = path.read_text(encoding="ascii")
        assert text.startswith("ISA*") and text.index("~") == 105  # ISA: 106 characters with its terminator
        assert text[104] == ":" and text[3] == "*"


def test_reader_lines_and_adjustments():
    remits = read_files(FILES)
    lines = remits.lines.to_pylist()
    assert len(lines) == 24  # 22 service lines, one claim without SVC (line 0), a reversal and its correction
    by = {(r["claim_id"], r["line"], r["claim_status"]): r for r in lines}
    downcoded = by[("R1016", 1, "1")]
    assert (downcoded["procedure_code"], downcoded["adjudicated_code"], downcoded["billed"], downcoded["paid"]) == (
        "99214", "99213", 180.0, 90.0)
    units = by[("R1018", 1, "1")]
    assert (units["units"], units["modifiers"], units["service_date"]) == (3.0, "GP", dt.date(2025, 12, 9))
    assert by[("R1010", 1, "4")]["remarks"] == "M76"
    bare = by[("R1013", 0, "4")]  # a claim denied at claim level, no service line
    assert (bare["billed"], bare["paid"], bare["payer"], bare["service_date"]) == (180.0, 0.0, "ACME_COMMERCIAL",
                                                                                  dt.date(2025, 10, 28))
    reversal = by[("R1020", 1, "22")]
    assert reversal["reversal"] and reversal["paid"] == -100.0 and reversal["remit_date"] == dt.date(2026, 1, 15)
    assert by[("R1006", 2, "1")]["rendering_npi"] == "1234567893"
    adj = remits.adjustments.to_pylist()
    claim_level = [a for a in adj if a["level"] == "claim"]
    assert [(a["group"], a["carc"], a["amount"], a["row"]) for a in claim_level] == [("CO", "146", 180.0, -1)]
    r1016 = [(a["carc"], a["amount"]) for a in adj if lines[a["row"]]["claim_id"] == "R1016"]
    assert r1016 == [("150", 40.0), ("45", 50.0)]  # two triples in one CAS
    assert [a["quantity"] for a in adj if a["carc"] == "151"] == [1.0]


def test_two_interchanges_in_one_file(tmp_path):
    both = tmp_path / "both.835"
    both.write_bytes((REMITS / "medicare-2025.835").read_bytes() + (REMITS / "acme-2025.835").read_bytes())
    remits = read_file(both)
    assert remits.lines.num_rows == 19 + 3
    assert sorted(set(remits.lines["interchange"].to_pylist())) == ["000000101", "000000201"]


def test_one_line_file_without_newlines(tmp_path):
    flat = tmp_path / "flat.835"
    flat.write_text((REMITS / "acme-2025.835").read_text().replace("\n", ""), encoding="ascii")
    assert read_file(flat).lines["claim_id"].to_pylist() == ["R1004", "R1008", "R1013"]


def test_latin1_letters_and_their_offsets(tmp_path):
    """X12's extended character set is single-byte: a Latin-1 letter is read, and an error after it is placed
    at its byte in the file (not in the UTF-8 the strings are made of)."""
    text = (REMITS / "acme-2025.835").read_text().replace("N1*PR*ACME_COMMERCIAL~", "N1*PR*ACMÉ SANTÉ~", 1)
    path = tmp_path / "latin1.835"
    path.write_bytes(text.encode("latin-1"))
    assert set(read_file(path).lines["payer"].to_pylist()) == {"ACMÉ SANTÉ"}
    path.write_bytes(text.replace("LX*1~\n", "LX*1~\nXYZ*1*2~\n", 1).encode("latin-1"))
    with pytest.raises(CodegovError) as err:
        read_file(path)
    at = text.replace("LX*1~\n", "LX*1~\nXYZ*1*2~\n", 1).index("XYZ")
    assert str(err.value).startswith(f"{path}: segment 12 (XYZ) at byte {at}: ")


def _broken(tmp_path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="ascii")
    return path


def test_cut_isa(tmp_path):
    text = (REMITS / "acme-2025.835").read_text()
    path = _broken(tmp_path, "cut.835", text[:60])
    with pytest.raises(CodegovError) as err:
        read_file(path)
    assert str(err.value) == (f"{path}: segment 1 (ISA) at byte 0: expected the ISA segment's fixed 106 characters, "
                              "found 60 (a cut ISA)")
    shifted = _broken(tmp_path, "shifted.835", text.replace("*ZZ*ACMEHEALTH     *", "*ZZ*ACMEHEALTH*", 1))
    with pytest.raises(CodegovError, match=r"shifted.835: segment 1 \(ISA\) at byte 0: expected 16 fixed-width"):
        read_file(shifted)


def test_missing_se(tmp_path):
    text = (REMITS / "medicare-2025.835").read_text()
    path = _broken(tmp_path, "no-se.835", text.replace("SE*72*0001~\n", "", 1))
    with pytest.raises(CodegovError) as err:
        read_file(path)
    assert str(err.value) == (f"{path}: segment 74 (ST) at byte 1926: expected SE closing transaction 0001 before "
                              "the next ST (a missing SE)")
    last = _broken(tmp_path, "no-last-se.835", text.replace("SE*98*0002~\n", "", 1))
    with pytest.raises(CodegovError, match=r"segment 172 \(GE\) at byte \d+: expected SE closing transaction 0002 "
                                           r"before GE \(a missing SE\)"):
        read_file(last)


def test_unknown_segment(tmp_path):
    text = (REMITS / "acme-2025.835").read_text()
    path = _broken(tmp_path, "unknown.835", text.replace("LX*1~\n", "LX*1~\nXYZ*1*2~\n", 1))
    with pytest.raises(CodegovError) as err:
        read_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}: segment 12 (XYZ) at byte ")
    assert message.endswith("found unknown segment 'XYZ'")
    four = _broken(tmp_path, "svcx.835", text.replace("SVC*HC:99214", "SVCX*HC:99214", 1))
    with pytest.raises(CodegovError, match=r"segment 16 \(SVCX\) at byte \d+: .*found unknown segment 'SVCX'"):
        read_file(four)


def test_wrong_se_count_and_bad_numbers(tmp_path):
    text = (REMITS / "acme-2025.835").read_text()
    with pytest.raises(CodegovError, match=r"segment 33 \(SE\) .*expected SE01 to count the transaction's 31 "
                                           r"segments, found '30'"):
        read_file(_broken(tmp_path, "count.835", text.replace("SE*31*2001", "SE*30*2001")))
    with pytest.raises(CodegovError, match=r"segment 16 \(SVC\) .*expected a number for SVC02 charge, found '1B0'"):
        read_file(_broken(tmp_path, "num.835", text.replace("SVC*HC:99214*180", "SVC*HC:99214*1B0", 1)))
    with pytest.raises(CodegovError, match=r"segment 18 \(CAS\) .*group code CO, OA, PI, PR or CR, found group 'XX'"):
        read_file(_broken(tmp_path, "group.835", text.replace("CAS*CO*45*30", "CAS*XX*45*30", 1)))
    with pytest.raises(CodegovError, match=r"empty.835: segment 1 at byte 0: expected an ISA segment, found an "
                                           r"empty file"):
        read_file(_broken(tmp_path, "empty.835", "\n"))


# -- store and taxonomy ---------------------------------------------------------------------------------------

def test_store_round_trip(tmp_path):
    from denials import store

    first = store.load(FILES, tmp_path / "store")
    manifest = json.loads((tmp_path / "store" / "manifest.json").read_text())
    assert [s["path"] for s in manifest["sources"]] == [str(p) for p in FILES]
    assert manifest["tables"]["lines"]["rows"] == 24
    again = store.read(tmp_path / "store", store.sources(FILES))
    assert again is not None and again.lines.equals(first.lines) and again.adjustments.equals(first.adjustments)
    copy = tmp_path / "copy"
    shutil.copytree(REMITS, copy)
    (copy / "acme-2025.835").write_text((copy / "acme-2025.835").read_text().replace("*150**12*", "*151**12*"))
    assert store.read(tmp_path / "store", store.sources(sorted(copy.glob("*.835")))) is None  # another file


def test_taxonomy_categories(tmp_path):
    from denials.taxonomy import load_taxonomy
    from ingest.model import ParseError

    tax = load_taxonomy(CODESETS)
    assert tax.category("146") == "invalid-code"
    assert tax.category("16", "N56 M76") == "non-covered"  # the first remark with a category
    assert tax.category("16") == "information"
    assert tax.category("999") == "other"
    assert not tax.is_denial("contractual") and not tax.is_denial("patient-share")
    bad = tmp_path / "codesets"
    shutil.copytree(CODESETS / "denials", bad / "denials")
    carc = bad / "denials" / "carc.csv"
    carc.write_text(carc.read_text() + "999,bundled,typo,,\n")
    with pytest.raises(ParseError, match=r"carc.csv:\d+: expected a category of categories.csv"):
        load_taxonomy(bad)


def test_taxonomy_dates_verified():
    """Dates read from the X12 lists (codesets/denials/README.md, sources.csv), pinned."""
    from denials.taxonomy import load_taxonomy

    tax = load_taxonomy(CODESETS)
    pick = {k: tax.carc[k] for k in ("1", "146", "236", "B5", "4")}
    assert {k: (v["start"], v["last_modified"], v["stop"], v["source"]) for k, v in pick.items()} == {
        "1": ("1995-01-01", "", "", "x12-carc-2016"), "146": ("2002-06-30", "2007-09-30", "", "x12-carc-2016"),
        "236": ("2011-01-30", "2013-07-01", "", "x12-carc-2016"),
        "B5": ("1995-01-01", "2015-11-01", "2016-05-01", "x12-carc-2016"),
        "4": ("1995-01-01", "2020-03-01", "", "carc-2020")}  # the newer list's last modified date
    assert (tax.rarc["M78"]["stop"], tax.rarc["N657"]["start"], tax.rarc["MA130"]["start"]) == (
        "2006-05-18", "2013-07-15", "2001-10-12")
    assert tax.sources["x12-rarc-2016"]["published"] == "2016-03-07"
    assert tax.out_of_dates("carc", "B5", "2016-05-01") == "after"
    assert tax.out_of_dates("carc", "B5", "2016-04-30") == ""
    assert tax.out_of_dates("carc", "253", "2013-06-01") == "before"
    assert tax.out_of_dates("carc", "999", "2025-01-01") == ""


def test_every_code_dated_with_a_source_or_listed_unverified():
    from denials.taxonomy import UNVERIFIED, load_taxonomy

    tax = load_taxonomy(CODESETS)
    readme = " ".join((CODESETS / "denials" / "README.md").read_text(encoding="utf-8").split())  # unwrapped
    unverified = []
    for kind in ("carc", "rarc"):
        for code, e in getattr(tax, kind).items():
            if e["source"] == UNVERIFIED:
                assert not (e["start"] or e["last_modified"] or e["stop"])
                unverified.append(f"{kind.upper()} {code}")
            else:
                assert e["source"] in tax.sources and e["start"], (kind, code)
                assert f"`{e['source']}`" in readme  # the README's source table names it
    if unverified:
        assert all(u in readme for u in unverified)
    else:
        assert "**no code is unverified**" in readme
    assert len(tax.carc) + len(tax.rarc) == 54


def test_taxonomy_refuses_undated_sources(tmp_path):
    from denials.taxonomy import load_taxonomy
    from ingest.model import ParseError

    bad = tmp_path / "codesets"
    shutil.copytree(CODESETS / "denials", bad / "denials")
    rarc = bad / "denials" / "rarc.csv"
    good = rarc.read_text()
    rarc.write_text(good + "N999,units,a guess,2020-01-01,,,unverified\n")
    with pytest.raises(ParseError, match=r"rarc.csv:17: expected no dates for an unverified code, found 2020-01-01"):
        load_taxonomy(bad)
    rarc.write_text(good + "N999,units,a guess,2020-01-01,,,my-memory\n")
    with pytest.raises(ParseError, match=r"rarc.csv:17: expected a source of sources.csv \(x12-carc-2016, "):
        load_taxonomy(bad)
    rarc.write_text(good + "N999,units,a guess,2020-02-30,,,x12-rarc-2016\n")
    with pytest.raises(ParseError, match=r"rarc.csv:17: expected start as YYYY-MM-DD or empty, found '2020-02-30'"):
        load_taxonomy(bad)
    rarc.write_text(good + "N999,units,not dated,,,,unverified\n")
    assert load_taxonomy(bad).rarc["N999"]["source"] == "unverified"


def test_codes_used_outside_their_dates(tmp_path, sample_releases, summary):
    """A stopped CARC and RARC on a remittance after their stop date, a CARC on one dated before its start:
    warned about in the summary, on the page and on stderr; the adjustments still counted in their category."""
    from codegov.update import denial_summary
    from ingest.repository import ReleaseRepository
    from playbooks.denials import denial_pages

    folder = tmp_path / "remits"
    shutil.copytree(REMITS, folder)
    medicare = folder / "medicare-2025.835"
    text = medicare.read_text().replace("CAS*CO*50*140~", "CAS*CO*B5*140~")  # non-covered either way
    medicare.write_text(text.replace("LQ*HE*M76~", "LQ*HE*M78~", 1))  # on a CARC 146 line: the CARC decides
    acme = folder / "acme-2025.835"
    acme.write_text(acme.read_text().replace("20251115~", "20050101~"))  # BPR16 and DTM*405: paid in 2005
    s = denial_summary([folder], CODESETS, ReleaseRepository(sample_releases, CODESETS))
    assert s["stats"]["codes_out_of_dates"] == [
        {"kind": "CARC", "code": "197", "when": "before", "date": "2006-10-31", "source": "x12-carc-2016",
         "uses": 1, "first": "2005-01-01", "last": "2005-01-01"},
        {"kind": "CARC", "code": "B5", "when": "after", "date": "2016-05-01", "source": "x12-carc-2016",
         "uses": 1, "first": "2025-09-30", "last": "2025-09-30"},
        {"kind": "RARC", "code": "M78", "when": "after", "date": "2006-05-18", "source": "x12-rarc-2016",
         "uses": 1, "first": "2025-12-31", "last": "2025-12-31"}]
    assert s["warnings"][1] == (
        "CARC B5 is used on 1 adjustment(s) dated 2025-09-30, on or after 2016-05-01, the date the X12 list "
        "stopped it (source: x12-carc-2016); they are still counted in the code's category: ask the payer which "
        "code it meant")
    assert s["warnings"][0].startswith("CARC 197 is used on 1 adjustment(s) dated 2005-01-01, before 2006-10-31, "
                                       "the date the X12 list started it")
    assert s["by_category"] == summary["by_category"] and s["totals"] == summary["totals"]  # still counted
    assert summary["warnings"] == [] and summary["stats"]["codes_out_of_dates"] == []  # the samples use none
    index = denial_pages(s)[0]["denials/index.md"]
    assert "!!! warning\n    RARC M78 is used on 1 line(s) dated 2025-12-31, on or after 2006-05-18" in index
    assert "!!! warning" not in denial_pages(summary)[0]["denials/index.md"]


def test_cli_warns_about_stopped_codes(codegov, sample_releases, tmp_path):
    folder = tmp_path / "remits"
    shutil.copytree(REMITS, folder)
    medicare = folder / "medicare-2025.835"
    medicare.write_text(medicare.read_text().replace("CAS*CO*50*140~", "CAS*CO*B5*140~"))
    code, out, err = codegov("--releases", str(sample_releases), "denials", str(folder), "--format", "json")
    assert code == 0
    assert "warning: CARC B5 is used on 1 adjustment(s) dated 2025-09-30, on or after 2016-05-01" in err
    assert json.loads(out)["warnings"][0].startswith("CARC B5 is used on 1 adjustment(s)")


# -- the numbers ----------------------------------------------------------------------------------------------

def test_release_window_numbers(summary):
    (fy2026,) = summary["releases"]
    assert (fy2026["system"], fy2026["release"]) == ("icd10cm", "2025-10-01")
    before, after = fy2026["before"], fy2026["after"]
    assert (before["start"], before["end"], after["start"], after["end"]) == (
        "2025-07-03", "2025-09-30", "2025-10-01", "2025-12-29")
    assert {k: before[k] for k in ("lines", "denied_lines", "rate", "amount")} == {
        "lines": 5, "denied_lines": 1, "rate": 0.2, "amount": 140.0}
    assert {k: after[k] for k in ("lines", "denied_lines", "rate", "amount")} == {
        "lines": 7, "denied_lines": 5, "rate": 0.7143, "amount": 680.0}
    cats = {c["category"]: (c["denied_lines"], c["amount"]) for c in after["by_category"] if c["denied_lines"]}
    assert cats == {"invalid-code": (4, 640.0), "downcoding": (1, 40.0)}
    assert fy2026["codes_billed"] == ["E78.01", "E78.010", "G35", "G35.A", "R10.2", "R10.21"]
    assert fy2026["change"] == {"rate": 0.5143, "amount": 540.0}


def test_totals_and_preventable_share(summary):
    assert summary["totals"] == {"lines": 22, "denied_lines": 11, "rate": 0.5, "billed": 3205.0, "paid": 1310.0,
                                 "amount": 1350.0}
    assert summary["stats"]["reversals"] == 1 and summary["stats"]["superseded"] == 2
    p = summary["preventable"]
    assert (p["denied_lines"], p["amount"], p["share_lines"], p["share_amount"]) == (7, 890.0, 0.6364, 0.6593)
    assert [(r["rule"], r["denied_lines"], r["amount"]) for r in p["by_rule"]] == [
        ("code-invalid-on-dos", 4, 640.0), ("em-modifier-25", 1, 140.0), ("therapy-gp-modifier", 1, 55.0),
        ("timed-units-8-minute", 1, 55.0)]
    planted = {(d["claim_id"], d["category"], d["carc"]) for d in summary["denied_lines"] if d["preventable"]}
    assert {("R1010", "invalid-code", "CO-146"), ("R1011", "invalid-code", "CO-146"),
            ("R1012", "invalid-code", "CO-16"), ("R1013", "invalid-code", "CO-146")} <= planted


def test_top_tables(summary):
    top = summary["top_codes"][0]
    assert (top["payer"], top["provider"], top["procedure_code"], top["denied_lines"], top["lines"], top["amount"],
            top["category"]) == ("MEDICARE", "1234567893", "99213", 3, 6, 420.0, "invalid-code")
    assert (top["specialty"], top["owner"]) == ("office E/M", "Revenue cycle manager")  # from the inventory
    pairs = [(r["payer"], r["diagnosis"], r["procedure_code"], r["denied_lines"], r["amount"])
             for r in summary["top_pairs"][:3]]
    assert pairs == [("ACME_COMMERCIAL", "R10.2", "99214", 1, 180.0), ("MEDICARE", "E78.01", "99214", 1, 180.0),
                     ("MEDICARE", "I10", "99214", 1, 180.0)]
    mods = [(r["provider"], r["modifier"], r["denied_lines"], r["lines"], r["amount"])
            for r in summary["top_modifiers"][:2]]
    assert mods == [("1982736450", "(none)", 4, 7, 515.0), ("1234567893", "(none)", 4, 9, 460.0)]


def test_em_levels(summary):
    a, b = summary["em_levels"]
    assert (a["provider"], a["family"], a["lines"], a["downcoded"]) == ("1234567893", "established", 10, 1)
    assert [(lv["code"], lv["lines"], lv["share"], lv["benchmark"], lv["difference"]) for lv in a["levels"]] == [
        ("99211", 0, 0.0, 0.03, -0.03), ("99212", 0, 0.0, 0.08, -0.08), ("99213", 7, 0.7, 0.44, 0.26),
        ("99214", 3, 0.3, 0.38, -0.08), ("99215", 0, 0.0, 0.07, -0.07)]
    assert [lv["lines"] for lv in b["levels"]] == [0, 0, 3, 3, 1]


def test_since(sample_releases):
    from codegov.update import denial_summary
    from ingest.repository import ReleaseRepository

    s = denial_summary([REMITS], CODESETS, ReleaseRepository(sample_releases, CODESETS), since=dt.date(2025, 10, 1))
    assert s["totals"]["lines"] == 12 and s["totals"]["denied_lines"] == 8


def test_pages_show_the_numbers(summary):
    from playbooks.denials import denial_pages

    pages, nav = denial_pages(summary)
    assert sorted(pages) == ["denials/em-levels.md", "denials/index.md", "denials/top.md"]
    index = pages["denials/index.md"]
    assert "| 90 days before | 2025-07-03 to 2025-09-30 | 5 | 1 | 20.0% | $140.00 | 30.0% |" in index
    assert "| 90 days after | 2025-10-01 to 2025-12-29 | 7 | 5 | 71.4% | $680.00 | 66.7% |" in index
    assert "| Invalid or deleted code | 0 | 0.0% | $0.00 | 4 | 57.1% | $640.00 |" in index
    assert ("**Preventable share:** 7 of 11 denied lines (63.6%), $890.00 of $1,350.00 (65.9%)") in index
    assert ("| R1010 | 1 | 2025-10-07 | MEDICARE | **99213** |  | R10.2 | Invalid or deleted code | CO-146 | M76 | "
            "$140.00 | code-invalid-on-dos |") in index
    assert index.count("<svg ") == 2 and "<script" not in index
    top = pages["denials/top.md"]
    assert ("| ACME\\_COMMERCIAL | 1982736450 | **R10.2** | **99214** | 1 | 2 | 50.0% | $180.00 | "
            "Invalid or deleted code |") in top
    em = pages["denials/em-levels.md"]
    assert "| **99213** | 7 | 70.0% | 44.0% | +26.0 pts |" in em
    assert nav[0] == "denials/index.md"


def test_cli_formats(codegov, sample_releases, tmp_path):
    code, out, err = codegov("--releases", str(sample_releases), "denials", str(REMITS), "--format", "csv")
    assert code == 0
    rows = out.splitlines()
    assert rows[0] == ("payer,claim_id,line,service_date,procedure_code,modifiers,diagnoses,provider,category,carc,"
                       "remarks,billed,paid,denied,preventable,rules")
    assert len(rows) == 12
    assert ("MEDICARE,R1011,1,2025-10-14,99214,,E78.01 I10,1982736450,invalid-code,CO-146,M76,180.0,0.0,180.0,"
            "True,code-invalid-on-dos") in rows
    code, out, _ = codegov("--releases", str(sample_releases), "denials", *map(str, FILES), "--claims",
                           str(REMITS / "claims.csv"), "--format", "json")
    assert code == 0 and json.loads(out)["preventable"]["denied_lines"] == 7
    code, out, _ = codegov("--releases", str(sample_releases), "denials", str(REMITS), "--format", "md")
    assert code == 0 and out.startswith("# Denials after each update") and "<svg" not in out


def test_cli_malformed_is_one_line(codegov, sample_releases, tmp_path):
    bad = tmp_path / "bad.835"
    bad.write_text((REMITS / "acme-2025.835").read_text()[:80], encoding="ascii")
    code, out, err = codegov("--releases", str(sample_releases), "denials", str(bad))
    assert code == 1
    assert err.strip() == (f"Error: {bad}: segment 1 (ISA) at byte 0: expected the ISA segment's fixed 106 "
                           "characters, found 80 (a cut ISA)")
    code, _, err = codegov("--releases", str(sample_releases), "denials", str(tmp_path / "none"))
    assert code == 1 and "no such remittance file or folder" in err
