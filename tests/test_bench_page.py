"""The benchmark's report: the site's performance page (table and chart) and the README's copy of the table."""

from __future__ import annotations

import re

from bench.__main__ import table
from bench.page import performance_page
from tests.conftest import ROOT


def row(stage, median, rows=None, **extra):
    r = {"stage": stage, "median_s": median, "min_s": median * 0.9, "max_s": median * 1.1, "peak_mb": 100.0, **extra}
    if rows:
        r["rows"] = rows
    return r


def test_page_has_the_table_and_one_chart_line_per_scaled_stage():
    rows = [row("parse ICD-10-CM FY2026 order file", 0.03, baseline="pandas.read_fwf", baseline_median_s=0.3,
                ratio=0.1, target="ratio <= 0.25")]
    rows += [row(f"diff synthetic {n:,} rows", n / 2e6, rows=n) for n in (10_000, 100_000, 1_000_000)]
    rows += [row(f"codegov scrub, {n:,} claim lines", n / 2e5, rows=n) for n in (10_000, 100_000, 1_000_000)]
    page = performance_page(rows, {"cpus": 2, "python": "3.11.7", "platform": "Linux <x>"}, table(rows))
    assert "| parse ICD-10-CM FY2026 order file | 0.0300 |" in page
    assert "Linux &lt;x&gt;" in page  # machine text is escaped
    assert page.count("<polyline") == 2 and page.count("<circle") == 6
    # linear growth draws a straight line: equal steps on the log axes
    for line in re.findall(r'<polyline points="([^"]+)"', page):
        (x0, y0), (x1, y1), (x2, y2) = [tuple(map(float, p.split(","))) for p in line.split()]
        assert abs((y1 - y0) - (y2 - y1)) < 0.5 and abs((x1 - x0) - (x2 - x1)) < 0.5


def test_page_without_scaled_stages_has_no_chart():
    page = performance_page([row("codegov --help start-up", 0.03)], {}, table([row("codegov --help start-up", 0.03)]))
    assert "<svg" not in page and "How cost grows" not in page


def test_readme_shows_the_table_of_the_committed_performance_page():
    page = (ROOT / "site_src" / "performance.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    page_table = [line for line in page.splitlines() if line.startswith("| ")]
    assert page_table and all(line in readme for line in page_table), "rerun make bench and copy its table"


def test_readme_block_is_replaced_and_the_rest_kept():
    from bench.page import readme_with_table

    readme = "# x\n\n<!-- bench:start (note) -->\nold table\n<!-- bench:end -->\n\n## Next\n"
    new = readme_with_table(readme, {"cpus": 2, "memory_gib": 24, "python": "3.11", "platform": "Linux"}, "| t |")
    assert new == ("# x\n\n<!-- bench:start (note) -->\nThe latest run (2 CPUs, 24 GiB of memory, Python 3.11, "
                   "Linux):\n\n| t |\n<!-- bench:end -->\n\n## Next\n")
    assert readme_with_table(new, {"cpus": 2, "memory_gib": 24, "python": "3.11", "platform": "Linux"}, "| t |") == new


def test_targets_are_read_from_their_text():
    import pytest

    from bench.__main__ import meets_target

    assert meets_target({"stage": "s", "median_s": 0.04, "target": "median <= 0.05 s"}) is True
    assert meets_target({"stage": "s", "median_s": 0.06, "target": "median <= 0.05 s"}) is False
    assert meets_target({"stage": "s", "median_s": 1, "ratio": 0.3, "target": "ratio <= 0.25"}) is False
    assert meets_target({"stage": "s", "median_s": 9, "peak_mb": 1600, "target": "median <= 10 s, peak < 1536 MB"}) \
        is False
    assert meets_target({"stage": "s", "median_s": 9, "peak_mb": 600, "target": "median <= 10 s, peak < 1536 MB"})
    assert meets_target({"stage": "s", "median_s": 9, "target": ""}) is None
    with pytest.raises(ValueError, match="cannot read the target"):
        meets_target({"stage": "s", "median_s": 9, "target": "fast enough"})


def test_every_stage_target_can_be_read():
    """Each stage's target (bench.stages.TARGETS, which the stages' rows take theirs from) is one meets_target
    understands as an upper bound: a typo would otherwise only show in make bench."""
    from bench.__main__ import meets_target
    from bench.stages import STAGES, TARGETS

    assert set(TARGETS) == set(STAGES), "every stage names its target in bench.stages.TARGETS (None for none)"
    targets = {stage: text for stage, text in TARGETS.items() if text is not None}
    assert len(targets) >= 8, targets  # all stages but diff-scaling carry one
    assert targets["validate"] == "median <= 1.5 s"  # the budget the tests used to assert on the wall clock
    for stage, text in targets.items():
        assert isinstance(text, str) and text.strip(), stage
        assert meets_target({"stage": stage, "median_s": 0, "ratio": 0, "peak_mb": 0, "target": text}) is True
        assert meets_target({"stage": stage, "median_s": 1e9, "ratio": 1e9, "peak_mb": 1e9, "target": text}) is False


def test_no_stage_writes_its_target_outside_the_table():
    """A `"target":` a row carries is empty or comes from a name (TARGETS, a module's TARGET), never inline text
    or an f-string that test_every_stage_target_can_be_read would not see."""
    import ast

    found = 0
    for path in sorted((ROOT / "bench").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            values = []
            if isinstance(node, ast.Dict):
                values = [v for k, v in zip(node.keys, node.values, strict=True)
                          if isinstance(k, ast.Constant) and k.value == "target"]
            elif isinstance(node, ast.Assign):
                values = [node.value for t in node.targets if isinstance(t, ast.Subscript)
                          and isinstance(t.slice, ast.Constant) and t.slice.value == "target"]
            for v in values:
                found += 1
                keys = {id(n.slice) for n in ast.walk(v) if isinstance(n, ast.Subscript)}  # TARGETS["scrub"]
                inline = [n for n in ast.walk(v) if isinstance(n, ast.JoinedStr) or (
                    isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value and id(n) not in keys)]
                assert not inline, f"{path.name}:{v.lineno}: put the target in bench.stages.TARGETS"
    assert found >= 8  # the walk saw the stages' rows (an empty walk must not pass)
