"""HCPCS self-proof: a release's table checked against what CMS itself publishes with it, before it is stored.

`prove_hcpcs` returns the lines of evidence it checked (for the ingest log) and raises ParseError or
CodegovError, naming the file, the line or code and what was expected, at the first problem:

1. Record structure of the ANWEB text (checked where the records are read, in parse_hcpcs): after the
   disclaimer lines every line is a record; each code's continuation lines follow its first line with the
   same code and the matching record id (4 after 3, 8 after 7); sequence numbers run 00100, 00200, ... by
   100s within each code (so a repeated or lost continuation line is named); a last line without a line
   break that is shorter than a whole record is a cut record. The table must hold the file's codes.
2. The xlsx copy CMS ships in the same zip (`HCPC*ANWEB*.xls[x]`, not the corrections or transaction
   report; the one named like the ANWEB file first): the same codes, the first one missing on either side
   named with both files; then, per code, the same kind (RECID 3/7), short and long descriptors (runs of
   blanks aside: the xlsx joins the 80-character segments with its own spacing), action code, added and
   termination dates. The xlsx holds one row per code, but a very long descriptor continues on a RECID 4/8
   row (G0503 in 2019), which is joined here. ACT EFF DT is not compared: the 2017 and 2019 copies leave it
   blank or give it as a number for 87 and 117 codes. No xlsx in the folder: "not compared". This is what
   catches a file cut at a line break or a whole record group lost: the ANWEB text alone cannot show them.
3. Action codes, verified on the real 2017->2018 and 2018->2019 files (every code, no exception):
   an A (added) code's add date equals its action effective date, it carries no termination date, and,
   against the previous release when one is given, its add date is after that release's date (224 were
   absent from 2018, G9890/G9891 are reused with a new add date, QQ/VM were already in the re-posted 2018
   file with add dates after 2018-01-01; "absent from the previous release" alone does not hold). A D
   (discontinued) code carries a termination date. A code terminated in the previous release that is
   still listed keeps its termination date unless its action is R (reactivated). Not kept, since the real
   files break them: a code new since the previous release is A (2019 has 16 D, 3 N and 1 C new codes,
   the action code being relative to the previous quarterly file); a code that disappears was terminated
   (2019 drops DA, G9976 and G9977 without one); a newly terminated code is D (3 N in 2018).
4. The transaction report, from its xlsx (`*Trans*.xls[x]`, sheet with a "Type of Change" column; the
   .prn copies are the same content in fixed-width columns that move between years, so they are not
   read): each code it lists is in the table, its ADD codes are the table's A codes and its Discontinued
   codes its D codes. The other labels change spelling between years and are not compared. The report
   need not list every code (2018 leaves out L1, an N code terminated in 2016).

The ANWEB file is parsed again here (about 35 ms) for its line numbers and record counts; with both
workbooks read by python-calamine, the whole proof takes about 0.2-0.35 s for a release of the real size.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from ingest.model import CodegovError, ParseError
from ingest.parse_hcpcs import RecordCounts, parse_anweb_records

XLSX_COPY = re.compile(r"(?i)^(?!.*(?:trans|correction)).*anweb.*\.xlsx?$")
TRANSACTION_REPORT = re.compile(r"(?i)^(?!.*correction).*trans.*\.xlsx?$")
_HEADER_SCAN = 40  # the header row follows at most a few disclaimer rows (row 8 in 2018)
_XLSX_COLUMNS = {"code": "HCPC", "recid": "RECID", "long_desc": "LONGDESCRIPTION", "short_desc": "SHORTDESCRIPTION",
                 "add_date": "ADDDT", "termination_date": "TERMDT", "action_code": "ACTIONCD"}
_XLSX_REQUIRED = ("code", "recid", "long_desc", "short_desc")
_COMPARED = (("kind", "kind"), ("short_desc", "short descriptor"), ("long_desc", "long descriptor"),
             ("action_code", "action code"), ("add_date", "added date"), ("termination_date", "termination date"))


def anweb_lines(anweb: Path) -> dict[str, int]:
    """{code: the line of its first record} of an ANWEB file (parse_anweb_records keeps the last file read)."""
    records, _ = parse_anweb_records(anweb)  # raises ParseError for a broken record structure
    return dict(zip(records["code"], records["line"].astype(int), strict=True))


def prove_hcpcs(files: dict[str, Path], table: pd.DataFrame, previous: pd.DataFrame | None,
                release_id: str, previous_only: bool = False, lines: dict[str, int] | None = None) -> list[str]:
    """Prove one HCPCS release (its files by role, `anweb` required; `xlsx` and `transactions` are found
    beside it unless given) and the table built from it against the publisher's own copies and the
    previous release's table. Returns the evidence lines; raises at the first problem.

    previous_only: only the comparison with the previous release (the line 'action codes against ...'),
    for a release already proven on its own files (ingest.build runs the rest in the worker); lines: with it,
    anweb_lines() of the file, read where the release was parsed."""
    anweb = Path(files["anweb"])
    if previous_only:
        lines = lines if lines is not None else anweb_lines(anweb)
        return _check_actions(anweb, _table_rows(anweb, table, lines, release_id), lines, previous, release_id)[1:]
    records, counts = parse_anweb_records(anweb)  # raises ParseError for a broken record structure
    lines = dict(zip(records["code"], records["line"].astype(int), strict=True))
    evidence = [_structure(anweb, counts)]
    rows = _table_rows(anweb, table, lines, release_id)
    evidence.append(_compare_xlsx(anweb, files.get("xlsx") or _beside(anweb, XLSX_COPY, "xlsx copy"), rows,
                                  lines, counts))
    evidence += _check_actions(anweb, rows, lines, previous, release_id)
    evidence.append(_compare_transactions(anweb, files.get("transactions") or _transaction_report(anweb), rows,
                                          lines))
    return evidence


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}" + ("" if count == 1 else "s")


def _structure(anweb: Path, c: RecordCounts) -> str:
    return (f"record structure of {anweb.name}: {_n(c.procedures + c.modifiers, 'code')} "
            f"({_n(c.procedures, 'procedure')}, {_n(c.modifiers, 'modifier')}) in {_n(c.records, 'record')} on lines "
            f"{c.first_line:,}-{c.last_line:,} ({_n(c.continuations, 'continuation line')}), each continuation after "
            f"its code's first line with the same code and record id, sequence numbers in order by 100s, the last "
            f"line a whole record")


Columns = dict[str, dict[str, str]]  # column -> {code: value}, plain Python (the checks walk codes one by one)
_USED = ("release", "kind", "short_desc", "long_desc", "action_code", "add_date", "action_effective_date",
         "termination_date")


def _columns(table: pd.DataFrame) -> Columns:
    codes = table["code"].fillna("").astype(str).tolist()
    return {k: dict(zip(codes, table[k].fillna("").astype(str).tolist(), strict=True)) for k in _USED}


def _table_rows(anweb: Path, table: pd.DataFrame, lines: dict[str, int], release_id: str) -> Columns:
    """The table's columns by code; it must be this file's table, for this release."""
    rows = _columns(table)
    codes = rows["release"]
    if len(codes) != len(table):
        raise CodegovError(f"{anweb}: expected each code once in the release table, found {len(table) - len(codes):,} "
                           f"repeated")
    extra = sorted(set(codes) - set(lines))
    missing = [c for c in lines if c not in codes]
    if extra or missing:
        what = f"{extra[0]}, which the file does not hold" if extra else f"no {missing[0]} (line {lines[missing[0]]})"
        raise CodegovError(f"{anweb}: expected the release table built from this file, but the table has {what}")
    releases = set(codes.values())
    if releases != {release_id}:
        raise CodegovError(f"{anweb}: expected a table of release {release_id}, found release(s) "
                           f"{', '.join(sorted(releases))}")
    return rows


def _beside(anweb: Path, pattern: re.Pattern, what: str) -> Path | None:
    """The release folder's file of a kind: the one named like the ANWEB file, else the only match."""
    found = sorted(p for p in anweb.parent.iterdir() if p.is_file() and pattern.match(p.name))
    same = [p for p in found if p.stem.lower() == anweb.stem.lower()]
    if same or len(found) <= 1:
        return (same or found or [None])[0]
    raise CodegovError(f"{anweb.parent}: expected one {what} beside {anweb.name}, found "
                       f"{', '.join(p.name for p in found)}; name the one to compare")


def _transaction_report(anweb: Path) -> Path | None:
    return _beside(anweb, TRANSACTION_REPORT, "transaction report")


def _cell(value) -> str:
    if type(value) is str:
        return value.strip()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime | dt.date):
        return value.strftime("%Y%m%d")
    return str(value).strip()


def _header_key(value) -> str:
    return re.sub(r"[^A-Z0-9]", "", str(value).upper())


def _sheet_rows(path: Path, wanted: str) -> tuple[str, int, list[list], int]:
    """The first sheet with a header row holding `wanted` (a _header_key): (sheet name, header row index,
    rows, the sheet row number of rows[0] minus one)."""
    from python_calamine import CalamineWorkbook

    try:
        book = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises its own error types for a file that is not a workbook
        raise ParseError(path, None, f"expected an Excel workbook ({exc})") from None
    for name in book.sheet_names:
        sheet = book.get_sheet_by_name(name)
        rows = sheet.to_python()
        for i, row in enumerate(rows[:_HEADER_SCAN]):
            if wanted in (_header_key(v) for v in row):
                return name, i, rows, int(getattr(sheet, "start", (0, 0))[0])
    raise ParseError(path, None, f"expected a sheet with a header row naming {wanted!r} in its first "
                                 f"{_HEADER_SCAN} rows")


def read_xlsx_copy(path: Path) -> dict[str, dict[str, str | int]]:
    """The xlsx copy of an ANWEB file: {code: {row, kind, short_desc, long_desc, ...}} in sheet order, dates
    as YYYY-MM-DD; a RECID 4/8 row continues the long descriptor of the code above it."""
    _, h, rows, offset = _sheet_rows(path, "HCPC")
    header = [_header_key(v) for v in rows[h]]
    col = {k: header.index(v) for k, v in _XLSX_COLUMNS.items() if v in header}
    missing = [_XLSX_COLUMNS[k] for k in _XLSX_REQUIRED if k not in col]
    if missing:
        raise ParseError(path, offset + h + 1, f"expected columns {', '.join(_XLSX_COLUMNS[k] for k in _XLSX_REQUIRED)}"
                                               f" in the header row, missing {', '.join(missing)}")
    out: dict[str, dict] = {}
    last = None
    for i, row in enumerate(rows[h + 1:], start=offset + h + 2):
        values = {k: _cell(row[j]) if j < len(row) else "" for k, j in col.items()}
        code, recid = values["code"], values["recid"]
        if not code:
            if any(_cell(v) for v in row):
                raise ParseError(path, i, "expected a HCPCS code in column HCPC, found none")
            continue
        if recid in ("4", "8"):
            if last is None or out[last]["code"] != code or out[last]["recid"] != {"4": "3", "8": "7"}[recid]:
                raise ParseError(path, i, f"expected a continuation row (RECID {recid}) right after its code's "
                                          f"first row, found it after {last or 'the header'}")
            out[last]["long_desc"] = f"{out[last]['long_desc']} {values['long_desc']}"
            continue
        if recid not in ("3", "7"):
            raise ParseError(path, i, f"expected RECID 3, 4, 7 or 8 for {code}, found {recid!r}")
        if code in out:
            raise ParseError(path, i, f"expected each code once; {code} is already on row {out[code]['row']}")
        values["row"], values["kind"] = i, "procedure" if recid == "3" else "modifier"
        for name in ("add_date", "termination_date"):
            v = values.get(name)
            if v and re.fullmatch(r"\d{8}", v):
                values[name] = f"{v[:4]}-{v[4:6]}-{v[6:]}"
        out[code] = values
        last = code
    return out


def _squeeze(text: str) -> str:
    return " ".join(text.split())


def _where_differs(a: str, b: str) -> tuple[str, str]:
    """Both texts around the first character where they part (so a lost or doubled segment shows)."""
    k = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
    start = max(0, k - 30)

    def cut(s: str) -> str:
        piece = s[start:k + 40]
        return ("..." if start else "") + piece + ("..." if k + 40 < len(s) else "") if piece else "(ends there)"
    return cut(a), cut(b)


def _compare_xlsx(anweb: Path, xlsx: Path | None, rows: Columns, lines: dict[str, int],
                  counts: RecordCounts) -> str:
    if xlsx is None:
        return "xlsx copy: no xlsx copy in the release; not compared"
    xlsx = Path(xlsx)
    copy = read_xlsx_copy(xlsx)
    ours = f"the xlsx copy {xlsx.name}"
    lost = [c for c in copy if c not in lines]
    if lost:
        code = lost[0]
        order = list(copy)
        after = next((c for c in order[order.index(code) + 1:] if c in lines), None)
        several = f"missing from this file: {_n(len(lost), 'code')} of {ours}" + (
            f", {code} to {lost[-1]}" if len(lost) > 1 else "")
        if after is not None:
            raise ParseError(anweb, lines[after], f"expected {code} (row {copy[code]['row']} of {ours}) before "
                                                  f"{after} on this line; {several} (a record group lost?)")
        raise ParseError(anweb, counts.last_line, f"expected {code} (row {copy[code]['row']} of {ours}) after "
                                                  f"this last record; {several} (the file cut short?)")
    extra = [c for c in lines if c not in copy]
    if extra:
        raise ParseError(anweb, lines[extra[0]], f"expected only the codes of {ours}; {extra[0]} is not there "
                                                 f"({_n(len(extra), 'code')} of this file not there)")
    compared = [(k, w) for k, w in _COMPARED if k in next(iter(copy.values()), {})]
    for code, theirs in copy.items():
        for key, what in compared:
            a, b = rows[key][code], theirs[key]
            if a != b and key.endswith("desc"):
                a, b = _squeeze(a), _squeeze(b)
            if a != b:
                if key == "long_desc":
                    a, b = _where_differs(a, b)
                raise ParseError(anweb, lines[code], f"expected the {what} of {code} in row {theirs['row']} of "
                                                     f"{ours}, {b!r}; this file gives {a!r}")
    kinds = Counter(rows["kind"].values())
    return (f"xlsx copy {xlsx.name}: the same {_n(len(copy), 'code')} ({_n(kinds['procedure'], 'procedure')}, "
            f"{_n(kinds['modifier'], 'modifier')}), the same {', '.join(w for _, w in compared)} for each (runs of "
            f"blanks aside)")


def _check_actions(anweb: Path, rows: Columns, lines: dict[str, int], previous: pd.DataFrame | None,
                   release_id: str) -> list[str]:
    action, add, term = rows["action_code"], rows["add_date"], rows["termination_date"]
    added = [c for c in lines if action[c] == "A"]
    ended = [c for c in lines if action[c] == "D"]

    def refuse(code: str, message: str):
        raise ParseError(anweb, lines[code], f"{code}: {message}")

    for code in ended:
        if not term[code]:
            refuse(code, "expected a termination date (columns 285-292) for action code D (discontinued), found none")
    for code in added:
        if term[code]:
            refuse(code, f"expected no termination date for action code A (added), found {term[code]}")
        if add[code] != rows["action_effective_date"][code]:
            refuse(code, f"expected the action effective date of an added code (action code A) to be its added "
                         f"date {add[code]}, found {rows['action_effective_date'][code] or 'none'}")
    evidence = [f"action codes: {_n(len(added), 'A (added) code')}, each with an added date equal to its action "
                f"effective date and no termination date; {_n(len(ended), 'D (discontinued) code')}, each with a "
                f"termination date"]
    if previous is None or len(previous) == 0:
        return evidence + ["action codes against the previous release: no previous release given; not compared"]
    before = _columns(previous)
    prev_ids = sorted(set(before["release"].values()))
    if len(prev_ids) != 1 or prev_ids[0] >= release_id:
        raise CodegovError(f"{anweb}: expected the table of one release before {release_id} as the previous one, "
                           f"found release(s) {', '.join(prev_ids)}")
    prev_id = prev_ids[0]
    new = reused = early = 0
    for code in added:
        if add[code] <= prev_id:
            was = (f"already in {prev_id} with the same added date" if before["add_date"].get(code) == add[code]
                   else f"the previous release is {prev_id}")
            refuse(code, f"expected the added date of an added code (action code A) to be after the previous "
                         f"release {prev_id}, found {add[code] or 'none'} ({was})")
        if code not in before["add_date"]:
            new += 1
        elif before["add_date"][code] != add[code]:
            reused += 1
        else:
            early += 1
    kept = [c for c in lines if before["termination_date"].get(c)]
    for code in kept:
        if term[code] != before["termination_date"][code] and action[code] != "R":
            refuse(code, f"expected the termination date {before['termination_date'][code]} it has in {prev_id} "
                         f"(action code {action[code]}, not R reactivated), found {term[code] or 'none'}")
    return evidence + [
        f"action codes against {prev_id}: every A code added after {prev_id} ({new:,} new, {reused:,} reused with "
        f"a new added date, {early:,} already listed there with a later added date); {_n(len(kept), 'code')} "
        f"terminated in {prev_id} still listed with the same termination date"]


def _compare_transactions(anweb: Path, report: Path | None, rows: Columns, lines: dict[str, int]) -> str:
    if report is None:
        prn = [p.name for p in anweb.parent.iterdir() if p.is_file() and re.search(r"(?i)(trans|changes_by).*\.prn$",
                                                                                   p.name)]
        if prn:
            return (f"transaction report: only as fixed-width .prn ({', '.join(sorted(prn))}), whose columns move "
                    f"between years; not compared")
        return "transaction report: none in the release; not compared"
    report = Path(report)
    sheet, h, data, offset = _sheet_rows(report, "TYPEOFCHANGE")
    header = [_header_key(v) for v in data[h]]
    kind_col = header.index("TYPEOFCHANGE")
    code_col = next((j for j, v in enumerate(header) if v.startswith("HCPCS")), 0)
    listed: dict[str, tuple[int, str]] = {}
    for i, row in enumerate(data[h + 1:], start=offset + h + 2):
        code, label = (_cell(row[j]) if j < len(row) else "" for j in (code_col, kind_col))
        if not code:
            continue
        if code not in lines:
            raise ParseError(report, i, f"{code} ({label}, sheet {sheet!r}) is not in {anweb.name}; expected the "
                                        f"report's codes to be the release's")
        if code in listed:
            raise ParseError(report, i, f"expected each code once in sheet {sheet!r}; {code} is already on row "
                                        f"{listed[code][0]}")
        listed[code] = (i, label)
    action = rows["action_code"]
    for letter, word, test in (("A", "ADD", lambda s: s.lower().startswith("add")),
                               ("D", "Discontinued", lambda s: s.lower().startswith("discontinu"))):
        for code, (i, label) in listed.items():
            if test(label) and action[code] != letter:
                raise ParseError(report, i, f"{code} is listed as {label!r} (sheet {sheet!r}), but its action code "
                                            f"in {anweb.name} (line {lines[code]}) is {action[code]}, not {letter}")
        for code in (c for c in lines if action[c] == letter):
            if code not in listed or not test(listed[code][1]):
                found = f"as {listed[code][1]!r} on row {listed[code][0]}" if code in listed else "not at all"
                raise ParseError(anweb, lines[code], f"{code} has action code {letter}; expected {report.name} to "
                                                     f"list it as {word}, found it {found}")
    adds = sum(a == "A" for a in action.values())
    ends = sum(a == "D" for a in action.values())
    return (f"transaction report {report.name} (sheet {sheet!r}): {_n(len(listed), 'code')}, all in the release; "
            f"its {adds:,} ADD codes are the A codes and its {ends:,} Discontinued codes the D codes")
