"""Place of Service history: the curated list's documented dates are releases, and a code CMS gives no
start date is "in effect before" the earliest documented date, never from an invented one."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from ingest import parse_pos
from ingest.discover import discover_curated
from ingest.sources import load_sources
from tests.conftest import CODESETS, SAMPLE


def test_release_dates_are_the_documented_starts_and_the_days_after_each_end():
    pos = parse_pos.read_pos_csv(CODESETS / "pos.csv")
    days = parse_pos.release_dates(pos)
    assert days[0] == dt.date(2003, 1, 1)  # the earliest documented date (03 School, 04 Homeless Shelter ...)
    assert dt.date(2016, 1, 1) in days  # 19 added; 22 "Outpatient Hospital" ended 2015-12-31 and was renamed
    assert dt.date(2020, 1, 1) in days and dt.date(2024, 8, 1) in days
    assert days == sorted(set(days))
    # no date is invented: the codes CMS gives no start leave it empty and say so in their notes
    office = pos[pos["code"] == "11"].iloc[0]
    assert office["effective_start"] == "" and "not documented" in office["notes"]
    assert "2003-01-01" not in set(pos.loc[pos["notes"].str.contains("not documented"), "effective_start"])


def test_the_curated_dates_are_discovered_as_releases():
    sources = load_sources(CODESETS)
    found = discover_curated(sources, ["pos"])
    ids = [f.release.id for f in found]
    assert ids[0] == "2003-01-01" and "2016-01-01" in ids
    assert found[0].release.label == "POS January 2003"
    added = sources.merge(found)
    assert {s.release.id for s in added} >= {"2003-01-01", "2016-01-01"}
    assert "2022-01-01" not in {s.release.id for s in added}  # listed in sources.toml, with its note


def test_a_release_table_leaves_an_undocumented_start_empty():
    pos = parse_pos.read_pos_csv(CODESETS / "pos.csv")
    sources = load_sources(CODESETS)
    first = parse_pos.pos_release_table(pos, sources.rules["pos"].release(dt.date(2003, 1, 1)))
    rows = first.set_index("code")
    assert rows.loc["11", "effective_start"] == "" and rows.loc["03", "effective_start"] == "2003-01-01"
    assert "19" not in rows.index and "02" not in rows.index and "22" in rows.index


@pytest.fixture(scope="module")
def updated(tmp_path_factory):
    """A codesets folder of its own with the discovery rules: every POS release the curated list gives."""
    codesets = tmp_path_factory.mktemp("pos-history") / "codesets"
    codesets.mkdir()
    for name in ("sources.toml", "discovery.toml", "pos.csv"):
        shutil.copy(CODESETS / name, codesets)
    return codesets


def _lookup(codegov, codesets, *args, status=0):
    got, out, err = codegov("--codesets", codesets, "--releases", codesets / "releases", "lookup", *args)
    assert got == status, err  # 0: valid on the date; 3: not (codegov.options.POLICY)
    return out


def test_lookup_answers_from_the_whole_pos_history(codegov, updated):
    status, out, err = codegov("--codesets", updated, "--releases", updated / "releases", "ingest", "--mirror", SAMPLE,
                               "--offline", "--system", "pos")
    assert status == 0, err
    assert "found   pos" in out and "pos      2003-01-01 POS January 2003" in out
    office = _lookup(codegov, updated, "11", "--on", "2019-06-01")
    assert "11 is valid and billable on 2019-06-01 (Place of Service release 2017-01-01)" in office
    assert "in effect before 2003-01-01 (no documented start)" in office
    home = _lookup(codegov, updated, "10", "--on", "2021-11-01", status=3)
    assert "10  pos  not-yet-effective" in home and "takes effect on 2022-01-01" in home
    off_campus = _lookup(codegov, updated, "19", "--on", "2016-03-01")
    assert "valid" in off_campus and "since 2016-01-01" in off_campus  # a documented start is given as is
    data = json.loads(_lookup(codegov, updated, "11", "--on", "2019-06-01", "--format", "json"))
    assert data["since"] == "2003-01-01" and data["since_undocumented"] is True
    data = json.loads(_lookup(codegov, updated, "19", "--on", "2016-03-01", "--format", "json"))
    assert data["since"] == "2016-01-01" and data["since_undocumented"] is False
    before = _lookup(codegov, updated, "11", "--on", "2002-06-01", status=3)
    assert "no loaded Place of Service release covers 2002-06-01 (loaded releases cover 2003-01-01 on)" in before
