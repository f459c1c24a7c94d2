"""On the real ICD-10-CM releases: every count a change notice prints equals the count the official addenda
print in their summary blocks (codes from the codes addenda, headers from the order addenda), for FY2024 ->
FY2025 and FY2025 -> FY2026. The notice once counted 13 revised headers for FY2026 (one per changed title,
long and short) where the order addenda count 7 (one per header)."""

from __future__ import annotations

import re

import pytest

from ingest.proof_icd10cm import addenda_summary
from playbooks.site import Site, gather
from tests.conftest import CODESETS, shared

pytestmark = pytest.mark.realdata

ADDENDA = {  # release -> (codes addenda, order addenda) in ../shared/data/cms
    "FY2025": ("icd10cm/FY2025/icd10cm_codes_addenda_2025.txt", "icd10cm/FY2025/icd10cm_order_addenda_2025.txt"),
    "FY2026": ("icd10cm/FY2026/icd10cm_codes_addenda_2026.txt", "icd10cm/FY2026/icd10cm_order_addenda_2026.txt"),
}


@pytest.fixture(scope="module")
def site(real_releases):
    from ingest.repository import ReleaseRepository

    return Site(gather(ReleaseRepository(real_releases, CODESETS)))


def notice_counts(text: str) -> dict[str, int]:
    """The counts a notice prints: its summary table (codes) and its Headers sentence."""
    rows = dict(re.findall(r"^\| \[([^\]]+)\]\(#[a-z-]+\) \| (\d+) \|$", text, re.M))
    heads = re.search(r"never billed\. (\d+) added, (\d+) deleted, (\d+) revised\.", text)
    return {"codes added": int(rows["Added"]), "codes deleted": int(rows["Deleted: no longer valid on a claim"]),
            "codes revised": int(rows["Descriptor revised"]), "headers added": int(heads.group(1)),
            "headers deleted": int(heads.group(2)), "headers revised": int(heads.group(3))}


@pytest.mark.parametrize("to_label", sorted(ADDENDA))
def test_notice_counts_equal_the_official_addenda(site, to_label):
    [cs] = [c for c in site.data.change_sets if c["system"] == "icd10cm" and c["to_label"] == to_label]
    codes, order = (addenda_summary(shared(p)) for p in ADDENDA[to_label])
    official = {f"{kind} {what}": block[change]
                for kind, block in (("codes", codes["codes"]), ("headers", order["headers"]))
                for what, change in (("added", "additions"), ("deleted", "deletions"), ("revised", "revisions"))}
    assert notice_counts(site.notice(cs)) == official


def test_fy2026_counts_are_the_published_ones(site):
    [cs] = [c for c in site.data.change_sets if c["system"] == "icd10cm" and c["to_label"] == "FY2026"]
    assert notice_counts(site.notice(cs)) == {"codes added": 487, "codes deleted": 28, "codes revised": 38,
                                              "headers added": 143, "headers deleted": 0, "headers revised": 7}
