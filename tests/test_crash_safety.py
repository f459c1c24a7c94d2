"""Nothing stored is lost or half-written: the manifest is written last and records the sha256 of the
table and conversion table, a pair that disagrees is refused as torn and rewritten by the next ingest, and
`codegov ingest` killed with SIGKILL at any of its writes never leaves a table the repository would read."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile

import pytest

import ingest.build as build
from ingest.model import CodegovError
from ingest.store import list_releases, read_release, table_bytes, torn
from tests.conftest import CODESETS, ROOT, SAMPLE
from tests.zygote import Zygote


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _ingest(codegov, codesets, out, *extra):
    return codegov("--codesets", codesets, "--releases", out, "ingest", "--mirror", SAMPLE, "--offline", *extra)


@pytest.fixture
def codesets(tmp_path):
    folder = tmp_path / "codesets"
    folder.mkdir()
    for name in ("sources.toml", "pos.csv"):
        shutil.copy(CODESETS / name, folder)
    return folder


@pytest.mark.parametrize("name, text, error", [
    ("2024-10-01.csv", b"Type 2 diabetes", r"2024-10-01.csv: not the table its manifest records"),  # the base
    ("2025-10-01.changes.csv", b"Homozygous familial", r"2025-10-01.changes.csv: not the changes file its manifest"),
])
def test_a_table_that_disagrees_with_its_manifest_is_refused_then_rewritten(codegov, codesets, tmp_path, name, text,
                                                                            error):
    """The full table of the oldest release and the changes file of the next (ingest.delta) alike: a file its
    manifest does not vouch for is torn, refused by every reader (of the next release too, which is rebuilt
    from the base), and rewritten by the next ingest."""
    out = tmp_path / "releases"
    assert _ingest(codegov, codesets, out)[0] == 0
    clean = snapshot(out)
    table = out / "icd10cm" / name
    table.write_bytes(table.read_bytes().replace(text, text.upper()))  # a crash mid-pair
    assert "not the file its manifest records" in torn(out, "icd10cm", name[:10])
    with pytest.raises(CodegovError, match=error):
        read_release(out, "icd10cm", "2025-10-01")
    status, _, err = _ingest(codegov, codesets, out)  # not refused as a re-issue: the pair is repaired
    assert status == 0, err
    assert snapshot(out) == clean


@pytest.mark.parametrize("fail_at", [1, 2, 3])
def test_a_fault_at_each_write_leaves_the_old_release_or_a_pair_refused_as_torn(codegov, codesets, tmp_path,
                                                                                monkeypatch, fail_at):
    """Write 1 is the conversion table, 2 the changes file (FY2026 is stored as its changes against FY2025),
    3 the manifest (FY2026 of the sample has all three)."""
    out = tmp_path / "releases"
    assert _ingest(codegov, codesets, out, "--system", "icd10cm")[0] == 0
    clean = snapshot(out)
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLE, mirror)
    (mirror / "codegov-mirror.toml").unlink()
    for name in ("icd10cm_order_2026.txt", "icd10cm_codes_2026.txt", "icd10cm_order_addenda_2026.txt",
                 "icd10cm_codes_addenda_2026.txt"):  # a re-issue that still proves: the addenda agree
        path = mirror / "icd10cm" / "FY2026" / name
        path.write_bytes(path.read_bytes().replace(b"Homozygous familial", b"HOMOZYGOUS familial"))
    calls = {"n": 0}
    real = build.atomic_write

    def failing(path, data):
        if "2025-10-01" in path.name:
            calls["n"] += 1
            if calls["n"] == fail_at:
                raise OSError("disk full (injected)")
        return real(path, data)

    monkeypatch.setattr(build, "atomic_write", failing)
    args = ("--codesets", codesets, "--releases", out, "ingest", "--mirror", mirror, "--offline", "--system",
            "icd10cm", "--accept-changed")
    status, _, err = codegov(*args)
    assert status != 0 and "disk full" in err
    state = torn(out, "icd10cm", "2025-10-01")
    if fail_at < 3:  # the table not written (the conversion table is unchanged): the old release stands, whole
        assert state == "" and snapshot(out) == clean
    else:  # the new table beside the old manifest: refused as torn, never read as good
        assert state
        with pytest.raises(CodegovError):
            read_release(out, "icd10cm", "2025-10-01")
    monkeypatch.setattr(build, "atomic_write", real)
    status, _, err = codegov(*args)
    assert status == 0, err
    assert torn(out, "icd10cm", "2025-10-01") == ""
    assert b"HOMOZYGOUS familial" in (out / "icd10cm" / "2025-10-01.changes.csv").read_bytes()
    assert b"HOMOZYGOUS familial" in table_bytes(read_release(out, "icd10cm", "2025-10-01"))


KILLER = """\
import os, signal, sys

out, at, phase = sys.argv[1], int(sys.argv[2]), sys.argv[3]
real, writes = os.replace, [0]


def replace(src, dst, *args, **kwargs):
    # ingest.store.atomic_write renames each written temporary file into place: the writes into `out`, counted
    if not os.fspath(dst).startswith(out):
        return real(src, dst, *args, **kwargs)
    writes[0] += 1
    if writes[0] == at and phase == "mid-write":  # the temporary file half written, never renamed
        os.truncate(src, os.path.getsize(src) // 2)
        os.killpg(0, signal.SIGKILL)
    result = real(src, dst, *args, **kwargs)
    if writes[0] == at:  # between this write and the next (a table without its manifest, say)
        os.killpg(0, signal.SIGKILL)
    return result


os.replace = replace
from codegov.cli import main

sys.exit(main(sys.argv[4:]))
"""
@pytest.fixture(scope="module")
def zygote():
    """The killed ingests run in children forked from one process that has imported codegov and the ingest stage
    (tests/zygote.py): each is a new process of its own session, as `python -c KILLER` would be, without a second
    of imports a run."""
    server = Zygote(dict(os.environ), preload="import ingest.build, ingest.store, pandas, pyarrow")
    yield server
    server.close()


KILL_POINTS = [(3, "mid-write"), (2, "after-write"), (3, "after-write"), (1, "mid-write"), (3, "mid-write"),
               (2, "after-write"), (3, "after-write")]  # (the run's n-th write, where in it)


def test_ingest_killed_at_any_write_never_leaves_a_half_written_table(codegov, codesets, tmp_path, zygote):
    """SIGKILL `codegov ingest` of the sample (ICD-10-CM FY2025-FY2026 with conversion tables, HCPCS 2018-2019,
    POS: 15 files, full tables, changes files and manifests) again and again, each run killed at one of its
    writes, either with the temporary file half written or just after a file is renamed into place (between
    a table and its manifest, say); each run resumes what the killed ones left, so the kill points walk
    through the whole write sequence. After each kill every stored release reads whole or is refused as
    torn, and the final rerun gives the bytes of a clean run."""
    clean_out = tmp_path / "clean"
    assert _ingest(codegov, codesets, clean_out)[0] == 0
    clean = snapshot(clean_out)
    assert len(clean) == 15
    out = tmp_path / "killed"
    torn_seen = 0
    for at, phase in KILL_POINTS:
        args = ["--codesets", str(codesets), "--releases", str(out), "ingest", "--mirror", str(SAMPLE), "--offline"]
        with tempfile.TemporaryFile() as stderr:
            returncode = zygote.run(["-c", str(out), str(at), phase, *args], ROOT, dict(os.environ), script=KILLER,
                                    session=True, stderr=stderr)
            stderr.seek(0)
            assert returncode == -signal.SIGKILL, stderr.read()  # killed at that write, not finished before it
        for system in ("icd10cm", "hcpcs", "pos"):
            for rid in list_releases(out, system):
                if not torn(out, system, rid):
                    read_release(out, system, rid)  # reads whole: its manifest vouches for every byte
                else:
                    torn_seen += 1
    assert torn_seen > 0  # some kill fell between a table and its manifest
    stored = {k for k in snapshot(out) if not k.name.endswith(".tmp")}
    assert 0 < len(stored) < len(clean)  # the kills left a partial store, not none and not all of it
    status, _, err = _ingest(codegov, codesets, out)
    assert status == 0, err
    after = {k: v for k, v in snapshot(out).items() if not k.name.endswith(".tmp")}
    assert after == clean
