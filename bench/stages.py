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
    # the edit tables on a synthetic full-size quarter (bench/synth_edits.py); memory limits in the target text
    "edits-ingest": "median <= 20 s, peak < 1536 MB",  # parse, prove and store PTP (4.5M edits), MUE, AOC, RVU
    "edits-lookup": "median <= 0.5 s",  # the PTP, MUE, RVU and add-on rows a million claim lines' codes need
    "edits-scrub": "median <= 2 s, peak < 600 MB",  # codegov scrub of the sample claims, full-size sets in force
    "denials": "median <= 20 s, peak < 1536 MB",  # codegov denials on 1,000,000 synthetic remittance lines
    "denials-reader": None,  # the 835 reader against pyx12 on 100,000 lines: the choice of reader
    # a million generated lines with the full-size quarters in force (issue #15); ratio: to the pyarrow read
    "scrub-edits": "median <= 2 s, peak < 1024 MB, ratio <= 15",
    "scrub-edits-universe": None,  # reported beside scrub-edits, the same scrub on a clearinghouse's code mix
    # ten million lines streamed as `codegov scrub` runs (Scrubber.scrub_to: partitions by patient in, findings
    # spilled and merged back in order out) in the memory of one million
    "scrub-10m": "peak < 1024 MB",
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


def scratch_project(project: Path) -> Path:
    """A copy of the project with no release tables, cache, build or site, its modules compiled as `pip install`
    compiles them (the copy has no __pycache__, and PYTHONDONTWRITEBYTECODE, set on this machine class, would
    otherwise make every run compile the package's 20,000 lines again: 0.3 s no installed codegov pays)."""
    import compileall

    shutil.copytree(ROOT, project, ignore=_PROJECT_IGNORE)
    for package in ("codegov", "ingest", "checks", "playbooks", "claims", "denials"):
        compileall.compile_dir(project / package, quiet=1)
    return project


def update_real(workdir: Path, repeat: int) -> dict:
    """The whole `codegov update` on the real mirror in a scratch copy of the project, from nothing each run:
    each run times the `codegov update` process alone (the copy is made before the clock starts)."""
    import statistics
    import time

    times = []
    for _ in range(max(3, repeat // 2)):  # a median of one run is no median
        with tempfile.TemporaryDirectory() as tmp:
            project = scratch_project(Path(tmp) / "project")
            start = time.perf_counter()
            _update(project)
            times.append(time.perf_counter() - start)
    ours = {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(times)}
    return {"stage": "codegov update, from nothing (real ICD-10-CM FY2024-26, HCPCS 2017-19, POS; checks, site)",
            **ours, "baseline": "", "baseline_median_s": None, "target": TARGETS["update"]}


def render_and_site(workdir: Path, repeat: int) -> list[dict]:
    """Render the pages and build the site on the real releases (after one update in a scratch project)."""
    from codegov.update import render_folder
    from playbooks.build import build_site
    from playbooks.write import GENERATED

    project = workdir / "site-project"
    if not project.exists():
        scratch_project(project)
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


# -- the edit tables (NCCI PTP, MUE, add-on codes, PFS RVUs) on a synthetic full-size quarter ----------------

def edit_mirror(workdir: Path) -> tuple[Path, dict]:
    """The synthetic full-size quarter (bench/synth_edits.py), written once per bench workdir, in a child
    process so that its memory is not the measuring stage's."""
    import json

    from bench.synth_edits import DONE

    root = workdir / "edits-mirror"
    if not (root / DONE).exists():
        shutil.rmtree(root, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "bench.synth_edits", "generate", str(root)], cwd=ROOT, check=True,
                       stdout=subprocess.DEVNULL)
    return root, json.loads((root / DONE).read_text(encoding="utf-8"))


def _ingest_edits_once(root: Path, out: Path) -> dict:
    """One `python -m bench.synth_edits ingest` in a fresh process: its seconds, peak memory and sizes."""
    import json

    shutil.rmtree(out, ignore_errors=True)
    done = subprocess.run([sys.executable, "-m", "bench.synth_edits", "ingest", str(root), str(out)], cwd=ROOT,
                          check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def edit_releases(workdir: Path) -> tuple[Path, dict]:
    """The synthetic quarter ingested (Parquet and manifests) into workdir/edits-releases, once per workdir."""
    import json

    out = workdir / "edits-releases"
    marker = out / ".ingest.json"
    if not marker.exists():
        root, _ = edit_mirror(workdir)
        result = _ingest_edits_once(root, out)
        marker.write_text(json.dumps(result) + "\n", encoding="utf-8")
    return out, json.loads(marker.read_text(encoding="utf-8"))


def edits_ingest(workdir: Path, repeat: int) -> dict:
    """Ingest of a full quarter, all four sets, through build_edit_release + store_edit_release into a fresh
    folder, each run in a fresh process (its peak memory is the ingest's own)."""
    import statistics

    root, _ = edit_mirror(workdir)
    out = workdir / "edits-ingest-run"
    runs = [_ingest_edits_once(root, out) for _ in range(max(1, repeat))]
    if not (workdir / "edits-releases" / ".ingest.json").exists():  # the later stages read this quarter
        import json

        shutil.rmtree(workdir / "edits-releases", ignore_errors=True)
        out.rename(workdir / "edits-releases")
        (workdir / "edits-releases" / ".ingest.json").write_text(json.dumps(runs[-1]) + "\n", encoding="utf-8")
    shutil.rmtree(out, ignore_errors=True)
    sets = runs[-1]["sets"]
    text_mb = sum(s["text_bytes"] for s in sets.values()) / 2**20
    stored_mb = sum(s["stored_bytes"] for s in sets.values()) / 2**20
    times = [r["seconds"] for r in runs]
    return {"stage": f"ingest one edit quarter, full size (synthetic: PTP {sets['ptp']['rows']:,} edits, MUE, add-on "
                     f"codes, RVU): text {text_mb:.0f} MB, stored Parquet {stored_mb:.1f} MB",
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(runs),
            "cpu_median_s": statistics.median(r["cpu_seconds"] for r in runs),  # steadier on a shared host
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "text_mb": round(text_mb, 1),
            "stored_mb": round(stored_mb, 2), "sets": sets, "baseline": "", "baseline_median_s": None,
            "target": TARGETS["edits-ingest"]}


LOOKUP_QUARTER = ("2026-07-01", "2026-09-30")  # the synthetic quarter's dates: the claim lines' dates of service


def universe_claim_codes(n_lines: int = 1_000_000, zipf: float = 1.5, seed: int = 5) -> list[str]:
    """The distinct procedure codes of n_lines claim lines drawn from the synthetic code universe, popularity
    by rank ~ 1/rank**zipf (a clearinghouse's mix: a few codes on most lines, thousands in the tail)."""
    import numpy as np

    from bench.synth_edits import codes_of

    codes = codes_of()
    rng = np.random.default_rng(seed)
    p = 1.0 / (rng.permutation(len(codes)) + 1.0) ** zipf
    return codes[np.unique(rng.choice(len(codes), n_lines, p=p / p.sum()))].tolist()


_CLAIM_CODES = """
import json, sys
from pathlib import Path
import pyarrow.csv as pacsv, pyarrow.compute as pc
from bench.bench_scrub import generate_claims, synthetic_history
path = Path(sys.argv[1])
if not path.exists():
    _, dx_pool, header_pool = synthetic_history()
    generate_claims(int(sys.argv[2]), path, dx_pool, header_pool)
t = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(include_columns=["procedure_code"],
                                                              column_types={"procedure_code": "string"}))
print(json.dumps(sorted(pc.unique(t["procedure_code"]).to_pylist())))
"""


def scrub_claim_codes(workdir: Path, n_lines: int = 1_000_000) -> list[str]:
    """The distinct procedure codes of bench/bench_scrub.py's n_lines generated claim lines (the scrub stage's
    claims file, shared when it exists), read in a child process."""
    import json

    done = subprocess.run([sys.executable, "-c", _CLAIM_CODES, str(workdir / f"claims-{n_lines}.csv"), str(n_lines)],
                          cwd=ROOT, check=True, capture_output=True, text=True)
    return json.loads(done.stdout)


def edit_lookups(releases: Path, codes: list[str], first, last) -> int:
    """What the scrubber reads for a batch of claim lines: the PTP edits among their codes and the MUE rows of
    every quarter in force over their dates, and the fee-schedule and add-on rows of their codes; from a new
    EditTables (each release opened and verified against its manifest, as a fresh `codegov scrub` does)."""
    from ingest.edits import EditTables

    tables = EditTables(releases)
    rows = len(tables.ptp_frame(codes, first, last))
    rows += sum(len(f) for f in tables.mue_frames(codes, first, last))
    for system in ("pfs", "aoc"):
        rows += sum(tables.rows(system, w.release, codes).num_rows for w in tables.windows_between(system, first, last))
    return rows


def edits_lookup(workdir: Path, repeat: int) -> list[dict]:
    import datetime as dt

    import pyarrow.parquet as pq

    from bench.bench_scrub import _peak_mb
    from ingest.edit_store import table_path

    releases, ingested = edit_releases(workdir)
    first, last = (dt.date.fromisoformat(d) for d in LOOKUP_QUARTER)
    ptp_rows = ingested["sets"]["ptp"]["rows"]
    whole = table_path(releases, "ptp", ingested["sets"]["ptp"]["release"])
    base = measure(lambda: pq.read_table(whole), repeat)
    rows = []
    for what, codes in (("codes drawn from the synthetic universe", universe_claim_codes()),
                        ("bench_scrub claim generator", scrub_claim_codes(workdir))):
        found = edit_lookups(releases, codes, first, last)
        ours = measure(lambda codes=codes: edit_lookups(releases, codes, first, last), repeat)
        rows.append({"stage": f"edit lookups for 1,000,000 claim lines ({what}: {len(codes):,} distinct codes; "
                              f"{found:,} rows of PTP {ptp_rows:,}, MUE, RVU, add-on)", **ours,
                     "baseline": "pyarrow read_table of the whole PTP table (no pushdown)",
                     "baseline_median_s": base["median_s"], "codes": len(codes), "rows_found": found,
                     "target": TARGETS["edits-lookup"]})
    for r in rows:
        r["peak_rss_mb"] = round(_peak_mb(), 1)  # this process's own (the set-up ran in child processes)
    return rows


_LAUNCH = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
seconds = time.perf_counter() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "cpu_seconds": usage.ru_utime + usage.ru_stime, "status": done.returncode,
                  "stderr": done.stderr[-4000:], "peak_mb": usage.ru_maxrss / 1024}))
"""
SAMPLE_CLAIMS = CODESETS / "sample" / "claims" / "claims.csv"


def _timed_command(cmd: list[str]) -> dict:
    """Run cmd under a small launcher process: wall seconds and the command's own peak resident memory (a
    child's ru_maxrss starts from its parent's at the fork, so the parent is kept small)."""
    import json

    done = subprocess.run([sys.executable, "-c", _LAUNCH, *cmd], cwd=ROOT, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout)
    if result["status"]:
        raise SystemExit(f"bench: {' '.join(cmd)} failed with status {result['status']}: {result['stderr']}")
    return result


def scrub_releases(workdir: Path, claims: Path = SAMPLE_CLAIMS, name: str = "edits-scrub-releases"
                   ) -> tuple[Path, list[str]]:
    """A releases folder for `codegov scrub` of the sample claims: the sample code-set releases (ingested from
    codesets/sample) and the full-size synthetic edit quarter stored for every quarter the claims' dates of
    service fall in. The stored tables hold no release id, so each quarter is the synthetic quarter's bytes
    under that quarter's id and label (through edit_store.write_release, as an ingest writes them)."""
    import datetime as dt
    import json

    from bench.synth_edits import quarter_starts
    from ingest import edit_store
    from ingest.store import read_manifest
    from ingest.systems import EDITS, edit_set

    out = workdir / name
    marker = out / ".quarters.json"
    if marker.exists():
        return out, json.loads(marker.read_text(encoding="utf-8"))
    shutil.rmtree(out, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "codegov.cli", "--codesets", str(CODESETS), "--releases", str(out), "ingest",
                    "--mirror", str(CODESETS / "sample"), "--offline", "--system", "icd10cm", "--system", "hcpcs",
                    "--system", "pos"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    source, ingested = edit_releases(workdir)
    import pyarrow as pa
    import pyarrow.csv as pacsv

    column = pacsv.read_csv(claims, convert_options=pacsv.ConvertOptions(
        include_columns=["date_of_service"], column_types={"date_of_service": pa.string()})).column(0)
    days = []
    for value in set(column.to_pylist()):
        try:
            days.append(dt.date.fromisoformat(value))
        except ValueError:
            continue
    quarters = [d.isoformat() for d in quarter_starts(dt.date(min(days).year, (min(days).month - 1) // 3 * 3 + 1, 1),
                                                      max(days))]
    for system in EDITS:
        rid = ingested["sets"][system]["release"]
        data = edit_store.table_path(source, system, rid).read_bytes()
        manifest = {k: v for k, v in read_manifest(source, system, rid).items() if k not in ("table_sha256", "format")}
        for q in quarters:
            day = dt.date.fromisoformat(q)
            quarter = (f"{day.year} {'ABCD'[(day.month - 1) // 3]} ({day:%B})" if system == "pfs" else
                       f"{day.year} Q{(day.month - 1) // 3 + 1}")
            edit_store.write_release(out, system, q, data, {**manifest, "release": q, "synthetic_copy_of": rid,
                                                             "label": f"{edit_set(system).short} {quarter}"})
    marker.write_text(json.dumps(quarters) + "\n", encoding="utf-8")
    return out, quarters


def _scrub_reads_stored(rules: Path) -> bool:
    """Whether the rule file takes the PTP edits from the stored releases (`reference: ptp: in-force`)."""
    import re

    return bool(re.search(r"^\s+ptp:\s*in-force\b", rules.read_text(encoding="utf-8"), re.MULTILINE))


def edits_scrub(workdir: Path, repeat: int) -> dict:
    """`codegov scrub` (the CLI, a fresh process each run) of the 40-line sample claims with the full-size edit
    quarters in force on their dates of service, the repository's rule file as it stands."""
    import statistics

    releases, quarters = scrub_releases(workdir)
    cmd = [sys.executable, "-m", "codegov.cli", "--codesets", str(CODESETS), "--releases", str(releases), "scrub",
           str(SAMPLE_CLAIMS)]
    _timed_command(cmd)  # warm-up
    runs = [_timed_command(cmd) for _ in range(max(5, repeat))]
    times = [r["seconds"] for r in runs]
    stored = _scrub_reads_stored(CODESETS / "rules" / "scrub.yml")
    source = ("the rule file reads the stored quarters in force" if stored else
              "the rule file still reads its PTP and MUE sample files")
    notes = [line for line in runs[-1]["stderr"].splitlines() if line.strip()]
    return {"stage": f"codegov scrub, the 40-line sample claims, full-size edit quarters stored for "
                     f"{quarters[0]} to {quarters[-1]} ({source})",
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(runs),
            "cpu_median_s": round(statistics.median(r["cpu_seconds"] for r in runs), 3),  # steadier on a shared host
            "peak_rss_mb": round(max(r["peak_mb"] for r in runs), 1), "reads_stored_edits": stored,
            "notes": notes, "baseline": "", "baseline_median_s": None, "target": TARGETS["edits-scrub"]}


# -- denials: 835 remittances (bench/synth_remits.py) ----------------------------------------------------------

DENIAL_LINES = 1_000_000
_RAW_READ = """
import sys
from pathlib import Path
n = 0
for p in sorted(Path(sys.argv[1]).glob("*.835")):
    n += len(p.read_bytes().split(b"~"))
print(n)
"""


def _remit_files(workdir: Path, lines: int, files: int) -> Path:
    from bench.synth_remits import write_files

    folder = workdir / f"remits-{lines}"
    if not (folder / ".done").exists():
        shutil.rmtree(folder, ignore_errors=True)
        write_files(folder, lines, files)
        (folder / ".done").write_text("ok\n", encoding="utf-8")
    return folder


def _sample_code_sets(workdir: Path) -> Path:
    out = workdir / "denials-releases"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "codegov.cli", "--codesets", str(CODESETS), "--releases", str(out),
                        "ingest", "--mirror", str(CODESETS / "sample"), "--offline", "--system", "icd10cm",
                        "--system", "hcpcs", "--system", "pos"], cwd=ROOT, check=True, stdout=subprocess.DEVNULL)
    return out


def denials(workdir: Path, repeat: int) -> dict:
    """`codegov denials` (a fresh process each run) on a million synthetic remittance lines in four files: the
    835s read, classified and summarised into the dashboard's Markdown; beside the raw read of the same files
    (their bytes read and split on the segment terminator, nothing more)."""
    import statistics

    folder = _remit_files(workdir, DENIAL_LINES, 4)
    releases = _sample_code_sets(workdir)
    size = sum(p.stat().st_size for p in folder.glob("*.835"))
    cmd = [sys.executable, "-m", "codegov.cli", "--codesets", str(CODESETS), "--releases", str(releases), "--quiet",
           "denials", str(folder), "--format", "md", "--output", str(workdir / "denials.md")]
    _timed_command(cmd)  # warm-up
    runs = [_timed_command(cmd) for _ in range(max(3, repeat))]
    raw = [_timed_command([sys.executable, "-c", _RAW_READ, str(folder)]) for _ in range(max(3, repeat))]
    times = [r["seconds"] for r in runs]
    return {"stage": f"codegov denials, {DENIAL_LINES:,} synthetic remittance lines (4 files, {size / 2**20:.0f} MB): "
                     "read, classified, summarised",
            "rows": DENIAL_LINES, "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "runs": len(runs), "cpu_median_s": round(statistics.median(r["cpu_seconds"] for r in runs), 3),
            "peak_rss_mb": round(max(r["peak_mb"] for r in runs), 1),
            "baseline": "raw read of the same files (bytes split on the terminator)",
            "baseline_median_s": statistics.median(r["seconds"] for r in raw), "target": TARGETS["denials"]}


def denials_reader(workdir: Path, repeat: int) -> dict:
    """The choice of reader: the direct segment reader (denials.read835) against pyx12's X12Reader, which only
    tokenises the segments (no validation, no loops: the least pyx12 can do), on 100,000 synthetic lines."""
    import pyx12.x12file

    from denials.read835 import read_file

    (path,) = sorted(_remit_files(workdir, 100_000, 1).glob("*.835"))

    def with_pyx12():
        n = 0
        for seg in pyx12.x12file.X12Reader(str(path)):
            if seg.get_seg_id() == "SVC":
                n += 1
        return n

    ours = measure(lambda: read_file(path), repeat)
    theirs = measure(with_pyx12, 1, warmup=0, min_total_s=0)
    return {"stage": "835 reader, 100,000 synthetic remittance lines: the direct segment reader (denials.read835)",
            **ours, "rows": 100_000, "baseline": "pyx12 4.0 X12Reader (segments only, no validation)",
            "baseline_median_s": theirs["median_s"], "target": ""}


def generated_claims(workdir: Path, n_lines: int = 1_000_000) -> Path:
    """bench/bench_scrub.py's n_lines generated claim lines (the scrub stage's file, shared when it exists)."""
    from bench.bench_scrub import generate_claims, synthetic_history

    claims = workdir / f"claims-{n_lines}.csv"
    if not claims.exists():
        _, dx_pool, header_pool = synthetic_history()
        generate_claims(n_lines, claims, dx_pool, header_pool)
    return claims


def universe_claims(workdir: Path, n_lines: int = 1_000_000, zipf: float = 1.5, seed: int = 5) -> Path:
    """generated_claims with each line's procedure code drawn from the synthetic code universe instead
    (popularity by rank ~ 1/rank**zipf, as universe_claim_codes: 8,637 distinct codes on a million lines), every
    other value as it is: the scrub of a clearinghouse's mix, whose partitions bill thousands of codes."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from bench.synth_edits import codes_of

    path = workdir / f"claims-{n_lines}-universe.csv"
    if path.exists():
        return path
    source = generated_claims(workdir, n_lines)
    names = pacsv.read_csv(source, read_options=pacsv.ReadOptions(block_size=1 << 16)).column_names
    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in names}, strings_can_be_null=False))
    codes = codes_of()
    rng = np.random.default_rng(seed)
    p = 1.0 / (rng.permutation(len(codes)) + 1.0) ** zipf
    drawn = codes[rng.choice(len(codes), table.num_rows, p=p / p.sum())]
    at = names.index("procedure_code")
    table = table.set_column(at, "procedure_code", pa.array(drawn.tolist(), pa.string()))
    partial = path.with_suffix(".partial")
    pacsv.write_csv(table, partial, write_options=pacsv.WriteOptions(quoting_style="needed"))
    partial.replace(path)
    return path


def _scrub_edits_stage(workdir: Path, repeat: int, claims: Path, what: str, target: str | None) -> dict:
    """The scrubber on a claims file with the full-size edit quarters (2.63 million practitioner PTP edits, the
    MUE tables, the add-on edits, the RVU file: bench/synth_edits.py) stored and in force on every quarter of
    their dates of service; each run a fresh process, beside pyarrow's read of the same file (a fresh process
    too) in the same run."""
    import statistics

    from bench.bench_scrub import pyarrow_read_seconds, scrub_edits_run

    releases, quarters = scrub_releases(workdir, generated_claims(workdir), name="scrub-edits-releases")
    scrub_edits_run(claims, releases)  # warm-up (the page cache, the Parquet footers)
    runs, reads = [], []
    for _ in range(max(3, repeat)):
        reads.append(pyarrow_read_seconds(claims))
        runs.append(scrub_edits_run(claims, releases))
    times = [r["scrub_seconds"] for r in runs]
    return {"stage": f"codegov scrub, 1,000,000 claim lines{what}, full-size edit quarters in force ({quarters[0]} "
                     f"to {quarters[-1]}: PTP, MUE, add-on codes, RVU)",
            "median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "runs": len(runs),
            "cpu_median_s": statistics.median(r["scrub_cpu_seconds"] for r in runs),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs), "findings": runs[0]["findings"],
            "by_rule": runs[0]["by_rule"], "baseline": "pyarrow.csv.read_csv of the same file",
            "baseline_median_s": statistics.median(reads), "target": target}


def scrub_edits(workdir: Path, repeat: int) -> dict:
    """The scrub the issue's target is set on: bench/bench_scrub.py's generated lines (their procedure codes
    from a small set of therapy, E/M and surgery codes)."""
    return _scrub_edits_stage(workdir, repeat, generated_claims(workdir), "", TARGETS["scrub-edits"])


def scrub_edits_universe(workdir: Path, repeat: int) -> dict:
    """The same scrub with the procedure codes drawn from the whole synthetic code universe (universe_claims):
    reported beside it, with no target of its own."""
    return _scrub_edits_stage(workdir, repeat, universe_claims(workdir),
                              " drawing on 8,637 procedure codes (the synthetic universe)",
                              TARGETS["scrub-edits-universe"])


def scrub_10m(workdir: Path, repeat: int) -> list[dict]:
    """Peak memory of a streamed scrub (Scrubber.scrub_to, as `codegov scrub` writes its CSV) of 1,000,000 and of
    10,000,000 lines (the million-line file ten times over, as new claims of new patients), with the full-size
    edit quarters in force; one run each, a fresh process each."""
    from bench.bench_scrub import repeat_claims, scrub_edits_run

    one = generated_claims(workdir)
    releases, _ = scrub_releases(workdir, one, name="scrub-edits-releases")
    ten = workdir / "claims-10000000.csv"
    if not ten.exists():
        repeat_claims(one, ten, 10)
    rows = []
    for n, path in ((1_000_000, one), (10_000_000, ten)):
        r = scrub_edits_run(path, releases, stream=True)
        rows.append({"stage": f"codegov scrub streamed, {n:,} claim lines, full-size edit quarters in force: peak "
                              "memory", "median_s": r["scrub_seconds"], "min_s": r["scrub_seconds"],
                     "max_s": r["scrub_seconds"], "runs": 1, "cpu_median_s": r["scrub_cpu_seconds"],
                     "peak_rss_mb": r["peak_rss_mb"], "findings": r["findings"], "baseline": "",
                     "baseline_median_s": None, "lines": n, "target": TARGETS["scrub-10m"] if n == 10_000_000 else ""})
    return rows


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
    "edits-ingest": edits_ingest,
    "edits-lookup": edits_lookup,
    "edits-scrub": edits_scrub,
    "denials": denials,
    "denials-reader": denials_reader,
    "scrub-edits": scrub_edits,
    "scrub-edits-universe": scrub_edits_universe,
    "scrub-10m": scrub_10m,
}
