"""Release diff: what one release of a code set adds, deletes, revises, expands and reuses, with replacements."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest.changes import Change, ChangeSet, Reuse, Revision
from ingest.model import CodegovError
from ingest.replacements import ReleaseReplacements
from ingest.systems import REGISTRY


def _arrow(df: pd.DataFrame, col: str) -> pa.Array:
    return pa.array(df[col].array, type=pa.string())


_USED = ("code", "display_code", "kind", "billable", "short_desc", "long_desc", "effective_end", "add_date",
         "termination_date", "action_code", "xrefs", "coverage")


_KEY_WIDTH = 8  # codes of at most 8 ASCII characters pack into one unsigned 64-bit integer each


def _sorted_keys(codes: pa.Array) -> np.ndarray | None:
    """Each code as an integer that sorts as the code does (right-padded with spaces, read big-endian), when
    every code is ASCII of at most _KEY_WIDTH characters and they are sorted and unique; else None (the
    caller hashes instead). A space sorts before every character a code holds, so "A00" < "A000" still."""
    if isinstance(codes, pa.ChunkedArray):
        codes = codes.combine_chunks()
    if codes.null_count:
        return None
    padded = pc.utf8_rpad(codes, width=_KEY_WIDTH, padding=" ")
    offsets = np.frombuffer(padded.buffers()[1], dtype=np.int32)[padded.offset:padded.offset + len(padded) + 1]
    if len(padded) == 0 or int(offsets[-1] - offsets[0]) != _KEY_WIDTH * len(padded):  # a longer or non-ASCII code
        return None
    keys = np.frombuffer(padded.buffers()[2], dtype=">u8", count=len(padded), offset=int(offsets[0]))
    keys = keys.astype(np.uint64)
    return keys if len(keys) < 2 or bool((keys[1:] > keys[:-1]).all()) else None


_MAX_RUNS = 2_000  # past this many runs of shared codes, one take per column is cheaper than slicing


def _changed_rows(a: pd.DataFrame, b: pd.DataFrame, cols: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows of `a` and of `b` that are not the same row in the other table (same code and same cols).

    Both tables are sorted by code, so the codes they share come in the same order in each: the
    fields of common codes are compared position by position in Arrow, without hashing descriptors.
    On two full ICD-10-CM releases this leaves about a thousand rows out of 98,000.
    """
    code_a, code_b = _arrow(a, "code"), _arrow(b, "code")
    ka, kb = _sorted_keys(code_a), _sorted_keys(code_b)
    if ka is not None and kb is not None:  # short codes sorted and unique in both: a merge by binary search
        pos = np.searchsorted(kb, ka)
        a_in_b = kb[np.minimum(pos, len(kb) - 1)] == ka if len(kb) else np.zeros(len(ka), dtype=bool)
        ia = np.flatnonzero(a_in_b)
        ib = pos[ia].astype(np.int64)
    else:
        at = pc.index_in(code_a, value_set=code_b)  # one hash table: where each code of a stands in b, or null
        a_in_b = at.is_valid().to_numpy(zero_copy_only=False)
        ia = np.flatnonzero(a_in_b)
        ib = at.drop_null().to_numpy(zero_copy_only=False).astype(np.int64)
    if len(ib) > 1 and not (np.diff(ib) > 0).all():  # shared codes in the same order in both: sorted, unique
        raise CodegovError("release tables must be sorted by code with each code once")
    b_in_a = np.zeros(len(code_b), dtype=bool)
    b_in_a[ib] = True
    differs = np.zeros(len(ia), dtype=bool)
    # Shared codes come in runs where both positions step by one (a release adds and deletes in clusters:
    # about 90 runs for FY2025 -> FY2026); a run compares as two zero-copy slices, else gather with take.
    cut = np.flatnonzero((np.diff(ia) != 1) | (np.diff(ib) != 1)) + 1
    runs = list(zip(np.r_[0, cut].tolist(), np.r_[cut, len(ia)].tolist(), strict=True)) if len(ia) else []
    for c in cols:
        col_a, col_b = _arrow(a, c), _arrow(b, c)
        if len(runs) <= _MAX_RUNS:
            differs |= np.concatenate([np.zeros(0, dtype=bool)] + [
                pc.not_equal(col_a.slice(ia[s], e - s), col_b.slice(ib[s], e - s)).to_numpy(zero_copy_only=False)
                for s, e in runs])
        else:
            differs |= pc.not_equal(col_a.take(ia), col_b.take(ib)).to_numpy(zero_copy_only=False)
    keep_a, keep_b = ~a_in_b, ~b_in_a
    keep_a[ia[differs]] = True
    keep_b[ib[differs]] = True
    return a.loc[keep_a, [c for c in _USED if c in a.columns]], b.loc[keep_b, [c for c in _USED if c in b.columns]]


def _records(df: pd.DataFrame) -> dict[str, dict]:
    cols = [c for c in _USED if c in df.columns]
    return {r[0]: dict(zip(cols, r, strict=True)) for r in zip(*(df[c].tolist() for c in cols), strict=True)}


def _entry(row: dict, **extra) -> Change:
    return Change(row["code"], row["display_code"], row["long_desc"], **extra)


def _revisions(old: dict, new: dict, fields: tuple[str, ...]) -> list[Revision]:
    return [Revision(new["code"], new["display_code"], f, old[f], new[f]) for f in fields if old[f] != new[f]]


def _diff_icd10cm(old: pd.DataFrame, new: pd.DataFrame, cs: ChangeSet, engine: ReleaseReplacements) -> None:
    cols = ("billable", "short_desc", "long_desc")
    gone, came = _changed_rows(old, new, cols)  # rows deleted, added, revised or flag-flipped
    old_rows, new_rows = _records(gone), _records(came)
    for code in sorted(set(old_rows) | set(new_rows)):
        o, n = old_rows.get(code), new_rows.get(code)
        o_bill = o is not None and o["billable"] == "1"
        n_bill = n is not None and n["billable"] == "1"
        if n_bill and not o_bill:
            cs.added.append(_entry(n, kind=n["kind"]))
            if o is not None:  # a header became billable
                cs.header_to_billable.append(_entry(n))
        if o_bill and not n_bill:
            expanded = n is not None and n["kind"] == "header"
            replacements = engine.for_code(code)
            cs.deleted.append(_entry(o, reason="expanded" if expanded else "deleted", termination_date="",
                                     replacements=replacements))
            if expanded:  # its children are all new: it was a leaf
                cs.expanded.append(_entry(o, children=engine.children(code)))
        if o_bill and n_bill:
            cs.revised += _revisions(o, n, ("long_desc", "short_desc"))
        # Header view, as the order addenda count it: a header's identity is (flag 0, code).
        o_head = o is not None and o["billable"] == "0"
        n_head = n is not None and n["billable"] == "0"
        if n_head and not o_head:
            cs.headers["added"].append(_entry(n))
        if o_head and not n_head:
            cs.headers["deleted"].append(_entry(o))
        if o_head and n_head:
            cs.headers["revised"] += _revisions(o, n, ("long_desc", "short_desc"))


def _diff_hcpcs(old: pd.DataFrame, new: pd.DataFrame, cs: ChangeSet, engine: ReleaseReplacements) -> None:
    """File-to-file view keyed on (code, add date); the action-code view from the newer file beside it."""
    o_rows, n_rows = _records(old), _records(new)
    for code in sorted(set(o_rows) | set(n_rows)):
        o, n = o_rows.get(code), n_rows.get(code)
        if o is None:
            if n["billable"] != "1" and n["termination_date"]:
                # added and terminated between the two files (K0903: added 2018-04-01, ended 2018-12-31):
                # it first appears already discontinued, so for a billing team it is deleted, not added
                cs.deleted.append(_entry(n, reason="discontinued", termination_date=n["termination_date"],
                                         replacements=engine.for_code(code)))
            else:
                cs.added.append(_entry(n, kind=n["kind"], action_code=n["action_code"]))
            continue
        o_live = o["billable"] == "1"
        if n is None:
            if o["termination_date"]:
                cs.purged.append(_entry(o, termination_date=o["termination_date"]))
            else:  # vanished with no termination date: deleted without notice
                cs.deleted.append(_entry(o, reason="vanished", termination_date="",
                                         replacements=engine.for_code(code, row=o)))
            continue
        n_live = n["billable"] == "1"
        if o["add_date"] != n["add_date"]:
            cs.reused.append(Reuse(code, code, {"description": o["long_desc"], "add_date": o["add_date"]},
                                   {"description": n["long_desc"], "add_date": n["add_date"]}))
            continue
        if o_live and not n_live:
            cs.deleted.append(_entry(n, reason="discontinued", termination_date=n["termination_date"],
                                     replacements=engine.for_code(code, fallback_row=o)))
        elif n_live and not o_live:
            cs.reactivated.append(_entry(n, action_code=n["action_code"]))
        cs.revised += _revisions(o, n, REGISTRY["hcpcs"].revised_fields)
    actions: dict[str, list[str]] = {}
    for code, row in n_rows.items():
        if row["action_code"] and row["action_code"] != "N":
            actions.setdefault(row["action_code"], []).append(code)
    cs.actions = {k: sorted(v) for k, v in sorted(actions.items())}


def _diff_generic(old: pd.DataFrame, new: pd.DataFrame, cs: ChangeSet) -> None:
    o_rows, n_rows = _records(old), _records(new)
    for code in sorted(set(o_rows) | set(n_rows)):
        o, n = o_rows.get(code), n_rows.get(code)
        if o is None:
            cs.added.append(_entry(n, kind=n["kind"]))
        elif n is None:
            cs.deleted.append(_entry(o, reason="deleted", termination_date=o["effective_end"], replacements=[]))
        else:
            cs.revised += _revisions(o, n, REGISTRY[cs.system].revised_fields)


def diff_releases(old: pd.DataFrame, new: pd.DataFrame, *, conversion: pd.DataFrame | None = None,
                  conversion_label: str = "conversion table", from_label: str = "", to_label: str = "",
                  engine: ReleaseReplacements | None = None) -> ChangeSet:
    """Compare two release tables of one code set. Every deleted code carries its replacements, from the
    replacement engine on the newer release (built here from `new` and `conversion` unless given)."""
    found = set(old["system"].unique()) | set(new["system"].unique())
    if len(found) != 1:
        raise CodegovError(f"cannot diff releases of different code sets: {sorted(found)}")
    system = found.pop()
    cs = ChangeSet(system, str(old["release"].iloc[0]), str(new["release"].iloc[0]), from_label, to_label)
    engine = engine or ReleaseReplacements(system, new, conversion, conversion_label)
    if system == "icd10cm":
        _diff_icd10cm(old, new, cs, engine)
    elif system == "hcpcs":
        _diff_hcpcs(old, new, cs, engine)
    else:
        _diff_generic(old, new, cs)
    return cs
