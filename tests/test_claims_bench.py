"""The scrub benchmark's generator and measurement run (small), so `bench/bench_scrub.py` keeps working."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import ROOT
from tests.test_claims_rules import PATH_RULES


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_scrub", ROOT / "bench" / "bench_scrub.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    """The benchmark module, its made-up history (seeded, the same every call) built once for this file."""
    module = load_bench()
    history = module.synthetic_history()
    module.synthetic_history = lambda: history
    return module


def test_generated_claims_are_deterministic_and_scrub_with_planted_findings(bench, tmp_path):
    _, dx_pool, header_pool = bench.synthetic_history()
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    bench.generate_claims(5000, a, dx_pool, header_pool)
    bench.generate_claims(5000, b, dx_pool, header_pool)
    assert a.read_bytes() == b.read_bytes()
    assert sum(1 for _ in a.open()) == 5001
    # The generated claims date from 2025-01 to 2026-03, before the stored sample quarters (2026 Q3, Q4) the
    # shipped rule file reads in force: their planted PTP pairs are edits of the older sample tables, given by path.
    result = bench.scrub_once(a, PATH_RULES, None, chunk_lines=1000)
    assert result["findings"] > 0
    assert {"code-invalid-on-dos", "malformed-field", "missing-diagnosis", "ncci-ptp"} <= set(result["by_rule"])
    assert result["peak_rss_mb"] > 0 and result["scrub_seconds"] >= 0


def test_benchmark_stage_shape(bench, tmp_path):
    stage = bench.bench_scrub(tmp_path, repeat=1, n_lines=2000, chunk_lines=500)
    assert stage["stage"] == "codegov scrub, 2,000 claim lines"
    assert stage["runs"] == 1 and stage["findings"] > 0  # (the time target is for 1,000,000 lines)
    assert {"median_s", "min_s", "max_s", "peak_rss_mb", "target"} <= set(stage)
