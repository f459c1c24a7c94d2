"""Playbook pages: official descriptors from the current release, CPT as numbers with our wording, and a
warning box for every cited code that is deleted or not billable."""

from __future__ import annotations

import pandas as pd

from ingest.model import COLUMNS
from ingest.status import CodeIndex
from playbooks.site import Site, SiteData
from tests.test_render_notice import hcpcs_change_set, icd_change_set


def table(system: str, release: str, rows: list[tuple]) -> pd.DataFrame:
    """A release table with the official columns: rows of (code, display, billable, long_desc, kind, extra...)."""
    records = []
    for code, display, billable, desc, kind, *extra in rows:
        rec = dict.fromkeys(COLUMNS, "")
        rec.update(system=system, release=release, code=code, display_code=display, billable=billable,
                   long_desc=desc, short_desc=desc, kind=kind,
                   status="active" if billable == "1" else ("header" if kind == "header" else "discontinued"))
        rec.update(dict(extra))
        records.append(rec)
    return pd.DataFrame(records, columns=list(COLUMNS))


ICD = table("icd10cm", "2025-10-01", [
    ("R10", "R10", "0", "Abdominal and pelvic pain", "header"),
    ("R101", "R10.1", "0", "Pain localized to upper abdomen", "header"),
    ("R1011", "R10.11", "1", "Right upper quadrant pain", "code"),
    ("R102", "R10.2", "0", "Pelvic and perineal pain", "header"),
    ("R1020", "R10.20", "1", "Pelvic and perineal pain unspecified side", "code"),
    ("R1021", "R10.21", "1", "Pelvic and perineal pain | right side <R>", "code"),
])
HCPCS = table("hcpcs", "2019-01-01", [
    ("G0283", "G0283", "1", "Electrical stimulation (unattended)", "procedure"),
    ("J1628", "J1628", "1", "Injection, guselkumab, 1 mg", "procedure"),
    ("C9029", "C9029", "0", "Injection, guselkumab, 1 mg", "procedure", ("xrefs", "J1628"),
     ("termination_date", "2018-12-31")),
    ("RT", "RT", "1", "Right side (used to identify procedures performed on the right side of the body)",
     "modifier"),
])
RELEASES = {"icd10cm": [{"system": "icd10cm", "id": "2025-10-01", "label": "FY2026", "title": "ICD-10-CM FY2026",
                         "rows": 6, "billable": 3}],
            "hcpcs": [{"system": "hcpcs", "id": "2019-01-01", "label": "HCPCS 2019", "title": "HCPCS Level II 2019",
                       "rows": 4, "billable": 3}]}

PLAYBOOK = {
    "id": "imaging", "title": "Imaging", "specialty": "imaging", "owner": "Imaging coding lead",
    "reviewed": "2025-06-30", "summary": "How we code imaging.",
    "references": ["Pub. 100-04, Chapter 13"],
    "sections": [{"title": "Indications", "body": "Use the **confirmed** diagnosis.",
                  "table": {"columns": ["Study", "Diagnoses"], "rows": [["76856", "R10.2 | R10.31"]]}}],
    "codes": [
        {"system": "cpt", "code": "76856", "label": "pelvic ultrasound, complete", "group": "Studies"},
        {"system": "cpt", "code": "76830", "group": "Studies"},
        {"system": "hcpcs", "code": "G0283", "group": "Other"},
        {"system": "icd10cm", "code": "R10.11", "group": "Diagnoses"},
        {"system": "icd10cm", "code": "R10.2", "group": "Diagnoses", "notes": "Pelvic ultrasound indication."},
        {"system": "icd10cm", "code": "R10.9", "group": "Diagnoses"},
    ],
    "modifiers": [{"system": "hcpcs", "code": "RT", "when": "Right side.", "documentation": "The side."},
                  {"system": "cpt", "code": "26", "label": "professional component", "when": "We read it.",
                   "documentation": "The report."}],
}


def site(playbook=PLAYBOOK, change_sets=None) -> Site:
    data = SiteData(releases=RELEASES, current={"icd10cm": ICD, "hcpcs": HCPCS}, playbooks=[playbook],
                    change_sets=[icd_change_set()] if change_sets is None else change_sets)
    return Site(data)


def warning_boxes(text: str) -> list[str]:
    """Each `!!! warning` block with its indented body."""
    boxes, current = [], None
    for line in text.splitlines():
        if line.startswith("!!! warning"):
            current = [line]
            boxes.append(current)
        elif current is not None and (line.startswith("    ") or not line):
            current.append(line)
        else:
            current = None
    return ["\n".join(b) for b in boxes]


def test_a_cited_code_deleted_in_a_release_gets_a_warning_with_its_replacements():
    text = site().playbook(PLAYBOOK)
    [box] = warning_boxes(text)
    assert box.startswith('!!! warning "R10.2 is no longer billable"')
    assert "October 1, 2025" in box and "ICD-10-CM FY2026" in box
    assert "became a header with new, more specific codes" in box
    assert "- **R10.20** Pelvic and perineal pain unspecified side" in box
    assert "- **R10.21** Pelvic and perineal pain \\| right side &lt;R&gt;" in box
    assert "[ICD-10-CM FY2026 change notice](../notices/icd10cm-2025-10-01.md)" in box
    # the code's own row says so too
    assert "| **R10.2** <br><small>ICD-10-CM</small> | Pelvic and perineal pain | **deleted in FY2026** |" in text


def test_a_header_cited_without_a_change_set_lists_its_billable_codes():
    text = site(change_sets=[]).playbook(PLAYBOOK)
    [box] = warning_boxes(text)
    assert "is a header in ICD-10-CM FY2026, not a billable code" in box
    assert "**R10.20**" in box and "**R10.21**" in box
    assert "change notice" not in box


def test_a_discontinued_hcpcs_code_points_to_its_cross_reference():
    book = {**PLAYBOOK, "codes": [{"system": "hcpcs", "code": "C9029", "group": "Drugs"}], "modifiers": []}
    cs = hcpcs_change_set()
    cs["deleted"] = [{"code": "C9029", "display_code": "C9029", "description": "Injection, guselkumab, 1 mg",
                      "reason": "discontinued", "termination_date": "2018-12-31",
                      "replacements": [{"code": "J1628", "display_code": "J1628",
                                        "description": "Injection, guselkumab, 1 mg", "source": "HCPCS XREF"}]}]
    [box] = warning_boxes(site(book, [cs]).playbook(book))
    assert "in HCPCS Level II 2019 it was discontinued (terminated 2018-12-31)" in box
    assert "Bill this code instead" in box and "- **J1628** Injection, guselkumab, 1 mg" in box
    [box] = warning_boxes(site(book, []).playbook(book))  # no change set: the row's own XREF
    assert "- **J1628** Injection, guselkumab, 1 mg" in box


def test_no_warning_when_every_cited_code_is_billable():
    book = {**PLAYBOOK, "codes": [c for c in PLAYBOOK["codes"] if c["code"] != "R10.2"]}
    assert warning_boxes(site().playbook(book)) == []


def test_descriptors_come_from_the_release_and_cpt_shows_only_our_wording():
    text = site().playbook(PLAYBOOK)
    assert "| **R10.11** <br><small>ICD-10-CM</small> | Right upper quadrant pain |" in text
    assert "| **G0283** <br><small>HCPCS</small> | Electrical stimulation (unattended) |" in text
    assert "| **76856** <br><small>CPT</small> | *pelvic ultrasound, complete* |" in text
    assert "| **76830** <br><small>CPT</small> |  |" in text  # no label given: the number alone
    assert "| **RT** | Right side (used to identify" in text
    assert "| **26** | *professional component* |" in text
    assert "CPT descriptors are licensed by the\nAMA" in text


def test_codes_missing_from_the_release_are_listed_in_a_note_not_a_warning():
    text = site().playbook(PLAYBOOK)
    assert '??? note "1 code is not in the current release tables"' in text
    assert "    - ICD-10-CM R10.9" in text
    assert "| **R10.9** <br><small>ICD-10-CM</small> |  | **not found** |" in text


def test_sections_keep_their_markdown_and_escape_table_cells():
    text = site().playbook(PLAYBOOK)
    assert "## Indications\n\nUse the **confirmed** diagnosis.\n\n| Study | Diagnoses |" in text
    assert "| 76856 | R10.2 \\| R10.31 |" in text
    assert "## References\n\n- Pub. 100-04, Chapter 13" in text


def test_code_index_states():
    index = CodeIndex({"icd10cm": ICD, "hcpcs": HCPCS}, {s: r[-1] for s, r in RELEASES.items()}, [icd_change_set()])
    assert index.status("icd10cm", "R10.11")["state"] == "active"
    assert index.status("icd10cm", "r10.2")["state"] == "not-billable"
    assert index.status("icd10cm", "Z99.99")["state"] == "deleted"  # gone from the table, listed as deleted
    assert index.status("icd10cm", "A00.0")["state"] == "unknown"
    assert index.status("cpt", "99213")["state"] == "unchecked"
    assert index.status("pos", "11")["state"] == "no-release"
    assert [c["display_code"] for c in index.children("icd10cm", "R10")] == ["R10.11", "R10.20", "R10.21"]


def test_the_sentence_naming_the_release_tables_ends_before_the_cpt_sentence():
    """It once ran into the next line: "... Place of Service August 2024.CPT codes show only ..."."""
    text = site().playbook(PLAYBOOK)
    line = next(x for x in text.splitlines() if x.startswith("Official descriptors come from"))
    assert line.endswith(".") and "CPT" not in line
    assert "\nCPT codes show only the number" in text
    assert ".CPT" not in text


def test_print_card_lists_codes_key_rules_and_the_newest_changes():
    book = {**PLAYBOOK, "key_rules": ["Bill **76856** only when the report is *complete*.", "<b>no</b> HTML"]}
    card = site(book).playbook_card(book)
    assert card.startswith("---\nhide:\n  - navigation\n  - toc\n---\n")
    assert f"# {PLAYBOOK['title']}: print card {{ .cg-card }}" in card
    changes = card.split("## Changes since the last release", 1)[1].split("## Key rules", 1)[0]
    assert "- **R10.2** deleted in ICD-10-CM FY2026: use R10.20, R10.21." in changes
    assert "- HCPCS Level II 2019: no earlier release loaded to compare with." in changes
    rules = card.split("## Key rules", 1)[1].split("## Codes", 1)[0]
    assert "- Bill **76856** only when the report is *complete*." in rules  # Markdown kept
    assert "- &lt;b>no&lt;/b> HTML" in rules  # HTML not
    assert ("|  | **R10.2** ICD-10-CM | Pelvic and perineal pain | **deleted in FY2026**; "
            "Pelvic ultrasound indication. |") in card  # the group named on its first row only
    assert "| **Studies** | **76856** CPT | *pelvic ultrasound, complete* |  |" in card
    assert "| **RT** | Right side (used to identify" in card
    assert "[full playbook](imaging.md)" in card
    pages = site(book).pages()
    assert pages[f"playbooks/{book['id']}-card.md"] == card
    assert f"[Print card]({book['id']}-card.md)" in pages[f"playbooks/{book['id']}.md"]
    assert f"[card]({book['id']}-card.md)" in pages["playbooks/index.md"]
