"""One function per benchmarked stage; each returns its timing and its baseline's timing, measured in one run."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

from bench.bench_checks import TARGET as VALIDATE_TARGET
from bench.bench_scrub import TARGET as SCRUB_TARGET
from bench.timing import measure

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("CODEGOV_SHARED_DATA", ROOT.parent / "shared" / "data" / "cms"))
CODESETS = ROOT / "codesets"
ORDER_2026 = SHARED / "icd10cm" / "FY2026" / "icd10cm_order_2026.txt"
ANWEB_2019 = SHARED / "hcpcs" / "2019-01" / "HCPC2019_CONTR_ANWEB.txt"

# Each stage's target, in the text bench.__main__.meets_target reads; None for a stage without one. Every row a
# stage reports takes its target from here (tests/test_bench_page.py reads this table and checks each entry).
TARGETS: dict[str, str | None] = {
    "parse-icd10cm": "ratio <= 0.25",
    "parse-hcpcs": "median <= 0.05 s",
    "diff": "median <= 0.05 s",
    "diff-scaling": None,  # shows how cost grows; the real-data diff carries the target
    "validate": VALIDATE_TARGET,  # median <= 1.5 s (was a wall-clock assertion in the tests)
    "scrub": SCRUB_TARGET,  # for the million-line run; smaller sizes show how cost grows
    "site": "median <= 10 s",  # the mkdocs build; rendering the pages has no target of its own
    "update": "median <= 10 s",
    "help": "median <= 0.3 s",
}


def real_releases(workdir: Path) -> Path:
    """ICD-10-CM FY2024-FY2026 and HCPCS 2017-2019 ingested once into workdir/releases."""
    from ingest.build import ingest_from_mirror

    out = workdir / "releases"
    if out.exists():
        return out
    return ingest_from_mirror(CODESETS, SHARED, out, {"icd10cm": ("FY2024", "FY2025", "FY2026"),
                                                      "hcpcs": ("2017", "2018", "2019")})


def parse_icd10cm(workdir: Path, repeat: int) -> dict:
    from ingest.layouts import load_layout
    from ingest.parse_icd10cm import parse_order

    layout = load_layout("icd10cm_order")
    colspecs = [(f.start - 1, f.end if f.end else 400) for f in layout.fields]
    ours = measure(lambda: parse_order(ORDER_2026), repeat)
    base = measure(lambda: pd.read_fwf(ORDER_2026, colspecs=colspecs, header=None, dtype=str, encoding="ascii"),
                   repeat)
    return {"stage": "parse ICD-10-CM FY2026 order file", **ours, "baseline": "pandas.read_fwf",
            "baseline_median_s": base["median_s"], "target": TARGETS["parse-icd10cm"]}


def parse_hcpcs(workdir: Path, repeat: int) -> dict:
    from ingest.parse_hcpcs import parse_anweb

    ours = measure(lambda: parse_anweb(ANWEB_2019), repeat)
    base = measure(lambda: pd.read_fwf(ANWEB_2019, colspecs=[(0, 5), (10, 11), (11, 91), (91, 119), (292, 293)],
                                       header=None, dtype=str, encoding="cp1252"), repeat)
    return {"stage": "parse HCPCS 2019 ANWEB file", **ours, "baseline": "pandas.read_fwf",
            "baseline_median_s": base["median_s"], "target": TARGETS["parse-hcpcs"]}


def naive_diff(old: pd.DataFrame, new: pd.DataFrame) -> dict:
    """The obvious pandas version: an outer merge on code, then masks."""
    m = old.merge(new, on="code", how="outer", suffixes=("_o", "_n"), indicator=True)
    bo, bn = m["billable_o"] == "1", m["billable_n"] == "1"
    return {"added": m[bn & ~bo], "deleted": m[bo & ~bn],
            "revised": m[bo & bn & (m["long_desc_o"] != m["long_desc_n"])]}


def diff_icd10cm(workdir: Path, repeat: int) -> dict:
    from ingest.diff import diff_releases
    from ingest.store import read_release

    out = real_releases(workdir)
    old, new = read_release(out, "icd10cm", "2024-10-01"), read_release(out, "icd10cm", "2025-10-01")
    conversion = pd.read_csv(out / "icd10cm" / "2025-10-01.conversion.csv", dtype=str, keep_default_na=False)
    ours = measure(lambda: diff_releases(old, new, conversion=conversion), repeat)
    base = measure(lambda: naive_diff(old, new), repeat)
    return {"stage": "diff ICD-10-CM FY2025 -> FY2026", **ours, "baseline": "pandas outer merge",
            "baseline_median_s": base["median_s"], "target": TARGETS["diff"]}


def synthetic_pair(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two release tables of n codes: 1% deleted, 1% added, 1% revised, sorted by code."""
    from ingest.model import COLUMNS

    codes = [f"A{i:07d}" for i in range(n)]
    base = {c: "" for c in COLUMNS}
    old = pd.DataFrame({**base, "system": "icd10cm", "release": "2024-10-01", "code": codes, "display_code": codes,
                        "kind": "code", "billable": "1", "long_desc": [f"Condition {i}" for i in range(n)],
                        "short_desc": "x"}, columns=list(COLUMNS)).astype(str)
    new = old.iloc[n // 100:].copy()
    new["release"] = "2025-10-01"
    new.loc[new.index[: n // 100], "long_desc"] = "Revised"
    extra = old.iloc[: n // 100].copy()
    extra["code"] = extra["display_code"] = [f"B{i:07d}" for i in range(len(extra))]
    extra["release"] = "2025-10-01"
    return old, pd.concat([new, extra], ignore_index=True).astype(str)


def diff_scaling(workdir: Path, repeat: int, sizes=(10_000, 100_000, 1_000_000)) -> list[dict]:
    from ingest.diff import diff_releases

    rows = []
    for n in sizes:
        old, new = synthetic_pair(n)
        ours = measure(lambda old=old, new=new: diff_releases(old, new), max(1, repeat // 2))
        base = measure(lambda old=old, new=new: naive_diff(old, new), max(1, repeat // 2))
        rows.append({"stage": f"diff synthetic {n:,} rows", **ours, "baseline": "pandas outer merge",
                     "baseline_median_s": base["median_s"], "rows": n})
    return rows


_PROJECT_IGNORE = shutil.ignore_patterns(".venv", ".git", "build", "site", "cache", "releases", "generated",
                                         "test-artifacts", "__pycache__", ".pytest_cache", ".ruff_cache")


def _update(project: Path) -> None:
    subprocess.run([sys.executable, "-m", "codegov.cli", "update", "--mirror", str(SHARED), "--offline"],
                   cwd=project, check=True, stdout=subprocess.DEVNULL)


def update_real(workdir: Path, repeat: int) -> dict:
    """The whole `codegov update` on the real mirror in a scratch copy of the project, from nothing each run."""
    def one_run():
        with tempfile.TemporaryDirectory() as tmp:
            project = Path(tmp) / "project"
            shutil.copytree(ROOT, project, ignore=_PROJECT_IGNORE)
            _update(project)

    ours = measure(one_run, repeat=max(1, repeat // 2), warmup=0)
    return {"stage": "codegov update, from nothing (real ICD-10-CM FY2024-26, HCPCS 2017-19, POS; checks, site)",
            **ours, "baseline": "", "baseline_median_s": None, "target": TARGETS["update"]}


def render_and_site(workdir: Path, repeat: int) -> list[dict]:
    """Render the pages and build the site on the real releases (after one update in a scratch project)."""
    from codegov.update import render_folder
    from playbooks.build import build_site
    from playbooks.write import GENERATED

    project = workdir / "site-project"
    if not project.exists():
        shutil.copytree(ROOT, project, ignore=_PROJECT_IGNORE)
        _update(project)
    cwd = Path.cwd()
    os.chdir(project)  # the renderer and mkdocs read playbooks/, codesets/ and mkdocs.yml from here
    try:
        render = measure(lambda: render_folder(Path("codesets"), Path("site_src") / GENERATED,
                                             checks=Path("build/checks/results.json"),
                                             inventory=Path("codesets/inventory")), repeat)
        site = measure(lambda: build_site(Path("mkdocs.yml"), site_dir=workdir / "site-out", strict=True), repeat)
    finally:
        os.chdir(cwd)
    return [{"stage": "render pages (real releases)", **render, "baseline": "", "baseline_median_s": None,
             "target": ""},
            {"stage": "mkdocs build --strict (real releases)", **site, "baseline": "", "baseline_median_s": None,
             "target": TARGETS["site"]}]


def scrub(workdir: Path, repeat: int, sizes=(10_000, 100_000, 1_000_000)) -> list[dict]:
    """codegov scrub on generated claim lines at several sizes (each run in a fresh process)."""
    from bench.bench_scrub import bench_scrub

    rows = []
    for n in sizes:
        # the million-line run carries the target: as many runs as the other stages; smaller sizes fewer
        row = bench_scrub(workdir, repeat=repeat if n == 1_000_000 else max(3, repeat // 2), n_lines=n)
        row["rows"] = n
        # the target is set for a million lines; smaller sizes show how cost grows
        row["target"] = TARGETS["scrub"] if n == 1_000_000 else ""
        rows.append(row)
    return rows


def validate(workdir: Path, repeat: int) -> dict:
    from bench.bench_checks import bench_checks

    row = bench_checks(real_releases(workdir), repeat)
    row["target"] = TARGETS["validate"]
    # a timing is only worth reporting for a suite that passes and agrees with its baseline
    if not (row["all_passed"] and row["same_verdicts_as_baseline"]):
        raise SystemExit(f"bench validate: the GX suite failed on FY2026 or disagrees with the pandas baseline: {row}")
    return row


def help_startup(workdir: Path, repeat: int) -> dict:
    cmd = [sys.executable, "-m", "codegov.cli", "--help"]
    ours = measure(lambda: subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL), repeat)
    base = measure(lambda: subprocess.run([sys.executable, "-c", "pass"], check=True), repeat)
    return {"stage": "codegov --help start-up", **ours, "baseline": "python -c pass",
            "baseline_median_s": base["median_s"], "target": TARGETS["help"]}


STAGES = {
    "parse-icd10cm": parse_icd10cm,
    "parse-hcpcs": parse_hcpcs,
    "diff": diff_icd10cm,
    "diff-scaling": diff_scaling,
    "validate": validate,
    "scrub": scrub,
    "site": render_and_site,
    "update": update_real,
    "help": help_startup,
}
