"""`python -m bench` (make bench): run every stage in its own process, print a table, write build/bench.json.

Each stage runs in a child process so its peak memory (ru_maxrss) is its own. Times are the median of
several runs after a warm-up; each baseline is measured in the same child, so the ratio is fair.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from bench.stages import ROOT, SHARED, STAGES


def run_stage(name: str, workdir: Path, repeat: int) -> tuple[list[dict], float]:
    """Run one stage in a child process; its rows and the peak resident memory it reported, in MB."""
    proc = subprocess.Popen([sys.executable, "-m", "bench", "--child", name, "--workdir", str(workdir),
                             "--repeat", str(repeat)], stdout=subprocess.PIPE, cwd=ROOT, text=True)
    out, _ = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"bench stage {name} failed with status {proc.returncode}")
    data = json.loads(out.strip().splitlines()[-1])
    return data["rows"], data["peak_mb"]


def child(name: str, workdir: Path, repeat: int) -> None:
    result = STAGES[name](workdir, repeat)
    rows = result if isinstance(result, list) else [result]
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "peak_mb": max(peak_mb, children)}))


def reference_loop() -> float:
    """The machine's speed in one number: median seconds for 10 million pure-Python additions.

    Hosts of one machine class differ in CPU speed; absolute times from two runs compare only beside this.
    """
    import time

    times = []
    for _ in range(3):
        start, total = time.perf_counter(), 0
        for i in range(10_000_000):
            total += i
        times.append(time.perf_counter() - start)
    return round(sorted(times)[1], 2)


_CLAUSE = re.compile(r"(median|ratio|peak) *(<=|<) *([0-9.]+) *(?:s|MB)?")
_MEASURED = {"median": "median_s", "ratio": "ratio", "peak": "peak_mb"}


def meets_target(row: dict) -> bool | None:
    """Whether a row meets its target text ("median <= 0.05 s", "ratio <= 0.25", "median <= 10 s, peak <
    1536 MB"); None for a row with no target."""
    clauses = [c.strip() for c in (row.get("target") or "").split(",") if c.strip()]
    if not clauses:
        return None
    ok = True
    for clause in clauses:
        m = _CLAUSE.fullmatch(clause)
        if not m:
            raise ValueError(f"bench: cannot read the target {clause!r} of {row['stage']!r}")
        value, limit = row.get(_MEASURED[m.group(1)]), float(m.group(3))
        ok &= value is not None and (value <= limit if m.group(2) == "<=" else value < limit)
    return ok


def table(rows: list[dict]) -> str:
    lines = ["| stage | median s | min s | max s | peak MB | baseline | baseline median s | ratio | target | met |",
             "|---|---:|---:|---:|---:|---|---:|---:|---|---|"]
    for r in rows:
        base = f"{r['baseline_median_s']:.4f}" if r.get("baseline_median_s") else ""
        ratio = f"{r['ratio']:.2f}" if r.get("ratio") is not None else ""
        lines.append(f"| {r['stage']} | {r['median_s']:.4f} | {r['min_s']:.4f} | {r['max_s']:.4f} | "
                     f"{r['peak_mb']:.0f} | {r.get('baseline', '')} | {base} | {ratio} | {r.get('target') or ''} | "
                     f"{ {True: 'yes', False: '**no**', None: ''}[meets_target(r)]} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--only", action="append", choices=sorted(STAGES), help="run only these stages")
    p.add_argument("--output", type=Path, default=ROOT / "build" / "bench.json")
    p.add_argument("--page", type=Path, default=ROOT / "site_src" / "performance.md",
                   help="the site's performance page, rewritten after a full run (not with --only)")
    p.add_argument("--readme", type=Path, default=ROOT / "README.md",
                   help="the README whose Performance table is rewritten after a full run (not with --only)")
    p.add_argument("--check", action="store_true", help="exit with status 1 when a stage misses its target")
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--workdir", type=Path, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args.workdir, args.repeat)
        return 0
    if not SHARED.exists():
        print(f"bench needs the official files in {SHARED} (or CODEGOV_SHARED_DATA)", file=sys.stderr)
        return 1
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="codegov-bench-") as tmp:
        for name in args.only or list(STAGES):
            stage_rows, peak_mb = run_stage(name, Path(tmp), args.repeat)
            for r in stage_rows:
                # a stage that measured its own worker process reports that process's peak
                r["peak_mb"] = round(r.pop("peak_rss_mb", peak_mb), 1)
                base = r.get("baseline_median_s")
                r["ratio"] = round(r["median_s"] / base, 3) if base else None
                r["meets_target"] = meets_target(r)
                rows.append(r)
                print(f"{r['stage']}: median {r['median_s']:.4f} s", file=sys.stderr)
    memory_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    report = {"machine": {"python": platform.python_version(), "platform": platform.platform(),
                          "cpus": os.cpu_count(), "memory_gib": round(memory_gib),
                          "reference_loop_s": reference_loop()}, "results": rows}
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    args.output.with_name("bench-machine.json").write_text(json.dumps(report["machine"], indent=2) + "\n")
    print(table(rows))
    if not args.only:
        from bench.page import write_performance_page, write_readme_table

        write_performance_page(args.page, rows, report["machine"], table(rows))
        write_readme_table(args.readme, report["machine"], table(rows))
    missed = [r["stage"] for r in rows if r.get("meets_target") is False]
    targeted = sum(r.get("meets_target") is not None for r in rows)
    print(f"{targeted - len(missed)} of {targeted} targets met" + (f"; missed: {', '.join(missed)}" if missed else ""))
    return 1 if args.check and missed else 0


if __name__ == "__main__":
    sys.exit(main())
