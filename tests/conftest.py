"""Shared fixtures: where the official files live, and a CLI runner."""

from __future__ import annotations

import datetime as dt
import gc
import os
import re
from pathlib import Path

import pytest

# The cyclic garbage collector in the test processes (not in the processes the tests start): a young generation of
# 50,000 objects rather than 700, and fuller collections a tenth as often. The suite's objects are mostly freed by
# their reference counts; at the defaults the collector took 4 to 5 s of the workers' CPU, walking the heaps the
# fixtures keep (release tables, the real update) again and again.
gc.set_threshold(50_000, 20, 100)

ROOT = Path(__file__).resolve().parent.parent
CODESETS = ROOT / "codesets"
SAMPLE = CODESETS / "sample"
SHARED = Path(os.environ.get("CODEGOV_SHARED_DATA", ROOT.parent / "shared" / "data" / "cms"))


def shared(*parts: str) -> Path:
    """A file of the real official releases in ../shared/data/cms; skips the test when absent, and fails it
    under CI=true (a CI run without the real data must not pass by skipping), unless that CI declares it has
    no real data (CODEGOV_REAL_DATA=absent: GitHub's runners, where the official files are not laid out)."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"real data not available: {path}"
        if os.environ.get("CI") == "true" and os.environ.get("CODEGOV_REAL_DATA") != "absent":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def codegov(capsys):
    """Run the CLI in-process: returns (exit status, stdout, stderr)."""
    from codegov.cli import main

    def run(*args: str):
        status = main([str(a) for a in args])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run


REAL_RELEASES = {"icd10cm": ("FY2024", "FY2025", "FY2026"), "hcpcs": ("2017", "2018", "2019")}


def ingest_real(out: Path, releases: dict[str, tuple[str, ...]] = REAL_RELEASES) -> Path:
    """Ingest real releases from ../shared/data/cms into `out` (skips the test when the data is absent; fails
    it under CI=true)."""
    from ingest.build import ingest_from_mirror

    return ingest_from_mirror(CODESETS, shared(), out, releases)


def make_sample_codesets(folder: Path, inventory: str | None = None, rules: bool = False, edits: bool = False) -> Path:
    """A codesets folder of a test's own with the sample mirror ingested (never the repository's); with
    edits, also the sample's edit tables (NCCI PTP, MUE, add-on codes, PFS 2026 Q3 and Q4)."""
    import shutil

    from codegov.cli import main

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(CODESETS / "sources.toml", folder)
    shutil.copy(CODESETS / "pos.csv", folder)
    if inventory is not None:
        (folder / "inventory").mkdir(exist_ok=True)
        (folder / "inventory" / "inventory.csv").write_text(inventory, encoding="utf-8")
    if rules:
        shutil.copytree(CODESETS / "rules", folder / "rules")
        shutil.copytree(SAMPLE / "ncci", folder / "sample" / "ncci")
        shutil.copytree(SAMPLE / "mue", folder / "sample" / "mue")
    # --releases: the tests read <codesets>/releases; the sample mirror alone would choose releases-sample
    assert main(["--codesets", str(folder), "--releases", str(folder / "releases"), "ingest", "--mirror",
                 str(SAMPLE), "--offline"]) == 0
    if edits:  # the edit tables are found by the discovery rules' folder names (2026-Q3)
        shutil.copy(CODESETS / "discovery.toml", folder)
        assert main(["--codesets", str(folder), "--releases", str(folder / "releases"), "ingest", "--mirror",
                     str(SAMPLE), "--offline", "--system", "ptp", "--system", "mue", "--system", "aoc",
                     "--system", "pfs"]) == 0
        (folder / "discovery.toml").unlink()
    return folder


@pytest.fixture(scope="session")
def sample_releases(tmp_path_factory):
    """The bundled sample mirror ingested once into a temporary folder (never into codesets/releases)."""
    from codegov.cli import main

    out = tmp_path_factory.mktemp("sample-releases")
    assert main(["--codesets", str(CODESETS), "ingest", "--mirror", str(SAMPLE), "--offline", "--out", str(out)]) == 0
    return out


def built_once(tmp_path_factory, worker_id: str, name: str, build) -> Path:
    """A folder `build(folder)` fills, built once per test session and shared by every xdist worker: the
    first worker to ask builds it under a file lock, the others wait and read it. Tests read it, never write
    into it (a test that changes something copies what it changes). Without xdist: a folder of this session."""
    if worker_id == "master":
        folder = tmp_path_factory.mktemp(name)
        build(folder)
        return folder
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp().parent  # the session's folder, the parent of every worker's
    folder, done = root / name, root / f"{name}.done"
    with FileLock(str(root / f"{name}.lock")):
        if not done.exists():
            if folder.exists():  # a worker that failed mid-build: start again
                import shutil

                shutil.rmtree(folder)
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def real_releases(tmp_path_factory, worker_id):
    """ICD-10-CM FY2024-FY2026 and HCPCS 2017-2019 from ../shared/data/cms, ingested once per session (for
    every worker)."""
    shared()  # skips (or fails under CI) in each worker when the data is absent
    return built_once(tmp_path_factory, worker_id, "real-releases", ingest_real)


REAL_UPDATE_RELEASES = ["FY2025", "FY2026", "2018", "2019"]
REAL_UPDATE_DATE = dt.date(2026, 12, 1)


def _real_update(folder: Path) -> None:
    """`codegov update` of ICD-10-CM FY2025 -> FY2026 and HCPCS 2018 -> 2019 from ../shared/data/cms, the
    sample inventory, no site: build/, docs/generated/, releases/, and change-sets.json (the run's change
    sets, which the result object holds)."""
    import json

    from codegov.update import UpdateOptions, run_update

    opts = UpdateOptions(codesets=CODESETS, mirror=SHARED, offline=True, build=folder / "build",
                         inventory=CODESETS / "inventory", systems=["icd10cm", "hcpcs"],
                         releases=REAL_UPDATE_RELEASES, site=False, docs_dir=folder / "docs",
                         releases_dir=folder / "releases", cache=folder / "cache", on=REAL_UPDATE_DATE, workers=1)
    result = run_update(opts)
    change_sets = [[cs.system, cs.from_label, cs.to_label] for cs in result.change_sets]
    (folder / "change-sets.json").write_text(json.dumps(change_sets), encoding="utf-8")


@pytest.fixture(scope="session")
def real_update(tmp_path_factory, worker_id):
    """One real update for the session (every worker): ICD-10-CM FY2025 -> FY2026 and HCPCS 2018 -> 2019 (see
    _real_update). Its releases/ folder is the real releases the site and notice tests render."""
    shared("icd10cm", "FY2026")
    return built_once(tmp_path_factory, worker_id, "real-update", _real_update)


def releases_view(releases: Path, folder: Path, systems: tuple[str, ...]) -> Path:
    """A releases folder of `folder` that shows only `systems` of `releases` (each system's folder a symbolic
    link: read-only use)."""
    folder.mkdir(parents=True, exist_ok=True)
    for system in systems:
        os.symlink(releases / system, folder / system)
    return folder


def site_project(folder: Path) -> Path:
    """A site project of a test's own, laid out as the repository's: mkdocs.yml and the hand-written pages
    (site_src without generated/). Render into <folder>/site_src/generated, then build <folder>/mkdocs.yml
    (the builders build only inside the configuration's folder). Returns the folder."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "mkdocs.yml", folder / "mkdocs.yml")
    shutil.copytree(ROOT / "site_src", folder / "site_src", ignore=shutil.ignore_patterns("generated"))
    return folder


# The files that take longest, in the order the workers should start them (pyproject.toml runs xdist with
# --no-loadscope-reorder, so files are handed out in collection order): a long file started last would run
# alone at the end, so every file of 2 s or more is here and the shorter ones fill the end. The workflow replay
# is a chain of five updates; the real-data files wait for the session's real update or real releases, which the
# first of them builds.
SLOW_FILES = ("test_workflows.py", "test_lookup_index.py", "test_checks_realdata.py", "test_site_browser_realdata.py",
              "test_pr_body.py", "test_history.py", "test_one_answer.py", "test_cli_exit_status.py",
              "test_checks_release.py", "test_site_browser.py", "test_claims_professional.py", "test_crash_safety.py",
              "test_claims_hostile.py", "test_checks_cli.py", "test_claims_crossclaim.py", "test_claims_read.py",
              "test_site_builders.py", "test_proof_icd10cm.py", "test_denials_browser.py", "test_render_site.py",
              "test_claims_output.py", "test_cli_ingest.py", "test_delta.py", "test_freshness.py",
              "test_claims_bench.py", "test_denials.py", "test_claims_rules.py", "test_proof_hcpcs.py", "test_store.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOW_FILES)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: each file's tests keep their order


# -- the browser tests (tests/test_*browser*.py, test_site_builders.py): Debian's chromium through Playwright --

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]


@pytest.fixture(scope="session")
def browser():
    """One chromium for the session (each test gets a context of its own: the `page` fixture)."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):  # .ci/run installs it: a CI run without it must not pass by skipping
            pytest.fail(f"{CHROMIUM} not installed; .ci/run should have installed it")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)")
    pytest.importorskip("playwright.sync_api")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, server):
    """A page of a fresh browser context that may only talk to the module's `server` (127.0.0.1); console
    errors, page errors and blocked requests are kept, and the test fails on any."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, service_workers="block")
    problems: dict[str, list[str]] = {"console": [], "pageerror": [], "blocked": []}

    def block(r):
        problems["blocked"].append(r.request.url)
        r.abort()

    # Only the requests to elsewhere are routed to Python (the driver matches the pattern): the server's own
    # go straight to it, without a round trip through this process each
    context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/])"), block)
    pg = context.new_page()
    pg.on("console", lambda m: problems["console"].append(m.text) if m.type == "error" else None)
    pg.on("pageerror", lambda e: problems["pageerror"].append(str(e)))
    pg.problems = problems
    yield pg
    context.close()
    assert problems == {"console": [], "pageerror": [], "blocked": []}
