"""Benchmark of the claim scrubber: generate N service lines (fixed seed), scrub them, report time and memory.

    .venv/bin/python bench/bench_scrub.py --lines 1000000

The scrub runs in a child process so its peak resident memory (VmHWM) is its own, not the generator's;
wall time and CPU time are both reported (CPU time is steadier on a shared machine).
The release history is synthetic but real-sized (three ICD-10-CM releases of ~98,000 rows, two HCPCS
releases, POS), or the ingested tables with --codesets. Importable: generate_claims(), run_benchmark(), and
bench_scrub(workdir, repeat), a stage in the shape of the project benchmark's other stages.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TARGET_SECONDS = 10.0  # for a million lines; the time target scales with the lines, the memory one does not
TARGET_PEAK_MB = 1536.0


def target(n_lines: int = 1_000_000) -> str:
    """The stage's target for n_lines, in the text bench.__main__.meets_target reads."""
    return f"median <= {TARGET_SECONDS * n_lines / 1_000_000:g} s, peak < {TARGET_PEAK_MB:g} MB"


TARGET = target()  # the target of the project benchmark's scrub stage (a million lines)

PT = ["97110", "97112", "97116", "97140", "97530", "97161", "G0283"]
EM = ["99213", "99214", "99203", "99204"]
MINOR = ["11055", "20610", "17110"]
LAB = ["36415", "73560"]


def synthetic_history():
    """Three ICD-10-CM releases of ~98,000 rows, two HCPCS releases and a POS release, all made up; each table
    sorted by code, as codegov stores release tables (ingest.diff reads them so)."""
    import numpy as np
    import pandas as pd

    from ingest.history import ReleaseHistory
    from ingest.model import COLUMNS

    rng = np.random.default_rng(11)
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    heads = np.unique(np.char.add(letters[rng.integers(0, 26, 3000)], rng.integers(0, 100, 3000).astype("U2")
                                  .astype(object).astype(str)))
    heads = np.array([h if len(h) == 3 else h[0] + "0" + h[1:] for h in heads])
    tails = np.array([f"{i:02d}" for i in range(100)] + [f"{i}X" for i in range(10)])
    codes = np.unique(np.char.add(heads[rng.integers(0, len(heads), 110_000)], tails[rng.integers(0, len(tails),
                                                                                                  110_000)]))
    tables = {}

    def frame(system, release, code, billable, kind, **extra):
        n = len(code)
        data = {c: np.full(n, "", dtype=object) for c in COLUMNS}
        data.update(system=system, release=release, code=code, display_code=code, kind=kind,
                    billable=np.where(billable, "1", "0"), long_desc=np.char.add("Description of ", code.astype(str)),
                    effective_start=release)
        data.update(extra)
        return pd.DataFrame(data).sort_values("code", kind="stable").reset_index(drop=True)  # as stored

    for k, (release, end) in enumerate([("2023-10-01", "2024-09-30"), ("2024-10-01", "2025-09-30"),
                                        ("2025-10-01", "2026-09-30")]):
        keep = codes[: len(codes) - 2000 + 1000 * k]
        code = np.concatenate([heads, keep])
        billable = np.concatenate([np.zeros(len(heads), bool), np.ones(len(keep), bool)])
        tables[("icd10cm", release)] = frame("icd10cm", release, code, billable,
                                             np.where(billable, "code", "header"), effective_end=end)
    hcpcs = np.array([f"{c}{i:04d}" for c in "AEGJKL" for i in range(0, 1500)] + ["G0283"])
    hcpcs = np.unique(hcpcs)
    mods = np.array(["GP", "GO", "GN", "KX", "RT", "LT", "XE", "XS", "XP", "XU", "GA", "CQ", "TC", "QW"])
    for release in ("2025-01-01", "2026-01-01"):
        code = np.concatenate([hcpcs, mods])
        tables[("hcpcs", release)] = frame("hcpcs", release, code, np.ones(len(code), bool),
                                           np.where(np.arange(len(code)) < len(hcpcs), "procedure", "modifier"),
                                           add_date="2000-01-01")
    pos = np.array(["02", "10", "11", "12", "19", "22", "23", "31", "32"])
    tables[("pos", "2024-08-01")] = frame("pos", "2024-08-01", pos, np.ones(len(pos), bool), "pos",
                                          effective_start="2003-01-01")
    history = ReleaseHistory(tables)
    pool = codes[: len(codes) - 2000]
    pool = pool[~np.array([c.startswith(("O", "N", "C5", "C6", "D0", "D2", "D4", "Z")) for c in pool])]
    dx_pool = pool[:: max(1, len(pool) // 3000)][:3000]
    return history, dx_pool, heads[:50]


def generate_claims(n_lines: int, path: Path, dx_pool, header_pool, seed: int = 7) -> None:
    """n_lines service lines, grouped by claim, deterministic for a seed; about 2% of lines carry an error."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    sizes = rng.choice([1, 2, 3, 4, 5, 6], size=n_lines, p=[0.25, 0.25, 0.2, 0.15, 0.1, 0.05])
    sizes = sizes[: np.searchsorted(np.cumsum(sizes), n_lines) + 1]
    sizes[-1] -= sizes.sum() - n_lines
    n_claims = len(sizes)
    claim = np.repeat(np.arange(n_claims), sizes)
    line = np.arange(n_lines) - np.repeat(np.cumsum(sizes) - sizes, sizes) + 1
    patient = rng.integers(0, max(1, n_claims // 6), n_claims)
    sex = np.where(patient % 2 == 0, "F", "M")
    day = pd.Timestamp("2025-01-01") + pd.to_timedelta(rng.integers(0, 450, n_claims), "D")
    payer = rng.choice(["MEDICARE", "ACME_COMMERCIAL", "OTHER_PAYER"], n_claims, p=[0.6, 0.3, 0.1])
    kind = rng.choice(["pt", "office", "tele"], n_claims, p=[0.5, 0.4, 0.1])
    k = kind[claim]
    # distinct codes within a claim: PT codes rotate from a random start, office visits are E/M + others
    start = rng.integers(0, 100, n_claims)[claim]
    pt_code = np.array(PT[:5])[(start + line) % 5]  # timed PT codes; 97140 + 97530 together trip a PTP edit
    other = np.array(MINOR + LAB)[(start + line) % len(MINOR + LAB)]
    code = np.where(k == "pt", pt_code, np.where(line == 1, rng.choice(EM, n_lines), other))
    k = np.where((k == "tele") & (line > 1), "office", k)
    timed = np.isin(code, ["97110", "97112", "97116", "97140", "97530"])
    units = np.where(timed, rng.integers(1, 3, n_lines), 1)
    minutes = np.where(timed, units * 15 + rng.integers(0, 7, n_lines), 0)
    pairs = (code == "97530") & (rng.random(n_lines) < 0.9)
    mods = np.where(np.isin(code, PT), "GP", "")
    mods = np.where(pairs, "GP XU", mods)
    mods = np.where((k == "office") & (line == 1) & (sizes[claim] > 1), "25", mods)
    mods = np.where(code == "20610", rng.choice(["RT", "LT", "50"], n_lines), mods)
    mods = np.where(k == "tele", np.where(sizes[claim] > 1, "95 25", "95"), mods)
    pos = np.where(k == "tele", "10", "11")
    mods = np.where((code == "20610") & (payer[claim] == "ACME_COMMERCIAL") & (mods == "50"), "RT", mods)
    ndx = rng.integers(1, 4, n_lines)
    dx = dx_pool[rng.integers(0, len(dx_pool), (n_lines, 3))].astype(object)
    dx_text = np.where(ndx == 1, dx[:, 0], np.where(ndx == 2, dx[:, 0] + ";" + dx[:, 1],
                                                     dx[:, 0] + ";" + dx[:, 1] + ";" + dx[:, 2]))
    charge = np.round(rng.uniform(20, 250, n_lines), 2)
    # planted errors, about 2% of lines
    err = rng.random(n_lines)
    mods = np.where(err < 0.004, "", mods)
    dx_text = np.where((err >= 0.004) & (err < 0.008), header_pool[rng.integers(0, len(header_pool), n_lines)],
                       dx_text)
    dx_text = np.where((err >= 0.008) & (err < 0.010), "", dx_text)
    units = np.where((err >= 0.010) & (err < 0.014), units + 3, units)
    mods = np.where((err >= 0.014) & (err < 0.016), "GP ZZ", mods)
    dos = np.asarray(day.strftime("%Y-%m-%d"), dtype=object)[claim]
    dos = np.where((err >= 0.016) & (err < 0.017), "2025-02-30", dos)
    frame = pd.DataFrame({
        "claim_id": np.char.add("C", np.char.zfill(claim.astype(str), 9)),
        "line": line, "patient_id": np.char.add("P", np.char.zfill(patient[claim].astype(str), 8)),
        "patient_sex": sex[claim], "date_of_service": dos, "payer": payer[claim], "place_of_service": pos,
        "procedure_code": code, "modifiers": mods, "units": units,
        "minutes": np.where(timed, minutes.astype(str), ""), "charge": charge, "diagnosis_codes": dx_text,
        "provider_npi": "1234567893",
    })
    frame.to_csv(path, index=False, lineterminator="\n")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _peak_mb() -> float:
    """Peak resident memory of this process: VmHWM of its own address space (ru_maxrss can carry the
    parent's high-water mark over a fork), ru_maxrss where /proc is missing."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kilobytes on Linux


def scrub_once(claims: Path, rules: Path, codesets: Path | None, chunk_lines: int) -> dict:
    """Build the history, scrub the file, and measure (in this process)."""
    from claims.scrub import Scrubber
    from ingest.history import ReleaseHistory

    t0 = time.perf_counter()
    if codesets:
        history = ReleaseHistory.from_store(codesets)
    else:
        history, _, _ = synthetic_history()
    t1 = time.perf_counter()
    c1 = _cpu()
    scrubber = Scrubber.from_files(rules, history=history)
    findings = scrubber.scrub_file(claims, chunk_lines)
    t2 = time.perf_counter()
    return {"history_seconds": round(t1 - t0, 2), "scrub_seconds": round(t2 - t1, 2),
            "scrub_cpu_seconds": round(_cpu() - c1, 2),
            "findings": int(len(findings)), "by_rule": findings["rule"].value_counts().to_dict(),
            "peak_rss_mb": round(_peak_mb(), 1)}


def scrub_edits_once(claims: Path, rules: Path, releases: Path, chunk_lines: int, stream: bool = False) -> dict:
    """Scrub with the edit quarters stored in `releases` in force (ingest.edits.EditTables) and the synthetic
    code-set history, in this process; stream: as `codegov scrub` runs, through Scrubber.scrub_to (each
    partition's findings spilled, merged back in order and written to a CSV file beside the claims, then
    removed), else scrub_file (all findings kept in memory)."""
    from claims.scrub import Scrubber
    from ingest.edits import EditTables

    history, _, _ = synthetic_history()
    t1, c1 = time.perf_counter(), _cpu()
    scrubber = Scrubber.from_files(rules, history=history, edits=EditTables(releases))
    by_rule: dict = {}
    if stream:
        written = claims.with_name(f".{claims.stem}.findings.csv")
        try:
            with open(written, "w", encoding="utf-8", newline="") as out:
                summary = scrubber.scrub_to(out, "csv", claims, chunk_lines)
        finally:
            written.unlink(missing_ok=True)
        found = summary["findings"]
        for key, n in summary["by_rule"].items():  # "rule (severity)"
            rule = key.rsplit(" (", 1)[0]
            by_rule[rule] = by_rule.get(rule, 0) + n
    else:
        findings = scrubber.scrub_file(claims, chunk_lines)
        found, by_rule = len(findings), findings["rule"].value_counts().to_dict()
    return {"scrub_seconds": round(time.perf_counter() - t1, 3), "scrub_cpu_seconds": round(_cpu() - c1, 3),
            "findings": int(found), "by_rule": by_rule, "peak_rss_mb": round(_peak_mb(), 1)}


_PYARROW_READ = """
import json, sys, time
import pyarrow.csv as pacsv
start = time.perf_counter()
table = pacsv.read_csv(sys.argv[1])
print(json.dumps({"seconds": time.perf_counter() - start, "rows": table.num_rows}))
"""


def pyarrow_read_seconds(claims: Path) -> float:
    """pyarrow.csv.read_csv of the whole file, in a fresh process with the Arrow allocator
    every command takes (codegov.options.arrow_allocator) (the baseline:
    the cost of reading it). With Arrow's default, mimalloc, the same read took 1.3-1.5 s on this machine class
    right after a scrub, nearly 2 s of it the kernel's, against 0.23-0.28 s with jemalloc or the system's."""
    from codegov.options import ARROW_ALLOCATOR, ARROW_POOL

    done = subprocess.run([sys.executable, "-c", _PYARROW_READ, str(claims)], check=True, capture_output=True,
                          text=True, env={**os.environ, ARROW_POOL: ARROW_ALLOCATOR})
    return json.loads(done.stdout)["seconds"]


def scrub_edits_run(claims: Path, releases: Path, rules: Path = ROOT / "codesets" / "rules" / "scrub.yml",
                    chunk_lines: int = 125_000, stream: bool = False) -> dict:
    """scrub_edits_once in a fresh process (its peak memory is its own)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--scrub-only", str(claims), "--rules", str(rules),
           "--chunk-lines", str(chunk_lines), "--releases", str(releases)] + (["--stream"] if stream else [])
    return json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)


def repeat_claims(source: Path, path: Path, times: int) -> Path:
    """A file of `times` copies of a claims file, each copy's claim and patient ids prefixed with its number
    (so each copy is new claims of new patients), written a copy at a time by pyarrow."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(source, convert_options=pacsv.ConvertOptions(
        column_types={c: pa.string() for c in pacsv.read_csv(source, read_options=pacsv.ReadOptions(
            block_size=1 << 16)).column_names}, strings_can_be_null=False))
    tmp = path.with_suffix(".partial")
    with pacsv.CSVWriter(tmp, table.schema, write_options=pacsv.WriteOptions(quoting_style="needed")) as out:
        for k in range(times):
            copy = table
            for col in ("claim_id", "patient_id"):
                at = copy.column_names.index(col)
                copy = copy.set_column(at, col, pc.binary_join_element_wise(f"R{k}-", copy.column(col), ""))
            out.write_table(copy)
    tmp.rename(path)
    return path


def run_benchmark(n_lines: int = 1_000_000, chunk_lines: int = 250_000, codesets: Path | None = None,
                  rules: Path = ROOT / "codesets" / "rules" / "scrub.yml", workdir: Path | None = None) -> dict:
    """Generate, then scrub in a child process; returns the measurements and whether targets are met."""
    with tempfile.TemporaryDirectory(dir=workdir) as tmp:
        claims = Path(tmp) / "claims.csv"
        _, dx_pool, header_pool = synthetic_history()
        t0 = time.perf_counter()
        generate_claims(n_lines, claims, dx_pool, header_pool)
        generated = time.perf_counter() - t0
        cmd = [sys.executable, str(Path(__file__).resolve()), "--scrub-only", str(claims), "--rules", str(rules),
               "--chunk-lines", str(chunk_lines)] + (["--codesets", str(codesets)] if codesets else [])
        out = subprocess.run(cmd, check=True, capture_output=True, text=True, env={**os.environ})
        result = json.loads(out.stdout)
        result.update(lines=n_lines, file_mb=round(claims.stat().st_size / 2**20, 1),
                      generate_seconds=round(generated, 1), chunk_lines=chunk_lines, cpus=os.cpu_count())
    # the time target is per million lines (10 s for 1,000,000); memory must stay bounded at any size
    result["meets_target"] = (result["scrub_seconds"] <= TARGET_SECONDS * max(n_lines, 1) / 1_000_000
                              and result["peak_rss_mb"] < TARGET_PEAK_MB)
    return result


def bench_scrub(workdir: Path, repeat: int = 3, n_lines: int = 1_000_000, chunk_lines: int = 250_000) -> dict:
    """A stage for the project benchmark: the claims file is generated once in workdir, then scrubbed
    `repeat` times, each in a fresh process; median/min/max wall seconds and the largest peak memory."""
    import statistics

    claims = Path(workdir) / f"claims-{n_lines}.csv"
    if not claims.exists():
        _, dx_pool, header_pool = synthetic_history()
        generate_claims(n_lines, claims, dx_pool, header_pool)
    cmd = [sys.executable, str(Path(__file__).resolve()), "--scrub-only", str(claims), "--chunk-lines",
           str(chunk_lines)]
    runs = [json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
            for _ in range(max(1, repeat))]
    times = [r["scrub_seconds"] for r in runs]
    peak = max(r["peak_rss_mb"] for r in runs)
    return {"stage": f"codegov scrub, {n_lines:,} claim lines", "median_s": statistics.median(times),
            "min_s": min(times), "max_s": max(times), "runs": len(runs), "peak_rss_mb": peak,
            "findings": runs[0]["findings"], "baseline": "", "baseline_median_s": None,
            "target": target(n_lines),
            "meets_target": statistics.median(times) <= TARGET_SECONDS * n_lines / 1_000_000
            and peak < TARGET_PEAK_MB}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--chunk-lines", type=int, default=250_000)
    p.add_argument("--codesets", type=Path, help="use the ingested release tables instead of synthetic ones")
    p.add_argument("--rules", type=Path, default=ROOT / "codesets" / "rules" / "scrub.yml")
    p.add_argument("--scrub-only", type=Path, metavar="CLAIMS", help=argparse.SUPPRESS)
    p.add_argument("--releases", type=Path, help="the edit quarters stored here in force (with --scrub-only)")
    p.add_argument("--stream", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.scrub_only:  # the scrub's process as `codegov` sets up every command's (codegov.cli.main)
        from codegov.options import arrow_allocator

        arrow_allocator()
    if args.scrub_only and args.releases:
        print(json.dumps(scrub_edits_once(args.scrub_only, args.rules, args.releases, args.chunk_lines, args.stream)))
        return 0
    if args.scrub_only:
        print(json.dumps(scrub_once(args.scrub_only, args.rules, args.codesets, args.chunk_lines)))
        return 0
    result = run_benchmark(args.lines, args.chunk_lines, args.codesets, args.rules)
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
