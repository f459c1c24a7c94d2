"""Reading claims files: bad columns, bad values as findings with their row, streaming without splitting a claim."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from claims.partition import frame_of, iter_partitions
from claims.read import CLAIM_COLUMNS, parse_lines
from ingest.model import ParseError
from tests.test_claims_rules import FIXTURES, HEADER, claims_csv, line, make_scrubber, triples


def sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_missing_required_column_is_an_error_naming_the_header_row(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(HEADER.replace(",units", "") + "\nC1,1,P1,F,2025-06-03,MEDICARE,11,99213,,,100,I10,1\n")
    with pytest.raises(ParseError, match=r"claims.csv:1: missing required column\(s\) units"):
        make_scrubber().scrub_file(path)


def test_unknown_column_is_an_error_unless_ignored(tmp_path):
    path = tmp_path / "claims.csv"
    row = line("C1", 1, "MEDICARE", "11", "99213")
    path.write_text(HEADER.replace("modifiers", "modifers") + ",note\n" + row + ",x\n")
    with pytest.raises(ParseError, match=r"claims.csv:1: unknown column\(s\) modifers, note"):
        make_scrubber().scrub_file(path)
    path.write_text(HEADER + ",note\n" + row + ",x\n")
    assert len(make_scrubber().scrub_file(path, allow_unknown_columns=True)) == 0


def test_optional_columns_may_be_absent(tmp_path):
    cols = [c for c in CLAIM_COLUMNS if c not in ("minutes", "provider_npi", "patient_sex", "charge")]
    path = tmp_path / "claims.csv"
    path.write_text(",".join(cols) + "\nC1,1,P1,2025-06-03,MEDICARE,11,99213,,1,I10\n")
    assert len(make_scrubber().scrub_file(path)) == 0


def test_bad_values_are_findings_with_their_row_never_a_crash(tmp_path):
    lines = [line("C1", 1, "MEDICARE", "11", "99213", dos="2025-13-01"),
             line("C2", 1, "MEDICARE", "11", "99213", units="0"),
             line("C3", 1, "MEDICARE", "11", "97110", "GP", units="1.5", minutes="ten", dx="M54.50"),
             line("C4", 1, "MEDICARE", "11", "99213", charge="abc"),
             line("C5", 1, "MEDICARE", "", "99213", units=""),
             line("C6", 1, "MEDICARE", "11", "99213", "GP KX XU XS 59"),
             line("C7", 1, "MEDICARE", "11", "99213", dx=";".join(["I10"] * 13)),
             line("", 1, "MEDICARE", "11", "")]
    f = make_scrubber().scrub_file(claims_csv(tmp_path, lines))
    bad = f[f["rule"] == "malformed-field"]
    got = sorted(zip(bad["row"], bad["message"], strict=True))
    assert got == [
        (2, "date_of_service '2025-13-01' is not a date (YYYY-MM-DD or MM/DD/YYYY)"),
        (3, "units '0' is not a whole number of units of at least 1"),
        (4, "minutes 'ten' is not a number of minutes"),
        (4, "units '1.5' is not a whole number of units of at least 1"),
        (5, "charge 'abc' is not an amount"),
        (6, "place_of_service '' is empty: it is required on every line"),
        (6, "units '' is not a whole number of units of at least 1"),
        (7, "modifiers 'GP KX XU XS 59' holds more than 4 modifiers; a claim line holds at most 4"),
        (8, "diagnosis_codes '" + ";".join(["I10"] * 13) + "' holds more than 12 diagnosis codes; a claim holds "
            "at most 12"),
        (9, "claim_id '' is empty: it is required on every line"),
        (9, "procedure_code '' is empty: it is required on every line"),
    ]


def test_other_formats_of_values_that_are_accepted(tmp_path):
    lines = [line("C1", 1, "MEDICARE", "11", "99213", dos="06/03/2025", charge='"$1,250.00"', dx="i10; e11.9"),
             line("C2", 1, "MEDICARE", "2", "99213", dos="2025-06-03")]  # POS '2' is 02 (telehealth)
    f = make_scrubber().scrub_file(claims_csv(tmp_path, lines))
    assert triples(f) == []


def test_a_short_row_is_read_as_empty_fields(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + "\nC1,1,P1,F,2025-06-03\n")
    f = make_scrubber().scrub_file(path)
    assert ("C1", "1", "malformed-field") in triples(f)
    assert set(f["row"]) == {2}


def test_a_row_with_too_many_fields_is_an_error_naming_its_line(tmp_path):
    path = tmp_path / "claims.csv"
    path.write_text(HEADER + "\n" + line("C1", 1, "MEDICARE", "11", "99213") + ",extra\n")
    with pytest.raises(ParseError, match="claims.csv:2: expected at most 14 fields like the header, found 15"):
        make_scrubber().scrub_file(path)
    path.write_text(HEADER + "\n" + line("C1", 1, "MEDICARE", "11", "99213") + "\n" +
                    line("C2", 1, "MEDICARE", "11", "99213") + ",extra\n")
    with pytest.raises(ParseError, match="Expected 14 fields in line 3, saw 15"):
        make_scrubber().scrub_file(path)


def test_empty_file_and_header_only(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(ParseError, match="empty.csv:1: expected a header row"):
        make_scrubber().scrub_file(empty)
    assert len(make_scrubber().scrub_file(claims_csv(tmp_path, []))) == 0


def test_input_file_is_not_changed(tmp_path):
    path = tmp_path / "errors.csv"
    path.write_bytes((FIXTURES / "errors.csv").read_bytes())
    before = sha(path)
    make_scrubber().scrub_file(path, chunk_lines=3)
    assert sha(path) == before == sha(FIXTURES / "errors.csv")


@pytest.mark.parametrize("name", ["errors.csv", "clean.csv"])
@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 7, 11])
def test_streaming_across_chunk_boundaries_gives_the_same_findings(name, chunk):
    s = make_scrubber()
    whole = s.scrub_file(FIXTURES / name, chunk_lines=None)
    assert s.scrub_file(FIXTURES / name, chunk_lines=chunk).equals(whole)


def test_partitions_never_split_a_claim():
    parts = [frame_of(t) for t in iter_partitions(FIXTURES / "errors.csv", chunk_lines=2)]
    assert len(parts) > 1
    seen: set[str] = set()
    for c in parts:
        ids = set(c["claim_id"])
        assert not ids & seen
        seen |= ids
    assert sum(len(c) for c in parts) == 21
    assert sorted(np.concatenate([c["_row"].to_numpy() for c in parts]).tolist()) == list(range(2, 23))


def test_a_claim_that_comes_back_after_other_claims_is_still_one_claim(tmp_path):
    """Issue #15: the file is grouped by patient (claims.partition), so a claim's lines may lie anywhere (before,
    a ParseError in chunks: each claim's lines had to be together)."""
    lines = [line("A", 1, "MEDICARE", "11", "99213"), line("B", 1, "MEDICARE", "11", "99213"),
             line("B", 2, "MEDICARE", "11", "36415"), line("A", 2, "MEDICARE", "11", "36415")]
    path = claims_csv(tmp_path, lines)
    assert len(make_scrubber().scrub_file(path, chunk_lines=2)) == 0
    assert len(make_scrubber().scrub_file(path, chunk_lines=None)) == 0  # one chunk: order does not matter


def test_scrub_frame_takes_a_dataframe():
    frame = pd.read_csv(FIXTURES / "errors.csv", dtype=str, keep_default_na=False)
    f = make_scrubber().scrub_frame(frame)
    assert triples(f) == triples(make_scrubber().scrub_file(FIXTURES / "errors.csv"))


def test_parse_lines_types_and_splits():
    frame = pd.read_csv(FIXTURES / "clean.csv", dtype=object, keep_default_na=False)
    lines = parse_lines(frame)
    assert lines.frame["pos"].tolist()[:2] == ["11", "11"]
    assert lines.mods[16].tolist() == ["GP", "XU", "", ""]
    assert lines.dx[lines.dx["i"] == 7]["code"].tolist() == ["I10", "E119", "Z794"]
    assert lines.dx[lines.dx["i"] == 7]["k"].tolist() == [0, 1, 2]
    assert lines.frame["units"].iloc[1] == 2.0 and np.isnan(lines.frame["minutes"].iloc[0])
    assert lines.has_mod(["XU"]).sum() == 1 and lines.code_in(["97110"]).sum() == 9


def test_prefetch_keeps_order_raises_in_order_and_stops_when_closed():
    import threading
    import time

    from claims.scrub import prefetch

    assert list(prefetch(iter(range(5)))) == [0, 1, 2, 3, 4]

    def failing():
        yield "first chunk"
        raise ValueError("claims.csv:7: expected a date")

    got = []
    with pytest.raises(ValueError, match="claims.csv:7"):
        for item in prefetch(failing()):
            got.append(item)
    assert got == ["first chunk"]  # the chunk before the error is still delivered

    produced = []

    def endless():
        for i in range(1_000_000):
            produced.append(i)
            yield i

    stream = prefetch(endless())
    assert next(stream) == 0
    stream.close()  # the consumer stops early: the producer thread must end, not block or run on
    time.sleep(0.3)
    assert not any(t.name == "codegov-prefetch" and t.is_alive() for t in threading.enumerate())
    assert len(produced) <= 3  # bounded: one item handed over, one waiting, one being made


def _lines_equal(a, b) -> None:
    """Two parsed chunks (claims.read.Lines) hold the same values, column for column."""
    pd.testing.assert_frame_equal(a.frame, b.frame)
    pd.testing.assert_frame_equal(a.dx.reset_index(drop=True), b.dx.reset_index(drop=True))
    pd.testing.assert_frame_equal(a.malformed.reset_index(drop=True), b.malformed.reset_index(drop=True))
    assert (a.mods == b.mods).all() and (a.mod_ids == b.mod_ids).all() and list(a.dx_vocab) == list(b.dx_vocab)
    assert list(a.code_vocab[a.code_ids]) == list(b.code_vocab[b.code_ids])


def test_the_arrow_parse_of_a_partition_equals_the_python_parse_of_its_strings():
    """A partition parsed from its Arrow dictionaries (numbers cast by pyarrow, diagnosis and modifier lists split
    by pyarrow, the lines put in claim order on their codes) gives the values the string path gives, for plain
    and for awkward values: padded, '$1,250.00', exponents, fractions, blanks, empty list pieces, long numbers."""
    import pyarrow as pa

    from claims.partition import coded_partition, in_claim_order

    rows = [
        ["C2", "2", "P1", "F", "2025-06-03", "MEDICARE", "11", "97110", "GP", "2", "32", "93.38", "M54.5;I10", "1"],
        ["C1", "1", "P1", "f", " 06/04/2025", "medicare", "2", " 97112 ", "gp  xu", " 1 ", "7.5", "$1,250.00",
         " e11.9 ;;I10;", ""],
        ["C2", "1", "P2", "M", "2025-02-30", "ACME", "11", "99213", "", "1e0", "", "", "", "1"],
        ["C1", "10", "P1", "F", "2025-06-03", "MEDICARE", "11", "97530", "GP XU 59 25 KX", "3.0", "15.000",
         "12345678901.5", "Z00.00;Z00.01;Z00.02;Z00.03;Z00.04;Z00.05;Z00.06;Z00.07;Z00.08;Z00.09;Z00.10;Z00.11;Z00.12",
         "1"],
        ["C3", "x", "P3", "", "", "", "", "", "ZZZZ", "-1", "-4", "abc", ";", " 1 "],
        ["C1", "2", "P1", "F", "2025-06-03", "MEDICARE", "11", "97110", "GP", "0.5", "1,000", "0012.50", "I10", "1"],
    ]
    table = pa.table({c: pa.array([r[k] for r in rows], pa.string()) for k, c in enumerate(CLAIM_COLUMNS)}
                     ).append_column("_row", pa.array(np.arange(2, 2 + len(rows), dtype=np.int64)))
    strings = in_claim_order(table)
    frame = pd.DataFrame({c: pd.Series(strings.column(c).to_pylist(), dtype=object) for c in CLAIM_COLUMNS})
    frame["_row"] = strings.column("_row").to_numpy()
    _lines_equal(parse_lines(coded_partition(table)), parse_lines(frame))
    _lines_equal(parse_lines(coded_partition(table)), parse_lines(frame_of(strings)))


def _public_frame(columns: dict) -> pd.DataFrame:
    """What ingest.frames.object_frame gave through pandas' public constructor alone."""
    return pd.DataFrame({k: pd.Series(v, dtype=object, copy=False) if isinstance(v, np.ndarray) and
                         v.dtype == object else v for k, v in columns.items()},
                        columns=pd.Index(list(columns), dtype=object), copy=False)


@pytest.mark.parametrize("n", [0, 1, 7])
def test_object_frame_gives_the_public_constructors_frame_on_the_arrays_given(n):
    """object_frame's direct path (pandas' arrays_to_mgr) and its fallback give the frame DataFrame(dict) gives:
    the same columns, dtypes, index and values, object text kept as objects, and the caller's arrays not
    copied; what the direct path does not take (a Series, a list, datetime64[D], arrays of two lengths) takes
    the public constructor and gives its answer, or its error."""
    from ingest.frames import object_frame

    rng = np.random.default_rng(n)
    direct = {"i": np.arange(n, dtype=np.int64), "code": np.array([f"C{k}" for k in range(n)], dtype=object),
              "flag": rng.random(n) > 0.5, "units": rng.random(n), "small": np.arange(n, dtype=np.int32),
              "day": np.arange(n).astype("datetime64[D]").astype("datetime64[ns]"), "none": np.full(n, None),
              "u": np.arange(n, dtype=np.uint16)}
    others = [{**direct, "series": pd.Series(np.arange(n))}, {**direct, "list": list(range(n))},
              {**direct, "days": np.arange(n).astype("datetime64[D]")}, {"a": np.arange(n)}]
    for columns in [direct, *others]:
        got, want = object_frame(dict(columns)), _public_frame(dict(columns))
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        assert list(got.dtypes) == list(want.dtypes) and got.columns.dtype == object
        assert isinstance(got.index, pd.RangeIndex) and len(got) == n
    frame = object_frame(direct)
    if n:
        assert np.shares_memory(frame["code"].to_numpy(), direct["code"])
        assert np.shares_memory(frame["units"].to_numpy(), direct["units"])
    with pytest.raises(ValueError):
        _public_frame({"a": np.arange(3), "b": np.arange(4)})
    with pytest.raises(ValueError):
        object_frame({"a": np.arange(3), "b": np.arange(4)})


@pytest.mark.parametrize("seed", range(3))
def test_list_fields_split_as_python_splits_them(seed):
    """The modifier and diagnosis lists as parse_lines places them (claims.read._tokens: each token's line and
    position from the distinct values' pieces) equal a plain Python split of every line: cleaned tokens in
    order, empty ones dropped, at most 4 modifiers and 12 diagnoses kept; on lines with none, with repeats,
    spaces, dots and lower case, and with more than the limit."""
    rng = np.random.default_rng(seed)
    mod_pool = ["GP", "kx", " 59", "RT", "LT", "", "  ", "XU", "50", "25"]
    dx_pool = ["I10", "e11.9", " M54.50 ", "", "Z00.00", "r10.2", " ", "G35"]
    n = 400
    mods = [" ".join(rng.choice(mod_pool, rng.integers(0, 7))) for _ in range(n)]
    dxs = [";".join(rng.choice(dx_pool, rng.integers(0, 15))) for _ in range(n)]
    rows = [[f"C{i // 3}", str(i % 3 + 1), f"P{i // 3}", "F", "2025-06-03", "MEDICARE", "11", "99213", m, "1", "",
             "", d, ""] for i, (m, d) in enumerate(zip(mods, dxs, strict=True))]
    lines = parse_lines(pd.DataFrame(rows, columns=list(CLAIM_COLUMNS), dtype=object))
    row_of = {int(r) - 2: k for k, r in enumerate(lines.frame["row"])}  # (lines are put in claim order)
    dx = lines.dx.groupby("i")["code"].apply(list).to_dict()
    for i, (m, d) in enumerate(zip(mods, dxs, strict=True)):
        k = row_of[i]
        want_m = [t.strip().upper() for t in m.split(" ") if t.strip()][:4]
        assert lines.mods[k].tolist() == want_m + [""] * (4 - len(want_m)), (m, lines.mods[k])
        assert [lines.mod_vocab[j] for j in lines.mod_ids[k] if j >= 0] == want_m
        want_d = [c for c in (t.strip().upper().replace(".", "") for t in d.split(";")) if c][:12]
        assert dx.get(k, []) == want_d, (d, dx.get(k))
