"""`codegov ingest` end to end on the bundled sample: tables, reruns, and bad input that stores nothing."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from ingest.model import COLUMNS
from ingest.store import list_releases, read_release, read_release_bytes
from tests.conftest import CODESETS, ROOT, SAMPLE


@pytest.fixture
def workspace(tmp_path):
    """A codesets folder of our own (sources, layouts, pos.csv) and a copy of the sample mirror."""
    codesets = tmp_path / "codesets"
    codesets.mkdir()
    shutil.copy(CODESETS / "sources.toml", codesets)
    shutil.copy(CODESETS / "pos.csv", codesets)
    mirror = tmp_path / "mirror"
    shutil.copytree(SAMPLE, mirror)
    (mirror / "codegov-mirror.toml").unlink()  # a plain mirror: its tables go to <codesets>/releases
    return codesets, mirror


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_ingest_writes_sorted_tables_and_reruns_byte_identical(codegov, workspace):
    codesets, mirror = workspace
    status, out, err = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline")
    assert status == 0, err
    releases = codesets / "releases"
    # the oldest release is a full table, each later one its changes against the one before (ingest.delta)
    assert (releases / "icd10cm" / "2024-10-01.csv").exists() and not (releases / "icd10cm" / "2025-10-01.csv").exists()
    assert (releases / "icd10cm" / "2025-10-01.changes.csv").exists()
    table = read_release(releases, "icd10cm", "2025-10-01")
    assert tuple(table.columns) == COLUMNS
    assert table["code"].tolist() == sorted(table["code"])
    assert set(table["system"]) == {"icd10cm"} and set(table["release"]) == {"2025-10-01"}
    g35 = table.set_index("code").loc["G35"]
    assert (g35["display_code"], g35["billable"], g35["kind"]) == ("G35", "0", "header")
    assert table.set_index("code").loc["G35A", "display_code"] == "G35.A"
    raw = read_release_bytes(releases, "icd10cm", "2025-10-01")[1]
    assert b"\r" not in raw and b"\r" not in (releases / "icd10cm" / "2025-10-01.changes.csv").read_bytes()
    pos = read_release(releases, "pos", "2024-08-01")
    assert "02" in set(pos["code"]) and "66" in set(pos["code"])
    before = snapshot(releases)
    status, out, _ = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline")
    assert status == 0
    tables = [p for p in before if p.suffix == ".csv" and ".conversion" not in p.name]
    assert "written" not in out and out.count("unchanged") == len(tables)
    assert snapshot(releases) == before


def test_release_alias_and_system_filters(codegov, workspace):
    codesets, mirror = workspace
    status, out, _ = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--system", "icd10cm",
                             "--release", "FY2026", "--offline")
    assert status == 0
    assert list_releases(codesets / "releases", "icd10cm") == ["2025-10-01"]
    assert not (codesets / "releases" / "hcpcs").exists()


@pytest.mark.parametrize(
    "damage, expected",
    [
        (lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]), ":"),
        (lambda p: p.write_bytes(b""), "the file is empty"),
        (lambda p: p.write_bytes(b"<!DOCTYPE html><html><body>Not found</body></html>"), "HTML page"),
        (lambda p: p.write_bytes(p.read_bytes().replace(b"\r\n", b"\r\n ", 1)), "expected"),
    ],
    ids=["truncated", "empty", "html", "shifted-column"],
)
def test_bad_input_is_one_line_and_leaves_stored_tables_untouched(codegov, workspace, damage, expected):
    codesets, mirror = workspace
    assert codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline")[0] == 0
    before = snapshot(codesets / "releases")
    damage(mirror / "icd10cm" / "FY2026" / "icd10cm_order_2026.txt")
    status, out, err = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline",
                               "--system", "icd10cm", "--accept-changed")
    assert status == 1
    assert err.count("\n") == 1 and err.startswith("Error: ") and "icd10cm_order_2026.txt" in err
    assert expected in err
    assert snapshot(codesets / "releases") == before


def test_changed_source_file_is_refused_until_accepted(codegov, workspace):
    codesets, mirror = workspace
    assert codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline", "--system", "hcpcs")[0] == 0
    path = mirror / "hcpcs" / "2019-01" / "HCPC2019_CONTR_ANWEB.txt"
    path.write_bytes(path.read_bytes().replace(b"Em bridge payment", b"Em bridge paymenT"))
    status, _, err = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline", "--system", "hcpcs")
    assert status == 1 and "sha256" in err and "--accept-changed" in err
    status, out, _ = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline", "--system", "hcpcs",
                             "--accept-changed")
    assert status == 0 and "written" in out


def test_reissue_check_is_keyed_on_content_not_on_the_file_name(codegov, workspace):
    codesets, mirror = workspace
    args = ("--codesets", codesets, "ingest", "--mirror", mirror, "--offline", "--system", "hcpcs")
    assert codegov(*args)[0] == 0
    table = read_release_bytes(codesets / "releases", "hcpcs", "2019-01-01")[1]
    old = mirror / "hcpcs" / "2019-01" / "HCPC2019_CONTR_ANWEB.txt"
    renamed = old.with_name("HCPC2019_CONTR_ANWEB_v2.txt")
    old.rename(renamed)  # the same bytes under a new name: the same table, accepted
    status, out, err = codegov(*args)
    assert status == 0, err
    assert read_release_bytes(codesets / "releases", "hcpcs", "2019-01-01")[1] == table
    manifest = (codesets / "releases" / "hcpcs" / "2019-01-01.manifest.json").read_text()
    assert "HCPC2019_CONTR_ANWEB_v2.txt" in manifest
    renamed.write_bytes(renamed.read_bytes().replace(b"Em bridge payment", b"Em bridge paymenT"))
    renamed.rename(renamed.with_name("HCPC2019_CONTR_ANWEB_v3.txt"))  # other bytes, a new name: refused
    status, _, err = codegov(*args)
    assert status == 1 and "recorded as HCPC2019_CONTR_ANWEB_v2.txt" in err and "--accept-changed" in err
    assert read_release_bytes(codesets / "releases", "hcpcs", "2019-01-01")[1] == table


def test_help_does_not_import_great_expectations_or_pandas():
    code = ("import sys; from codegov.cli import build_parser; build_parser().format_help(); "
            "bad = [m for m in ('great_expectations', 'pandas', 'mkdocs') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_command_has_help_text():
    from codegov.cli import build_parser
    from codegov.commands import COMMANDS

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    helps = {a.dest: a.help for a in sub._choices_actions}
    for name in COMMANDS:
        assert sub.choices[name].description, f"codegov {name} has no description"
        assert helps[name], f"codegov {name} has no one-line help"


def test_the_sample_mirror_keeps_its_tables_apart_from_real_releases(codegov, tmp_path):
    """The demo's sample releases go to <codesets>/releases-sample (the sample's codegov-mirror.toml), so a
    real ingest into <codesets>/releases never meets the demo's manifests; --releases chooses the folder."""
    codesets = tmp_path / "codesets"
    codesets.mkdir()
    shutil.copy(CODESETS / "sources.toml", codesets)
    shutil.copy(CODESETS / "pos.csv", codesets)
    status, _, err = codegov("--codesets", codesets, "ingest", "--mirror", SAMPLE, "--offline", "--system", "icd10cm")
    assert status == 0, err
    assert (codesets / "releases-sample" / "icd10cm" / "2025-10-01.changes.csv").exists()
    assert not (codesets / "releases").exists()
    status, out, _ = codegov("--codesets", codesets, "--releases", codesets / "releases-sample", "lookup", "G35",
                             "--on", "2025-10-01")
    assert status == 3 and "became a header" in out  # not valid on the date: codegov.options.POLICY
    status, _, err = codegov("--codesets", codesets, "--releases", tmp_path / "elsewhere", "ingest", "--mirror",
                             SAMPLE, "--offline", "--system", "icd10cm")
    assert status == 0, err
    assert (tmp_path / "elsewhere" / "icd10cm" / "2025-10-01.changes.csv").exists()


def test_ingest_in_two_worker_processes_writes_the_same_bytes_and_raises_the_same_errors(workspace, tmp_path,
                                                                                          monkeypatch):
    """`codegov update` parses large inputs in two processes (ingest.build.ingest_releases); forced on the
    sample here: the tables are the bytes one process writes, and a bad file is the same one-line error."""
    import ingest.build
    from ingest.build import ingest_releases, select_releases
    from ingest.model import ParseError
    from ingest.sources import load_sources

    codesets, mirror = workspace
    sources = load_sources(codesets)
    releases = select_releases(sources, None, None, mirror)
    one, two = tmp_path / "one", tmp_path / "two"
    kw = dict(mirror=mirror, cache=tmp_path / "cache", offline=True, skip_unpublished=True)
    list(ingest_releases(sources, releases, one, codesets, workers=1, **kw))
    monkeypatch.setattr(ingest.build, "PARALLEL_MIN_BYTES", 0)
    results = list(ingest_releases(sources, releases, two, codesets, workers=2, **kw))
    assert [r for r, _ in results] == releases and sum(not isinstance(r, Exception) for _, r in results) >= 7
    assert snapshot(one) == snapshot(two) and len(snapshot(two)) > 10
    order = mirror / "icd10cm" / "FY2026" / "icd10cm_order_2026.txt"
    lines = order.read_bytes().split(b"\r\n")
    lines[11] = lines[11][:14] + b"Y" + lines[11][15:]
    order.write_bytes(b"\r\n".join(lines))
    with pytest.raises(ParseError, match=r"icd10cm_order_2026.txt:12: expected billable flag 1 or 0"):
        list(ingest_releases(sources, releases, tmp_path / "three", codesets, workers=2, **kw))


def test_a_mirror_folder_that_does_not_exist_is_an_error(codegov, workspace, tmp_path):
    codesets, _ = workspace
    for command in ("ingest", "update"):
        status, out, err = codegov("--codesets", codesets, command, "--mirror", tmp_path / "nonexistent", "--offline")
        assert status == 1 and err.count("\n") == 1, (command, err)
        assert f"{tmp_path / 'nonexistent'}: no such mirror folder" in err
    assert not (codesets / "releases").exists()


def test_listed_releases_the_mirror_lacks_are_skipped_with_a_line(codegov, workspace):
    """The sample holds FY2025 and FY2026 of the listed ICD-10-CM releases: the others are named, not unseen;
    asked for by name, a release the mirror lacks is an error."""
    codesets, mirror = workspace
    status, out, err = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline", "--system", "icd10cm")
    assert status == 0, err
    skipped = [line.split()[2] for line in out.splitlines() if line.startswith("skip")]
    assert "2023-10-01" in skipped and "2024-10-01" not in skipped and "2025-10-01" not in skipped
    assert all("not published yet" in line and "is not in the mirror" in line
               for line in out.splitlines() if line.startswith("skip"))
    assert err == ""
    status, _, err = codegov("--codesets", codesets, "ingest", "--mirror", mirror, "--offline", "--system", "icd10cm",
                             "--release", "FY2024")
    assert status == 1 and "FY2024 is not in the mirror" in err
