"""On the real releases the diff equals the official addenda, code for code, and finds the known cases."""

from __future__ import annotations

import pandas as pd
import pytest

from ingest.diff import diff_releases
from ingest.parse_icd10cm import parse_addenda
from ingest.store import read_release
from tests.conftest import shared

pytestmark = pytest.mark.realdata


def change_set(out, system, a, b):
    conv = out / system / f"{b}.conversion.csv"
    conversion = pd.read_csv(conv, dtype=str, keep_default_na=False) if conv.exists() else None
    return diff_releases(read_release(out, system, a), read_release(out, system, b), conversion=conversion)


@pytest.mark.parametrize(
    "old, new, folder, suffix, counts",
    [("2023-10-01", "2024-10-01", "FY2025", "_2025", (252, 36, 13)),
     ("2024-10-01", "2025-10-01", "FY2026", "_2026", (487, 28, 38))],
    ids=["FY2024-FY2025", "FY2025-FY2026"],
)
def test_diff_equals_official_addenda_code_for_code(real_releases, old, new, folder, suffix, counts):
    cs = change_set(real_releases, "icd10cm", old, new)
    codes = parse_addenda(shared("icd10cm", folder, f"icd10cm_codes_addenda{suffix}.txt"))
    by_action = {a: set(codes.loc[codes["action"] == a, "code"]) for a in ("add", "delete", "revise_to")}
    assert {a["code"] for a in cs.added} == by_action["add"]
    assert {d["code"] for d in cs.deleted} == by_action["delete"]
    assert {r["code"] for r in cs.revised if r["field"] == "long_desc"} == by_action["revise_to"]
    assert (len(by_action["add"]), len(by_action["delete"]), len(by_action["revise_to"])) == counts
    order = parse_addenda(shared("icd10cm", folder, f"icd10cm_order_addenda{suffix}.txt"))
    headers = order[order["billable"] == "0"]
    assert {h["code"] for h in cs.headers["added"]} == set(headers.loc[headers["action"] == "add", "code"])
    assert {h["code"] for h in cs.headers["deleted"]} == set(headers.loc[headers["action"] == "delete", "code"])
    assert {h["code"] for h in cs.headers["revised"]} == set(headers.loc[headers["action"] == "revise_to", "code"])
    # every deleted code has at least one replacement on the real data
    assert all(d["replacements"] for d in cs.deleted)


def test_g35_replacements_children_and_conversion_table(real_releases):
    cs = change_set(real_releases, "icd10cm", "2024-10-01", "2025-10-01")
    g35 = next(d for d in cs.deleted if d["code"] == "G35")
    assert g35["reason"] == "expanded"
    sources = {r["code"]: r["source"] for r in g35["replacements"]}
    assert {"G35A", "G35B0", "G35B1", "G35B2", "G35C0", "G35C1", "G35C2", "G35D"} <= set(sources)
    assert all("new child code" in s and "conversion table" in s for s in sources.values())


def test_hcpcs_2018_2019_reused_and_vanished(real_releases):
    cs = change_set(real_releases, "hcpcs", "2018-01-01", "2019-01-01")
    assert [r["code"] for r in cs.reused] == ["G9890", "G9891"]
    assert {d["code"] for d in cs.deleted if d["reason"] == "vanished"} == {"DA", "G9976", "G9977"}
    # 16 codes were added and terminated between the two annual files (K0903: added 2018-04-01, ended
    # 2018-12-31): they first appear already discontinued, so they are deleted, not added (244 before)
    from ingest.store import read_release

    old = set(read_release(real_releases, "hcpcs", "2018-01-01")["code"])
    between = {d["code"]: d for d in cs.deleted if d["code"] not in old}
    assert len(cs.added) == 228 and len(between) == 16 and len(cs.actions["A"]) == 228
    assert all(d["reason"] == "discontinued" and "2018-01-01" < d["termination_date"] < "2019-01-01"
               for d in between.values())
    assert [(r["code"], r["kind"]) for r in between["K0903"]["replacements"]] == [("A5514", "successor")]
