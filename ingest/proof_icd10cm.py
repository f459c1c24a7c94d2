"""The self-proof of an ICD-10-CM release: its order file must be what its own addenda say it is.

CDC publishes with each release an order addenda file (every header and code added, deleted or revised,
with the billable flag and both titles) and a codes addenda file (billable codes and long titles), each
ending with a summary: how many headers and codes the previous and this order file hold. Two proofs:

- the counts: this release's headers and codes are the numbers the summary gives (any line cut from the
  order file, a file cut short or padded, fails here, even with no previous release ingested);
- the replay: the previous release plus the addenda, applied line by line (Delete, Add, Revise from / to),
  gives this release code for code, flag and titles included. It runs when the previous release is the
  one the addenda start from (the summary's "before" counts match it); otherwise it is skipped and the
  evidence says so.

A failure raises ParseError naming the file, the line where one is known, and the first code that differs.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from ingest.model import ParseError
from ingest.readers import read_official_text

_SUMMARY_COUNT = re.compile(r"^\s*(\d+)\s+(headers|codes) in (\S+)\s*$")
_SUMMARY_CHANGE = re.compile(r"^\s*(\d+)\s+(additions|deletions|revisions)\s*$")


def addenda_summary(path: Path) -> dict[str, dict]:
    """The summary blocks of an addenda file: {"headers"|"codes": {"before": n, "after": n, "before_file",
    "after_file", "additions", "deletions", "revisions"}}; a block the file lacks is absent."""
    text = read_official_text(path, "ascii", "an ICD-10-CM addenda file")
    out: dict[str, dict] = {}
    block = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped in ("Headers", "Codes"):
            block = out.setdefault(stripped.lower(), {})
            continue
        if block is None:
            continue
        m = _SUMMARY_COUNT.match(line)
        if m:
            key = "before" if "before" not in block else "after"
            block[key], block[f"{key}_file"] = int(m.group(1)), m.group(3)
            continue
        m = _SUMMARY_CHANGE.match(line)
        if m and m.group(2) not in block:
            block[m.group(2)] = int(m.group(1))
    return out


_FIELDS = ("billable", "short_desc", "long_desc")


def _arrays(table: pd.DataFrame) -> dict[str, np.ndarray]:
    """code, flag and titles (right-stripped) as object arrays, in the table's order."""
    return {"code": table["code"].to_numpy(object), **{f: table[f].str.rstrip().to_numpy(object) for f in _FIELDS}}


def _billable(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The billable codes as the codes addenda know them: no flag or short title ("1" and "")."""
    mask = arrays["billable"] == "1"
    out = {k: v[mask] for k, v in arrays.items()}
    out["short_desc"] = np.full(len(out["code"]), "", dtype=object)
    return out


def _rows(arrays: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, tuple]:
    return dict(zip(arrays["code"][mask].tolist(),
                    zip(*(arrays[f][mask].tolist() for f in _FIELDS), strict=True), strict=True))


def _counts(table: pd.DataFrame) -> dict[str, int]:
    billable = int((table["billable"] == "1").sum())
    return {"codes": billable, "headers": len(table) - billable}


def prove_icd10cm(files: dict[str, Path], table: pd.DataFrame, previous: pd.DataFrame | None,
                  previous_label: str = "") -> list[str]:
    """Prove a parsed ICD-10-CM release (its normalised table) against its addenda; return the evidence
    lines. previous: the stored table of the release before it (None: the replay is skipped)."""
    order_file = files.get("order")
    where = order_file.name if order_file else "the order file"
    evidence: list[str] = []
    have = _counts(table)
    order_addenda = files.get("order_addenda")
    if order_addenda is None:
        return [f"no order addenda file in the release: {where} not proven against its addenda"]
    summary = addenda_summary(order_addenda)
    for kind in ("headers", "codes"):
        if "after" not in summary.get(kind, {}):
            raise ParseError(order_addenda, None, f"expected a summary '<n> {kind} in <order file>' for this "
                                                  f"release at the end of the file")
    codes_addenda = files.get("codes_addenda")
    codes_summary = addenda_summary(codes_addenda).get("codes", {}) if codes_addenda else {}
    if previous is not None:
        before = _counts(previous)
        starts = {k: summary[k].get("before") for k in ("headers", "codes")}
        if before == starts:
            evidence += _replay_all(files, table, previous, previous_label, order_addenda, codes_addenda, where)
        else:
            evidence.append(f"replay: skipped, the addenda start from {starts['codes']:,} codes and "
                            f"{starts['headers']:,} headers, the previous release {previous_label} has "
                            f"{before['codes']:,} and {before['headers']:,}")
    else:
        evidence.append("replay: no previous release ingested; the addenda were not replayed")
    for kind in ("headers", "codes"):
        block = summary[kind]
        if have[kind] != block["after"]:
            raise ParseError(order_file, _gap_line(table), f"expected {block['after']:,} {kind}, as "
                             f"{order_addenda.name} says ({block['after_file']}); found {have[kind]:,} "
                             f"(a line cut or added?)")
    if codes_addenda is not None and codes_summary.get("after") not in (None, have["codes"]):
        raise ParseError(files.get("codes") or order_file, None,
                         f"expected {codes_summary['after']:,} codes, as {codes_addenda.name} says; found "
                         f"{have['codes']:,}")
    evidence.insert(0, f"counts: {have['codes']:,} codes and {have['headers']:,} headers, as "
                       f"{order_addenda.name} says")
    return evidence


def _gap_line(table: pd.DataFrame) -> int | None:
    """The order file's line where its order numbers skip one (a line cut there), None when they run on."""
    if "order_no" not in table.columns:
        return None
    numbers = np.sort(pd.to_numeric(table["order_no"], errors="coerce").dropna().to_numpy(np.int64))
    if not len(numbers):
        return None
    steps = np.flatnonzero(np.diff(numbers) != 1)
    if len(steps):
        return int(steps[0]) + 2  # the line after the last one in sequence
    return None


def _replay_all(files, table, previous, previous_label, order_addenda, codes_addenda, where) -> list[str]:
    """The previous release plus each addenda file, replayed and compared with this release."""
    from ingest.parse_icd10cm import dotted, parse_addenda

    evidence = []
    order_file = files.get("order")
    # the order addenda: every header and code, with its flag and both titles; then the codes addenda:
    # billable codes and long titles
    old_all, new_all = _arrays(previous), _arrays(table)
    for addenda, billable_only, path in ((order_addenda, False, order_file),
                                         (codes_addenda, True, files.get("codes") or order_file)):
        if addenda is None:
            continue
        old, new = (_billable(a) if billable_only else a for a in (old_all, new_all))
        lines = parse_addenda(addenda)
        touched = set(lines["code"])
        old_t, new_t = (np.fromiter((c in touched for c in a["code"]), bool, len(a["code"])) for a in (old, new))
        state = _replay(addenda, lines, _rows(old, old_t), order=not billable_only)
        # untouched codes must be the previous release's, unchanged; touched ones what the replay gives
        same = int((~old_t).sum()) == int((~new_t).sum()) and all(
            (old[c][~old_t] == new[c][~new_t]).all() for c in ("code", *_FIELDS))
        if not same:
            _compare(_rows(old, ~old_t), _rows(new, ~new_t), path, addenda, previous_label, dotted)
        _compare(state, _rows(new, new_t), path, addenda, previous_label, dotted)
        evidence.append(f"replay: {previous_label} plus {addenda.name} gives "
                        + ("the billable codes" if billable_only else f"{where} code for code"))
    return evidence


def _replay(path: Path, adds: pd.DataFrame, state: dict, *, order: bool) -> dict:
    """Apply addenda lines in file order to state {code: (flag, short, long)} (the previous release's
    entries of the codes the addenda touch) and return it; a line that does not apply (a Delete of a code
    not there, an Add of one already there, a Revise from that is not the old text) is an error naming the
    addenda line. The codes addenda carry no flag or short title: their entries are ("1", "", long)."""
    pending: dict[str, int] = {}
    for line, action, code, flag, short, long_ in adds.itertuples(index=False, name=None):
        entry = (flag, short.rstrip(), long_.rstrip()) if order else ("1", "", long_.rstrip())
        old = state.get(code)
        if action == "delete":
            if old is None or old[0] != entry[0]:
                raise ParseError(path, line, f"deletes {code}, which the previous release does not have"
                                             + (" with that flag" if old is not None else ""))
            del state[code]
        elif action == "add":
            if old is not None:
                raise ParseError(path, line, f"adds {code}, which the previous release already has")
            state[code] = entry
        elif action == "revise_from":
            if old != entry:
                raise ParseError(path, line, f"revises {code} from a title the previous release does not have")
            pending[code] = line
        elif action == "revise_to":
            if pending.pop(code, None) is None:
                raise ParseError(path, line, f"expected 'Revise from:' {code} on the line before")
            state[code] = entry
    if pending:
        code, line = next(iter(pending.items()))
        raise ParseError(path, line, f"expected 'Revise to:' after 'Revise from:' {code}")
    return state


def _compare(expected: dict, found: dict, path: Path, addenda: Path, previous_label: str, dotted) -> None:
    """The first code (in code order) where the replayed release and this release's file differ."""
    if expected == found:
        return
    for code in sorted(expected.keys() | found.keys()):
        want, got = expected.get(code), found.get(code)
        if want == got:
            continue
        shown = dotted(code)
        if got is None:
            what = f"{shown} is missing (the previous release plus the addenda has it)"
        elif want is None:
            what = f"{shown} is in the file, but neither in the previous release nor added by the addenda"
        elif want[0] != got[0]:
            what = f"{shown} is {'billable' if got[0] == '1' else 'a header'}; the addenda make it " \
                   f"{'billable' if want[0] == '1' else 'a header'}"
        else:
            what = f"{shown} reads {got[2]!r}; the addenda give {want[2]!r}" if want[2] != got[2] else \
                f"{shown} has the short title {got[1]!r}; the addenda give {want[1]!r}"
        raise ParseError(path, None, f"expected {previous_label} plus {addenda.name} code for code; first "
                                     f"difference: {what}")
