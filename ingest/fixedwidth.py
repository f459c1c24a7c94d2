"""Fixed-width text files read column-wise with Arrow: lines, whole-file validation, field slices."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ingest.layouts import Layout
from ingest.model import ParseError
from ingest.readers import read_official_bytes

_DELIMITER = b"\x1f"  # a byte no official text file holds, so each line is one CSV field
_ONE_COLUMN = dict(
    read_options=pcsv.ReadOptions(column_names=["line"], block_size=1 << 22),
    parse_options=pcsv.ParseOptions(delimiter=_DELIMITER.decode(), quote_char=False, escape_char=False,
                                    ignore_empty_lines=False),
    convert_options=pcsv.ConvertOptions(column_types={"line": pa.binary()}, strings_can_be_null=False),
)


MAX_LINE_BYTES = 64 * 1024


def read_lines(path: Path, layout: Layout) -> pa.ChunkedArray:
    """Every line of an ASCII fixed-width file (CR LF or LF), validated against the layout column-wise.

    Lines are Arrow binary values; each check runs over a whole column of one field at a time. The
    first line that fails raises ParseError naming its line number and the field, as read in Python.
    """
    data = read_official_bytes(path, layout.encoding, f"an {layout.name}")  # empty, HTML, non-ASCII
    lines = binary_lines(path, data, layout)
    ok = _valid(lines, layout)
    if not pc.all(ok).as_py():
        first_bad = pc.index(ok, False).as_py()
        raise_line_problem(path, first_bad + 1, lines[first_bad].as_py().decode("ascii"), layout)
    return lines


def binary_lines(path: Path, data: bytes, layout: Layout) -> pa.ChunkedArray:
    """The lines of a file's bytes (CR LF or LF) as Arrow binary values, split in C. A line longer than
    MAX_LINE_BYTES (no official record comes near it) is refused, naming it, before Arrow sees it."""
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == 10)
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [len(data)]))
    long_lines = np.flatnonzero(stops - starts > MAX_LINE_BYTES)
    if len(long_lines):
        n = int(long_lines[0])
        raise ParseError(path, n + 1, f"expected {layout.name} records of at most {MAX_LINE_BYTES:,} bytes, found a "
                                      f"line of {int(stops[n] - starts[n]):,} bytes")
    try:
        return pcsv.read_csv(pa.py_buffer(data), **_ONE_COLUMN).column("line")
    except pa.ArrowInvalid as exc:
        at = data.find(_DELIMITER)  # the one byte the splitter cannot take: name its line
        if at >= 0:
            raise ParseError(path, data[:at].count(b"\n") + 1,
                             f"expected {layout.name} text, found control byte 0x1f") from None
        raise ParseError(path, None, f"expected one {layout.name} record per line ({exc})") from None


def _valid(lines: pa.ChunkedArray, layout: Layout) -> pa.ChunkedArray:
    """True for each line that fits: every field's pattern on its own slice, blank gap columns, length."""
    checks = []
    pos = 1
    for f in layout.fields:
        for gap in range(pos, f.start):  # separator columns between fields must be blank
            checks.append(pc.equal(pc.binary_slice(lines, gap - 1, gap), b" "))
        if f.end is None:
            checks.append(pc.greater_equal(pc.binary_length(lines), f.start))
            if f.pattern:  # the open last field: its first character decides (not blank)
                checks.append(pc.match_substring_regex(pc.binary_slice(lines, f.start - 1, f.start), r"^\S$"))
            break
        if f.pattern:
            values = pc.binary_slice(lines, f.start - 1, f.end)
            checks.append(pc.match_substring_regex(values, f"^(?:{f.pattern})$"))
        pos = f.end + 1
    else:
        checks.append(pc.less_equal(pc.binary_length(lines), layout.fields[-1].end))
    ok = checks[0]
    for check in checks[1:]:
        ok = pc.and_(ok, check)
    return ok


def field(lines: pa.ChunkedArray, layout: Layout, name: str, strip: bool = True) -> pa.ChunkedArray:
    f = layout.field(name)
    values = pc.binary_slice(lines, f.start - 1, f.end if f.end else 1 << 30).cast(pa.string())
    return pc.ascii_rtrim_whitespace(values) if strip else values


def raise_line_problem(path: Path, number: int, line: str, layout: Layout) -> None:
    if not line.strip():
        raise ParseError(path, number, f"expected a {layout.name} line, found a blank line")
    bad = layout.first_problem(line)
    if bad is None:
        if not re.fullmatch(layout.line_pattern(), line):
            raise ParseError(path, number,
                             f"expected blank separator columns between fields ({layout.name}, {layout.spec})")
        raise ParseError(path, number, f"expected a {layout.name} line")  # pragma: no cover
    where = f"columns {bad.start}-{bad.end}" if bad.end else f"column {bad.start} onwards"
    found = line[bad.slice].rstrip() or "nothing"
    raise ParseError(path, number, f"expected {bad.expected} in {where}, found {found!r}")
