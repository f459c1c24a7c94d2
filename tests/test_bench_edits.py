"""The benchmark's synthetic edit tables (bench/synth_edits.py), at a test's size: the parsers accept every
file (the proof that the layouts are the published ones), with exactly the rows asked for, and the same
seed gives the same bytes."""

from __future__ import annotations

import csv

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from bench.synth_edits import DONE, PLACEHOLDER, Quarter, Sizes, generate, ingest_quarter, load_mirror_sources
from tests.conftest import CODESETS

SAMPLE = CODESETS / "sample"


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth-edits")
    info = generate(root, Sizes.small())
    return root, info


def _lines(path, n):
    return path.read_bytes().split(b"\r\n")[:n]


def test_headers_are_the_published_layouts(mirror):
    """Byte for byte the headers of the hand-written samples (themselves copies of the CMS layouts)."""
    root, _ = mirror
    ptp = root / "ptp" / "2026-Q3"
    assert _lines(ptp / "ccipra-v322r0-f1.txt", 6) == _lines(SAMPLE / "ptp" / "2026-Q3" / "ccipra-v322r0-f1.txt", 6)
    assert _lines(ptp / "ccioph-v322r0-f2.txt", 6) == _lines(SAMPLE / "ptp" / "2026-Q3" / "ccioph-v322r0-f1.txt", 6)
    for name in ("PractitionerServices", "OutpatientHospitalServices", "DMESupplierServices"):
        file = f"MCR_MUE_{name}_Eff_07-01-2026.csv"
        assert _lines(root / "mue" / "2026-Q3" / file, 2) == _lines(SAMPLE / "mue" / "2026-Q3" / file, 2)
    aoc = "AOC_V2026Q3-F-MCR.txt"
    assert _lines(root / "aoc" / "2026-Q3" / aoc, 2) == _lines(SAMPLE / "aoc" / "2026-Q3" / aoc, 2)
    ours = _lines(root / "pfs" / "2026-C" / "PPRRVU2026_Jul_nonQPP.csv", 10)
    sample = _lines(SAMPLE / "pfs" / "2026-C" / "PPRRVU2026_Jul_nonQPP.csv", 10)
    assert ours[:3] + ours[4:] == sample[:3] + sample[4:]  # line 4 says what the file is
    assert b"SYNTHETIC" in ours[3]


def test_parsers_accept_every_file_with_the_rows_asked_for(mirror):
    from ingest.build_edits import build_edit_release

    root, _ = mirror
    sizes = Sizes.small()
    sources = load_mirror_sources(root)
    built = {}
    for system in ("ptp", "mue", "aoc", "pfs"):
        (release,) = sources.releases(system)
        assert release.id == "2026-07-01"
        built[system] = build_edit_release(sources, release, root / system / release.mirror_dir)
    rows = {e["role"]: e["rows"] for e in built["ptp"].file_entries}
    assert rows == {**{f"practitioner-f{i}": n for i, n in enumerate(sizes.practitioner_parts, 1)},
                    **{f"hospital-f{i}": n for i, n in enumerate(sizes.hospital_parts, 1)}}
    assert {e["role"]: e["rows"] for e in built["mue"].file_entries} == sizes.mue
    # every data line of the add-on and RVU files is a row (two and ten header lines)
    for system, head in (("aoc", 2), ("pfs", 10)):
        (entry,) = built[system].file_entries
        path = built[system].files[entry["role"]]
        assert entry["rows"] == path.read_bytes().count(b"\r\n") - head > 0
    ptp = built["ptp"].table
    for setting in ("practitioner", "hospital"):  # pairs unique per setting
        part = ptp.filter(pc.equal(ptp["setting"], setting)).select(["column1", "column2"]).to_pylist()
        assert len({(r["column1"], r["column2"]) for r in part}) == len(part)
    deleted = sum(d is not None for d in ptp["deletion"].to_pylist()) / ptp.num_rows
    assert 0.05 < deleted < 0.15
    assert set(ptp["modifier_indicator"].to_pylist()) == {"0", "1", "9"}
    assert any("PC/TC split(s) add up" in e for e in built["pfs"].evidence)
    assert "one conversion factor (33.4009)" in " ".join(built["pfs"].evidence)


def test_no_descriptor_is_written(mirror):
    root, _ = mirror
    with open(root / "pfs" / "2026-C" / "PPRRVU2026_Jul_nonQPP.csv", newline="", encoding="latin-1") as f:
        records = list(csv.reader(f))[10:]
    assert records and {r[2] for r in records} == {PLACEHOLDER}


def test_same_seed_same_bytes(mirror, tmp_path):
    root, info = mirror
    again = generate(tmp_path, Sizes.small())
    assert again["files"] == info["files"]
    for system, names in info["files"].items():
        folder = Quarter(2026, 3).folders()[system]
        for name in names:
            assert (tmp_path / system / folder / name).read_bytes() == (root / system / folder / name).read_bytes()
    assert (tmp_path / DONE).exists()


def test_ingest_stores_every_set(mirror, tmp_path):
    root, _ = mirror
    summary = ingest_quarter(root, tmp_path)
    assert set(summary) == {"ptp", "mue", "aoc", "pfs"}
    for system, s in summary.items():
        stored = tmp_path / system / "2026-07-01.parquet"
        assert pq.ParquetFile(stored).metadata.num_rows == s["rows"] and s["stored_bytes"] == stored.stat().st_size


def test_other_quarters_are_named_as_cms_names_them(tmp_path):
    q = Quarter.parse("2025-Q1")
    assert (q.start.isoformat(), q.ncci_version, q.folder, q.pfs_folder) == ("2025-01-01", 316, "2025-Q1", "2025-A")
    sizes = Sizes(practitioner_parts=(50,), hospital_parts=(20,), mue={"practitioner": 30}, aoc_addons=5,
                  pfs_codes=40, codes=300)
    info = generate(tmp_path, sizes, q)
    assert info["files"] == {"ptp": ["ccipra-v316r0-f1.txt", "ccioph-v316r0-f1.txt"],
                             "mue": ["MCR_MUE_PractitionerServices_Eff_01-01-2025.csv"],
                             "aoc": ["AOC_V2025Q1-F-MCR.txt"], "pfs": ["PPRRVU2025_Jan_nonQPP.csv"]}
    sources = load_mirror_sources(tmp_path)
    assert [r.id for r in sources.releases("ptp")] == ["2025-01-01"]
