"""Playbook YAML and the sample inventory follow their documented schemas (the two README files)."""

from __future__ import annotations

import csv
import datetime as dt
import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import shared

ROOT = Path(__file__).resolve().parent.parent
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
INVENTORY = ROOT / "codesets" / "inventory" / "inventory.csv"
HEADER = ["system", "code", "specialty", "service_line", "owner", "notes", "annual_volume"]
SYSTEMS = {"cpt", "hcpcs", "icd10cm", "pos"}
TOP_REQUIRED = {"id", "title", "specialty", "owner", "reviewed", "summary", "sections", "codes"}
TOP_ALLOWED = TOP_REQUIRED | {"references", "modifiers", "key_rules"}
CODE_KEYS = {"system", "code", "label", "group", "timed", "notes"}
MODIFIER_KEYS = {"code", "system", "label", "when", "documentation"}
FORMATS = {
    "cpt": re.compile(r"^\d{4}[0-9FTU]$"),
    "hcpcs": re.compile(r"^(?:[A-V]\d{4}|[A-Z0-9]{2})$"),
    "icd10cm": re.compile(r"^[A-Z]\d[0-9A-Z](?:\.[0-9A-Z]{1,4})?$"),
    "pos": re.compile(r"^\d{2}$"),
}
# Codes cited in running text: CPT numbers, HCPCS Level II codes, dotted ICD-10-CM codes.
CITED = {
    "cpt": re.compile(r"(?<![\w.])\d{5}(?![\w.])"),
    "hcpcs": re.compile(r"(?<![\w.])[A-V]\d{4}(?![\w.])"),
    "icd10cm": re.compile(r"(?<![\w.])[A-Z]\d[0-9A-Z]\.[0-9A-Z]{1,4}(?![\w.])"),
}
# HCPCS codes that are real but newer than the newest HCPCS file in ../shared/data/cms (2019-01).
HCPCS_AFTER_2019 = {"G2212"}  # added 2021-01-01


def load(path: Path) -> dict:
    with path.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


def inventory_rows() -> list[dict]:
    with INVENTORY.open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def texts(book: dict):
    """Every piece of prose in a playbook where a code may be cited."""
    yield book["summary"]
    yield from book.get("key_rules") or []
    for section in book["sections"]:
        yield section["body"]
        for row in (section.get("table") or {}).get("rows", []):
            yield from row
    for entry in book["codes"] + (book.get("modifiers") or []):
        for key in ("notes", "when", "documentation"):
            if entry.get(key):
                yield entry[key]


def test_there_are_five_playbooks():
    assert {p.stem for p in PLAYBOOKS} == {"physical-therapy", "imaging", "laboratory", "office-em", "dme"}


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_playbook_top_level(path):
    book = load(path)
    assert isinstance(book, dict)
    assert TOP_REQUIRED <= set(book), f"missing keys: {TOP_REQUIRED - set(book)}"
    assert set(book) <= TOP_ALLOWED, f"unknown keys: {set(book) - TOP_ALLOWED}"
    assert book["id"] == path.stem
    for key in ("title", "specialty", "owner", "summary"):
        assert isinstance(book[key], str) and book[key].strip(), key
    assert isinstance(book["reviewed"], dt.date)
    assert all(isinstance(r, str) and r.strip() for r in book.get("references") or [])


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_playbook_sections(path):
    sections = load(path)["sections"]
    assert isinstance(sections, list) and sections
    for section in sections:
        assert set(section) <= {"title", "body", "table"}
        assert isinstance(section["title"], str) and section["title"].strip()
        assert isinstance(section["body"], str) and section["body"].strip()
        if "table" in section:
            table = section["table"]
            assert set(table) == {"columns", "rows"}
            assert table["columns"] and all(isinstance(c, str) for c in table["columns"])
            for row in table["rows"]:
                assert len(row) == len(table["columns"]), row
                assert all(isinstance(cell, str) for cell in row), row


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_playbook_codes(path):
    codes = load(path)["codes"]
    assert isinstance(codes, list) and codes
    seen = set()
    for entry in codes:
        assert set(entry) <= CODE_KEYS, entry
        assert entry["system"] in SYSTEMS, entry
        assert isinstance(entry["code"], str), f"code must be a quoted string: {entry}"
        assert FORMATS[entry["system"]].match(entry["code"]), entry
        assert isinstance(entry["group"], str) and entry["group"].strip(), entry
        if entry["system"] == "cpt":
            assert isinstance(entry.get("label"), str) and entry["label"].strip(), f"CPT needs a label: {entry}"
        if "timed" in entry:
            assert isinstance(entry["timed"], bool), entry
        key = (entry["system"], entry["code"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_playbook_codes_are_quoted_in_the_yaml(path):
    """`code` values are quoted scalars in the file itself, so "02" or "97110" can never become numbers."""
    root = yaml.compose(path.read_text(encoding="utf-8"))
    top = {k.value: v for k, v in root.value}
    for item in top["codes"].value:
        value = {k.value: v for k, v in item.value}["code"]
        assert value.style in ("'", '"'), f"{path.name}: code {value.value} is not quoted"


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_playbook_modifiers(path):
    modifiers = load(path).get("modifiers") or []
    seen = set()
    for entry in modifiers:
        assert set(entry) <= MODIFIER_KEYS, entry
        assert {"code", "system", "when", "documentation"} <= set(entry), entry
        assert entry["system"] in {"hcpcs", "cpt"}, entry
        assert isinstance(entry["code"], str) and re.fullmatch(r"[A-Z0-9]{2}", entry["code"]), entry
        if entry["system"] == "cpt":
            assert entry["code"].isdigit() and entry.get("label"), entry
        key = (entry["system"], entry["code"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_every_code_cited_in_text_is_listed(path):
    book = load(path)
    listed = {(c["system"], c["code"]) for c in book["codes"]}
    for text in texts(book):
        for system, pattern in CITED.items():
            for code in pattern.findall(text):
                assert (system, code) in listed, f"{path.name}: {code} cited but not in codes"


@pytest.mark.parametrize("path", PLAYBOOKS, ids=lambda p: p.stem)
def test_playbook_specialty_and_codes_are_in_the_inventory(path):
    book = load(path)
    rows = inventory_rows()
    assert book["specialty"] in {r["specialty"] for r in rows}
    inventory = {(r["system"], r["code"]) for r in rows}
    cited = {(c["system"], c["code"]) for c in book["codes"]}
    cited |= {("hcpcs", m["code"]) for m in book.get("modifiers") or [] if m["system"] == "hcpcs"}
    assert cited <= inventory, f"not in inventory: {sorted(cited - inventory)}"


def test_inventory_file_format():
    raw = INVENTORY.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf"), "no BOM"
    assert b"\r" not in raw, "LF line endings only"
    raw.decode("utf-8")
    with INVENTORY.open(encoding="utf-8", newline="") as f:
        header = next(csv.reader(f))
    assert header == HEADER


def test_inventory_rows():
    rows = inventory_rows()
    assert 80 <= len(rows) <= 200
    seen = set()
    for row in rows:
        assert None not in row and all(v is not None for v in row.values()), f"ragged row: {row}"
        for column in ("system", "code", "specialty", "owner"):
            assert row[column].strip(), f"blank {column}: {row}"
        assert row["system"] in SYSTEMS, row
        assert FORMATS[row["system"]].match(row["code"]), row
        key = (row["system"], row["code"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
    assert {r["system"] for r in rows} == SYSTEMS


def test_inventory_cpt_rows_carry_no_descriptor():
    descriptor_like = [c for c in HEADER if re.search(r"desc|label|name|title", c, re.I)]
    for row in inventory_rows():
        if row["system"] == "cpt":
            assert all(not row[c].strip() for c in descriptor_like), row


def test_inventory_keeps_the_codes_later_releases_delete():
    """The sample must give the change report something to find."""
    keys = {(r["system"], r["code"]) for r in inventory_rows()}
    assert {("icd10cm", "R10.2"), ("icd10cm", "E78.01"), ("icd10cm", "G35"), ("hcpcs", "K0903")} <= keys


def _icd_codes(path: Path) -> set[str]:
    with path.open(encoding="ascii") as f:
        return {line[:7].strip() for line in f if line.strip()}


def _all_icd() -> set[tuple[str, str]]:
    rows = {("icd10cm", r["code"]) for r in inventory_rows() if r["system"] == "icd10cm"}
    for path in PLAYBOOKS:
        rows |= {("icd10cm", c["code"]) for c in load(path)["codes"] if c["system"] == "icd10cm"}
    return {code for _, code in rows}


@pytest.mark.realdata
def test_icd10cm_codes_are_billable_in_fy2025_and_only_the_known_three_end_in_fy2026():
    fy2025 = _icd_codes(shared("icd10cm", "FY2025", "icd10cm_codes_2025.txt"))
    fy2026 = _icd_codes(shared("icd10cm", "FY2026", "icd10cm_codes_2026.txt"))
    ours = {c.replace(".", "") for c in _all_icd()}
    assert ours - fy2025 == set()
    assert ours - fy2026 == {"R102", "E7801", "G35"}


@pytest.mark.realdata
def test_hcpcs_codes_and_modifiers_exist_in_the_2019_release():
    path = shared("hcpcs", "2019-01", "HCPC2019_CONTR_ANWEB.txt")
    known = set()
    with path.open(encoding="cp1252") as f:
        for line in f:
            if len(line) > 11 and line[10] in "37":
                known.add(line[:5].strip())
    ours = {r["code"] for r in inventory_rows() if r["system"] == "hcpcs"}
    for book in PLAYBOOKS:
        data = load(book)
        ours |= {c["code"] for c in data["codes"] if c["system"] == "hcpcs"}
        ours |= {m["code"] for m in data.get("modifiers") or [] if m["system"] == "hcpcs"}
    assert ours - known == HCPCS_AFTER_2019
