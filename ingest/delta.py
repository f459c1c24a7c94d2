"""A release table stored as its changes against an earlier release: the rows removed and the rows added.

The first (oldest) stored release of a code set is a full table (`<release>.csv`); each later one is stored as
`<release>.changes.csv`, the same columns as the table after an `op` column (`removed`: the row as the earlier
release has it; `added`: the row as this release has it), sorted by code, a removed row before the added row
of the same code. A reviewer's file diff of a new release then lists exactly the codes that changed.

Two kinds of value change on every row from one release to the next without being a change of the code, and
are carried instead of listed (the manifest records how, under `changes.carry`):

- release-scoped columns (`release`, and ICD-10-CM's `effective_start`, `effective_end`): a column that has one
  value on every row of both releases is carried from the old value to the new one;
- the tabular order number (`order_no`, ICD-10-CM), which moves on every row after a code added or deleted:
  the manifest lists the shifts (`"from:by from:by ..."`: a carried row whose old number is `from` or more, up
  to the next entry, moves by `by`), one entry per place the numbering changes, under a hundred a release.

`changes` computes the rows and the carry rule; `apply` rebuilds the table from the earlier one. The writer
(ingest.build) rebuilds the table from what it would store and stores a full table instead unless that gives
back the very bytes of the table, and every reader checks the rebuilt table against the sha256 its manifest
records, so a changes file can never give a table other than the one that was proven.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from ingest.frames import object_frame
from ingest.model import COLUMNS, CodegovError
from ingest.store import text_frame

OP = "op"
REMOVED, ADDED = "removed", "added"
CHANGES_COLUMNS = (OP, *COLUMNS)
CARRIED = ("release", "effective_start", "effective_end")  # release-scoped: one value on every row of a release
RENUMBERED = "order_no"  # ICD-10-CM's tabular order: 1..n, renumbered when a code is added or deleted


def _numbered(table: pd.DataFrame) -> int:
    """The width of the order numbers when every row has one, all of that many digits; else 0."""
    if RENUMBERED not in table.columns or not len(table):
        return 0
    values = table[RENUMBERED]
    widths = values.str.len().unique()
    return int(widths[0]) if len(widths) == 1 and values.str.fullmatch(r"\d+").all() else 0


def carry_rule(old: pd.DataFrame, new: pd.DataFrame) -> dict:
    """How the rows carried from old to new change without changing: {"columns": {col: [old, new]},
    "renumber": "order_no"} (either part absent when it does not apply)."""
    columns = {}
    for column in CARRIED:
        a, b = old[column].unique(), new[column].unique()
        if len(a) == 1 and len(b) == 1 and a[0] != b[0]:
            columns[column] = [str(a[0]), str(b[0])]
    rule: dict = {}
    if columns:
        rule["columns"] = columns
    width = _numbered(old)
    if width and _numbered(new) == width:
        rule["renumber"] = {"column": RENUMBERED, "width": width, "shifts": ""}
    return rule


def _shifted(numbers: np.ndarray, shifts: str, path: Path) -> np.ndarray:
    """Old order numbers moved by the shifts ("from:by from:by ...", sorted by from): a number takes the shift of
    the last entry at or below it."""
    try:
        pairs = [tuple(int(x) for x in item.split(":")) for item in shifts.split()]
        if any(len(p) != 2 for p in pairs):
            raise ValueError
    except ValueError:
        raise CodegovError(f"{path}: its manifest's order-number shifts {shifts[:40]!r} are not 'from:by ...'; "
                           f"rerun `codegov ingest`") from None
    if not pairs:
        return numbers
    starts = np.array([f for f, _ in pairs], dtype=np.int64)
    by = np.array([d for _, d in pairs], dtype=np.int64)
    at = np.searchsorted(starts, numbers, side="right") - 1
    return numbers + np.where(at >= 0, by[np.maximum(at, 0)], 0)


def _shifts(old_numbers: np.ndarray, new_numbers: np.ndarray) -> str:
    """The shortest "from:by from:by ..." that moves each carried row's old order number to its new one: one
    entry where the shift changes, in old-number order (an ICD-10-CM release: one per place codes were added or
    deleted). One line in the manifest, however many."""
    order = np.argsort(old_numbers, kind="stable")
    old_sorted, by = old_numbers[order], (new_numbers - old_numbers)[order]
    starts = np.flatnonzero(np.r_[True, by[1:] != by[:-1]]) if len(by) else np.array([], dtype=np.int64)
    return " ".join(f"{int(old_sorted[i])}:{int(by[i]):+d}" for i in starts)


def changes(old: pd.DataFrame, new: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    """The changes file's rows (CHANGES_COLUMNS, sorted by code) and the carry rule that give `new` from `old`."""
    rule = carry_rule(old, new)
    renumber = (rule.get("renumber") or {}).get("column")
    carried = rule.get("columns", {})
    old_codes, new_codes = old["code"].to_numpy(object), new["code"].to_numpy(object)
    _, oi, ni = np.intersect1d(old_codes, new_codes, assume_unique=True, return_indices=True)
    differ = np.zeros(len(oi), dtype=bool)
    for column in COLUMNS:
        if column != renumber and column not in carried:
            differ |= _unequal(old[column], new[column], oi, ni)
    if renumber:  # the carried rows' order numbers: shifted where codes were added or deleted before them
        rule["renumber"]["shifts"] = _shifts(old[renumber].astype("int64").to_numpy()[oi[~differ]],
                                             new[renumber].astype("int64").to_numpy()[ni[~differ]])
    gone = np.ones(len(old), dtype=bool)
    gone[oi[~differ]] = False
    came = np.ones(len(new), dtype=bool)
    came[ni[~differ]] = False
    # the removed rows, then the added ones, sorted by code (a stable sort: a code's removed row first)
    gone_at, came_at = np.flatnonzero(gone), np.flatnonzero(came)
    codes = np.concatenate([old_codes[gone_at], new_codes[came_at]])
    order = np.argsort(codes, kind="stable")
    columns = {OP: np.where(order < len(gone_at), REMOVED, ADDED).astype(object)}
    for column in COLUMNS:
        columns[column] = np.concatenate([old[column].iloc[gone_at].to_numpy(object),
                                          new[column].iloc[came_at].to_numpy(object)])[order]
    return object_frame(columns), rule


def _unequal(old: pd.Series, new: pd.Series, oi: np.ndarray, ni: np.ndarray) -> np.ndarray:
    """old[oi] != new[ni], element by element, as Python compares the values: in Arrow for text columns with no
    missing value, with no Python string made; other columns as objects."""
    import pyarrow as pa
    import pyarrow.compute as pc

    try:
        a, b = (pa.array(s.array, type=pa.large_string(), from_pandas=True) if not hasattr(s.array, "__arrow_array__")
                else s.array.__arrow_array__() for s in (old, new))
    except (pa.ArrowInvalid, pa.ArrowTypeError):  # not text: compare as objects
        return old.to_numpy(object)[oi] != new.to_numpy(object)[ni]
    if (not (pa.types.is_string(a.type) or pa.types.is_large_string(a.type)) or a.type != b.type or a.null_count
            or b.null_count):  # a missing value (None, NaN) compares as Python compares it
        return old.to_numpy(object)[oi] != new.to_numpy(object)[ni]
    unequal = pc.not_equal(a.take(pa.array(oi)), b.take(pa.array(ni)))
    return unequal.to_numpy(zero_copy_only=False) if isinstance(unequal, pa.Array) else \
        unequal.combine_chunks().to_numpy(zero_copy_only=False)


def read_changes(path: Path, data: bytes) -> pd.DataFrame:
    """A changes file's rows; a file that is not one is a one-line error naming the file and line."""
    if not data.startswith((",".join(CHANGES_COLUMNS) + "\n").encode()):
        raise CodegovError(f"{path}:1: expected the header {','.join(CHANGES_COLUMNS)}")
    try:
        rows = text_frame(data)
    except Exception as exc:  # the readers name the row in their messages
        raise CodegovError(f"{path}: not a changes file: {str(exc).splitlines()[0]}") from None
    bad = rows.index[~rows[OP].isin((REMOVED, ADDED))]
    if len(bad):
        raise CodegovError(f"{path}:{bad[0] + 2}: expected op {REMOVED} or {ADDED}, found {rows[OP].iloc[bad[0]]!r}")
    for op in (REMOVED, ADDED):
        twice = rows.index[(rows[OP] == op) & rows.duplicated([OP, "code"], keep=False)]
        if len(twice):
            raise CodegovError(f"{path}:{twice[1] + 2}: {op} {rows['code'].iloc[twice[1]]} twice")
    return rows


def apply(old: pd.DataFrame, rows: pd.DataFrame, rule: dict, path: Path, against: str) -> pd.DataFrame:
    """The table `rows` (a changes file's, read_changes) and `rule` give from `old`, sorted by code. In Arrow,
    column by column, the added rows merged into the carried ones (both sorted by code)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    text = pa.large_string()
    base = pa.Table.from_pandas(old.loc[:, list(COLUMNS)], preserve_index=False)
    base = pa.table({c: base[c] if base[c].type == text else pc.cast(base[c], text) for c in COLUMNS})
    is_removed = (rows[OP] == REMOVED).to_numpy(bool)
    removed, added = rows.iloc[np.flatnonzero(is_removed)], rows.iloc[np.flatnonzero(~is_removed)]
    gone = pc.is_in(base["code"], value_set=pa.array(removed["code"].tolist(), text))
    if (pc.sum(gone).as_py() or 0) != len(removed):
        have = set(base.filter(gone)["code"].to_pylist())
        at = next(i for i, code in zip(removed.index, removed["code"], strict=True) if code not in have)
        raise CodegovError(f"{path}:{at + 2}: removes {removed['code'].loc[at]}, which release {against} does "
                           f"not have")
    before = base.filter(gone)  # sorted by code, as the changes file's removed rows are
    differ = np.zeros(len(removed), bool)
    for c in COLUMNS:  # each removed row as the earlier release has it, compared in Arrow column by column
        values = removed[c].tolist()
        if any(not isinstance(v, str) for v in values):  # (a missing value: compared as pandas compares it)
            differ |= (before[c].to_pandas().reset_index(drop=True)
                       != removed[c].reset_index(drop=True)).to_numpy(bool)
        else:
            differ |= pc.fill_null(pc.not_equal(before[c], pa.array(values, text)), True).to_numpy(
                zero_copy_only=False)
    if differ.any():
        at = removed.index[differ.argmax()]
        raise CodegovError(f"{path}:{at + 2}: removes {removed['code'].loc[at]} as release {against} does not "
                           f"have it (the changes were made against another table)")
    kept = base.filter(pc.invert(gone))
    again = pc.is_in(pa.array(added["code"].tolist(), text), value_set=kept["code"])
    if pc.any(again).as_py():
        at = added.index[np.asarray(again).argmax()]
        raise CodegovError(f"{path}:{at + 2}: adds {added['code'].loc[at]}, which release {against} has and "
                           f"the file does not remove")
    columns = {c: kept[c] for c in COLUMNS}
    for column, (_, value) in rule.get("columns", {}).items():
        columns[column] = pa.repeat(pa.scalar(value, text), len(kept))
    renumber = rule.get("renumber")
    if renumber and not (isinstance(renumber, dict) and {"column", "width", "shifts"} <= set(renumber)):
        raise CodegovError(f"{path}: its manifest's changes.carry.renumber is {renumber!r}; expected "
                           f"{{column, width, shifts}}; rerun `codegov ingest`")
    if renumber and len(kept):
        numbers = _shifted(np.asarray(pc.cast(kept[renumber["column"]], pa.int64())), str(renumber["shifts"]),
                           path)
        columns[renumber["column"]] = pc.utf8_lpad(pc.cast(pa.array(numbers), text), width=renumber["width"],
                                                   padding="0")
    new = pa.table({c: pa.array(added[c].tolist(), text) for c in COLUMNS})
    carried_rows = pa.table(columns)
    if not len(new):
        return pa.concat_tables([carried_rows, new]).to_pandas()
    # merge the added rows into the carried ones, both sorted by code (no sort of the whole table): the carried
    # rows in runs, each added row after the run of those before it, joined once (a copy of whole buffers, not
    # a gather of every value)
    at = np.searchsorted(kept["code"].to_numpy(zero_copy_only=False).astype(object),
                         np.asarray(added["code"], dtype=object))
    parts, start = [], 0
    for k, stop in enumerate(at.tolist()):
        if stop > start:
            parts.append(carried_rows.slice(start, stop - start))
            start = stop
        parts.append(new.slice(k, 1))
    parts.append(carried_rows.slice(start))
    return pa.concat_tables(parts).combine_chunks().to_pandas()
