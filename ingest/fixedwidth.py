"""Fixed-width text files read column-wise with Arrow: lines, whole-file validation, field slices."""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from ingest.layouts import Layout
from ingest.model import ParseError
from ingest.readers import read_official_text

_ONE_COLUMN = dict(
    read_options=pcsv.ReadOptions(column_names=["line"], block_size=1 << 22),
    parse_options=pcsv.ParseOptions(delimiter="\x1f", quote_char=False, escape_char=False,
                                    ignore_empty_lines=False),
    convert_options=pcsv.ConvertOptions(column_types={"line": pa.string()}, strings_can_be_null=False),
)


def read_lines(path: Path, layout: Layout) -> pa.ChunkedArray:
    """Every line of an ASCII fixed-width file, CR removed, validated against the layout as a whole.

    The first line that does not fit the layout raises ParseError naming its line number and field.
    """
    text = read_official_text(path, layout.encoding, f"an {layout.name}")  # empty, HTML, encoding
    try:
        table = pcsv.read_csv(pa.py_buffer(text.encode("ascii")), **_ONE_COLUMN)
    except pa.ArrowInvalid as exc:
        raise ParseError(path, None, f"expected one {layout.name} record per line ({exc})") from None
    lines = pc.utf8_rtrim(table.column("line"), characters="\r")
    ok = pc.match_substring_regex(lines, f"^{layout.line_pattern()}$")
    if not pc.all(ok).as_py():
        first_bad = pc.index(ok, False).as_py()
        raise_line_problem(path, first_bad + 1, lines[first_bad].as_py(), layout)
    return lines


def field(lines: pa.ChunkedArray, layout: Layout, name: str, strip: bool = True) -> pa.ChunkedArray:
    f = layout.field(name)
    values = pc.utf8_slice_codeunits(lines, f.start - 1, f.end if f.end else 1 << 30)
    return pc.utf8_rtrim_whitespace(values) if strip else values


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
