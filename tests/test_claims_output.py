"""The scrubber's findings written whole and streamed (claims.output): the same bytes, the same order, and a
failed scrub that writes nothing."""

from __future__ import annotations

import io
import random

import numpy as np
import pandas as pd
import pytest

from claims import output
from claims.output import SpilledFindings, render, write_findings
from claims.scrub import sort_findings
from ingest.frames import object_frame
from tests.test_claims_rules import FIXTURES, PATH_RULES, make_scrubber


def findings_frame(n: int, seed: int = 7) -> pd.DataFrame:
    rnd = random.Random(seed)
    rules = ["ncci-ptp", "mue-units", "code-invalid-on-dos", "kx-threshold"]
    rows = [{"claim_id": f"C{rnd.randrange(n // 3 + 1):05d}", "line": rnd.choice(["1", "2", "10", "x", ""]),
             "rule": rnd.choice(rules), "severity": rnd.choice(["error", "warning", "info"]),
             "message": rnd.choice(["m1", "m2 [x](y)", "=SUM(A1)", "é|b"]), "fix": rnd.choice(["", "fix it"]),
             "row": rnd.randrange(1, 10 * n)} for _ in range(n)]
    return object_frame({c: np.array([r[c] for r in rows], dtype=np.int64 if c == "row" else object)
                         for c in output.FINDING_COLUMNS})


def spill_and_merge(parts, rows, monkeypatch, spill_batch=3):
    monkeypatch.setattr(output, "_SPILL_BATCH", spill_batch)
    with SpilledFindings(sort_findings) as spilled:
        for part in parts:
            spilled.add(sort_findings(part))
        batches = list(spilled.batches(rows=rows))
        return spilled.summary, batches


@pytest.mark.parametrize("rows", [1, 2, 5, 1000])
def test_partitions_merge_back_in_the_whole_files_order(monkeypatch, rows):
    whole = findings_frame(400)
    claims = sorted(set(whole["claim_id"]))
    part_of = {c: random.Random(c).randrange(5) for c in claims}  # each claim in one partition, as a patient's are
    parts = [whole[whole["claim_id"].map(part_of) == k] for k in range(5)]
    summary, batches = spill_and_merge(parts, rows, monkeypatch)
    merged = pd.concat(batches, ignore_index=True)
    pd.testing.assert_frame_equal(merged, sort_findings(whole))
    assert summary == output.summary(whole)
    # every batch ends where a claim does and, past the first claim, holds about `rows` findings
    ends = [b["claim_id"].iloc[-1] for b in batches[:-1]]
    starts = [b["claim_id"].iloc[0] for b in batches[1:]]
    assert all(e != s for e, s in zip(ends, starts, strict=True))
    assert len(batches) > 1 if rows < 400 else len(batches) == 1


def test_a_claim_in_two_partitions_is_still_sorted_as_one(monkeypatch):
    whole = findings_frame(120, seed=3)
    parts = [whole.iloc[::2], whole.iloc[1::2]]  # every claim split over both
    _, batches = spill_and_merge(parts, 4, monkeypatch)
    pd.testing.assert_frame_equal(pd.concat(batches, ignore_index=True), sort_findings(whole))


def test_no_findings():
    with SpilledFindings(sort_findings) as spilled:
        spilled.add(findings_frame(5).iloc[:0])
        assert list(spilled.batches()) == []
        assert spilled.summary == {"findings": 0, "errors": 0, "warnings": 0, "by_rule": {}}


@pytest.mark.parametrize("fmt", ["csv", "json", "md"])
def test_streamed_writer_writes_what_render_writes(fmt):
    whole = sort_findings(findings_frame(300, seed=11))
    buf = io.StringIO()
    write_findings(buf, fmt, output.summary(whole), [whole.iloc[:7], whole.iloc[7:7], whole.iloc[7:150],
                                                     whole.iloc[150:]])
    assert buf.getvalue() == render(whole, fmt)
    if fmt == "json":
        import json

        data = json.loads(buf.getvalue())
        assert data["findings"][0] == {k: (int(v) if k == "row" else v) for k, v in whole.iloc[0].items()}
        assert json.loads(render(whole.iloc[:0], "json")) == {"summary": output.summary(whole.iloc[:0]),
                                                              "findings": []}


@pytest.mark.parametrize("fmt", ["csv", "json", "md"])
@pytest.mark.parametrize("chunk", [1, 3, None])
def test_scrub_to_writes_the_bytes_of_scrub_file_rendered(fmt, chunk):
    scrubber = make_scrubber()
    expected = render(scrubber.scrub_file(FIXTURES / "professional.csv"), fmt)
    buf = io.StringIO()
    summary = scrubber.scrub_to(buf, fmt, FIXTURES / "professional.csv", chunk)
    assert buf.getvalue() == expected and summary["findings"] == 20


def test_a_scrub_that_stops_with_an_error_leaves_the_output_file_as_it_was(codegov, tmp_path):
    bad = tmp_path / "claims.csv"
    text = (FIXTURES / "errors.csv").read_text().splitlines()
    bad.write_text("\n".join(text[:3] + ["E99,1,P1,F,not-a-date,MEDICARE,11,99213,,1,,1.00,I10,1234567893,extra"]
                             + text[3:]) + "\n")
    out = tmp_path / "findings.csv"
    out.write_text("earlier findings\n")
    status, stdout, err = codegov("--codesets", FIXTURES, "scrub", bad, "--rules", PATH_RULES, "--output", out)
    assert status == 1 and stdout == "" and str(bad) in err and "line 4" in err
    assert out.read_text() == "earlier findings\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["claims.csv", "findings.csv"]  # no temporary file left
