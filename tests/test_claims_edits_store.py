"""The scrubber on the stored NCCI quarters (reference: ptp/mue in-force, a pinned quarter, the hospital
setting): the bundled sample quarters 2026 Q3 and Q4 ingested into a temporary releases folder, lines on
both sides of the 2026-10-01 boundary, the errors, and that only the chunk's codes are read."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest

from claims.scrub import Scrubber
from ingest.edits import EditTables
from ingest.history import ReleaseHistory
from ingest.model import CodegovError
from tests.conftest import CODESETS, SAMPLE
from tests.test_claims_rules import FIXTURES, OWN_FILES, RULES_FILE, claims_csv, line, triples, with_reference

EDIT_RULES = ("ncci-ptp", "mue-units")


def ingest_sample_edits(out: Path, mirror: Path = SAMPLE, systems=("ptp", "mue")) -> Path:
    """The edit-table releases of a mirror (default: the bundled sample quarters) stored under `out`."""
    from ingest.build_edits import ingest_edit_releases
    from ingest.discover import discover_mirror
    from ingest.sources import load_sources

    sources = load_sources(CODESETS)
    found = discover_mirror(mirror, sources.rules, list(systems))
    sources.merge(found)
    wanted = {(f.release.system, f.release.id) for f in found}
    releases = [r for s in systems for r in sources.releases(s) if (r.system, r.id) in wanted]
    assert releases, f"no {', '.join(systems)} release in {mirror}"
    for release, result in ingest_edit_releases(sources, releases, out, mirror=mirror, cache=out / ".cache",
                                                offline=True):
        assert not isinstance(result, Exception), (release, result)
    return out


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """The fixture code-set releases plus the stored sample quarters (PTP, MUE, and the add-on edits and fee
    schedule the shipped rule file reads in force too): one releases folder, as `codegov scrub` reads both
    from one."""
    out = tmp_path_factory.mktemp("edit-releases") / "releases"
    shutil.copytree(FIXTURES / "releases", out)
    return ingest_sample_edits(out, systems=("ptp", "mue", "aoc", "pfs"))


def rules(tmp_path: Path, reference: str, name: str = "scrub.yml") -> Path:
    return with_reference(reference, tmp_path, name)


def scrubber(rule_file: Path, edits) -> Scrubber:
    return Scrubber.from_files(rule_file, history=ReleaseHistory(), edits=edits)


def edit_findings(s: Scrubber, path: Path, **kw) -> list[tuple[str, str, str]]:
    return [t for t in triples(s.scrub_file(path, **kw)) if t[2] in EDIT_RULES]


def pt(claim, n, code, dos, units="1", mods="GP", minutes="15"):
    return line(claim, n, "MEDICARE", "11", code, mods, units, minutes, dx="M54.50", dos=dos)


def boundary_lines() -> list[str]:
    return [pt("A1", 1, "97110", "2026-09-30"), pt("A1", 2, "97530", "2026-09-30"),  # not an edit yet
            pt("A2", 1, "97110", "2026-10-01"), pt("A2", 2, "97530", "2026-10-01"),  # new edit from 2026-10-01
            line("B1", 1, "MEDICARE", "11", "76700", dos="2026-09-30"),
            line("B1", 2, "MEDICARE", "11", "76705", dos="2026-09-30"),  # in force through 2026-09-30
            line("B2", 1, "MEDICARE", "11", "76700", dos="2026-10-01"),
            line("B2", 2, "MEDICARE", "11", "76705", dos="2026-10-01"),  # deleted from 2026-10-01
            pt("C1", 1, "97110", "2026-09-30", units="5", minutes="75"),  # MUE 4 in Q3
            pt("C2", 1, "97110", "2026-10-01", units="5", minutes="75"),  # MUE 6 in Q4
            pt("C3", 1, "97110", "2026-10-01", units="7", minutes="105")]


IN_FORCE = "reference:\n  ptp: in-force\n  mue: in-force\n"


def test_the_shipped_rule_file_reads_the_stored_quarters_in_force():
    from claims.rules import load_rules

    loaded = load_rules(RULES_FILE)
    assert (loaded.ptp.quarter, loaded.mue.quarter, loaded.setting) == ("in-force", "in-force", "practitioner")
    text = RULES_FILE.read_text()
    assert "codegov ingest --system ptp" in text and "codegov ingest --system mue" in text
    assert "codegov update" in text and "Paths remain possible" in text


@pytest.mark.parametrize("chunk_lines", [None, 2])
def test_in_force_ptp_and_mue_on_both_sides_of_the_quarter_boundary(tmp_path, store, chunk_lines):
    s = scrubber(rules(tmp_path, IN_FORCE), EditTables(store))
    f = s.scrub_file(claims_csv(tmp_path, boundary_lines()), chunk_lines=chunk_lines)
    found = [t for t in triples(f) if t[2] in EDIT_RULES]
    assert found == [("A2", "2", "ncci-ptp"), ("B1", "2", "ncci-ptp"), ("C1", "1", "mue-units"),
                     ("C3", "1", "mue-units")]
    messages = dict(zip(triples(f), f["message"], strict=True))
    assert messages[("A2", "2", "ncci-ptp")].startswith("97530 billed with 97110 (line 1) on 2026-10-01")
    assert "exceed the MUE of 4" in messages[("C1", "1", "mue-units")]
    assert "7 units on 2026-10-01" in messages[("C3", "1", "mue-units")]
    assert "exceed the MUE of 6" in messages[("C3", "1", "mue-units")]
    assert not any("not checked" in n and ("PTP" in n or "MUE" in n) for n in s.notes())


def test_lines_no_stored_quarter_covers_are_not_checked_and_a_note_says_so(tmp_path, store):
    lines = [line("P1", 1, "MEDICARE", "11", "36591", dos="2025-06-03"),  # before 2026 Q3
             line("P1", 2, "MEDICARE", "11", "36415", dos="2025-06-03"),
             line("P2", 1, "MEDICARE", "11", "36591", dos="2026-08-03"),  # in 2026 Q3: an indicator 0 edit
             line("P2", 2, "MEDICARE", "11", "36415", dos="2026-08-03"),
             pt("P3", 1, "97110", "2027-03-01", units="9", minutes="135")]  # after the newest quarter's horizon
    s = scrubber(rules(tmp_path, IN_FORCE), EditTables(store))
    assert edit_findings(s, claims_csv(tmp_path, lines)) == [("P2", "2", "ncci-ptp")]
    notes = s.notes()
    assert "ncci-ptp: 3 lines on dates no stored NCCI PTP quarter covers were not checked" in notes
    assert "mue-units: 3 lines on dates no stored MUE quarter covers were not checked" in notes
    assert "NCCI PTP quarters stored (practitioner): 2026 Q3, 2026 Q4, in force 2026-07-01 to 2027-01-28" in notes
    assert "MUE quarters stored (practitioner): 2026 Q3, 2026 Q4, in force 2026-07-01 to 2027-01-28" in notes


@pytest.mark.parametrize("ptp_name, mue_name", [("2026Q3", "2026-Q4"), ("2026-07-01", "MUE 2026 Q4"),
                                                ("NCCI PTP 2026 Q3", "2026q4"), ("'2026-Q3'", "2026-10-01")])
def test_a_pinned_quarter_answers_for_every_date(tmp_path, store, ptp_name, mue_name):
    s = scrubber(rules(tmp_path, f"reference:\n  ptp: {ptp_name}\n  mue: {mue_name}\n"), EditTables(store))
    lines = boundary_lines() + [line("P1", 1, "MEDICARE", "11", "36591", dos="2025-06-03"),
                                line("P1", 2, "MEDICARE", "11", "36415", dos="2025-06-03")]
    # PTP pinned to 2026 Q3: 76700/76705 still in force on 2026-10-01, 97110/97530 not an edit yet; an edit
    # in force since 2008 applies in 2025 too. MUE pinned to 2026 Q4: 97110 is 6 on 2026-09-30 as well.
    assert edit_findings(s, claims_csv(tmp_path, lines)) == [
        ("B1", "2", "ncci-ptp"), ("B2", "2", "ncci-ptp"), ("C3", "1", "mue-units"), ("P1", "2", "ncci-ptp")]
    assert not any("not checked" in n for n in s.notes() if "PTP" in n or "MUE" in n)


def test_the_hospital_setting_reads_the_outpatient_hospital_tables(tmp_path, store):
    lines = [line("H1", 1, "MEDICARE", "22", "36591", dos="2026-08-03"),  # practitioner only (indicator 0)
             line("H1", 2, "MEDICARE", "22", "36415", "", "2", dos="2026-08-03"),  # MUE 2 (MAI 2) / 1 (MAI 1)
             line("H2", 1, "MEDICARE", "22", "93880", dos="2026-08-03"),  # both settings (indicator 1)
             line("H2", 2, "MEDICARE", "22", "93882", dos="2026-08-03")]
    path = claims_csv(tmp_path, lines)
    practitioner = scrubber(rules(tmp_path, IN_FORCE), EditTables(store))
    assert edit_findings(practitioner, path) == [("H1", "2", "ncci-ptp"), ("H2", "2", "ncci-ptp")]
    hospital = scrubber(rules(tmp_path, IN_FORCE + "  setting: hospital\n", "hospital.yml"), EditTables(store))
    f = hospital.scrub_file(path)
    assert [t for t in triples(f) if t[2] in EDIT_RULES] == [("H1", "2", "mue-units"), ("H2", "2", "ncci-ptp")]
    assert "exceed the MUE of 1 (adjudication indicator 1" in f.loc[f["rule"] == "mue-units", "message"].item()
    pinned = scrubber(rules(tmp_path, "reference:\n  ptp: 2026Q4\n  mue: 2026Q4\n  setting: hospital\n",
                            "pinned.yml"), EditTables(store))
    assert edit_findings(pinned, path) == [("H1", "2", "mue-units"), ("H2", "2", "ncci-ptp")]


class SpyTables(EditTables):
    """EditTables that records what the scrubber asks for."""

    def __init__(self, out):
        super().__init__(out)
        self.asked: list[tuple[str, tuple[str, ...], str, str]] = []

    def ptp_frame(self, codes, first, last, setting="practitioner"):
        self.asked.append(("ptp", tuple(codes), str(first), str(last)))
        return super().ptp_frame(codes, first, last, setting)

    def mue_frames(self, codes, first, last, setting="practitioner"):
        self.asked.append(("mue", tuple(codes), str(first), str(last)))
        return super().mue_frames(codes, first, last, setting)


def test_a_file_asks_for_its_codes_and_dates_once_and_a_partition_alone_for_its_own(tmp_path, store, monkeypatch):
    """scrub_file: the edit tables are read once for the whole file (claims.read.CodeSpan, EditReference.warm),
    not once per partition; a partition scrubbed alone (Scrubber.scrub_partition, as a Dask or Spark worker runs
    it) reads its own codes and dates. Either way the Parquet files are read for those codes only."""
    from claims.partition import frame_of, iter_partitions
    from ingest import edit_store

    reads = []
    real_read = edit_store.StoredEdits.read

    def read(self, columns=None, **where):
        table = real_read(self, columns, **where)
        reads.append((self.system, where, table))
        return table

    def assert_read_for(code_sets: list[set]) -> None:
        # pushed down, in the practitioner setting; the fee schedule and the add-on edits (one table for every
        # setting) by code too, the add-on edits both ways
        assert reads and {system for system, _, _ in reads} == {"ptp", "mue", "pfs", "aoc"}
        for system, where, table in reads:
            column = {"ptp": "column1", "mue": "code", "pfs": "code"}.get(system) or next(iter(where))
            assert set(where[column]) in code_sets
            assert where.get("setting") == ("practitioner" if system in ("ptp", "mue") else None)
            assert set(table[column].to_pylist()) <= set(where[column])
        assert {next(iter(w)) for system, w, _ in reads if system == "aoc"} == {"addon", "primary"}

    monkeypatch.setattr(edit_store.StoredEdits, "read", read)
    spy = SpyTables(store)
    s = scrubber(rules(tmp_path, IN_FORCE), spy)
    path = claims_csv(tmp_path, boundary_lines())
    # partitions by patient of about 4 lines each (claims.partition), each holding all of its patients' claims
    chunks = [frame_of(t) for t in iter_partitions(path, 4)]
    assert len(chunks) > 1
    s.scrub_file(path, chunk_lines=4)
    codes = set().union(*(set(frame["procedure_code"]) for frame in chunks))
    dates = sorted(d for frame in chunks for d in frame["date_of_service"])
    # one question per table: the file's distinct codes (each once) over the file's dates
    assert [(k, set(c), a, b) for k, c, a, b in spy.asked] == [("ptp", codes, dates[0], dates[-1]),
                                                               ("mue", codes, dates[0], dates[-1])]
    assert [len(c) for _, c, _, _ in spy.asked] == [len(codes)] * 2
    assert_read_for([codes])

    spy.asked.clear()
    reads.clear()
    for table in iter_partitions(path, 4):
        s.scrub_partition(table)
    expected = []
    for frame in chunks:
        chunk_dates = sorted(frame["date_of_service"])
        expected += [("ptp", set(frame["procedure_code"]), chunk_dates[0], chunk_dates[-1]),
                     ("mue", set(frame["procedure_code"]), chunk_dates[0], chunk_dates[-1])]
    # per partition one question per table: the partition's distinct codes over the partition's dates
    assert [(k, set(c), a, b) for k, c, a, b in spy.asked] == expected
    assert_read_for([set(frame["procedure_code"]) for frame in chunks])


def test_a_partition_the_span_does_not_cover_reads_its_own_codes_and_dates(tmp_path, store):
    """The span's tables answer only a partition inside it (CodeSpan.covers); any other reads its own."""
    from claims.partition import coded_partition, frame_of, iter_partitions
    from claims.read import CodeSpan, parse_lines

    assert CodeSpan.of([" 99213", "a0001", ""], ["2026-07-02", "12/31/2026", "not a date", "1800-01-01"]) == CodeSpan(
        ("99213", "A0001"), dt.date(2026, 7, 2), dt.date(2026, 12, 31))
    assert CodeSpan.of(["99213"], ["not a date"]) is None
    spy = SpyTables(store)
    s = scrubber(rules(tmp_path, IN_FORCE), spy)
    table = next(iter_partitions(claims_csv(tmp_path, boundary_lines()), None))  # one partition: the whole file
    frame = frame_of(table)
    codes, dates = set(frame["procedure_code"]), sorted(frame["date_of_service"])
    first, last = dt.date.fromisoformat(dates[0]), dt.date.fromisoformat(dates[-1])
    lines = parse_lines(coded_partition(table))
    for span in (CodeSpan(tuple(sorted(codes))[1:], first, last), CodeSpan(tuple(sorted(codes)), first,
                                                                             last - dt.timedelta(days=1))):
        s.reference.warm(span)
        spy.asked.clear()
        s.reference.prepare(lines, span)
        assert spy.asked == [("ptp", tuple(sorted(codes)), dates[0], dates[-1]),
                             ("mue", tuple(sorted(codes)), dates[0], dates[-1])]


def test_an_error_reading_the_files_edit_tables_stops_the_scrub_with_it(tmp_path, store, monkeypatch):
    """The file's tables are read in a thread of their own (claims.scrub._SpanAhead): an error there is the
    scrub's error, raised where the first partition asks for them, and no thread is left waiting."""
    import threading

    def unreadable(self, codes, first, last, setting="practitioner"):
        raise CodegovError("ptp/2026-07-01/ptp.parquet: sha256 differs from its manifest")

    monkeypatch.setattr(EditTables, "ptp_frame", unreadable)
    s = scrubber(rules(tmp_path, IN_FORCE), EditTables(store))
    with pytest.raises(CodegovError, match="sha256 differs from its manifest"):
        s.scrub_file(claims_csv(tmp_path, boundary_lines()), chunk_lines=4)
    assert not [t for t in threading.enumerate() if t.name in ("codegov-span", "codegov-prefetch") and t.is_alive()]


def test_errors_name_the_rule_file_and_the_key(tmp_path, store):
    with pytest.raises(CodegovError) as exc:
        scrubber(rules(tmp_path, "reference:\n  ptp: 2031Q1\n  mue: in-force\n"), EditTables(store))
    assert str(exc.value) == (f"{tmp_path / 'scrub.yml'}: reference.ptp: 2031Q1 is not a stored NCCI PTP quarter; "
                              "stored: 2026 Q3 (2026-07-01), 2026 Q4 (2026-10-01)")
    with pytest.raises(CodegovError, match=r"scrub.yml: reference.mue: 2026Q2 is not a stored MUE quarter; "
                                           r"stored: 2026 Q3 \(2026-07-01\), 2026 Q4 \(2026-10-01\)"):
        scrubber(rules(tmp_path, "reference:\n  ptp: in-force\n  mue: 2026Q2\n"), EditTables(store))
    empty = tmp_path / "empty-releases"
    with pytest.raises(CodegovError) as exc:
        scrubber(rules(tmp_path, IN_FORCE), EditTables(empty))
    assert str(exc.value) == (f"{tmp_path / 'scrub.yml'}: reference.ptp: in-force, but no NCCI PTP quarter is "
                              f"stored in {empty}; run `codegov ingest --system ptp` (or `codegov update`) first")
    with pytest.raises(CodegovError, match=r"reference.ptp: 2026Q3 is not a stored NCCI PTP quarter; stored: none; "
                                           r"run `codegov ingest --system ptp`"):
        scrubber(rules(tmp_path, "reference:\n  ptp: 2026Q3\n"), EditTables(empty))


def test_a_store_without_the_mue_or_the_hospital_table_is_an_error(tmp_path_factory, tmp_path):
    mirror = tmp_path_factory.mktemp("mirror")
    for quarter in ("2026-Q3", "2026-Q4"):  # practitioner PTP files only: no ccioph, no MUE
        (mirror / "ptp" / quarter).mkdir(parents=True)
        for part in (SAMPLE / "ptp" / quarter).glob("ccipra-*"):
            shutil.copy(part, mirror / "ptp" / quarter)
    out = ingest_sample_edits(tmp_path_factory.mktemp("ptp-only") / "releases", mirror, systems=("ptp",))
    with pytest.raises(CodegovError, match=r"scrub.yml: reference.mue: in-force, but no MUE quarter is stored in "
                                           r".*; run `codegov ingest --system mue`"):
        scrubber(rules(tmp_path, IN_FORCE), EditTables(out))
    with pytest.raises(CodegovError, match=r"scrub.yml: reference.setting: hospital, but no stored NCCI PTP quarter "
                                           r"holds the hospital table \(ccioph files\)"):
        scrubber(rules(tmp_path, "reference:\n  ptp: in-force\n  setting: hospital\n"), EditTables(out))
    with pytest.raises(CodegovError, match=r"reference.setting: hospital, but the stored NCCI PTP quarter 2026Q3 "
                                           r"has no hospital table"):
        scrubber(rules(tmp_path, "reference:\n  ptp: 2026Q3\n  setting: hospital\n"), EditTables(out))
    # the fee schedule named in force with none stored is an error too; left out, its rules check nothing
    with pytest.raises(CodegovError, match=r"scrub.yml: reference.pfs: in-force, but no PFS RVUs quarter is stored "
                                           r"in .*; run `codegov ingest --system pfs`"):
        scrubber(rules(tmp_path, "reference:\n  ptp: in-force\n  pfs: in-force\n"), EditTables(out))
    s = scrubber(rules(tmp_path, "reference:\n  ptp: in-force\n"), EditTables(out))
    s.scrub_file(claims_csv(tmp_path, [line("F1", 1, "MEDICARE", "11", "20610", "50", dos="2026-08-03")]))
    assert "bilateral-modifier: 1 lines on dates no stored PFS quarter covers were not checked" in s.notes()
    assert "PFS quarters stored: none (run `codegov ingest --system pfs`)" in s.notes()


@pytest.mark.parametrize("reference, error", [
    ("reference:\n  setting: dme\n", r"reference.setting: expected practitioner or hospital"),
    ("reference:\n  ptp: in-force\n  ncci_ptp: [a.txt]\n", r"reference: give ptp or ncci_ptp"),
    ("reference:\n  ptp: {quarter: 2026Q3}\n", r"reference.ptp: expected a list of file paths, `in-force` or"),
    ("reference:\n  ptp: ''\n", r"reference.ptp: expected a list of file paths, `in-force` or"),
    ("reference:\n  edits: in-force\n", r"reference: unknown key\(s\) edits"),
])
def test_reference_mistakes_are_one_error_at_load(tmp_path, reference, error):
    from claims.rules import load_rules

    with pytest.raises(CodegovError, match=rf"scrub.yml: {error}"):
        load_rules(rules(tmp_path, reference))


def test_own_files_by_path_keep_working_and_a_missing_one_names_the_key(tmp_path, store):
    s = scrubber(rules(tmp_path, OWN_FILES), EditTables(store))
    lines = [pt("N1", 1, "97140", "2025-06-03"), pt("N1", 2, "97530", "2025-06-03"),
             pt("N2", 1, "97110", "2024-06-03", units="9", minutes="135")]  # before the first MUE file
    assert edit_findings(s, claims_csv(tmp_path, lines)) == [("N1", "2", "ncci-ptp")]
    assert "mue-units: 1 lines dated before the first MUE file of the rule file were not checked" in s.notes()
    listed = rules(tmp_path, "reference:\n  ptp: [nope-f1.txt]\n", "nope.yml")
    with pytest.raises(CodegovError, match=rf"nope.yml: reference.ptp\[0\]: no such file {tmp_path / 'nope-f1.txt'}"):
        scrubber(listed, EditTables(store))


def test_without_a_store_in_force_checks_nothing_and_says_so(tmp_path):
    s = scrubber(rules(tmp_path, IN_FORCE), None)
    assert edit_findings(s, claims_csv(tmp_path, boundary_lines())) == []
    assert "ncci-ptp: 11 lines on dates no stored NCCI PTP quarter covers were not checked" in s.notes()
    assert "NCCI PTP quarters stored (practitioner): none (run `codegov ingest --system ptp`)" in s.notes()
    with pytest.raises(CodegovError, match=r"reference.ptp: 2026Q3 names a stored NCCI PTP quarter, but no releases"):
        scrubber(rules(tmp_path, "reference:\n  ptp: 2026Q3\n"), None)


def test_codegov_scrub_reads_the_quarters_from_the_releases_folder(codegov, tmp_path, store):
    path = claims_csv(tmp_path, boundary_lines())
    status, out, err = codegov("--codesets", FIXTURES, "--releases", store, "scrub", path, "--rules", RULES_FILE)
    assert status == 0
    found = pd.read_csv(pd.io.common.StringIO(out), dtype=str, keep_default_na=False)
    assert [t for t in zip(found["claim_id"], found["line"], found["rule"], strict=True) if t[2] in EDIT_RULES] == [
        ("A2", "2", "ncci-ptp"), ("B1", "2", "ncci-ptp"), ("C1", "1", "mue-units"), ("C3", "1", "mue-units")]
    bad = rules(tmp_path, "reference:\n  ptp: 2031Q1\n", "bad.yml")
    status, out, err = codegov("--codesets", FIXTURES, "--releases", store, "scrub", path, "--rules", bad)
    assert status == 1 and out == "" and err.count("\n") == 1
    assert err.startswith(f"Error: {bad}: reference.ptp: 2031Q1 is not a stored NCCI PTP quarter; stored: 2026 Q3")
    status, out, err = codegov("--codesets", FIXTURES, "scrub", path, "--rules", RULES_FILE)  # nothing stored
    assert status == 1 and err.count("\n") == 1 and "run `codegov ingest --system ptp`" in err


def test_row_group_reads_kept_give_the_files_rows_and_a_release_stored_again_is_read_again(tmp_path, store,
                                                                                            monkeypatch):
    """StoredEdits keeps its small row-group reads (edit_store._KEPT, ingest.kept, GROUPS_KEPT_BYTES in all): a
    second read gives the rows the file gives without the cache and reads nothing from disk; a read larger than
    the largest kept is never kept; a copy of the file (another identity) is read from disk again."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from ingest import edit_store
    from ingest.kept import Kept

    kept = Kept(edit_store.GROUPS_KEPT_BYTES)
    monkeypatch.setattr(edit_store, "_KEPT", kept)
    release = edit_store.list_releases(store, "ptp")[0]
    reads = []
    real = pq.ParquetFile.read_row_groups

    def counted(self, groups, **kw):
        reads.append(list(groups))
        return real(self, groups, **kw)

    monkeypatch.setattr(pq.ParquetFile, "read_row_groups", counted)
    first = edit_store.StoredEdits(store, "ptp", release)
    plain = pq.read_table(first.path)
    codes = sorted(set(plain["column1"].to_pylist()))[:3]
    want = plain.filter(pc.is_in(plain["column1"], value_set=pa.array(codes, pa.string())))
    for _ in range(3):
        got = edit_store.StoredEdits(store, "ptp", release).read(column1=codes)
        assert got.sort_by("column2").equals(want.select(got.column_names).sort_by("column2"))
    assert len(reads) == 1 and len(kept) == 1 and 0 < kept.bytes <= kept.largest

    kept.clear()
    kept.largest = 0  # this read: too large to keep
    first.read(column1=codes)
    first.read(column1=codes)
    assert len(reads) == 3 and not len(kept) and kept.bytes == 0

    kept.largest = kept.budget // 4
    first.read(column1=codes)
    again = tmp_path / "releases"
    shutil.copytree(store, again)
    edit_store.StoredEdits(again, "ptp", release).read(column1=codes)  # another file: read from disk
    assert len(reads) == 5 and len(kept) == 2

