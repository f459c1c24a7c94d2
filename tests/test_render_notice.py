"""Change notices from hand-made change sets: golden Markdown, escaping of descriptors, strict templates."""

from __future__ import annotations

import copy
import os
import re

import jinja2
import markdown
import pytest

from playbooks.site import Site, SiteData
from playbooks.text import environment, md_cell
from tests.conftest import ROOT

GOLDEN = ROOT / "tests" / "golden"


def _summary(cs: dict) -> dict:
    keys = ("added", "deleted", "revised", "expanded", "header_to_billable", "reused", "reactivated", "purged")
    out = {k: len(cs[k]) for k in keys}
    out.update({f"headers_{k}": len(v) for k, v in cs["headers"].items()})
    return out


def icd_change_set() -> dict:
    """A small ICD-10-CM change set in the documented JSON shape (docs-dev/CONTRACTS.md)."""
    cs = {
        "system": "icd10cm", "system_name": "ICD-10-CM",
        "from": "2024-10-01", "from_label": "FY2025", "to": "2025-10-01", "to_label": "FY2026",
        "effective": "2025-10-01",
        "added": [
            {"code": "R1020", "display_code": "R10.20", "kind": "code",
             "description": "Pelvic and perineal pain unspecified side"},
            {"code": "R1021", "display_code": "R10.21", "kind": "code",
             "description": "Pelvic and perineal pain | right side <R>"},
        ],
        "deleted": [
            {"code": "R102", "display_code": "R10.2", "description": "Pelvic and perineal pain", "reason": "expanded",
             "termination_date": "", "replacements": [
                 {"code": "R1020", "display_code": "R10.20", "description": "Pelvic and perineal pain unspecified side",
                  "source": "new child code"},
                 {"code": "R1021", "display_code": "R10.21", "description": "Pelvic and perineal pain | right side <R>",
                  "source": "new child code"}]},
            {"code": "Z9999", "display_code": "Z99.99", "description": "A code with no successor", "reason": "deleted",
             "termination_date": "", "replacements": []},
        ],
        "revised": [
            {"code": "Z83718", "display_code": "Z83.718", "field": "long_desc",
             "before": "Other family history of colon polyps", "after": "Family history of other colon polyps"},
            {"code": "Z83718", "display_code": "Z83.718", "field": "short_desc",
             "before": "Other family history of colon polyps", "after": "Family history of other colon polyps"},
        ],
        "expanded": [{"code": "R102", "display_code": "R10.2", "description": "Pelvic and perineal pain",
                      "children": ["R1020", "R1021"]}],
        "header_to_billable": [], "reused": [], "reactivated": [], "purged": [],
        "headers": {"added": [{"code": "R102", "display_code": "R10.2", "description": "Pelvic and perineal pain"}],
                    "deleted": [], "revised": []},
        "actions": {},
        "inventory": {
            "deleted": [{"code": "R102", "display_code": "R10.2", "system": "icd10cm", "specialty": "Imaging",
                         "service_line": "Ultrasound", "owner": "Imaging coding lead",
                         "description": "Pelvic and perineal pain", "reason": "expanded", "effective": "2025-10-01",
                         "replacements": [{"code": "R1020", "display_code": "R10.20", "description": "x",
                                           "source": "new child code"}]}],
            "revised": [], "reused": [], "new_in_families": [], "unknown": [], "issues": [],
        },
    }
    cs["summary"] = _summary(cs)
    return cs


def hcpcs_change_set() -> dict:
    cs = {
        "system": "hcpcs", "system_name": "HCPCS Level II",
        "from": "2018-01-01", "from_label": "HCPCS 2018", "to": "2019-01-01", "to_label": "HCPCS 2019",
        "effective": "2019-01-01",
        "added": [{"code": "J1628", "display_code": "J1628", "kind": "procedure", "action_code": "A",
                   "description": "Injection, guselkumab, 1 mg"}],
        "deleted": [
            {"code": "C9744", "display_code": "C9744", "description": "Ultrasound, abdominal, with contrast",
             "reason": "discontinued", "termination_date": "2018-12-31", "replacements": [
                 {"code": "76978", "display_code": "76978", "description": "", "source": "HCPCS XREF"}]},
        ],
        "revised": [{"code": "A9273", "display_code": "A9273", "field": "coverage", "before": "I", "after": "M"}],
        "expanded": [], "header_to_billable": [], "reactivated": [],
        "reused": [{"code": "G9890", "display_code": "G9890",
                    "before": {"description": "Dilated macular exam performed", "add_date": "2018-01-01"},
                    "after": {"description": "Bridge payment", "add_date": "2018-04-01"}}],
        "purged": [{"code": "G0202", "display_code": "G0202", "description": "Screening mammography",
                    "termination_date": "2017-12-31"}],
        "headers": {"added": [], "deleted": [], "revised": []},
        "actions": {"A": ["J1628"], "D": ["C9744"]},
        "inventory": None,
    }
    cs["summary"] = _summary(cs)
    return cs


def notice(cs: dict, playbooks: list[dict] | None = None) -> str:
    return Site(SiteData(change_sets=[cs], playbooks=playbooks or [])).notice(cs)


def test_icd_notice_matches_golden_markdown():
    playbooks = [{"id": "imaging", "title": "Imaging", "codes": [{"system": "icd10cm", "code": "R10.2"}]}]
    text = notice(icd_change_set(), playbooks)
    golden = GOLDEN / "notice-icd10cm-small.md"
    if os.environ.get("CODEGOV_UPDATE_GOLDEN") == "1":  # review the diff of the golden file, then commit it
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_notice_lists_every_deleted_code_with_its_replacements():
    text = notice(icd_change_set())
    deleted = text.split("## Deleted codes", 1)[1].split("## Added codes", 1)[0]
    row = next(line for line in deleted.splitlines() if line.startswith("| **R10.2**"))
    assert "**R10.20** Pelvic and perineal pain unspecified side" in row
    assert "**R10.21**" in row
    assert "became a header with new, more specific codes" in row
    assert "no replacement listed" in next(line for line in deleted.splitlines() if "Z99.99" in line)


def test_pipe_and_angle_brackets_in_a_descriptor_stay_inside_their_cell():
    text = notice(icd_change_set())
    assert "Pelvic and perineal pain \\| right side &lt;R&gt;" in text
    html = markdown.markdown(text.split("## Added codes", 1)[1].split("##", 1)[0], extensions=["tables"])
    rows = re.findall(r"<tr>(.*?)</tr>", html, re.S)
    cells = [re.findall(r"<td>(.*?)</td>", r, re.S) for r in rows[1:]]
    assert cells == [["R10.20", "Pelvic and perineal pain unspecified side"],
                     ["R10.21", "Pelvic and perineal pain | right side &lt;R&gt;"]]


def test_md_cell_escapes_markdown_html_and_line_breaks():
    assert md_cell("a | b") == "a \\| b"
    assert md_cell("<script>&") == "&lt;script&gt;&amp;"
    assert md_cell("line one\r\nline two\n") == "line one line two"
    assert md_cell("*not* _emphasis_ [link](x) `code` {#id}") == \
        "\\*not\\* \\_emphasis\\_ \\[link\\](x) \\`code\\` \\{#id\\}"
    assert md_cell(None) == ""
    html = markdown.markdown("| a |\n| --- |\n| " + md_cell("x | <b>y</b> *z*") + " |", extensions=["tables"])
    assert "<td>x | &lt;b&gt;y&lt;/b&gt; *z*</td>" in html


def test_hcpcs_notice_shows_reused_purged_actions_and_no_cpt_descriptor():
    text = notice(hcpcs_change_set())
    assert "## Reused codes" in text and "G9890" in text and "(added 2018-04-01)" in text
    assert "## Dropped from the file" in text and "G0202" in text
    assert "| A | added | 1 |" in text and "| D | discontinued | 1 |" in text
    assert "**76978** (CPT code)" in text  # an XREF to a CPT code: the number only
    assert "was discontinued, terminated 2018-12-31" in text
    assert "| A9273 | Medicare coverage | I (not payable by Medicare) | M (non-covered by Medicare) |" in text
    assert "inpatient" not in text  # the discharge-date rule is ICD-10-CM's


def test_a_missing_variable_is_an_error_not_an_empty_string():
    env = environment()
    with pytest.raises(jinja2.UndefinedError):
        env.from_string("{{ nothing_here }}").render()
    broken = copy.deepcopy(icd_change_set())
    del broken["summary"]
    with pytest.raises(jinja2.UndefinedError):
        Site(SiteData(change_sets=[])).notice(broken)


def test_markdown_templates_are_not_autoescaped_but_svg_is():
    env = environment()
    assert env.get_template("history_chart.svg.j2").render(
        title="<b>", groups=[], width=10, height=10, x0=1, bar_h=1).count("&lt;b&gt;") == 2
    assert not env.get_template("notice.md.j2").environment.autoescape("notice.md.j2")


def _long_icd_change_set() -> dict:
    """FY2026-like: 14 added codes in two categories of two chapters, 12 revised, 2 deleted."""
    cs = icd_change_set()
    cs["added"] = [{"code": f"E7801{i}", "display_code": f"E78.01{i}", "kind": "code",
                    "description": f"Familial hypercholesterolemia type {i}"} for i in range(10)]
    cs["added"] += [{"code": f"R102{i}", "display_code": f"R10.2{i}", "kind": "code",
                     "description": f"Pelvic pain {i}"} for i in range(4)]
    cs["revised"] = [{"code": f"Z8371{i}", "display_code": f"Z83.71{i}", "field": "long_desc", "before": "old",
                      "after": "new"} for i in range(12)]
    cs["summary"] = _summary(cs)
    return cs


def test_long_lists_fold_by_chapter_then_category_with_counts():
    import pandas as pd

    headers = pd.DataFrame({"code": ["E78", "R10", "Z83"],
                            "long_desc": ["Disorders of lipoprotein metabolism and other lipidemias",
                                          "Abdominal and pelvic pain", 'Family history of "other" disorders']})
    cs = _long_icd_change_set()
    text = Site(SiteData(change_sets=[cs], tables=lambda system, rid: headers)).notice(cs)
    added = text.split("## Added codes", 1)[1].split("## Revised codes", 1)[0]
    assert re.findall(r"^( *)\?\?\? note \"(.+)\"$", added, re.M) == [
        ("", "Chapter 4 (E00-E89): Endocrine, nutritional and metabolic diseases (10 added codes)"),
        ("    ", "E78: Disorders of lipoprotein metabolism and other lipidemias (10 added codes)"),
        ("", "Chapter 18 (R00-R99): Symptoms, signs and abnormal clinical and laboratory findings, not elsewhere "
             "classified (4 added codes)"),
        ("    ", "R10: Abdominal and pelvic pain (4 added codes)")]
    assert "        | E78.019 | Familial hypercholesterolemia type 9 |" in added  # the table inside its category
    revised = text.split("## Revised codes", 1)[1].split("## Expanded codes", 1)[0]
    assert '    ??? note "Z83: Family history of &quot;other&quot; disorders (12 revised codes)"' in revised
    # the deleted codes (2) and the expanded ones (1) stay open tables; so do the short lists of a small notice
    assert "\n| **R10.2** | Pelvic and perineal pain |" in text
    html = markdown.markdown(added, extensions=["tables", "pymdownx.details"])
    assert html.count("<details") == 4 and html.count("<td>E78.01") == 10


def test_fold_by_section_groups_hcpcs_by_letter_then_range():
    from playbooks.site import HCPCS_RANGES_AT, fold_by_section

    entries = [{"code": f"J{1000 + i}"} for i in range(HCPCS_RANGES_AT + 1)] + [{"code": "J2001"}, {"code": "E0114"},
                                                                               {"code": "E0115"}, {"code": "GP"}]
    folded = fold_by_section("hcpcs", entries, {})
    assert [(s["title"], s["count"], [(f["title"], f["count"]) for f in s["families"]]) for s in folded] == [
        ("E: Durable medical equipment", 2, []),  # a small section: one table, no ranges
        ("J: Drugs administered other than by mouth, chemotherapy drugs", HCPCS_RANGES_AT + 2,
         [("J1000-J1099", HCPCS_RANGES_AT + 1), ("J2000-J2099", 1)]),
        ("Modifiers", 1, [])]


def test_notice_csv_has_every_change_and_no_formula_cells():
    import csv
    import io

    from playbooks.site import NOTICE_CSV_COLUMNS, notice_csv

    cs = icd_change_set()
    cs["added"][0] = {**cs["added"][0], "description": "=HYPERLINK(\"http://x\")"}
    rows = list(csv.DictReader(io.StringIO(notice_csv(cs))))
    assert tuple(rows[0]) == NOTICE_CSV_COLUMNS
    assert [(r["change"], r["display_code"], r["field"]) for r in rows] == [
        ("deleted", "R10.2", ""), ("deleted", "Z99.99", ""), ("added", "R10.20", ""), ("added", "R10.21", ""),
        ("revised", "Z83.718", "long_desc"), ("revised", "Z83.718", "short_desc"), ("expanded", "R10.2", ""),
        ("header added", "R10.2", "")]
    assert rows[0]["replacements"] == "R10.20 R10.21" and rows[0]["chapter"] == "18 (R00-R99)"
    assert rows[0]["family"] == "R10"
    assert rows[2]["description"] == "'=HYPERLINK(\"http://x\")"  # a spreadsheet shows it as text
    pages = Site(SiteData(change_sets=[cs])).pages()
    assert pages["notices/icd10cm-2025-10-01.csv"] == notice_csv(cs)
    assert "[icd10cm-2025-10-01.csv](icd10cm-2025-10-01.csv)" in pages["notices/icd10cm-2025-10-01.md"]
