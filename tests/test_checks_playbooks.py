"""Playbooks: the loader validates the schema and normalises codes; the playbook gates report a deleted code
with its replacements and CPT codes as not checked."""

from __future__ import annotations

import copy
import datetime as dt
import shutil

import pytest
import yaml

from checks.runner import Gates, run_checks
from ingest.model import CodegovError
from playbooks.load import cited_codes, display_code, load_playbooks, official_code
from tests.conftest import CODESETS, ROOT

PLAYBOOKS = ROOT / "playbooks"


@pytest.fixture(scope="module")
def gates():
    return Gates()


def book(**changes) -> dict:
    base = {
        "id": "test-book", "title": "Test", "specialty": "office E/M", "owner": "Revenue cycle manager",
        "reviewed": dt.date(2025, 9, 1), "summary": "A test playbook.",
        "sections": [{"title": "One", "body": "Text."}],
        "codes": [{"system": "icd10cm", "code": "G35", "group": "Diagnoses"},
                  {"system": "icd10cm", "code": "M54.50", "group": "Diagnoses"},
                  {"system": "hcpcs", "code": "G0283", "group": "Codes"},
                  {"system": "pos", "code": "11", "group": "Place"},
                  {"system": "cpt", "code": "97110", "label": "exercise", "group": "Timed"}],
        "modifiers": [{"system": "hcpcs", "code": "GP", "when": "always", "documentation": "plan"},
                      {"system": "cpt", "code": "59", "label": "distinct", "when": "rarely", "documentation": "note"}],
    }
    base.update(changes)
    return base


def test_the_repository_playbooks_load_sorted_and_cite_official_codes():
    books = load_playbooks(PLAYBOOKS)
    assert [b["id"] for b in books] == sorted(b["id"] for b in books) and len(books) == 5
    cited = cited_codes(books)
    assert list(cited.columns) == ["playbook", "system", "code", "display_code", "kind"]
    m5450 = cited[(cited["system"] == "icd10cm") & (cited["code"] == "M5450")]
    assert not m5450.empty and set(m5450["display_code"]) == {"M54.50"}
    assert not cited["code"].str.contains(r"\.").any()
    assert set(cited.loc[cited["kind"] == "modifier", "system"]) == {"hcpcs", "cpt"}
    assert set(cited.loc[cited["system"] == "pos", "code"]) <= {f"{n:02d}" for n in range(100)}


@pytest.mark.parametrize("system, written, official, shown", [
    ("icd10cm", "m54.50", "M5450", "M54.50"), ("icd10cm", "I10", "I10", "I10"), ("icd10cm", "S93401A", "S93401A",
                                                                                 "S93.401A"),
    ("hcpcs", "g0283", "G0283", "G0283"), ("pos", "02", "02", "02"), ("cpt", "97110", "97110", "97110")])
def test_code_forms(system, written, official, shown):
    assert official_code(system, written) == official
    assert display_code(system, written) == shown


@pytest.mark.parametrize("damage, message", [
    (lambda b: b["codes"].__setitem__(0, {"system": "icd10cm", "code": 97110, "group": "x"}), "quoted string"),
    (lambda b: b.update(colour="red"), "unknown key 'colour'"),
    (lambda b: b.update(id="other"), "must equal the file name"),
    (lambda b: b.update(reviewed="2025-09-01"), "reviewed"),
    (lambda b: b["codes"].append({"system": "cpt", "code": "99213", "group": "x"}), "needs a label"),
    (lambda b: b["codes"].append({"system": "icd10cm", "code": "G35", "group": "x"}), "listed twice"),
    (lambda b: b["codes"].append({"system": "snomed", "code": "1", "group": "x"}), "not one of"),
    (lambda b: b["codes"].append({"system": "icd10cm", "code": "M545.0", "group": "x"}), "after the third"),
    (lambda b: b["modifiers"].append({"system": "hcpcs", "code": "GPX", "when": "a", "documentation": "b"}),
     "two characters"),
    (lambda b: b["sections"].append({"title": "T", "body": "B", "table": {"columns": ["a", "b"], "rows": [["1"]]}}),
     "table.rows[0]"),
    (lambda b: b.pop("codes"), "missing key 'codes'"),
    (lambda b: b.update(key_rules="Bill it."), "key_rules: must be a list of non-empty strings"),
    (lambda b: b.update(key_rules=["Bill it.", ""]), "key_rules: must be a list of non-empty strings"),
])
def test_schema_violations_are_one_error_naming_the_file_and_key(tmp_path, damage, message):
    data = copy.deepcopy(book())
    damage(data)
    (tmp_path / "test-book.yml").write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    with pytest.raises(CodegovError) as err:
        load_playbooks(tmp_path)
    assert "test-book.yml" in str(err.value) and message in str(err.value)


def test_invalid_yaml_names_the_line(tmp_path):
    (tmp_path / "broken.yml").write_text("id: broken\ncodes: [\n", encoding="utf-8")
    with pytest.raises(CodegovError, match=r"broken\.yml:\d+: not valid YAML"):
        load_playbooks(tmp_path)


def test_a_valid_playbook_round_trips(tmp_path):
    (tmp_path / "test-book.yml").write_text(yaml.safe_dump(book(), sort_keys=False), encoding="utf-8")
    [loaded] = load_playbooks(tmp_path)
    assert loaded["id"] == "test-book"


def test_a_cited_code_deleted_in_the_current_release_fails_with_replacements(sample_releases, gates):
    report = run_checks(CODESETS, releases=sample_releases, playbooks=[book()], suites=("playbooks",), gates=gates)
    rows = {r["gate"]: r for r in report.rows}
    assert {r["gate"] for r in report.failed} == {"icd10cm_billable"}
    billable = rows["icd10cm_billable"]
    assert billable["target"] == "playbooks/test-book.yml" and billable["failing_sample"] == ["G35"]
    assert "G35A" in {r["code"] for r in billable["replacements"]["G35"]}
    assert "icd10cm 2025-10-01" in billable["details"]
    assert rows["cpt_codes"]["status"] == "not checked" and rows["cpt_codes"]["success"] is True
    assert rows["cpt_modifiers"]["success"] and rows["hcpcs_modifiers"]["success"] and rows["pos_assigned"]["success"]


def test_playbooks_from_a_folder(sample_releases, gates, tmp_path):
    folder = tmp_path / "books"
    folder.mkdir()
    shutil.copy(PLAYBOOKS / "office-em.yml", folder)
    report = run_checks(CODESETS, releases=sample_releases, playbooks=folder, suites=("playbooks",), gates=gates)
    assert {r["target"] for r in report.rows} == {f"{folder}/office-em.yml"}
    # the sample HCPCS 2019 file predates G2212 (2021): reported, with no replacement to offer
    exists = next(r for r in report.rows if r["gate"] == "hcpcs_exists")
    assert exists["failing_sample"] == ["G2212"] and exists["replacements"] == {"G2212": []}
