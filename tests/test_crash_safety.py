"""Nothing stored is lost or half-written: the manifest is written last and records the sha256 of the
table and conversion table, a pair that disagrees is refused as torn and rewritten by the next ingest, and
`codegov ingest` killed with SIGKILL at random moments never leaves a table the repository would read."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time

import pytest

import ingest.build as build
from ingest.model import CodegovError
from ingest.store import list_releases, read_release, table_bytes, torn
from tests.conftest import CODESETS, ROOT, SAMPLE, shared


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


def test_ingest_killed_at_random_moments_never_leaves_a_half_written_table(tmp_path):
    """SIGKILL `codegov ingest` of the real ICD-10-CM FY2025-FY2026 and HCPCS 2018-2019 at random moments
    (CODEGOV_KILL_TRIES, default 4): after each kill every stored release reads whole or is refused as
    torn, and the final rerun gives the bytes of a clean run."""
    mirror = tmp_path / "mirror"
    for system, folder in (("icd10cm", "FY2025"), ("icd10cm", "FY2026"), ("hcpcs", "2018-01"), ("hcpcs", "2019-01")):
        (mirror / system).mkdir(parents=True, exist_ok=True)
        os.symlink(shared(system, folder), mirror / system / folder)
    codesets = tmp_path / "codesets"
    codesets.mkdir()
    for name in ("sources.toml", "pos.csv"):
        shutil.copy(CODESETS / name, codesets)

    def command(out):
        return [sys.executable, "-m", "codegov.cli", "--codesets", str(codesets), "--releases", str(out), "ingest",
                "--mirror", str(mirror), "--offline", "--system", "icd10cm", "--system", "hcpcs"]

    started = time.perf_counter()
    subprocess.run(command(tmp_path / "clean"), cwd=ROOT, check=True, capture_output=True)
    duration = time.perf_counter() - started
    clean = snapshot(tmp_path / "clean")
    out = tmp_path / "killed"
    rng = random.Random(20261201)
    tries = int(os.environ.get("CODEGOV_KILL_TRIES", "4"))
    for _ in range(tries):
        proc = subprocess.Popen(command(out), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(0.2, duration))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        for system in ("icd10cm", "hcpcs"):
            for rid in list_releases(out, system):
                if not torn(out, system, rid):
                    read_release(out, system, rid)  # reads whole: its manifest vouches for every byte
    status = subprocess.run(command(out), cwd=ROOT, capture_output=True, text=True)
    assert status.returncode == 0, status.stderr
    after = {k: v for k, v in snapshot(out).items() if not k.name.endswith(".tmp")}
    assert after == clean
