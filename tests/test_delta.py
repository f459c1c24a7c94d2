"""Release history stored as changes (ingest.delta): the oldest release whole, each later one as the rows removed
and added; rebuilt and checked against the full table's sha256; a release older than the base, a release in
between, a re-issue under a release built on it, the old layout (a full table per release), damaged files."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest

from ingest import delta
from ingest.model import CodegovError
from ingest.repository import ReleaseRepository
from ingest.store import list_releases, read_release, read_release_bytes, table_bytes, torn
from tests.conftest import CODESETS, SAMPLE


def snapshot(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture
def codesets(tmp_path):
    folder = tmp_path / "codesets"
    folder.mkdir()
    for name in ("sources.toml", "pos.csv", "discovery.toml"):  # discovery: the twelve POS releases of pos.csv
        shutil.copy(CODESETS / name, folder)
    return folder


def ingest(codegov, codesets, out, *extra):
    status, stdout, err = codegov("--codesets", codesets, "--releases", out, "ingest", "--mirror", SAMPLE,
                                  "--offline", *extra)
    assert status == 0, err
    return stdout


def names(out, system):
    return sorted(p.name for p in (out / system).iterdir())


def test_the_changes_file_lists_exactly_the_changed_codes(codegov, codesets, tmp_path):
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    assert names(out, "icd10cm") == ["2024-10-01.csv", "2024-10-01.manifest.json", "2025-10-01.changes.csv",
                                     "2025-10-01.conversion.csv", "2025-10-01.manifest.json"]
    old, new = read_release(out, "icd10cm", "2024-10-01"), read_release(out, "icd10cm", "2025-10-01")
    rows = pd.read_csv(out / "icd10cm" / "2025-10-01.changes.csv", dtype=str, keep_default_na=False)
    assert tuple(rows.columns) == delta.CHANGES_COLUMNS
    assert rows["code"].tolist() == sorted(rows["code"])
    added, removed = set(new["code"]) - set(old["code"]), set(old["code"]) - set(new["code"])
    assert added <= set(rows.loc[rows["op"] == "added", "code"])
    assert removed <= set(rows.loc[rows["op"] == "removed", "code"])
    g35 = rows[rows["code"] == "G35"]  # billable in FY2025, a header in FY2026: removed as it was, added as it is
    assert g35[["op", "release", "kind", "billable"]].values.tolist() == [["removed", "2024-10-01", "code", "1"],
                                                                          ["added", "2025-10-01", "header", "0"]]
    # a code whose row differs only in the release-scoped columns and its order number is not listed
    same = old.set_index("code").loc["E119"]
    assert "E119" in set(new["code"]) and same["long_desc"] == new.set_index("code").loc["E119", "long_desc"]
    assert "E119" not in set(rows["code"])
    manifest = json.loads((out / "icd10cm" / "2025-10-01.manifest.json").read_text())
    assert manifest["changes"]["against"] == "2024-10-01"
    assert manifest["changes"]["carry"]["columns"]["release"] == ["2024-10-01", "2025-10-01"]
    assert manifest["changes"]["carry"]["renumber"]["column"] == "order_no"
    assert manifest["table_sha256"] == hashlib.sha256(table_bytes(new)).hexdigest()
    assert len(rows) < len(new)


def test_the_repository_reads_each_table_once_through_the_chain(codegov, codesets, tmp_path, monkeypatch):
    import ingest.store as store
    from ingest.kept import Kept

    monkeypatch.setattr(store, "_TABLES", Kept(store.TABLES_KEPT_BYTES))  # none kept by an earlier test's read
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "pos")
    ids = list_releases(out, "pos")
    assert len(ids) == 12 and (out / "pos" / f"{ids[0]}.csv").exists()
    assert all((out / "pos" / f"{r}.changes.csv").exists() for r in ids[1:])
    repo = ReleaseRepository(out, codesets)
    latest = repo.table("pos", ids[-1])
    assert all(repo.stats[("read", "pos", r)] == 1 for r in ids)
    for rid in ids:
        repo.table("pos", rid)
    assert all(repo.stats[("read", "pos", r)] == 1 for r in ids)
    assert table_bytes(latest) == read_release_bytes(out, "pos", ids[-1])[1]


def test_a_process_reads_a_stored_table_once_and_a_file_changed_in_place_again(codegov, codesets, tmp_path,
                                                                                 monkeypatch):
    """ingest.store.read_release_table keeps the tables it checked (ingest.kept): a second repository gets the
    table the first read without reading it, a change to what a caller got never reaches the kept table, a table
    checked by its counts does not answer a full check, a changes file or a base changed in place (same path,
    same size) is read again and refused, and a copy of the same files is the same table."""
    import ingest.store as store
    from ingest.kept import Kept

    monkeypatch.setattr(store, "_TABLES", Kept(store.TABLES_KEPT_BYTES))
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    base, rid = list_releases(out, "icd10cm")
    want = read_release_bytes(out, "icd10cm", rid)[0]  # checked in full, kept nothing of its own
    calls = []
    real = store.read_release_bytes
    monkeypatch.setattr(store, "read_release_bytes",
                        lambda *a, **kw: calls.append((a[2], kw.get("full_check"))) or real(*a, **kw))
    first = ReleaseRepository(out, codesets).table("icd10cm", rid)
    assert calls == [(rid, False)]  # the base was kept by the full read's own read of it
    second = ReleaseRepository(out, codesets).table("icd10cm", rid)
    assert calls == [(rid, False)]
    pd.testing.assert_frame_equal(first, want)
    pd.testing.assert_frame_equal(second, want)
    second.loc[0, "short_desc"] = "changed by a caller"
    second["extra"] = "1"
    pd.testing.assert_frame_equal(read_release(out, "icd10cm", rid), want)

    full = ReleaseRepository(out, codesets, full_check=True)
    pd.testing.assert_frame_equal(full.table("icd10cm", rid), want)
    assert calls == [(rid, False), (rid, True)]  # the base is a full table: always checked by its sha256
    ReleaseRepository(out, codesets, full_check=True).table("icd10cm", rid)
    assert len(calls) == 2

    for name, message in ((f"{rid}.changes.csv", "not the changes file its manifest records"),
                          (f"{base}.csv", "not the table its manifest records")):
        path = out / "icd10cm" / name
        data = path.read_bytes()
        path.write_bytes(data[:-2] + (b"X" if data[-2:-1] != b"X" else b"Y") + data[-1:])  # one byte, in place
        with pytest.raises(CodegovError, match=message):
            ReleaseRepository(out, codesets).table("icd10cm", rid)
        path.write_bytes(data)
    pd.testing.assert_frame_equal(read_release(out, "icd10cm", rid), want)

    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    calls.clear()
    pd.testing.assert_frame_equal(read_release(copy, "icd10cm", rid), want)
    assert calls == []


def test_a_fork_with_a_full_table_per_release_keeps_working(codegov, codesets, tmp_path):
    """The old layout: every release a full table. It reads; a rerun keeps it; a new release is written as changes."""
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    rid = "2025-10-01"
    full = read_release_bytes(out, "icd10cm", rid)[1]
    legacy = tmp_path / "legacy"
    shutil.copytree(out, legacy)
    manifest_path = legacy / "icd10cm" / f"{rid}.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    del manifest["changes"]
    manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    (legacy / "icd10cm" / f"{rid}.changes.csv").unlink()
    (legacy / "icd10cm" / f"{rid}.csv").write_bytes(full)
    assert torn(legacy, "icd10cm", rid) == ""
    assert table_bytes(read_release(legacy, "icd10cm", rid)) == full
    before = snapshot(legacy)
    ingest(codegov, codesets, legacy, "--system", "icd10cm")
    assert snapshot(legacy) == before  # never rewritten into the new layout
    ingest(codegov, codesets, legacy, "--system", "hcpcs")  # new releases: the first whole, the next as changes
    assert names(legacy, "hcpcs") == ["2018-01-01.csv", "2018-01-01.manifest.json", "2019-01-01.changes.csv",
                                      "2019-01-01.manifest.json"]


def test_a_release_older_than_the_base_becomes_the_base_and_the_old_base_stays_whole(codegov, codesets, tmp_path):
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm", "--release", "FY2026")
    assert names(out, "icd10cm") == ["2025-10-01.conversion.csv", "2025-10-01.csv", "2025-10-01.manifest.json"]
    fy2026 = snapshot(out)
    ingest(codegov, codesets, out, "--system", "icd10cm", "--release", "FY2025")
    # the older release is written whole (there is nothing before it); FY2026's files are not touched
    assert names(out, "icd10cm") == ["2024-10-01.csv", "2024-10-01.manifest.json", "2025-10-01.conversion.csv",
                                     "2025-10-01.csv", "2025-10-01.manifest.json"]
    assert {k: v for k, v in snapshot(out).items() if k.startswith("icd10cm/2025")} == fy2026
    clean = tmp_path / "clean"
    ingest(codegov, codesets, clean, "--system", "icd10cm")
    for rid in ("2024-10-01", "2025-10-01"):
        assert read_release_bytes(out, "icd10cm", rid)[1] == read_release_bytes(clean, "icd10cm", rid)[1]


def test_a_release_in_between_is_stored_as_changes_and_the_next_keeps_its_base(codegov, codesets, tmp_path):
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "pos")
    ids = list_releases(out, "pos")
    middle = ids[5]
    for suffix in (".changes.csv", ".manifest.json"):
        (out / "pos" / f"{middle}{suffix}").unlink()
    after = json.loads((out / "pos" / f"{ids[6]}.manifest.json").read_text())["changes"]["against"]
    assert after == middle
    with pytest.raises(CodegovError, match=f"no pos release table {middle}"):
        read_release(out, "pos", ids[6])  # the release its changes are against is gone: an error naming it
    ingest(codegov, codesets, out, "--system", "pos")
    assert json.loads((out / "pos" / f"{middle}.manifest.json").read_text())["changes"]["against"] == ids[4]
    read_release(out, "pos", ids[-1])


def test_a_reissue_under_a_release_built_on_it_stores_that_release_whole_first(codegov, codesets, tmp_path):
    """FY2025 changes (--accept-changed) while FY2026 is stored as its changes against FY2025: FY2026 is first
    written whole, then FY2025 is replaced; no step leaves a release that reads wrong, and the next ingest of
    FY2026 from its own files keeps its table."""
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    fy2026 = read_release_bytes(out, "icd10cm", "2025-10-01")[1]
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLE, mirror)
    (mirror / "codegov-mirror.toml").unlink()
    for path in (mirror / "icd10cm" / "FY2025").iterdir():  # a re-issue that still proves: the addenda agree
        path.write_bytes(path.read_bytes().replace(b"Type 2 diabetes mellitus without complications",
                                                   b"Type 2 diabetes mellitus WITHOUT complications"))
    status, _, err = codegov("--codesets", codesets, "--releases", out, "ingest", "--mirror", mirror, "--offline",
                             "--system", "icd10cm", "--release", "FY2025", "--accept-changed")
    assert status == 0, err
    assert names(out, "icd10cm") == ["2024-10-01.csv", "2024-10-01.manifest.json", "2025-10-01.conversion.csv",
                                     "2025-10-01.csv", "2025-10-01.manifest.json"]
    assert "changes" not in json.loads((out / "icd10cm" / "2025-10-01.manifest.json").read_text())
    assert read_release_bytes(out, "icd10cm", "2025-10-01")[1] == fy2026
    assert b"WITHOUT complications" in read_release_bytes(out, "icd10cm", "2024-10-01")[1]


def test_a_crash_while_storing_a_release_whole_leaves_it_readable(codegov, codesets, tmp_path, monkeypatch):
    import ingest.build as build

    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    fy2026 = read_release_bytes(out, "icd10cm", "2025-10-01")[1]
    real = build.atomic_write
    for fail_at in (1, 2):  # 1: the full table, 2: the manifest without its changes entry
        calls = {"n": 0}

        def failing(path, data, fail_at=fail_at, calls=calls):
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise OSError("disk full (injected)")
            return real(path, data)

        monkeypatch.setattr(build, "atomic_write", failing)
        with pytest.raises(OSError):
            build.store_whole(out, "icd10cm", "2025-10-01")
        assert torn(out, "icd10cm", "2025-10-01") == ""
        assert read_release_bytes(out, "icd10cm", "2025-10-01")[1] == fy2026
    monkeypatch.setattr(build, "atomic_write", real)
    build.store_whole(out, "icd10cm", "2025-10-01")
    assert not (out / "icd10cm" / "2025-10-01.changes.csv").exists()
    assert read_release_bytes(out, "icd10cm", "2025-10-01")[1] == fy2026


@pytest.mark.parametrize("damage, message", [
    (lambda t: t.replace("removed,", "dropped,", 1),
     r"2025-10-01.changes.csv:\d+: expected op removed or added, found 'dropped'"),
    (lambda t: "code,descriptor\n" + t.split("\n", 1)[1], r"2025-10-01.changes.csv:1: expected the header op,"),
    (lambda t: t.replace("removed,icd10cm,2024-10-01,G35,G35,code,1", "removed,icd10cm,2024-10-01,G35,G35,code,0"),
     r"2025-10-01.changes.csv:\d+: removes G35 as release 2024-10-01 does not have it"),
])
def test_a_damaged_changes_file_is_one_line_naming_file_and_line(codegov, codesets, tmp_path, damage, message):
    """A changes file edited by hand (its manifest sha256 updated to match, as a careless merge might): the
    error names the file and the line; with the sha256 not updated it is refused as torn."""
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    path = out / "icd10cm" / "2025-10-01.changes.csv"
    text = damage(path.read_text(encoding="utf-8"))
    path.write_text(text, encoding="utf-8")
    assert "not the file its manifest records" in torn(out, "icd10cm", "2025-10-01")
    manifest_path = out / "icd10cm" / "2025-10-01.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["changes"]["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    status, _, err = codegov("--codesets", codesets, "--releases", out, "lookup", "G35", "--on", "2025-10-01")
    assert status == 1 and err.count("\n") == 1
    assert pd.Series([err]).str.contains(message).all(), err


def test_changes_that_do_not_give_the_recorded_table_are_refused(codegov, codesets, tmp_path):
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    path = out / "icd10cm" / "2025-10-01.changes.csv"
    text = path.read_text(encoding="utf-8").replace("sclerosis, unspecified", "sclerosiz, unspecified")
    path.write_text(text, encoding="utf-8")
    manifest_path = out / "icd10cm" / "2025-10-01.manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["changes"]["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    manifest_path.write_text(json.dumps(manifest))
    refused = r"2025-10-01.changes.csv: the changes against 2024-10-01 do not give the table its manifest records"
    with pytest.raises(CodegovError, match=refused):
        read_release_bytes(out, "icd10cm", "2025-10-01")
    # the repository of `codegov check` checks the full sha256; an update's (and read_release) the counts, which
    # an edited descriptor keeps: the changes file's own sha256 was forged here to match
    with pytest.raises(CodegovError, match=refused):
        ReleaseRepository(out, codesets, full_check=True).table("icd10cm", "2025-10-01")
    assert "sclerosiz" in " ".join(read_release(out, "icd10cm", "2025-10-01")["long_desc"])
    status, _, err = codegov("--codesets", codesets, "--releases", out, "check", "--suite", "release")
    assert status == 1 and refused.split(":")[0] in err


def test_a_changes_file_without_its_manifest_is_torn(codegov, codesets, tmp_path):
    out = tmp_path / "releases"
    ingest(codegov, codesets, out, "--system", "icd10cm")
    (out / "icd10cm" / "2025-10-01.manifest.json").unlink()  # killed before the manifest, the last write
    assert "is missing beside 2025-10-01.changes.csv" in torn(out, "icd10cm", "2025-10-01")
    with pytest.raises(CodegovError, match="no manifest says which release its changes are against"):
        read_release(out, "icd10cm", "2025-10-01")
    ingest(codegov, codesets, out, "--system", "icd10cm")
    assert torn(out, "icd10cm", "2025-10-01") == ""
