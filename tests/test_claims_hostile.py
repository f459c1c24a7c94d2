"""Hostile and broken input to the claim scrubber (issue #13): every case is a one-line error naming the file and
the line, or a finding on the claim; never a wrapped date, a code moved to another claim, a claim split in two,
an overwritten input, a formula in the findings CSV, or a crash inside pandas, Arrow or YAML."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest

import claims.read as read
from claims.output import render
from claims.partition import frame_of, iter_partitions
from claims.read import CLAIM_COLUMNS, check_raw_lines, parse_lines
from claims.rules import load_rules
from claims.rules.settings import load_yaml_file
from ingest.model import CodegovError, ParseError
from tests.test_claims_rules import (
    FIXTURES,
    HEADER,
    PATH_RULES,
    RULES_FILE,
    claims_csv,
    clean_lines,
    line,
    make_scrubber,
    triples,
)


def malformed(findings: pd.DataFrame) -> list[tuple[int, str]]:
    bad = findings[findings["rule"] == "malformed-field"]
    return sorted(zip(bad["row"], bad["message"], strict=True))


# 1. Dates of service outside 1900-01-01..2099-12-31

def test_a_date_of_service_out_of_range_is_a_finding_on_its_line_never_a_wrapped_date(tmp_path):
    dates = ["9999-12-31", "12/31/9999", "0001-01-01", "1899-12-31", "2100-01-01", "2262-04-12",
             "1900-01-01", "2099-12-31", "2025-06-03"]
    lines = [line(f"D{i}", 1, "MEDICARE", "11", "99213", dos=d) for i, d in enumerate(dates)]
    f = make_scrubber().scrub_file(claims_csv(tmp_path, lines))
    expected = "is not a date of service between 1900-01-01 and 2099-12-31"
    assert malformed(f) == [(2 + i, f"date_of_service '{d}' {expected}") for i, d in enumerate(dates[:6])]
    frame = frame_of(next(iter_partitions(claims_csv(tmp_path, lines), chunk_lines=None)))
    parsed = parse_lines(frame).frame
    assert parsed["dos"].isna().tolist() == [True] * 6 + [False] * 3  # no line got a date (1816-03-29 before)
    assert parsed["dos_text"].tolist()[6:] == ["1900-01-01", "2099-12-31", "2025-06-03"]


# 2. Control characters: refused with the line, never codes moved between claims

CONTROL = ["\x1e", "\x1c", "\x1d", "\x1f", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x00", "\x7f", "\x1b"]


@pytest.mark.parametrize("char", CONTROL, ids=[f"U+{ord(c):04X}" for c in CONTROL])
def test_a_control_character_in_a_field_is_an_error_naming_the_line_and_the_column(tmp_path, char):
    lines = [line("A", 1, "MEDICARE", "11", "99213", dx="Z00.00"),
             line("B", 1, "MEDICARE", "11", "99213", dx=f"I10;{char};E11.9"),
             line("C", 1, "MEDICARE", "11", "99213", dx="Z00.00")]
    path = claims_csv(tmp_path, lines)
    message = rf"claims.csv:3: expected text without control characters, found U\+{ord(char):04X} .* in diagnosis_codes"
    with pytest.raises(ParseError, match=message):
        make_scrubber().scrub_file(path)
    with pytest.raises(ParseError, match=message):
        make_scrubber().scrub_file(path, chunk_lines=1)


def test_a_control_character_in_the_header_or_inside_quotes_is_refused_too(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(HEADER.replace("units", "un\x1fits") + "\n", encoding="utf-8")
    with pytest.raises(ParseError, match=r"claims.csv:1: .*U\+001F \(unit separator\) in the header"):
        make_scrubber().scrub_file(path)
    path = claims_csv(tmp_path, [line("A", 1, "MEDICARE", "11", "99213", dx='"I10;\x1e;E11.9"')])
    with pytest.raises(ParseError, match=r"claims.csv:2: .*U\+001E \(record separator\) in diagnosis_codes"):
        make_scrubber().scrub_file(path)


def test_a_utf16_file_is_named_as_such(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_bytes((HEADER + "\n" + line("A", 1, "MEDICARE", "11", "99213") + "\n").encode("utf-16"))
    with pytest.raises(ParseError, match="claims.csv:1: .*U\\+0000 \\(NUL\\).*UTF-16"):
        make_scrubber().scrub_file(path)


def test_a_lone_carriage_return_inside_a_line_is_an_error_crlf_files_are_fine(tmp_path):
    lines = [line("A", 1, "MEDICARE", "11", "99213"), line("B", 1, "MEDICARE", "11", "99213", dx="I10;\r;E11.9")]
    with pytest.raises(ParseError, match="claims.csv:3: expected lines to end with LF or CRLF, found a carriage "
                                         "return inside the line in diagnosis_codes"):
        make_scrubber().scrub_file(claims_csv(tmp_path, lines))
    crlf = tmp_path / "crlf.csv"
    crlf.write_bytes((FIXTURES / "errors.csv").read_bytes().replace(b"\n", b"\r\n"))
    assert make_scrubber().scrub_file(crlf).equals(make_scrubber().scrub_file(FIXTURES / "errors.csv"))
    assert make_scrubber().scrub_file(crlf, chunk_lines=2).equals(make_scrubber().scrub_file(crlf))


def test_tabs_are_ordinary_whitespace(tmp_path):
    lines = [line("A", 1, "MEDICARE", "11", "99213\t", dx="I10;\t;E11.9")]
    assert make_scrubber().scrub_file(claims_csv(tmp_path, lines)).empty


def test_the_cause_a_value_holding_the_split_mark_no_longer_moves_codes_to_the_next_line():
    """_split_tokens joined the distinct values with \\x1e between them: a diagnosis field holding a \\x1e took
    one claim's codes to the next. A DataFrame (scrub_frame) does not pass the file check, so the split itself
    must be exact."""
    rows = [["A", "1", "P1", "F", "2025-06-03", "MEDICARE", "11", "99213", "GP \x1e KX", "1", "", "", dx, ""]
            for dx in ("I10;\x1e;E11.9", "\x1e", "Z00.00;M54.50")]
    rows[1][0] = rows[2][0] = "B"
    lines = parse_lines(pd.DataFrame(rows, columns=list(CLAIM_COLUMNS), dtype=object))
    dx = lines.dx.groupby("i")["code"].apply(list).to_dict()
    assert dx == {0: ["I10", "E119"], 2: ["Z0000", "M5450"]}  # \x1e is whitespace to str.strip: dropped
    assert lines.mods[0].tolist() == ["GP", "KX", "", ""]


def test_scrub_frame_with_control_characters_gives_the_findings_of_the_clean_frame():
    frame = pd.read_csv(FIXTURES / "errors.csv", dtype=str, keep_default_na=False)
    dirty = frame.copy()
    dirty["diagnosis_codes"] = dirty["diagnosis_codes"].str.replace(";", ";\x1e;") + ";\x1e"
    assert triples(make_scrubber().scrub_frame(dirty)) == triples(make_scrubber().scrub_frame(frame))


# 2b. Quotes: a value may not run onto the next line (data would move between lines)

def test_a_quoted_value_with_a_line_break_is_an_error_naming_its_line(tmp_path):
    lines = [line("A", 1, "MEDICARE", "11", "99213"), line("B", 1, "MEDICARE", "11", "99213", dx='"I10\nE11.9"')]
    with pytest.raises(ParseError, match="claims.csv:3: expected double quotes in pairs around a value, found an "
                                         "odd number on this line"):
        make_scrubber().scrub_file(claims_csv(tmp_path, lines))


def test_a_stray_quote_that_hides_a_line_break_from_the_quote_count_is_still_found(tmp_path):
    first = line("A", 1, "MEDICARE", "11", "99213", patient='P"1', dx='"I10').rsplit(",", 1)[0]
    lines = [first, 'E11.9",1"', line("B", 1, "MEDICARE", "11", "99213")]  # two quotes on each line
    path = claims_csv(tmp_path, lines)
    for chunk in (None, 1):
        with pytest.raises(ParseError, match="claims.csv:2: expected each service line on one line, found a "
                                             "quoted value that runs from line 2 to line 3"):
            make_scrubber().scrub_file(path, chunk_lines=chunk)


def test_quoted_values_and_blank_lines_are_still_read(tmp_path):
    lines = [line("A", 1, "MEDICARE", "11", "99213", dx='"I10;E11.9"', charge='"$1,250.00"'), "", "   ",
             line("B", 1, "MEDICARE", "11", "99213")]
    path = claims_csv(tmp_path, lines)
    path.write_text(path.read_text() + "\n  \n")
    for chunk in (None, 1):
        assert make_scrubber().scrub_file(path, chunk_lines=chunk).empty


@pytest.mark.parametrize("block", [1, 7, 64])
def test_the_raw_check_reads_the_same_in_any_block_size(monkeypatch, block):
    monkeypatch.setattr(read, "SCAN_BLOCK_BYTES", block)
    raw = check_raw_lines(FIXTURES / "errors.csv")
    assert (raw.lines, raw.trailing_blank) == (22, 0)
    assert triples(make_scrubber().scrub_file(FIXTURES / "errors.csv", chunk_lines=3)) == triples(
        make_scrubber().scrub_file(FIXTURES / "errors.csv"))


# 3. One claim id, one claim

def test_a_claim_whose_lines_lie_far_apart_is_one_claim_or_an_error_naming_both_lines(tmp_path):
    e04 = [x for x in (FIXTURES / "errors.csv").read_text().splitlines() if x.startswith("E04,")]
    path = claims_csv(tmp_path, [e04[0], *clean_lines(), e04[1]])
    together = claims_csv(tmp_path, [e04[0], e04[1], *clean_lines()], name="together.csv")
    assert triples(make_scrubber().scrub_file(path, chunk_lines=None)) == [("E04", "2", "ncci-ptp")]
    assert triples(make_scrubber().scrub_file(path)) == triples(make_scrubber().scrub_file(together))
    for chunk in (1, 2, 5):  # its lines many chunks apart: one claim (issue #15: the file is grouped by patient)
        assert triples(make_scrubber().scrub_file(path, chunk_lines=chunk)) == [("E04", "2", "ncci-ptp")]


def test_claim_ids_with_spaces_around_them_are_the_same_claim(tmp_path):
    lines = [line("A", 1, "MEDICARE", "11", "99213"), line(" A ", 2, "MEDICARE", "11", "99213"),
             line("B", 1, "MEDICARE", "11", "99213"), line("A", 3, "MEDICARE", "11", "99213")]
    assert triples(make_scrubber().scrub_file(claims_csv(tmp_path, lines), chunk_lines=1)) == triples(
        make_scrubber().scrub_file(claims_csv(tmp_path, lines), chunk_lines=None))  # one claim A, in any chunks
    parts = [t.column("_row").to_pylist() for t in iter_partitions(claims_csv(tmp_path, lines), chunk_lines=1)]
    assert sorted(sum(parts, [])) == [2, 3, 4, 5]
    assert any({2, 3, 5} <= set(p) for p in parts)  # 'A' and ' A ' in one partition: not cut apart


def test_lines_without_a_claim_id_are_each_a_finding_not_a_repeated_claim(tmp_path):
    lines = [line("", 1, "MEDICARE", "11", "99213"), line("A", 1, "MEDICARE", "11", "99213"),
             line("", 1, "MEDICARE", "11", "99213")]
    f = make_scrubber().scrub_file(claims_csv(tmp_path, lines), chunk_lines=1)
    assert [r for r, m in malformed(f)] == [2, 4]


def test_the_repeat_check_is_exact_when_hashes_collide(tmp_path, monkeypatch):
    monkeypatch.setattr(read.pd.util, "hash_array", lambda values, **kw: np.zeros(len(values), dtype=np.uint64))
    path = FIXTURES / "errors.csv"
    assert triples(make_scrubber().scrub_file(path, chunk_lines=1)) == triples(make_scrubber().scrub_file(path))
    lines = [line("A", 1, "MEDICARE", "11", "99213"), line("B", 1, "MEDICARE", "11", "99213"),
             line("A", 2, "MEDICARE", "11", "99213")]
    found = triples(make_scrubber().scrub_file(claims_csv(tmp_path, lines), chunk_lines=1))
    assert found == [("A", "1", "mue-units"), ("A", "2", "mue-units")]  # one claim A: 99213 twice on its date


def test_a_header_with_spaces_around_the_names_reads_in_chunks_too(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(HEADER.replace("claim_id", " claim_id ") + "\n" + line("A", 1, "MEDICARE", "11", "99213") + "\n")
    assert make_scrubber().scrub_file(path, chunk_lines=1).empty  # a KeyError before


# 4. --output must not be an input

def test_output_onto_the_claims_file_or_the_rule_file_is_refused(codegov, tmp_path):
    claims = tmp_path / "claims.csv"
    shutil.copy(FIXTURES / "errors.csv", claims)
    rules = tmp_path / "rules.yml"
    shutil.copy(RULES_FILE, rules)  # refused before it is read: its relative reference paths do not matter
    (tmp_path / "sub").mkdir()
    os.link(claims, tmp_path / "hardlink.csv")
    before = hashlib.sha256(claims.read_bytes()).hexdigest(), rules.read_bytes()
    args = ("--codesets", FIXTURES, "scrub", claims, "--rules", rules)
    for output, what in [(claims, "the claims file"), (tmp_path / "sub" / ".." / "claims.csv", "the claims file"),
                         (tmp_path / "hardlink.csv", "the claims file"), (rules, "the rule file")]:
        status, out, err = codegov(*args, "--output", output)
        assert status == 1 and out == ""
        assert err.strip() == (f"Error: --output {output} is {what} ({claims if 'claims' in what else rules}): "
                               "the findings would replace it; write them to another file")
    assert (hashlib.sha256(claims.read_bytes()).hexdigest(), rules.read_bytes()) == before
    assert codegov("--codesets", FIXTURES, "scrub", claims, "--rules", PATH_RULES, "--output",
                   tmp_path / "findings.csv")[0] == 0
    assert (tmp_path / "findings.csv").read_text().startswith("claim_id,line,rule")


# 5. The rule file: errors name the file and line; size, alias and nesting limits

def write(tmp_path, text: str, name: str = "rules.yml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_yaml_syntax_errors_name_the_file_and_line_in_one_line(tmp_path):
    text = RULES_FILE.read_text().replace("  malformed-field:\n", "  malformed-field:\n    title: [a, b\n    x: 1\n", 1)
    path = write(tmp_path, text)
    with pytest.raises(CodegovError) as exc:
        load_rules(path)
    line_no = text.splitlines().index("    x: 1") + 1  # where the parser (libyaml's) finds the list unclosed
    assert str(exc.value) == (f"{path}:{line_no}: not valid YAML: while parsing a flow sequence: did not find "
                              "expected ',' or ']'")


@pytest.mark.parametrize("text, error", [
    ("rules:\n  a: 1\n  a: 2\n", r"rules.yml:3: the key 'a' is given twice in one mapping \(first on line 2\)"),
    ("a: &x [1, *x]\n", r"rules.yml:1: an alias \(\*x\) inside the collection it names"),
    ("a: " + "[" * 100 + "]" * 100 + "\n", r"rules.yml:1: the rule file nests values more than 64 levels deep"),
    ("a: 1\n---\nb: 2\n", r"rules.yml:2: not valid YAML: expected a single document"),
    ("rules:\n  a: \x01\n", r"rules.yml:2: not valid YAML: the character U\+0001 is not allowed"),
    ("base: &b 1\nlist: [" + ", ".join(["*b"] * 101) + "]\n", r"rules.yml:2: the rule file uses more than 100 YAML"),
])
def test_yaml_that_plain_safe_load_gets_wrong_is_one_error_with_the_line(tmp_path, text, error):
    with pytest.raises(CodegovError, match=error):
        load_yaml_file(write(tmp_path, text), "rule file")


def test_a_billion_laughs_rule_file_is_refused_at_once(tmp_path):
    text = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 10)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))
    text += "rules:\n  missing-diagnosis:\n    params:\n      codes: *i\n"
    path = write(tmp_path, text)  # 80 aliases that expand to 10^9 values
    # refused by counting the expanded values, before they are built (no wall-clock assertion: that is the bench's)
    with pytest.raises(CodegovError, match=r"rules.yml:\d+: the rule file's aliases expand to more than 1,000,000"):
        load_rules(path)


def test_a_rule_file_larger_than_1_mib_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = write(tmp_path, "# " + "x" * (1 << 20) + "\n")
    with pytest.raises(CodegovError, match=r"rules.yml: the rule file is larger than 1 MiB"):
        load_rules(path)
    with pytest.raises(CodegovError, match=r"payers.yml: the payer rule file is larger than 1 MiB"):
        load_rules(RULES_FILE, [write(tmp_path, "# " + "x" * (1 << 20) + "\n", "payers.yml")])


def test_rule_file_read_errors_name_the_file(tmp_path):
    with pytest.raises(CodegovError, match=r"nope.yml: no such rule file"):
        load_rules(tmp_path / "nope.yml")
    (tmp_path / "latin1.yml").write_bytes(b"rules:\n  a: caf\xe9\n")
    with pytest.raises(CodegovError, match=r"latin1.yml:2: expected UTF-8 text in the rule file, found the byte 0xe9"):
        load_rules(tmp_path / "latin1.yml")
    with pytest.raises(CodegovError, match=r"payers.yml: expected a mapping with a `payers:` section"):
        load_rules(RULES_FILE, [write(tmp_path, "- a\n- b\n", "payers.yml")])
    with pytest.raises(CodegovError, match=r"payers.yml:3: not valid YAML"):  # YAML finds it at the end
        load_rules(RULES_FILE, [write(tmp_path, "payers:\n  MEDICARE: [\n", "payers.yml")])


@pytest.mark.parametrize("reference, error", [
    ("reference: [a, b]", "reference: expected a mapping"),
    ("reference:\n  ncci_ptp: ptp.txt", "reference.ncci_ptp: expected a list of file paths"),
    ("reference:\n  mue: [{effective: 2025-01-01}]", r"reference.mue\[0\]: expected a file path or a mapping"),
    ("reference:\n  mue: [{path: m.csv, effective: soon}]", r"reference.mue\[0\].effective: expected a date"),
])
def test_a_malformed_reference_section_is_one_error_naming_the_file(tmp_path, reference, error):
    text = RULES_FILE.read_text()
    start = text.index("\nreference:")
    end = text.index("\n", text.index("\n", start + 1) + 1)
    while text[end + 1:end + 2] in (" ", "-"):
        end = text.index("\n", end + 1)
    path = write(tmp_path, text[:start + 1] + reference + text[end:])
    with pytest.raises(CodegovError, match=rf"rules.yml: {error}"):
        load_rules(path)


def test_load_yaml_file_is_the_one_loader_and_says_so():
    assert "playbooks" in load_yaml_file.__doc__
    assert load_yaml_file(RULES_FILE, "rule file")["rules"]["ncci-ptp"]["severity"] == "error"


# 6. Findings CSV: no cell a spreadsheet would run

def test_findings_csv_cells_cannot_run_as_formulas(tmp_path):
    lines = [line('"=HYPERLINK(""http://x"",""y"")"', 1, "MEDICARE", "11", "99213", "=1+1"),
             line("+SUM(A1)", "@x", "MEDICARE", "11", "99213", dos="-5"),
             line("-7", "-5", "MEDICARE", "11", "99213", units="0")]
    findings = make_scrubber().scrub_file(claims_csv(tmp_path, lines))
    assert set(findings["claim_id"]) == {'=HYPERLINK("http://x","y")', "+SUM(A1)", "-7"}
    cells = list(csv.reader(io.StringIO(render(findings, "csv"))))
    assert cells[0] == ["claim_id", "line", "rule", "severity", "message", "fix", "row"]
    for row in cells[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row
            assert not cell.startswith("-") or cell.lstrip("-").replace(".", "").isdigit(), row
    ids = {r[0] for r in cells[1:]}
    assert ids == {"'=HYPERLINK(\"http://x\",\"y\")", "'+SUM(A1)", "-7"}  # -7 is a plain number: left alone
    assert {r[1] for r in cells[1:]} >= {"'@x", "-5"}
    data = json.loads(render(findings, "json"))  # JSON is data, not a spreadsheet: values as they are
    assert {f["claim_id"] for f in data["findings"]} == set(findings["claim_id"])


# 7. Very long lines are refused before pandas and Arrow see them

def test_a_line_longer_than_the_limit_is_an_error_naming_it(tmp_path, monkeypatch):
    monkeypatch.setattr(read, "MAX_LINE_BYTES", 200)
    ok = line("A", 1, "MEDICARE", "11", "99213")
    path = claims_csv(tmp_path, [ok, ok.replace("A,", "B,", 1) + "," + "X" * 300, ok.replace("A,", "C,", 1)])
    with pytest.raises(ParseError, match="claims.csv:3: expected a line of at most 200 bytes, found a longer one"):
        make_scrubber().scrub_file(path)
    path.write_bytes(b"X" * 5000)  # no line feed at all
    with pytest.raises(ParseError, match="claims.csv:1: expected a line of at most 200 bytes"):
        make_scrubber().scrub_file(path)
    exact = claims_csv(tmp_path, [ok + " " * (200 - len(ok))])  # a line of exactly the limit is read
    assert len(exact.read_text().splitlines()[1]) == 200
    assert make_scrubber().scrub_file(exact).empty


def test_a_line_over_1_mib_is_one_line_from_the_cli(codegov, tmp_path):
    path = claims_csv(tmp_path, [line("A", 1, "MEDICARE", "11", "99213", dx="I10;" + "E11.9" * (1 << 18))])
    status, out, err = codegov("--codesets", FIXTURES, "scrub", path, "--rules", PATH_RULES)
    assert status == 1 and out == ""
    assert err.strip() == f"Error: {path}:2: expected a line of at most 1,048,576 bytes, found a longer one: a " \
                          "claims file holds one service line per line"


def test_a_header_longer_than_the_csv_field_limit_is_a_parse_error(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + "," + "x" * 200_000 + "\n" + line("A", 1, "MEDICARE", "11", "99213") + "\n")
    with pytest.raises(ParseError, match="claims.csv:1: expected a header row naming the claim columns"):
        make_scrubber().scrub_file(path)


def test_the_raw_check_finds_the_first_bad_line_whatever_the_block_boundaries(tmp_path, monkeypatch):
    """Random files against a line-by-line reference: long lines, control characters, lone CRs and quotes
    cut by block boundaries anywhere (blocks of 1 to 50 bytes, limits of 1 to 40)."""
    import random

    rng = random.Random(13)
    path = tmp_path / "f.csv"

    def reference(data: bytes, limit: int) -> int | None:
        lines = data.split(b"\n")
        for n, text in enumerate(lines, 1):
            lone_cr = b"\r" in text[:-1]  # a CR ends a line (CRLF) or the file, nowhere else
            if (len(text) > limit or lone_cr or text.count(b'"') % 2 or b"\x1e" in text or b"\xc2\x85" in text
                    or b"\xe2\x80\xa8" in text):
                return n
        return None

    for _ in range(600):
        limit = rng.randint(1, 40)
        monkeypatch.setattr(read, "MAX_LINE_BYTES", limit)
        monkeypatch.setattr(read, "SCAN_BLOCK_BYTES", rng.randint(1, 50))
        sep = rng.choice([b"\n", b"\r\n"])
        lines = [b"x" * rng.choice([0, 1, limit - 1, limit, limit + 1, rng.randint(0, 60)])
                 for _ in range(rng.randint(0, 8))]
        data = sep.join(lines) + (rng.choice([sep, b""]) if lines else b"")
        if data and rng.random() < 0.4:
            at = rng.randrange(len(data))
            data = data[:at] + rng.choice([b"\x1e", b"\r", b'"', b"\xc2\x85", b"\xe2\x80\xa8", b"\xe2\x80\x99"]) + \
                data[at:]
        path.write_bytes(data)
        try:
            check_raw_lines(path)
            got = None
        except ParseError as exc:
            got = exc.line
        assert got == reference(data, limit), data
