"""The columnar helpers of the scrubber's fast path give exactly what the Python and pandas forms they replace give."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from claims.partition import _first_appearance, _string_order, claim_hash, string_hashes
from claims.read import _MAY_STRIP, _stripped_ids, may_strip, stripped
from claims.rules.base import _ints, key_pairs, one_of
from claims.rules.surgery import object_pairs
from claims.scrub import _fill, _rank

VALUES = ["", " ", "a", " a", "a ", "\ta\t", "B", "é", " é", "C000000001", "C000000001 ", "\x1fx", "x\x7f", "0", "10",
          "9", "Z", "zz", "ab", "a b"]


def _reference_hash(text: str) -> int:
    """string_hashes as its docstring defines it, one string at a time in Python."""
    p, mask, h = 0x100000001B3, (1 << 64) - 1, 0
    for k, byte in enumerate(text.encode("utf-8")):
        h = (h + byte * pow(p, k, 1 << 64)) & mask
    h ^= (len(text.encode("utf-8")) * 0x9E3779B97F4A7C15) & mask
    h ^= h >> 30
    h = (h * 0xBF58476D1CE4E5B9) & mask
    h ^= h >> 27
    h = (h * 0x94D049BB133111EB) & mask
    return h ^ (h >> 31)


def test_may_strip_is_the_regular_expression_it_replaces():
    for arr in (pa.array(VALUES), pa.array(VALUES).slice(3, 9), pa.array(VALUES, pa.large_string()),
                pa.array([], pa.string())):
        expected = pc.or_(pc.invert(pc.string_is_ascii(arr)), pc.match_substring_regex(arr, _MAY_STRIP))
        assert may_strip(arr).tolist() == expected.to_pylist()


def test_stripped_values_and_whether_any_changed():
    assert stripped(pa.array(VALUES)).tolist() == [v.strip() for v in VALUES]
    ids, values, distinct = _stripped_ids(pd.Series(["a", " a", "b"], dtype=object))
    assert (values[ids].tolist(), distinct) == (["a", "a", "b"], False)
    ids, values, distinct = _stripped_ids(pd.Series(["a", "b", "a"], dtype=object))
    assert (values[ids].tolist(), distinct) == (["a", "b", "a"], True)


def test_string_hashes_follow_their_definition_and_claim_hash_strips_first():
    got = string_hashes(pa.array(VALUES))
    assert [int(h) for h in got] == [_reference_hash(v) for v in VALUES]
    assert [int(h) for h in string_hashes(pa.array(VALUES).slice(5, 4))] == [_reference_hash(v) for v in VALUES[5:9]]
    assert string_hashes(pa.array([], pa.string())).tolist() == []
    # an id with spaces hashes as the stripped id, whichever path (chunk by chunk, or distinct ids stripped) it takes
    spaced = claim_hash(pa.chunked_array([pa.array([" C1", "C2 "]), pa.array(["C1"])]))
    plain = claim_hash(pa.chunked_array([pa.array(["C1", "C2"]), pa.array(["C1"])]))
    assert spaced.tolist() == plain.tolist() and spaced[0] == spaced[2] != spaced[1]


def test_first_appearance_is_pd_factorize_of_codes():
    rng = np.random.default_rng(5)
    for n_values in (1, 7, 500):
        codes = rng.permutation(np.concatenate([np.arange(n_values), rng.integers(0, n_values, 2000)]))
        renumbered, old = _first_appearance(codes, n_values)
        expected, uniques = pd.factorize(codes)
        assert renumbered.tolist() == expected.tolist() and old.tolist() == uniques.tolist()


@pytest.mark.parametrize("values", [VALUES, ["b", "a", "b", "\ud800", "a"]])  # a lone surrogate: numpy's sort
def test_string_order_and_rank_are_python_string_order(values):
    arr = np.array(values, dtype=object)
    assert _string_order(arr).tolist() == sorted(range(len(values)), key=lambda k: (values[k], k))
    distinct = sorted(set(values))
    rank = _rank(arr)
    assert [distinct[r] for r in (rank - rank.min())] == values


def test_one_of_on_many_distinct_values():
    # more than 1,000 values, all distinct: this recursed without end
    values = np.array([f"v{k}" for k in range(1500)] + [""], dtype=object)
    assert np.flatnonzero(one_of(values, ("",))).tolist() == [1500]
    assert np.flatnonzero(one_of(values, ("v3", "v1499"))).tolist() == [3, 1499]


def test_ints_are_python_int_texts():
    values = np.array([0.0, 1.0, 2.5, -3.7, 15.0, 1e15, -0.0])
    assert _ints(values).tolist() == [str(int(v)) for v in values]
    with pytest.raises(ValueError):
        _ints(np.array([1.0, np.nan]))  # as str(int(nan)) raises


def test_fill_joins_in_arrow_and_falls_back_for_values_arrow_cannot_hold():
    cols = pd.DataFrame({"code": pd.Series(["97110", "", "99213"], dtype=object),
                         "n": pd.Series([1, 2, 3], dtype=object),
                         "odd": pd.Series(["x", "\ud800", "y"], dtype=object)})
    assert _fill("bill {code} ({n})", cols, False).tolist() == ["bill 97110 (1)", "bill  (2)", "bill 99213 (3)"]
    assert _fill("remove {code}", cols, True).tolist() == ["remove 97110", "", "remove 99213"]
    assert _fill("{odd}-{code}", cols, True).tolist() == ["x-97110", "", "y-99213"]
    assert _fill("{odd}-{code}", cols, False).tolist() == ["x-97110", "\ud800-", "y-99213"]
    assert _fill("no fields", cols, False).tolist() == ["no fields"] * 3


@pytest.mark.parametrize("spread", [3, 40, 10**9])  # keys dense (counted), sparse (searched) and very sparse
def test_key_pairs_are_pandas_inner_merge_in_its_order(spread):
    rng = np.random.default_rng(spread)
    for na, nb in [(0, 5), (5, 0), (1, 1), (60, 40), (700, 300)]:
        ka, kb = rng.integers(0, spread, na), rng.integers(0, spread, nb)
        kb[: nb // 2] = rng.choice(ka, nb // 2) if na else kb[: nb // 2]  # (some keys shared, even when sparse)
        merged = pd.DataFrame({"a": np.arange(na), "k": ka}).merge(pd.DataFrame({"b": np.arange(nb), "k": kb}), on="k")
        ia, ib = key_pairs(ka, kb)
        assert ia.tolist() == merged["a"].tolist() and ib.tolist() == merged["b"].tolist()
    keys = np.array(["99213", "20610", "99213", "", "G0283"], dtype=object)
    values = np.array(["20610", "99213", "", "97110"], dtype=object)
    merged = pd.DataFrame({"k": keys, "row": range(5)}).merge(pd.DataFrame({"k": values, "at": range(4)}), on="k")
    rows, at = object_pairs(keys, values)
    assert rows.tolist() == merged["row"].tolist() and at.tolist() == merged["at"].tolist()
