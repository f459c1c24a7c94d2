"""On the real ICD-10-CM FY2025 and FY2026 releases: the FY2026 notice lists all 28 deleted codes, each with
its replacements, and the playbooks that cite one of them get a warning box."""

from __future__ import annotations

import re

import pytest

from playbooks.site import Site, gather
from tests.conftest import CODESETS, ROOT, releases_view

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def site(tmp_path_factory, real_update):
    # ICD-10-CM FY2025 and FY2026 of the session's real update, without its HCPCS releases
    out = releases_view(real_update / "releases", tmp_path_factory.mktemp("releases"), ("icd10cm",))
    from ingest.repository import ReleaseRepository
    from playbooks.load import load_playbooks

    return Site(gather(ReleaseRepository(out, CODESETS), playbooks=load_playbooks(ROOT / "playbooks")))


def test_fy2026_notice_lists_all_28_deleted_codes_with_replacements(site):
    [cs] = site.data.change_sets
    assert (cs["from_label"], cs["to_label"], cs["summary"]["deleted"]) == ("FY2025", "FY2026", 28)
    text = site.notice(cs)
    deleted = text.split("## Deleted codes", 1)[1].split("## Added codes", 1)[0]
    rows = [line for line in deleted.splitlines() if line.startswith("| **")]
    assert len(rows) == 28
    codes = [re.match(r"\| \*\*([^*]+)\*\*", row).group(1) for row in rows]
    assert codes == [d["display_code"] for d in cs["deleted"]]
    assert {"G35", "R10.2", "E78.01"} <= set(codes)
    for row in rows:
        assert "no replacement listed" not in row
        assert re.match(r"\*\*[A-Z0-9.]+\*\* [^|]+<br>", row.split(" | ", 3)[3]), row


def test_playbooks_citing_fy2026_deletions_carry_a_warning(site):
    pages = {pb["id"]: site.playbook(pb) for pb in site.data.playbooks}
    assert '!!! warning "R10.2 is no longer billable"' in pages["imaging"]
    assert '!!! warning "G35 is no longer billable"' in pages["dme"]
    assert '!!! warning "E78.01 is no longer billable"' in pages["laboratory"]
    assert "!!! warning" not in pages["physical-therapy"]
