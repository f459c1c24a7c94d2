"""The site's lookup index (playbooks.lookup): read back as the page's script reads it, it gives what
`codegov lookup` answers (ReleaseHistory.lookup, and the edit tables' lines) for every code and date."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import random

import pytest

from ingest.edits import EditTables, answer_lines, code_answer
from ingest.repository import ReleaseRepository
from playbooks import lookup
from tests.conftest import CODESETS, make_sample_codesets

D = dt.date.fromisoformat


@pytest.fixture(scope="module")
def sample_codesets(tmp_path_factory):
    """The sample's code sets and edit tables, ingested once for this file (read, never written)."""
    return make_sample_codesets(tmp_path_factory.mktemp("lookup") / "codesets", edits=True)


@pytest.fixture(scope="module")
def sample(sample_codesets):
    codesets = sample_codesets
    repo = ReleaseRepository(codesets / "releases", codesets)
    tables = EditTables(repo.out)
    return repo.history(), tables, lookup.build(repo.history(), {}, tables)


def expected(history, tables, code: str, on: dt.date) -> dict:
    """What `codegov lookup CODE --on DATE --format json` prints (edits: the lines of its text form)."""
    return expected_many(history, tables, [(code, on)])[0]


def expected_many(history, tables, pairs: list[tuple[str, dt.date]]) -> list[dict]:
    """expected() of each (code, date), the engine asked once for all of them (ReleaseHistory.lookup_many,
    which tests/test_history.py holds to lookup's answers)."""
    out = []
    for v, (_, on) in zip(history.lookup_many([c for c, _ in pairs], [on for _, on in pairs]), pairs, strict=True):
        data = v.to_dict()
        if len(v.code) == 5 and tables is not None and not tables.empty():
            data["edits"] = answer_lines(code_answer(tables, v.code, on))
        out.append(data)
    return out


def typed_forms(history, system: str, pairs: list[tuple[str, dt.date]]) -> list[tuple[str, dt.date]]:
    """Each (stored code, date) as a user types it: the display form the engine gives on that date."""
    found = history.lookup_many([c for c, _ in pairs], [on for _, on in pairs], system)
    return [(v.display_code, on) for v, (_, on) in zip(found, pairs, strict=True)]


CASES = [  # code as typed, date, status, message
    ("G35", "2025-09-30", "valid", "G35 is valid and billable on 2025-09-30 (ICD-10-CM release 2024-10-01)"),
    ("g35", "2025-10-01", "deleted", "G35 became a header on 2025-10-01: it needs more characters; replaced by "
     "G35.A, G35.B0, G35.B1, G35.B2, G35.C0 (+3 more)"),
    ("E7801", "2025-10-01", "deleted", "E78.01 became a header on 2025-10-01: it needs more characters; replaced "
     "by E78.010, E78.011, E78.019"),
    ("E78.0", "2025-10-01", "header", "E78.0 is a header on 2025-10-01, not billable: it needs more characters; "
     "bill one of E78.010, E78.011, E78.019"),  # E78.01 is a header that day: never a code to bill
    ("G35.A", "2025-09-30", "not-yet-effective", "G35.A is not yet effective on 2025-09-30: it takes effect on "
     "2025-10-01"),
    ("K0903", "2019-01-01", "deleted", "K0903 was deleted on 2019-01-01; replaced by A5514"),
    ("G9890", "2018-06-01", "valid", "G9890 is valid and billable on 2018-06-01 (added 2018-04-01, as the HCPCS "
     "Level II release 2019-01-01 lists it)"),
    ("J45.909", "2025-10-01", "unknown", "J45.909 is in no loaded ICD-10-CM release (2024-10-01 to 2025-10-01)"),
    ("J45.909", "2000-01-01", "unknown", "no loaded ICD-10-CM release covers 2000-01-01 (loaded releases cover "
     "2024-10-01 to 2026-09-30)"),
    ("2", "2024-09-01", "valid", "02 is valid and billable on 2024-09-01 (Place of Service release 2024-08-01)"),
    ("97110", "2026-10-01", "unknown", "CPT codes are not validated: CPT is licensed by the AMA and codegov ships "
     "no CPT data; check it against your organisation's licensed CPT file"),
    ("ab-1", "2025-01-01", "unknown", "'AB-1' has the shape of no supported code set (ICD-10-CM, HCPCS Level II, "
     "POS, CPT)"),
]


@pytest.mark.parametrize(("code", "on", "status", "message"), CASES)
def test_index_answers_as_the_engine(sample, code, on, status, message):
    history, tables, files = sample
    got = lookup.answer(files, code, D(on))
    assert got == expected(history, tables, code, D(on))
    assert (got["status"], got["message"]) == (status, message)


def test_replacements_and_reused_meaning(sample):
    _, _, files = sample
    g35 = lookup.answer(files, "G35", D("2025-10-01"))
    assert [r["code"] for r in g35["replacements"]] == ["G35.A", "G35.B0", "G35.B1", "G35.B2", "G35.C0", "G35.C1",
                                                         "G35.C2", "G35.D"]
    assert {r["source"] for r in g35["replacements"]} == {"children"}
    k = lookup.answer(files, "K0903", D("2019-01-01"))
    assert k["replacements"] == [{"code": "A5514", "source": "successor"}]
    # a reused HCPCS code: the meaning in force on the date
    before, after = (lookup.answer(files, "G9890", D(d)) for d in ("2018-06-01", "2019-02-01"))
    assert before["since"] == after["since"] == "2018-04-01"
    assert before["description"].startswith("Bridge payment")


def test_every_code_on_every_boundary(sample):
    """Every code of the sample on the first and last day of each of its spans, and the day around them."""
    history, tables, files = sample
    index = lookup.Index(files)
    checked = 0
    for system in ("icd10cm", "hcpcs", "pos"):
        spans = history.spans(system)
        pairs = []
        for code, first, last in spans.itertuples(index=False):
            days = {first - 1, first, first + 1} | ({last, last + 1} if last < 10**9 else set())
            pairs += [(code, lookup.date_of(n)) for n in sorted(days)]
        typed = typed_forms(history, system, pairs)
        for (code, on), (shown, _), want in zip(pairs, typed, expected_many(history, tables, typed), strict=True):
            assert index.answer(shown, on) == want, (code, on)
            checked += 1
    assert checked > 500


def test_edit_table_lines(sample):
    history, tables, files = sample
    for on in ("2026-06-30", "2026-07-01", "2026-09-30", "2026-10-01", "2027-01-28", "2027-01-29"):
        for code in ("97110", "97530", "G0283", "E0114", "99213"):
            got = lookup.answer(files, code, D(on))
            assert got["edits"] == answer_lines(code_answer(tables, code, D(on))), (code, on)
    lines = lookup.answer(files, "97110", D("2026-10-01"))["edits"]
    assert lines[:3] == ["  edit tables in force:",
                         "    NCCI PTP 2026 Q4: 1 hospital, 1 practitioner PTP edit(s) in force",
                         "      hospital     97110 / 97530  modifier 1 (a modifier allowed) since 2026-10-01"]


def test_index_is_compact_json(sample):
    _, _, files = sample
    meta = json.loads(files["lookup/data/meta.json"])
    assert sorted(meta["systems"]) == ["hcpcs", "icd10cm", "pos"]
    assert all(f"lookup/data/{s}.json" in files for s in meta["shards"])
    assert meta["shards"][:3] == ["icd10cm-D6", "icd10cm-E0", "icd10cm-E1"]
    g3 = json.loads(files["lookup/data/icd10cm-G3.json"])
    # G35: valid in FY2025 (one row over its whole span), then a header with its children
    assert [r[:3] for r in g3["G35"][1]] == [[19997, 20361, 0], [20362, 20726, 3]]
    assert g3["G35"][1][1][6] == [[0, "~.A ~.B0 ~.B1 ~.B2 ~.C0 ~.C1 ~.C2 ~.D"]]


def written_index(generated) -> dict[str, str]:
    """The index files a run wrote under its generated folder, as build() returns them."""
    return {p.relative_to(generated).as_posix(): p.read_text(encoding="utf-8")
            for p in sorted((generated / lookup.DATA).glob("*.json"))}


def test_real_releases_sample_of_codes(real_update):
    """ICD-10-CM FY2025-FY2026 and HCPCS 2018-2019, the index the session's real update wrote: 400 codes drawn
    at random, each on random dates."""
    history = ReleaseRepository(real_update / "releases", CODESETS).history()
    index = lookup.Index(written_index(real_update / "docs" / "generated"))
    assert sorted(index.meta["systems"]) == ["hcpcs", "icd10cm", "pos"]
    rng = random.Random(16)
    checked = 0
    for system in ("icd10cm", "hcpcs"):
        spans = history.spans(system)
        picks = spans.sample(200, random_state=16)
        pairs = []
        for code, first, last in picks.itertuples(index=False):
            end = last if last < 10**9 else first + 400
            pairs += [(code, lookup.date_of(n)) for n in (first, end, rng.randint(first, end), first - 1)]
        typed = typed_forms(history, system, pairs)
        for (code, on), (shown, _), want in zip(pairs, typed, expected_many(history, None, typed), strict=True):
            assert index.answer(shown, on) == want, (code, on)
            checked += 1
    for code, on in (("J45.909", "2025-06-01"), ("G35", "2025-10-01"), ("E78.01", "2025-10-01"), ("S72", "2024-01-01")):
        assert index.answer(code, D(on)) == expected(history, None, code, D(on))
    assert checked == 1600
    biggest = max(len(gzip.compress(v.encode())) for k, v in index.files.items() if k != "lookup/data/meta.json")
    assert biggest < 200_000  # the largest shard one lookup fetches, gzip-compressed (Pages serves it so)


def test_large_edit_tables_index_the_billed_codes(sample):
    """Above the limit only the inventory's codes get their lines; the others are named, never answered
    with the lines of a code no table lists."""
    history, tables, _ = sample
    empty, codes, elsewhere = lookup.edits_index(tables, billed={"97110"}, limit=3)
    assert list(codes) == ["97110"]
    assert "97530" in elsewhere and "97110" not in elsewhere
    files = lookup.build(history, {}, tables, billed={"97110"})
    assert lookup.answer(files, "97110", D("2026-10-01"))["edits"] == answer_lines(
        code_answer(tables, "97110", D("2026-10-01")))


def test_the_index_built_in_a_second_process_is_the_one_built_here(sample_codesets):
    """codegov update builds the index in a second process while its checks run (lookup.start_build): the
    same labels, billed codes and files as pages() builds in process."""
    codesets = sample_codesets
    repo = ReleaseRepository(codesets / "releases", codesets)
    rows = [{"system": "hcpcs", "code": "97110"}, {"system": "icd10cm", "code": "G35"}]
    future, pool = lookup.start_build(repo, rows)
    try:
        files = future.result()
    finally:
        pool.shutdown()
    labels = {(s, r): repo.label(s, r) for s in ("icd10cm", "hcpcs", "pos") for r in repo.ids[s]}
    here = lookup.build(repo.history(), labels, EditTables(repo.out), lookup.billed_procedures(rows))
    assert files == here
    assert json.loads(files[f"{lookup.DATA}/meta.json"])["systems"]["icd10cm"]["releases"]
