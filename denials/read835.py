"""Read ASC X12 5010 835 remittance files (005010X221A1) into service lines and their adjustments.

A direct segment reader: the ISA segment (106 characters, fixed width) declares the element separator (its
4th character), the component separator (ISA16) and the segment terminator (the character after it); the
interchange is split on them. Chosen over pyx12 by the benchmark (bench stage `denials`, README
"Performance"): pyx12 validates every segment against the full implementation guide, which takes minutes
for a million service lines, while the loops the denial report needs (payer, claim, service line,
adjustments, remarks) are few and fixed.

Handled: several interchanges per file and several functional groups and transactions (ST/SE) per
interchange, with their counts and control numbers checked; claim-level (CAS after CLP) and line-level (CAS
after SVC) adjustments; reversals and corrections (CLP02 22 reverses an earlier payment: its lines are kept,
flagged, and summaries keep the last adjudication of each line). Bad input is a ParseError naming the file
and the segment's position (its number in the file, counting from 1, and its byte offset).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingest.model import CodegovError

ISA_LENGTH = 106  # ISA01..ISA16 with their separators, and the segment terminator
# Every segment the 835 implementation guide defines; anything else is refused, naming it
KNOWN_SEGMENTS = frozenset((
    "ISA", "IEA", "GS", "GE", "ST", "SE", "BPR", "TRN", "CUR", "REF", "DTM", "N1", "N2", "N3", "N4", "PER",
    "RDM", "LX", "TS3", "TS2", "CLP", "CAS", "NM1", "MIA", "MOA", "AMT", "QTY", "SVC", "LQ", "PLB",
))
CAS_GROUPS = frozenset(("CO", "OA", "PI", "PR", "CR"))
REVERSAL = "22"  # CLP02: reversal of a previous payment

LINE_SCHEMA = pa.schema([
    ("file", pa.string()), ("interchange", pa.string()), ("transaction", pa.string()),
    ("payer", pa.string()), ("payer_id", pa.string()), ("payee_npi", pa.string()), ("remit_date", pa.date32()),
    ("claim", pa.int64()),  # the claim's number in the read (file order): adjustments name it
    ("claim_id", pa.string()), ("claim_status", pa.string()), ("payer_claim_id", pa.string()),
    ("claim_billed", pa.float64()), ("claim_paid", pa.float64()), ("rendering_npi", pa.string()),
    ("line", pa.int32()), ("qualifier", pa.string()), ("procedure_code", pa.string()), ("modifiers", pa.string()),
    ("adjudicated_code", pa.string()), ("billed", pa.float64()), ("paid", pa.float64()), ("units", pa.float64()),
    ("service_date", pa.date32()), ("remarks", pa.string()), ("reversal", pa.bool_()), ("segment", pa.int64()),
])
ADJUSTMENT_SCHEMA = pa.schema([
    ("claim", pa.int64()), ("row", pa.int64()),  # row: the line's row in the lines table, -1 at claim level
    ("level", pa.string()), ("group", pa.string()), ("carc", pa.string()), ("amount", pa.float64()),
    ("quantity", pa.float64()),
])


@dataclass
class Remits:
    """What a read gives: one row per service line (a claim without SVC segments is one row, line 0) and one
    row per CAS reason (group, CARC, amount), at claim or line level."""

    lines: pa.Table
    adjustments: pa.Table
    files: list[str] = field(default_factory=list)


class Segment835Error(CodegovError):
    pass


def _error(path, n: int, offset: int, seg_id: str, expected: str) -> CodegovError:
    where = f"segment {n}" + (f" ({seg_id})" if seg_id else "") + f" at byte {offset}"
    return Segment835Error(f"{path}: {where}: {expected}")


def _num(value: str, path, n, offset, seg_id, what) -> float:
    try:
        return float(value) if value else 0.0
    except ValueError:
        raise _error(path, n, offset, seg_id, f"expected a number for {what}, found {value[:20]!r}") from None


class _Columns:
    """Column lists the reader appends to (one Python list per column: cheap, and one pa.array each)."""

    def __init__(self, schema: pa.Schema):
        self.names = schema.names
        self.schema = schema
        self.data = {n: [] for n in schema.names}

    def table(self) -> pa.Table:
        arrays = []
        for f in self.schema:
            values = self.data[f.name]
            if pa.types.is_date32(f.type):
                text = pa.array(values, pa.string())
                arrays.append(pc.cast(pc.strptime(text, format="%Y%m%d", unit="s", error_is_null=True), pa.date32()))
            else:
                arrays.append(pa.array(values, f.type))
        return pa.Table.from_arrays(arrays, schema=self.schema)


def read_files(paths) -> Remits:
    """Every file's lines and adjustments, in the order given."""
    lines, adjustments = _Columns(LINE_SCHEMA), _Columns(ADJUSTMENT_SCHEMA)
    claim_no = 0
    for path in paths:
        claim_no = _read_one(Path(path), lines, adjustments, claim_no)
    return Remits(lines.table(), adjustments.table(), [str(p) for p in paths])


def read_file(path) -> Remits:
    return read_files([path])


def separators(path, text: str, offset: int, n: int) -> tuple[str, str, str]:
    """(element, component, segment terminator) from the ISA at offset, checked: 106 characters, 16
    separators, the fixed field widths."""
    head = text[offset:offset + ISA_LENGTH]
    if not head.startswith("ISA"):
        raise _error(path, n, offset, "", f"expected an ISA segment (an interchange header), found {head[:20]!r}")
    if len(head) < ISA_LENGTH:
        raise _error(path, n, offset, "ISA", f"expected the ISA segment's fixed {ISA_LENGTH} characters, found "
                                             f"{len(head)} (a cut ISA)")
    elem = head[3]
    fields = head[:ISA_LENGTH - 1].split(elem)
    widths = (3, 2, 10, 2, 10, 2, 15, 2, 15, 6, 4, 1, 5, 9, 1, 1, 1)
    if len(fields) != 17 or any(len(f) != w for f, w in zip(fields, widths, strict=False)):
        raise _error(path, n, offset, "ISA", f"expected 16 fixed-width ISA elements separated by {elem!r} "
                                             f"(widths {'/'.join(map(str, widths[1:]))}), found a cut or shifted ISA")
    component, terminator = head[104], head[105]
    if terminator.isalnum() or terminator == " " or len({elem, component, terminator}) < 3:
        raise _error(path, n, offset, "ISA", f"expected distinct separators, found element {elem!r}, component "
                                             f"{component!r}, terminator {terminator!r}")
    return elem, component, terminator


def _read_one(path: Path, lines: _Columns, adjustments: _Columns, claim_no: int) -> int:
    data = path.read_bytes()
    text = data.decode("latin-1")  # X12 basic and extended character sets are single-byte
    size = len(text)
    pos = 0
    while pos < size and text[pos] in " \r\n\t":
        pos += 1
    if pos >= size:
        raise _error(path, 1, 0, "", "expected an ISA segment, found an empty file")
    n = 0  # segments read so far in this file
    L, A = lines.data, adjustments.data
    name = str(path)
    while pos < size:
        elem, comp, term = separators(path, text, pos, n + 1)
        end = text.find(f"{term}IEA{elem}", pos)
        if end < 0:
            end = size  # no IEA: read to the end and report the missing trailer there
        else:
            stop = text.find(term, end + 1)
            end = size if stop < 0 else stop + 1
        body = text[pos:end]
        segments = body.split(term)
        offsets_base = pos
        # state
        offset = offsets_base
        isa13 = gs06 = st02 = ""
        in_st = in_gs = False
        st_count = gs_count = st_in_gs = 0
        payer = payer_id = payee = ""
        remit_date = ""
        claim_row = -1  # the current claim's number (-1 outside a claim)
        claim_lines = 0
        line_row = -1
        claim = None
        in_claim_level = False
        iea_seen = False
        for raw in segments:
            seg_offset = offset
            offset += len(raw) + 1
            seg = raw.strip("\r\n ") if raw[:1] in "\r\n " or raw[-1:] in "\r\n " else raw
            if not seg:
                continue
            n += 1
            if iea_seen:
                raise _error(path, n, seg_offset, seg[:3], "expected nothing after the interchange's IEA but "
                                                           "another ISA")
            e = seg.split(elem)
            sid = e[0]
            if in_st:
                st_count += 1
            if sid == "CAS":
                if len(e) < 4 or e[1] not in CAS_GROUPS:
                    raise _error(path, n, seg_offset, sid, "expected CAS*group*reason*amount with a group code "
                                                           f"CO, OA, PI, PR or CR, found {seg[:40]!r}")
                if claim is None:
                    raise _error(path, n, seg_offset, sid, "expected CAS inside a claim (after CLP)")
                group = e[1]
                for k in range(2, min(len(e), 20), 3):
                    if not e[k]:
                        continue
                    A["claim"].append(claim_row)
                    A["row"].append(-1 if in_claim_level else line_row)
                    A["level"].append("claim" if in_claim_level else "line")
                    A["group"].append(group)
                    A["carc"].append(e[k])
                    A["amount"].append(_num(e[k + 1] if k + 1 < len(e) else "", path, n, seg_offset, sid, "CAS amount"))
                    A["quantity"].append(_num(e[k + 2], path, n, seg_offset, sid, "CAS quantity")
                                         if k + 2 < len(e) and e[k + 2] else None)
            elif sid == "SVC":
                if claim is None:
                    raise _error(path, n, seg_offset, sid, "expected SVC inside a claim (after CLP)")
                if len(e) < 4:
                    raise _error(path, n, seg_offset, sid, "expected SVC*qualifier:code*charge*payment, found "
                                                           f"{seg[:40]!r}")
                in_claim_level = False
                claim_lines += 1
                line_row = len(L["line"])
                comp1 = e[1].split(comp)
                billed_comp = e[6].split(comp) if len(e) > 6 and e[6] else None
                submitted = billed_comp if billed_comp else comp1
                _claim_fields(L, claim, name, isa13, st02, payer, payer_id, payee, remit_date, claim_row)
                L["line"].append(claim_lines)  # REF*6R replaces it when present
                L["qualifier"].append(submitted[0])
                L["procedure_code"].append(submitted[1] if len(submitted) > 1 else "")
                L["modifiers"].append(" ".join(m for m in submitted[2:6] if m))
                L["adjudicated_code"].append(comp1[1] if len(comp1) > 1 else "")
                L["billed"].append(_num(e[2], path, n, seg_offset, sid, "SVC02 charge"))
                L["paid"].append(_num(e[3], path, n, seg_offset, sid, "SVC03 payment"))
                # SVC07 the units billed when the payer paid other units (SVC05), else SVC05 (default 1)
                units = e[7] if len(e) > 7 and e[7] else (e[5] if len(e) > 5 and e[5] else "1")
                L["units"].append(_num(units, path, n, seg_offset, sid, "SVC05 units"))
                L["service_date"].append(claim["start"])
                L["remarks"].append("")
                L["segment"].append(n)
            elif sid == "DTM":
                if len(e) < 3:
                    raise _error(path, n, seg_offset, sid, f"expected DTM*qualifier*date, found {seg[:40]!r}")
                q = e[1]
                if claim is None:
                    if q == "405":
                        remit_date = e[2]
                elif in_claim_level:
                    if q == "232":  # the claim's statement period: the service date of lines without DTM*472
                        claim["start"] = e[2]
                elif q in ("472", "150"):
                    L["service_date"][line_row] = e[2]
            elif sid == "REF":
                if claim is not None and not in_claim_level and len(e) > 2 and e[1] == "6R":
                    try:
                        L["line"][line_row] = int(e[2])
                    except ValueError:
                        pass  # a control number that is not a line number: keep the line's position
                elif claim is None and len(e) > 2 and e[1] == "2U":
                    payer_id = e[2]
            elif sid == "LQ":
                if claim is not None and not in_claim_level and len(e) > 2 and e[1] == "HE":
                    prev = L["remarks"][line_row]
                    L["remarks"][line_row] = f"{prev} {e[2]}" if prev else e[2]
            elif sid == "CLP":
                if not in_st:
                    raise _error(path, n, seg_offset, sid, "expected CLP inside a transaction (after ST)")
                if len(e) < 5 or not e[1]:
                    raise _error(path, n, seg_offset, sid, "expected CLP*claim id*status*charge*payment, found "
                                                           f"{seg[:40]!r}")
                _close_claim(L, claim, claim_lines, name, isa13, st02, payer, payer_id, payee, remit_date, claim_row)
                claim_no += 1
                claim_row = claim_no
                claim = {"id": e[1], "status": e[2], "billed": _num(e[3], path, n, seg_offset, sid, "CLP03 charge"),
                         "paid": _num(e[4], path, n, seg_offset, sid, "CLP04 payment"),
                         "icn": e[7] if len(e) > 7 else "", "npi": "", "start": "", "segment": n}
                claim_lines = 0
                in_claim_level = True
            elif sid == "NM1":
                if claim is not None and len(e) > 9 and e[1] == "82":
                    claim["npi"] = e[9]
            elif sid == "N1":
                if len(e) > 2 and e[1] == "PR":
                    payer, payer_id = e[2], e[4] if len(e) > 4 else ""
                elif len(e) > 4 and e[1] == "PE":
                    payee = e[4]
            elif sid == "BPR":
                if len(e) > 16 and e[16]:
                    remit_date = e[16]
            elif sid == "ST":
                if in_st:
                    raise _error(path, n, seg_offset, sid, f"expected SE closing transaction {st02} before the "
                                                           "next ST (a missing SE)")
                if not in_gs:
                    raise _error(path, n, seg_offset, sid, "expected ST inside a functional group (after GS)")
                if len(e) < 3 or e[1] != "835":
                    raise _error(path, n, seg_offset, sid, f"expected ST*835*control number, found {seg[:40]!r}")
                in_st, st02, st_count = True, e[2], 1
                st_in_gs += 1
                payer = payer_id = payee = remit_date = ""
                claim = None
            elif sid == "SE":
                if not in_st:
                    raise _error(path, n, seg_offset, sid, "expected SE only to close a transaction (after ST)")
                _close_claim(L, claim, claim_lines, name, isa13, st02, payer, payer_id, payee, remit_date, claim_row)
                claim = None
                if len(e) < 3 or e[2] != st02:
                    raise _error(path, n, seg_offset, sid, f"expected SE02 {st02!r} (the ST's control number), "
                                                           f"found {seg[:40]!r}")
                if e[1] != str(st_count):
                    raise _error(path, n, seg_offset, sid, f"expected SE01 to count the transaction's {st_count} "
                                                           f"segments, found {e[1]!r}")
                in_st = False
            elif sid == "GS":
                if in_st or in_gs:
                    raise _error(path, n, seg_offset, sid, "expected GE closing the functional group before the "
                                                           "next GS" if in_gs and not in_st else
                                 f"expected SE closing transaction {st02} before GS (a missing SE)")
                in_gs, gs06, st_in_gs = True, e[6] if len(e) > 6 else "", 0
                gs_count += 1
            elif sid == "GE":
                if in_st:
                    raise _error(path, n, seg_offset, sid, f"expected SE closing transaction {st02} before GE "
                                                           "(a missing SE)")
                if not in_gs:
                    raise _error(path, n, seg_offset, sid, "expected GE only to close a functional group")
                if len(e) < 3 or e[1] != str(st_in_gs) or e[2] != gs06:
                    raise _error(path, n, seg_offset, sid, f"expected GE*{st_in_gs}*{gs06} (the group's "
                                                           f"transaction count and GS06), found {seg[:40]!r}")
                in_gs = False
            elif sid == "ISA":
                if seg_offset != offsets_base:
                    raise _error(path, n, seg_offset, sid, "expected IEA closing the interchange before the next ISA")
                isa13 = e[13] if len(e) > 13 else ""
            elif sid == "IEA":
                if in_st:
                    raise _error(path, n, seg_offset, sid, f"expected SE closing transaction {st02} before IEA "
                                                           "(a missing SE)")
                if in_gs:
                    raise _error(path, n, seg_offset, sid, "expected GE closing the functional group before IEA")
                if len(e) < 3 or e[1] != str(gs_count) or e[2] != isa13:
                    raise _error(path, n, seg_offset, sid, f"expected IEA*{gs_count}*{isa13} (the group count and "
                                                           f"ISA13), found {seg[:40]!r}")
                iea_seen = True
            elif sid not in KNOWN_SEGMENTS:
                raise _error(path, n, seg_offset, sid[:8], f"expected a segment of the 835 (one of "
                                                           f"{', '.join(sorted(KNOWN_SEGMENTS))}), found unknown "
                                                           f"segment {sid[:8]!r}")
        if in_st:
            raise _error(path, n, offset, "", f"expected SE closing transaction {st02} before the end of the file "
                                              "(a missing SE)")
        if not iea_seen:
            raise _error(path, n, offset, "", "expected IEA closing the interchange before the end of the file")
        pos = end
        while pos < size and text[pos] in " \r\n\t":
            pos += 1
    return claim_no


def _claim_fields(L, claim, name, isa13, st02, payer, payer_id, payee, remit_date, claim_row):
    L["file"].append(name)
    L["interchange"].append(isa13)
    L["transaction"].append(st02)
    L["payer"].append(payer)
    L["payer_id"].append(payer_id)
    L["payee_npi"].append(payee)
    L["remit_date"].append(remit_date)
    L["claim"].append(claim_row)
    L["claim_id"].append(claim["id"])
    L["claim_status"].append(claim["status"])
    L["payer_claim_id"].append(claim["icn"])
    L["claim_billed"].append(claim["billed"])
    L["claim_paid"].append(claim["paid"])
    L["rendering_npi"].append(claim["npi"])
    L["reversal"].append(claim["status"] == REVERSAL)


def _close_claim(L, claim, claim_lines, name, isa13, st02, payer, payer_id, payee, remit_date, claim_row):
    """A claim that had no SVC segment becomes one line (line 0) carrying the claim's amounts."""
    if claim is None or claim_lines:
        return
    _claim_fields(L, claim, name, isa13, st02, payer, payer_id, payee, remit_date, claim_row)
    for key, value in (("line", 0), ("qualifier", ""), ("procedure_code", ""), ("modifiers", ""),
                       ("adjudicated_code", ""), ("billed", claim["billed"]), ("paid", claim["paid"]),
                       ("units", 0.0), ("service_date", claim["start"]), ("remarks", ""),
                       ("segment", claim["segment"])):
        L[key].append(value)
