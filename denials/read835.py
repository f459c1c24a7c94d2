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

import numpy as np
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


def read_files(paths) -> Remits:
    """Every file's lines and adjustments, in the order given."""
    try:  # freed arrays go back to the system at once (jemalloc keeps them for seconds by default)
        pa.jemalloc_set_decay_ms(0)
    except (NotImplementedError, AttributeError, pa.ArrowException):  # another allocator: nothing to set
        pass
    lines, adjustments, claim_no, rows = [], [], 0, 0
    for path in paths:
        lt, at, claim_no = _read_one(Path(path), claim_no)
        for lines_table, adj_table in zip(lt, at, strict=True):
            row = adj_table["row"]  # a line's row in this interchange's table: made the row in the whole read
            adj_table = adj_table.set_column(1, "row", pc.if_else(pc.less(row, 0), row, pc.add(row, rows)))
            rows += lines_table.num_rows
            lines.append(lines_table)
            adjustments.append(adj_table)
        pa.default_memory_pool().release_unused()  # the file's intermediate arrays go back to the system
    if not lines:
        return Remits(LINE_SCHEMA.empty_table(), ADJUSTMENT_SCHEMA.empty_table(), [str(p) for p in paths])
    return Remits(pa.concat_tables(lines), pa.concat_tables(adjustments), [str(p) for p in paths])


def read_file(path) -> Remits:
    return read_files([path])


def separators(path, text: str, offset: int, n: int) -> tuple[str, str, str]:
    """(element, component, segment terminator) from the ISA that `text` starts with (at byte `offset` of the
    file), checked: 106 characters, 16 separators, the fixed field widths."""
    head = text[:ISA_LENGTH]
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


def _read_one(path: Path, claim_no: int) -> tuple[list[pa.Table], list[pa.Table], int]:
    """The file's interchanges, one after the other: (line tables, adjustment tables, last claim number).

    Read as bytes: X12's basic and extended character sets are single-byte, and an ASCII file is already the
    UTF-8 Arrow's strings take; a file with Latin-1 letters is made UTF-8 first (its error offsets are then
    counted back in the file's own bytes)."""
    data = path.read_bytes()
    if data.isascii():
        def in_file(b: int) -> int:
            return b
    else:
        data = data.decode("latin-1").encode("utf-8")

        def in_file(b: int) -> int:
            return len(data[:b].decode("utf-8", "replace"))
    size = len(data)
    pos = size - len(data.lstrip())
    if pos >= size:
        raise _error(path, 1, 0, "", "expected an ISA segment, found an empty file")
    seen, line_tables, adj_tables = 0, [], []
    view = memoryview(data)
    while pos < size:
        head = data[pos:pos + 2 * ISA_LENGTH].decode("utf-8", "replace")
        elem, comp, term = separators(path, head, in_file(pos), seen + 1)
        trailer = _trailer(data, pos, elem.encode(), term.encode())
        end = size
        if trailer >= 0:
            stop = data.find(term.encode(), trailer)
            end = size if stop < 0 else stop + 1
        lines, adjustments, claim_no, count = _interchange(path, view[pos:end], pos, in_file, seen, elem, comp, term,
                                                           claim_no)
        line_tables.append(lines)
        adj_tables.append(adjustments)
        seen += count
        pos = end
        while pos < size and data[pos] in b" \r\n\t":
            pos += 1
    return line_tables, adj_tables, claim_no


def _trailer(data: bytes, pos: int, elem: bytes, term: bytes) -> int:
    """Where the first IEA segment after pos ends its id (the index after `IEA` and the element separator):
    an `IEA*` preceded by the segment terminator and optional whitespace; -1 when there is none."""
    needle = b"IEA" + elem
    at = data.find(needle, pos)
    while at >= 0:
        j = at - 1
        while j >= pos:  # back over whitespace to the terminator (which may itself be a newline)
            if data[j:j + len(term)] == term:
                return at + len(needle)
            if not data[j:j + 1].isspace():
                break
            j -= 1
        at = data.find(needle, at + 1)
    return -1


def _interchange(path: Path, body: memoryview, base: int, in_file, seen: int, elem: str, comp: str, term: str,
                 claim_no: int):
    """One interchange (ISA to IEA), vectorised: the segments split once on the terminator, the envelope
    checked segment by segment (a few per transaction), every other segment type split on the element
    separator in one pass and placed by the running positions of its ST, CLP and SVC."""
    # the segments as one Arrow string array over the interchange's bytes (no Python string per segment):
    # value i runs from the byte after terminator i-1 to terminator i, which the trim removes
    data = body  # UTF-8 (_read_one)
    buf = np.frombuffer(data, np.uint8)
    ends = np.flatnonzero(buf == ord(term)) + 1
    if not len(ends) or ends[-1] != len(data):
        ends = np.append(ends, len(data))
    offsets = np.concatenate([[0], ends]).astype(np.int32 if len(data) < 2**31 else np.int64)
    kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    raw = pa.Array.from_buffers(kind, len(ends), [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    trimmed = pc.utf8_trim(raw, term + "\r\n\t ")
    keep = pc.greater(pc.binary_length(trimmed), 0).to_numpy(zero_copy_only=False)
    kept = np.flatnonzero(keep)  # each segment's value in raw
    seg = trimmed.filter(pa.array(keep))
    del raw, trimmed
    n = len(seg)

    def err(i: int, sid: str, expected: str) -> CodegovError:
        """The error at segment i, placed at its first byte in the file (found only now, for this one)."""
        i = min(int(i), n - 1)
        start, stop = int(offsets[kept[i]]), int(offsets[kept[i] + 1])
        value = bytes(data[start:stop])
        return _error(path, seen + i + 1, in_file(base + start + len(value) - len(value.lstrip(b"\r\n\t "))), sid,
                      expected)

    # the segment ids: 2 or 3 characters, then the element separator (or the segment's end); from each
    # segment's first 4 characters, cut once
    head = pc.utf8_slice_codeunits(seg, 0, 4)
    ids = pc.utf8_rtrim(pc.utf8_slice_codeunits(head, 0, 3), elem)
    longer = pc.and_(pc.equal(pc.utf8_length(ids), 3),
                     pc.not_equal(pc.utf8_slice_codeunits(head, 3, 4), elem)).to_numpy(zero_copy_only=False)
    longer &= pc.greater(pc.utf8_length(head), 3).to_numpy(zero_copy_only=False)
    del head
    if longer.any():
        i = int(np.argmax(longer))
        name = seg[i].as_py().split(elem)[0]
        raise err(i, name[:8], f"expected a segment of the 835 (one of {', '.join(sorted(KNOWN_SEGMENTS))}), "
                               f"found unknown segment {name[:8]!r}")
    enc = ids.dictionary_encode()
    names = enc.dictionary.to_pylist()
    code = enc.indices.to_numpy()
    for k, name in enumerate(names):
        if name not in KNOWN_SEGMENTS:
            i = int(np.argmax(code == k))
            raise err(i, name[:8], f"expected a segment of the 835 (one of {', '.join(sorted(KNOWN_SEGMENTS))}), "
                                   f"found unknown segment {name[:8]!r}")

    def mask(name: str) -> np.ndarray:
        return code == names.index(name) if name in names else np.zeros(n, bool)

    def split(positions: np.ndarray | None, width: int, sep: str = elem, values=None, need=None) -> list:
        """Elements 0..width of the segments at positions (or of values), '' where a segment is shorter; only
        the elements in `need` (default: all) are made, the others are None."""
        sub = seg.take(pa.array(positions, pa.int64())) if values is None else values
        if isinstance(sub, pa.ChunkedArray):
            sub = sub.combine_chunks()
        parts = pc.split_pattern(sub, sep, max_splits=width + 1)  # elements past width stay in one piece
        lengths = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
        out, empty = [], None
        for k in range(width + 1):
            if need is not None and k not in need:
                out.append(None)
                continue
            longer = lengths > k
            if longer.all():
                out.append(pc.list_element(parts, k).cast(pa.string()))
                continue
            if empty is None:
                empty = pa.array(np.full(len(sub), "", object), pa.string())
            got = pc.list_element(parts.filter(pa.array(longer)), k).cast(pa.string()) if longer.any() else None
            out.append(pc.replace_with_mask(empty, pa.array(longer), got) if got is not None else empty)
        return out

    def floats(values: pa.Array, positions: np.ndarray, sid: str, what: str) -> np.ndarray:
        filled = pc.if_else(pc.equal(values, ""), "0", values)
        try:
            return pc.cast(filled, pa.float64()).to_numpy(zero_copy_only=False)
        except (pa.ArrowInvalid, ValueError):
            for j, v in enumerate(filled.to_pylist()):
                try:
                    float(v)
                except ValueError:
                    raise err(positions[j], sid, f"expected a number for {what}, found {v[:20]!r}") from None
            raise

    idx = np.arange(n)
    is_st, is_clp, is_svc = mask("ST"), mask("CLP"), mask("SVC")
    last_st = np.maximum.accumulate(np.where(is_st, idx, -1))
    last_clp = np.maximum.accumulate(np.where(is_clp, idx, -1))
    last_svc = np.maximum.accumulate(np.where(is_svc, idx, -1))
    in_claim = last_clp > last_st
    line_level = in_claim & (last_svc > last_clp)
    claim_level = in_claim & ~line_level

    # the envelope: ISA, GS, ST ... SE, GE, IEA, nested and counted
    envelope = np.flatnonzero(np.isin(code, [names.index(x) for x in ("ISA", "IEA", "GS", "GE", "ST", "SE")
                                             if x in names]))
    st02s, isa13 = [], ""
    in_st = in_gs = done = False
    st_at = st_in_gs = gs_count = 0
    gs06 = st02 = ""
    for i, text in zip(envelope, seg.take(pa.array(envelope, pa.int64())).to_pylist(), strict=True):
        e = text.split(elem)
        sid = e[0]
        if done:
            raise err(i, sid, "expected nothing after the interchange's IEA but another ISA")
        if sid == "ISA":
            if i:
                raise err(i, sid, "expected IEA closing the interchange before the next ISA")
            isa13 = e[13] if len(e) > 13 else ""
        elif sid == "GS":
            if in_st:
                raise err(i, sid, f"expected SE closing transaction {st02} before GS (a missing SE)")
            if in_gs:
                raise err(i, sid, "expected GE closing the functional group before the next GS")
            in_gs, gs06, st_in_gs = True, e[6] if len(e) > 6 else "", 0
            gs_count += 1
        elif sid == "ST":
            if in_st:
                raise err(i, sid, f"expected SE closing transaction {st02} before the next ST (a missing SE)")
            if not in_gs:
                raise err(i, sid, "expected ST inside a functional group (after GS)")
            if len(e) < 3 or e[1] != "835":
                raise err(i, sid, f"expected ST*835*control number, found {text[:40]!r}")
            in_st, st02, st_at = True, e[2], i
            st02s.append(st02)
            st_in_gs += 1
        elif sid == "SE":
            if not in_st:
                raise err(i, sid, "expected SE only to close a transaction (after ST)")
            if len(e) < 3 or e[2] != st02:
                raise err(i, sid, f"expected SE02 {st02!r} (the ST's control number), found {text[:40]!r}")
            if e[1] != str(i - st_at + 1):
                raise err(i, sid, f"expected SE01 to count the transaction's {i - st_at + 1} segments, found {e[1]!r}")
            in_st = False
        elif sid == "GE":
            if in_st:
                raise err(i, sid, f"expected SE closing transaction {st02} before GE (a missing SE)")
            if not in_gs:
                raise err(i, sid, "expected GE only to close a functional group")
            if len(e) < 3 or e[1] != str(st_in_gs) or e[2] != gs06:
                raise err(i, sid, f"expected GE*{st_in_gs}*{gs06} (the group's transaction count and GS06), found "
                                  f"{text[:40]!r}")
            in_gs = False
        elif sid == "IEA":
            if in_st:
                raise err(i, sid, f"expected SE closing transaction {st02} before IEA (a missing SE)")
            if in_gs:
                raise err(i, sid, "expected GE closing the functional group before IEA")
            if len(e) < 3 or e[1] != str(gs_count) or e[2] != isa13:
                raise err(i, sid, f"expected IEA*{gs_count}*{isa13} (the group count and ISA13), found {text[:40]!r}")
            done = True
    if in_st:
        raise err(n - 1, "", f"expected SE closing transaction {st02} before the end of the file (a missing SE)")
    if not done:
        raise err(n - 1, "", "expected IEA closing the interchange before the end of the file")
    st_cum = np.cumsum(is_st)
    se_cum = np.cumsum(mask("SE"))
    outside = ~np.isin(code, [names.index(x) for x in ("ISA", "IEA", "GS", "GE", "ST", "SE") if x in names]) & (
        st_cum <= se_cum)
    if outside.any():
        i = int(np.argmax(outside))
        raise err(i, names[code[i]], "expected this segment inside a transaction (between ST and SE)")
    for name in ("CAS", "SVC", "LQ"):
        stray = mask(name) & ~in_claim
        if stray.any():
            i = int(np.argmax(stray))
            raise err(i, name, f"expected {name} inside a claim (after CLP)")

    def strings(positions, values) -> tuple[np.ndarray, pa.Array]:
        return positions, values.cast(pa.string())

    def gather(targets: np.ndarray, values: pa.Array, size: int, default: str = "") -> pa.Array:
        """A string array of `size`: values[j] at targets[j] (the last one wins), default elsewhere."""
        index = np.full(size, -1, np.int64)
        index[targets] = np.arange(len(targets))
        picked = values.take(pa.array(index, mask=index < 0))
        return picked.fill_null(default) if default is not None else picked

    def where(name: str, level: np.ndarray | None, qualifier: str | None = None):
        """Positions of the segments `name` (at this level) whose first element is qualifier."""
        m = mask(name)
        if level is not None:
            m = m & level
        at = np.flatnonzero(m)
        if qualifier is not None and len(at):
            sub = seg.take(pa.array(at, pa.int64()))
            at = at[pc.starts_with(sub, f"{name}{elem}{qualifier}{elem}").to_numpy(zero_copy_only=False)]
        return at

    # transactions: payer, payee, remittance date
    n_st = len(st02s)
    tx = st_cum - 1  # each segment's transaction (0-based)
    p = where("N1", None, "PR")
    e = split(p, 4)
    payer, payer_id = gather(tx[p], e[2], n_st), gather(tx[p], e[4], n_st)
    p2 = where("REF", ~in_claim, "2U")
    if len(p2):
        payer_id = pc.if_else(pc.is_null(gather(tx[p2], split(p2, 2)[2], n_st, None)), payer_id,
                              gather(tx[p2], split(p2, 2)[2], n_st))
    p = where("N1", None, "PE")
    payee = gather(tx[p], split(p, 4)[4], n_st)
    p = where("DTM", ~in_claim, "405")
    remit = gather(tx[p], split(p, 2)[2], n_st)
    p = where("BPR", None)
    if len(p):
        v = split(p, 16)[16]
        has = pc.not_equal(v, "").to_numpy(zero_copy_only=False)
        if has.any():
            bpr = gather(tx[p[has]], v.filter(pa.array(has)), n_st, None)
            remit = pc.if_else(pc.is_null(bpr), remit, bpr)

    # claims
    cp = np.flatnonzero(is_clp)
    n_claims = len(cp)
    clp_cum = np.cumsum(is_clp)
    e = split(cp, 7, need=(1, 2, 3, 4, 7))
    claim_id, status, icn = e[1], e[2], e[7]
    empty_id = pc.equal(claim_id, "").to_numpy(zero_copy_only=False)
    if empty_id.any():
        raise err(cp[int(np.argmax(empty_id))], "CLP", "expected CLP*claim id*status*charge*payment, found no claim id")
    c_billed = floats(e[3], cp, "CLP", "CLP03 charge")
    c_paid = floats(e[4], cp, "CLP", "CLP04 payment")
    c_tx = tx[cp]
    p = where("NM1", claim_level, "82")
    npi = gather(clp_cum[p] - 1, split(p, 9, need=(9,))[9], n_claims)
    p = where("DTM", claim_level, "232")
    start = gather(clp_cum[p] - 1, split(p, 2, need=(2,))[2], n_claims)

    # service lines
    sp = np.flatnonzero(is_svc)
    n_lines = len(sp)
    svc_cum = np.cumsum(is_svc)
    e = split(sp, 7, need=(1, 2, 3, 5, 6, 7))
    no_charge = pc.equal(e[2], "").to_numpy(zero_copy_only=False)
    if no_charge.any():
        raise err(sp[int(np.argmax(no_charge))], "SVC", "expected SVC*qualifier:code*charge*payment, found no charge")
    adjudicated = split(None, 5, comp, e[1])
    original = split(None, 5, comp, e[6])
    has_original = pc.not_equal(e[6], "")
    submitted = [pc.if_else(has_original, o, a) for o, a in zip(original, adjudicated, strict=True)]
    units_text = pc.if_else(pc.not_equal(e[7], ""), e[7], pc.if_else(pc.not_equal(e[5], ""), e[5], "1"))
    s_claim = clp_cum[sp] - 1
    line_no = (svc_cum[sp] - svc_cum[last_clp[sp]]).astype(np.int64)
    service = start.take(pa.array(s_claim, pa.int64()))
    p = np.concatenate([where("DTM", line_level, "472"), where("DTM", line_level, "150")])
    if len(p):
        p = np.sort(p)
        own = gather(svc_cum[p] - 1, split(p, 2, need=(2,))[2], n_lines, None)
        service = pc.if_else(pc.is_null(own), service, own)
    p = where("REF", line_level, "6R")
    if len(p):
        v = split(p, 2, need=(2,))[2]
        ok = pc.and_(pc.utf8_is_digit(v), pc.less(pc.utf8_length(v), 10)).to_numpy(zero_copy_only=False)
        line_no[svc_cum[p[ok]] - 1] = pc.cast(v.filter(pa.array(ok)), pa.int64()).to_numpy()
    p = where("LQ", line_level, "HE")
    remarks = pa.array(np.full(n_lines, "", object), pa.string()) if not len(p) else None
    if len(p):
        rows = svc_cum[p] - 1
        v = split(p, 2)[2]
        if len(np.unique(rows)) == len(rows):
            remarks = gather(rows, v, n_lines)
        else:  # several remarks on a line: joined by spaces, in the file's order
            joined: dict[int, str] = {}
            for r, code_ in zip(rows.tolist(), v.to_pylist(), strict=True):
                joined[r] = f"{joined[r]} {code_}" if r in joined else code_
            keys = np.array(list(joined), np.int64)
            remarks = gather(keys, pa.array(list(joined.values()), pa.string()), n_lines)
    modifiers = pc.binary_join_element_wise(*submitted[2:6], " ")
    modifiers = pc.utf8_trim_whitespace(pc.replace_substring_regex(modifiers, r"\s+", " "))
    # claims without a service line: one line 0 carrying the claim's amounts
    per_claim = np.bincount(s_claim, minlength=n_claims) if n_claims else np.zeros(0, np.int64)
    bare = np.flatnonzero(per_claim == 0)
    k = len(bare)
    row_claim = np.concatenate([s_claim, bare]).astype(np.int64)
    rc = pa.array(row_claim, pa.int64())
    blank = pa.array(np.full(k, "", object), pa.string())
    bare_a = pa.array(bare, pa.int64())

    def both(a, b) -> pa.Array:
        return pa.concat_arrays([a.cast(pa.string()), b.cast(pa.string())])

    ct = pa.array(c_tx[row_claim], pa.int64())
    one = pa.array(np.zeros(len(row_claim), np.int64))
    table = {
        "file": pa.array([str(path)], pa.string()).take(one),
        "interchange": pa.array([isa13], pa.string()).take(one),
        "transaction": pa.array(st02s, pa.string()).take(ct),
        "payer": payer.take(ct), "payer_id": payer_id.take(ct), "payee_npi": payee.take(ct),
        "remit_date": _dates(remit.take(ct)),
        "claim": pa.array(claim_no + 1 + row_claim, pa.int64()), "claim_id": claim_id.take(rc),
        "claim_status": status.take(rc), "payer_claim_id": icn.take(rc),
        "claim_billed": pa.array(c_billed[row_claim], pa.float64()),
        "claim_paid": pa.array(c_paid[row_claim], pa.float64()), "rendering_npi": npi.take(rc),
        "line": pa.array(np.concatenate([line_no, np.zeros(k, np.int64)]), pa.int32()),
        "qualifier": both(submitted[0], blank), "procedure_code": both(submitted[1], blank),
        "modifiers": both(modifiers, blank), "adjudicated_code": both(adjudicated[1], blank),
        "billed": pa.array(np.concatenate([floats(e[2], sp, "SVC", "SVC02 charge"), c_billed[bare]]), pa.float64()),
        "paid": pa.array(np.concatenate([floats(e[3], sp, "SVC", "SVC03 payment"), c_paid[bare]]), pa.float64()),
        "units": pa.array(np.concatenate([floats(units_text, sp, "SVC", "SVC05 units"), np.zeros(k)]), pa.float64()),
        "service_date": _dates(both(service, start.take(bare_a))), "remarks": both(remarks, blank),
        "reversal": pc.equal(status.take(rc), REVERSAL),
        "segment": pa.array(np.concatenate([seen + 1 + sp, seen + 1 + cp[bare]]), pa.int64()),
    }
    lines_table = pa.table(table, schema=LINE_SCHEMA)

    # adjustments: up to six (reason, amount, quantity) triples per CAS
    p = np.flatnonzero(mask("CAS"))
    parts = []
    if len(p):
        cas = seg.take(pa.array(p, pa.int64()))
        pieces = pc.split_pattern(cas, elem)
        lengths = pc.list_value_length(pieces).to_numpy(zero_copy_only=False)
        short = lengths < 4
        if short.any():
            j = int(np.argmax(short))
            raise err(p[j], "CAS", f"expected CAS*group*reason*amount, found {cas[j].as_py()[:40]!r}")
        group = pc.list_element(pieces, 1).cast(pa.string())
        bad = pc.invert(pc.is_in(group, pa.array(sorted(CAS_GROUPS)))).to_numpy(zero_copy_only=False)
        if bad.any():
            j = int(np.argmax(bad))
            raise err(p[j], "CAS", "expected CAS*group*reason*amount with a group code CO, OA, PI, PR or CR, found "
                                   f"group {group[j].as_py()[:10]!r}")
        is_line = line_level[p]
        row = np.where(is_line, svc_cum[p] - 1, -1)
        levels = pa.array(["claim", "line"], pa.string())
        for k3 in range(2, 19, 3):
            has = lengths > k3
            if not has.any():
                break
            hm = pa.array(has)
            sub = pieces if has.all() else pieces.filter(hm)
            sub_len = lengths[has]
            reason = pc.list_element(sub, k3).cast(pa.string())
            present = pc.not_equal(reason, "").to_numpy(zero_copy_only=False)
            amount = _element(sub, sub_len, k3 + 1)
            qty = _element(sub, sub_len, k3 + 2)
            if not present.all():
                pm = pa.array(present)
                reason, amount, qty = reason.filter(pm), amount.filter(pm), qty.filter(pm)
            at = p[has][present]
            parts.append(pa.table({
                "claim": pa.array(claim_no + clp_cum[at], pa.int64()), "row": pa.array(row[has][present], pa.int64()),
                "level": levels.take(pa.array(is_line[has][present].astype(np.int64))),
                "group": group.filter(hm).filter(pa.array(present)) if not has.all() or not present.all() else group,
                "carc": reason, "amount": pa.array(floats(amount, at, "CAS", "CAS amount"), pa.float64()),
                "quantity": pa.array(floats(qty, at, "CAS", "CAS quantity"), pa.float64(),
                                     mask=pc.equal(qty, "").to_numpy(zero_copy_only=False)),
            }, schema=ADJUSTMENT_SCHEMA))
    adj_table = pa.concat_tables(parts) if parts else ADJUSTMENT_SCHEMA.empty_table()
    return lines_table, adj_table, claim_no + n_claims, n


def _element(parts: pa.Array, lengths: np.ndarray, k: int) -> pa.Array:
    """Element k of each list, '' where a list is shorter."""
    longer = lengths > k
    if longer.all():
        return pc.list_element(parts, k).cast(pa.string())
    empty = pa.array(np.full(len(parts), "", object), pa.string())
    if not longer.any():
        return empty
    got = pc.list_element(parts.filter(pa.array(longer)), k).cast(pa.string())
    return pc.replace_with_mask(empty, pa.array(longer), got)


def _dates(values: pa.Array) -> pa.Array:
    return pc.cast(pc.strptime(values.cast(pa.string()), format="%Y%m%d", unit="s", error_is_null=True), pa.date32())
