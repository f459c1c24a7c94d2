"""Release diff and deleted-code report on the bundled sample; golden Markdown; escaping; --fail-on."""

from __future__ import annotations

import json
import os

import pytest

from ingest.inventory import load_inventory
from ingest.repository import load_change_set
from playbooks.report import render_csv, render_markdown
from playbooks.text import md_cell
from tests.conftest import ROOT, make_sample_codesets

FIXTURE_INVENTORY = ROOT / "tests" / "fixtures" / "inventory.csv"
GOLDEN = ROOT / "tests" / "golden"


@pytest.fixture(scope="module")
def sample_codesets(tmp_path_factory):
    return make_sample_codesets(tmp_path_factory.mktemp("diff") / "codesets")


def by_code(items):
    return {e["code"]: e for e in items}


def test_icd10cm_sample_expansions_revision_and_additions(sample_codesets):
    cs = load_change_set(sample_codesets, "icd10cm")
    assert (cs.from_release, cs.to_release, cs.from_label, cs.to_label) == ("2024-10-01", "2025-10-01", "FY2025",
                                                                             "FY2026")
    deleted = by_code(cs.deleted)
    assert set(deleted) == {"E7801", "G35", "R102"}
    assert {d["reason"] for d in cs.deleted} == {"expanded"}
    g35 = {r["code"]: r["source"] for r in deleted["G35"]["replacements"]}
    assert set(g35) == {"G35A", "G35B0", "G35B1", "G35B2", "G35C0", "G35C1", "G35C2", "G35D"}
    assert g35["G35A"] == "new child code, conversion table FY2026"
    assert [r["code"] for r in cs.revised] == ["Z83718", "Z83718"]
    assert {r["field"] for r in cs.revised} == {"long_desc", "short_desc"}
    assert "E11A" in by_code(cs.added) and len(cs.added) == 17
    assert "G35" in by_code(cs.headers["added"])  # the order addenda's `Add: 0 G35`


def test_hcpcs_sample_reused_vanished_discontinued(sample_codesets):
    cs = load_change_set(sample_codesets, "hcpcs")
    assert [r["code"] for r in cs.reused] == ["G9890", "G9891"]
    deleted = by_code(cs.deleted)
    assert {c for c, d in deleted.items() if d["reason"] == "vanished"} == {"DA", "G9976", "G9977"}
    c9744 = deleted["C9744"]
    assert c9744["reason"] == "discontinued" and c9744["termination_date"] == "2018-12-31"
    assert [(r["code"], r["source"]) for r in c9744["replacements"]] == [("76978", "HCPCS XREF"),
                                                                         ("76979", "HCPCS XREF")]
    assert deleted["DA"]["replacements"] == []
    assert "G9890" not in {r["code"] for r in cs.revised}  # reused, not revised
    assert cs.actions["A"] == sorted(cs.actions["A"]) and "J1628" in cs.actions["A"]


def test_inventory_impact_and_normalisation(sample_codesets):
    inv = load_inventory(FIXTURE_INVENTORY)
    issues = {(i["code"], i["severity"]) for i in inv.issues}
    assert ("1.00E+05", "error") in issues and ("415", "error") in issues and ("2", "warning") in issues
    assert set(inv.codes("pos")["code"]) == {"02", "11"}
    cs = load_change_set(sample_codesets, "icd10cm", inventory=inv)
    assert {d["code"] for d in cs.inventory["deleted"]} == {"G35", "R102", "E7801"}
    r102 = by_code(cs.inventory["deleted"])["R102"]
    assert (r102["specialty"], r102["owner"], r102["effective"]) == ("Imaging", "Imaging coding lead", "2025-10-01")
    assert [r["code"] for r in cs.inventory["revised"]] == ["Z83718", "Z83718"]
    hc = load_change_set(sample_codesets, "hcpcs", inventory=inv)
    assert [r["code"] for r in hc.inventory["reused"]] == ["G9890"]
    assert {d["code"] for d in hc.inventory["deleted"]} == {"C9029", "DA"}


def test_report_matches_golden_markdown(sample_codesets):
    inv = load_inventory(FIXTURE_INVENTORY)
    sets = [load_change_set(sample_codesets, s, inventory=inv) for s in ("icd10cm", "hcpcs")]
    text = render_markdown(sets)
    golden = GOLDEN / "report-sample.md"
    if os.environ.get("CODEGOV_UPDATE_GOLDEN") == "1":  # review the diff of the golden file, then commit it
        golden.write_text(text, encoding="utf-8")
    assert text == golden.read_text(encoding="utf-8")


def test_markdown_cells_cannot_break_the_table():
    assert md_cell("a | b <script> & c\nd") == "a \\| b &lt;script&gt; &amp; c d"
    inv = load_inventory(FIXTURE_INVENTORY)
    assert inv.rows.set_index("code").loc["R102", "notes"] == "pelvic | transvaginal <US>"


def test_json_shape(sample_codesets, codegov):
    status, out, _ = codegov("--codesets", sample_codesets, "diff", "--system", "icd10cm", "--format", "json",
                             "--inventory", FIXTURE_INVENTORY)
    data = json.loads(out)
    assert status == 0
    assert {"system", "from", "to", "added", "deleted", "revised", "expanded", "reused", "reactivated",
            "inventory"} <= set(data)
    assert all({"code", "source"} <= set(r) for d in data["deleted"] for r in d["replacements"])
    assert all({"field", "before", "after"} <= set(r) for r in data["revised"])


def test_csv_has_one_row_per_change(sample_codesets):
    cs = load_change_set(sample_codesets, "hcpcs")
    rows = render_csv([cs]).splitlines()
    assert rows[0].startswith("system,from,to,change,code")
    assert sum(1 for r in rows if ",reused," in r) == 2


def test_fail_on_inventory_deleted(sample_codesets, codegov):
    args = ("--codesets", sample_codesets, "diff", "--system", "icd10cm", "--inventory", FIXTURE_INVENTORY)
    assert codegov(*args)[0] == 0
    status, _, err = codegov(*args, "--fail-on", "inventory-deleted")
    assert status == 3 and "3 inventory code(s) deleted" in err  # codegov.options.POLICY


def test_change_sets_are_typed_records_whose_mapping_is_their_json_form(sample_codesets):
    from ingest.changes import Affected, Change, InventoryImpact, Reuse, Revision

    inv = load_inventory(FIXTURE_INVENTORY)
    cs = load_change_set(sample_codesets, "hcpcs", inventory=inv)
    assert all(isinstance(e, Change) for e in cs.added + cs.deleted + cs.purged)
    assert all(isinstance(e, Revision) for e in cs.revised) and all(isinstance(e, Reuse) for e in cs.reused)
    c9744 = next(e for e in cs.deleted if e.code == "C9744")
    # attribute and key reads agree; the mapping has only the fields a deletion has, in field order
    assert c9744.reason == c9744["reason"] == "discontinued"
    assert list(c9744) == ["code", "display_code", "description", "reason", "termination_date", "replacements"]
    assert "kind" not in c9744 and c9744.get("kind") is None
    with pytest.raises(KeyError):
        c9744["children"]
    assert isinstance(cs.inventory, InventoryImpact)
    affected = cs.inventory.deleted
    assert affected and all(isinstance(a, Affected) for a in affected)
    a = affected[0]
    assert a.code == a.change.code and a.replacements == a.change.replacements  # the change's fields are its own
    assert list(a)[: len(a.change)] == list(a.change) and "change" not in a
    assert {"specialty", "owner", "effective"} <= set(a)
    data = json.loads(json.dumps(cs.to_dict()))
    assert data["to"] == cs.to_release and data["summary"] == cs.summary
    assert data["inventory"]["deleted"][0] == dict(a) | {"replacements": list(a.replacements)}
    assert cs == data  # a change set equals its JSON form
    assert cs["from"] == cs.from_release and cs.get("inventory") is cs.inventory


def _frame(codes, descs):
    import pandas as pd

    return pd.DataFrame({"code": codes, "billable": ["1"] * len(codes), "long_desc": descs}).astype(str)


@pytest.mark.parametrize("codes_a, codes_b", [
    (["A00", "A000", "A001", "B20", "Z99"], ["A000", "A0001", "B20", "C1", "Z99"]),  # prefixes: "A00" < "A000"
    (["A0", "A00000000", "B"], ["A00000000", "B", "C"]),  # longer than 8 characters: the hash path
    (["A0", "É1", "Z"], ["É1", "Z"]),  # not ASCII: the hash path
    ([], ["A1"]),
    (["A1"], []),
])
def test_changed_rows_merge_by_integer_keys_agrees_with_the_hash_path(codes_a, codes_b):
    from ingest import diff

    a = _frame(codes_a, [f"d{c}" for c in codes_a])
    b = _frame(codes_b, [("revised" if c == "Z99" else f"d{c}") for c in codes_b])
    gone, came = diff._changed_rows(a, b, ("billable", "long_desc"))
    shared = set(codes_a) & set(codes_b)
    assert gone["code"].tolist() == [c for c in codes_a if c not in shared or c == "Z99"]
    assert came["code"].tolist() == [c for c in codes_b if c not in shared or c == "Z99"]
    short = all(c.isascii() and len(c) <= 8 for c in codes_a + codes_b)
    assert (diff._sorted_keys(diff._arrow(a, "code")) is not None) == (short and len(codes_a) > 0)


def test_changed_rows_out_of_order_tables_are_an_error():
    from ingest import diff
    from ingest.model import CodegovError

    with pytest.raises(CodegovError, match="sorted by code"):
        diff._changed_rows(_frame(["A1", "B1", "C1"], ["x"] * 3), _frame(["C1", "B1", "A1"], ["x"] * 3), ("long_desc",))
