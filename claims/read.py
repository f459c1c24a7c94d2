"""Check a claims CSV (its bytes, header and line count) and parse its fields into arrays the rules use; the
file is read, grouped by patient, by claims.partition."""

from __future__ import annotations

import csv
import datetime as dt
import queue
import re
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ingest.frames import object_frame
from ingest.model import ParseError
from ingest.systems import CPT, HCPCS

CLAIM_COLUMNS = (
    "claim_id", "line", "patient_id", "patient_sex", "date_of_service", "payer", "place_of_service",
    "procedure_code", "modifiers", "units", "minutes", "charge", "diagnosis_codes", "provider_npi",
)
REQUIRED_COLUMNS = (
    "claim_id", "line", "patient_id", "date_of_service", "payer", "place_of_service", "procedure_code",
    "units", "diagnosis_codes",
)
OPTIONAL_COLUMNS = tuple(c for c in CLAIM_COLUMNS if c not in REQUIRED_COLUMNS)
MAX_MODIFIERS = 4
MAX_DIAGNOSES = 12
DEFAULT_CHUNK_LINES = 125_000  # lines of a partition by patient (claims.partition): about 0.8 GB at the peak
# A service line is a few hundred bytes; a longer line than this is not a claims line, and it is refused before
# pandas and pyarrow see it (a 64 MiB line once aborted the process inside Arrow).
MAX_LINE_BYTES = 1 << 20
SCAN_BLOCK_BYTES = 1 << 20  # the raw file is checked this many bytes at a time (at most MAX_LINE_BYTES)
# A date of service outside these is a typing error (9999-12-31, 0202-06-03), never a date to check codes on;
# they also keep every date inside datetime64[ns], which wraps silently beyond 2262.
DOS_MIN, DOS_MAX = np.datetime64("1900-01-01", "D"), np.datetime64("2099-12-31", "D")


# One malformed-field finding: the line's position in the chunk, the field, its value, what was expected.
MALFORMED_COLUMNS = ("i", "field", "value", "expected")


def check_header(path: str | Path, columns: list[str], allow_unknown: bool = False) -> None:
    """Raise a ParseError naming the header row when a required column is missing or one is unknown."""
    seen = [c.strip() for c in columns]
    dup = sorted({c for c in seen if seen.count(c) > 1})
    if dup:
        raise ParseError(path, 1, f"column(s) {', '.join(dup)} appear more than once in the header")
    missing = [c for c in REQUIRED_COLUMNS if c not in seen]
    if missing:
        raise ParseError(path, 1, f"missing required column(s) {', '.join(missing)}; the header must name "
                                  f"{', '.join(REQUIRED_COLUMNS)} (optional: {', '.join(OPTIONAL_COLUMNS)})")
    unknown = [c for c in seen if c not in CLAIM_COLUMNS]
    if unknown and not allow_unknown:
        raise ParseError(path, 1, f"unknown column(s) {', '.join(unknown)}: expected only "
                                  f"{', '.join(CLAIM_COLUMNS)} (check the spelling, or pass "
                                  "--ignore-unknown-columns to scrub without them)")


def read_header(path: str | Path) -> list[str]:
    path = Path(path)
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        try:
            header = next(csv.reader(fh))
        except StopIteration:
            raise ParseError(path, 1, "expected a header row naming the claim columns, found an empty "
                                      "file") from None
        except csv.Error as exc:  # e.g. a header field longer than the csv module's field limit
            raise ParseError(path, 1, f"expected a header row naming the claim columns, found one that is not "
                                      f"CSV ({exc})") from None
    return header


# The raw bytes are checked before pandas (and the Arrow code under it) sees them: a line longer than
# MAX_LINE_BYTES, a control character, a carriage return inside a line, or an odd number of double quotes on a
# line is a ParseError naming the line. Control characters are refused rather than stripped: inside a value
# nobody can tell what they stood for (stripping "I10\x1eE11.9" joins two codes into one, splitting it invents
# a separator the sender did not write), several of them (\x0b \x0c \x1c-\x1f \x85 U+2028 U+2029) are line
# breaks to str.splitlines and to other tools, so they could move values between lines downstream, and a
# file that holds them (NUL bytes: a UTF-16 file) is usually not the claims export it looks like. Tab is
# allowed: it is ordinary whitespace, stripped from the ends of a value like a space.
_CONTROL_BYTES = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
# A block whose bytes are all outside this watch list but for its line feeds (the usual block) costs one
# bytes.translate, whose small result also counts the lines.
_UNWATCHED = bytes(b for b in range(256) if b not in _CONTROL_BYTES + b'\n\r"\xc2\xe2')
_CONTROL_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_C1_RE = re.compile(rb"\xc2[\x80-\x9f]")  # U+0080-U+009F in UTF-8, NEL (U+0085) among them
_LINE_SEPARATOR_RE = re.compile(rb"\xe2\x80[\xa8\xa9]")  # U+2028 LINE SEPARATOR, U+2029 PARAGRAPH SEPARATOR
_LONE_CR_RE = re.compile(rb"\r(?!\n)")
_CHAR_NAMES = {0x00: "NUL", 0x08: "backspace", 0x0B: "vertical tab", 0x0C: "form feed", 0x0D: "carriage return",
               0x1B: "escape", 0x1C: "file separator", 0x1D: "group separator", 0x1E: "record separator",
               0x1F: "unit separator", 0x7F: "delete", 0x85: "next line", 0x2028: "line separator",
               0x2029: "paragraph separator"}


@dataclass(frozen=True)
class RawLines:
    """What check_raw_lines saw: the file's lines (a last line without a line feed counts) and how many
    whitespace-only lines end it (pandas skips those)."""

    lines: int
    trailing_blank: int


def check_raw_lines(path: str | Path) -> RawLines:
    """Check a claims file's bytes before pandas reads them, and count its lines.

    Refused, as a ParseError naming the line (the physical line, 1 = the header): a line longer than
    MAX_LINE_BYTES; a control character (C0 but tab, DEL, C1, U+2028, U+2029); a carriage return that does not
    end a line (pandas would split the line there); a line with an odd number of double quotes (a quoted value
    that runs onto the next line, or a stray quote). Read in blocks of SCAN_BLOCK_BYTES, in bounded memory.
    """
    path = Path(path)
    limit = MAX_LINE_BYTES
    size = max(1, min(SCAN_BLOCK_BYTES, limit))
    lines = 0
    # carry: the start of a line not ended yet, at file offset `offset`; carry_w: its watched bytes
    offset, carry, carry_w = 0, b"", b""
    data = last = before = b""
    with path.open("rb") as fh:
        while data := fh.read(size):
            before, last = last, data
            first = data.find(b"\n")
            # A line longer than a block continues the carried bytes; every other line lies inside data, which
            # is at most size <= limit bytes.
            if len(carry) + (first if first >= 0 else len(data)) > limit:
                raise ParseError(path, _line_at(path, offset), f"expected a line of at most {limit:,} bytes, found "
                                 "a longer one: a claims file holds one service line per line")
            watched = data.translate(None, _UNWATCHED)
            if first < 0:  # all of data is inside one line
                carry, carry_w = carry + data, carry_w + watched
                continue
            end = data.rfind(b"\n") + 1
            newlines = watched.count(b"\n")
            tail_w = b""
            if carry_w or len(watched) != newlines:  # a byte to look at (if in the tail, it is looked at next time)
                tail_w = data[end:].translate(None, _UNWATCHED) if end < len(data) else b""
                pairs = (carry.count(b"\r\n") + data.count(b"\r\n", 0, end) + (carry[-1:] == b"\r" and first == 0)
                         if b"\r" in watched or b"\r" in carry_w else 0)
                _check_lines(path, carry_w + watched[:len(watched) - len(tail_w)], pairs,
                             lambda c=carry, d=data, e=end: c + d[:e], offset, final=False)
            lines += newlines
            offset += len(carry) + end
            carry, carry_w = data[end:], tail_w
    if carry:
        _check_lines(path, carry_w, carry.count(b"\r\n"), lambda: carry, offset, final=True)
        lines += 1  # the last line has no line feed
    last = before + last
    rest = last[len(last.rstrip(b" \t\r\n")):]  # the whitespace ending the file (within its last two blocks)
    blank = rest.count(b"\n") - 1 + (1 if rest.rstrip(b" \t\r") != rest and not rest.endswith(b"\n") else 0)
    return RawLines(lines, max(0, blank) if len(rest) < len(last) else 0)


def _check_lines(path: Path, watched: bytes, crlf: int, block_of, offset: int, final: bool) -> None:
    """Raise on the first refused byte of whole lines at file offset `offset`, judged on their watched bytes
    (in order, line feeds included) and their count of CRLF pairs; block_of() gives the lines' bytes, only
    made when a refused byte must be found or named."""
    other = watched.translate(None, b"\n")
    if not other:
        return
    block: list[bytes] = []

    def lines_bytes() -> bytes:
        if not block:
            block.append(block_of())
        return block[0]

    found: list[tuple[int, str]] = []  # (position in the lines, kind), the first one is reported
    if other.translate(None, b'"\r\xc2\xe2'):
        found += [(m.start(), "control") for m in [_CONTROL_RE.search(lines_bytes())] if m]
    if b"\xc2" in other:
        found += [(m.start(), "control") for m in [_C1_RE.search(lines_bytes())] if m]
    if b"\xe2" in other:
        found += [(m.start(), "control") for m in [_LINE_SEPARATOR_RE.search(lines_bytes())] if m]
    if b"\r" in other and other.count(b"\r") != crlf:
        text = lines_bytes()
        m = _LONE_CR_RE.search(text)
        if m and not (final and m.start() == len(text) - 1):  # a CR ending the file ends its last line
            found.append((m.start(), "cr"))
    if b'"' in other:  # the quotes of each line, counted on the watched bytes (each line's with its line feed)
        w = np.frombuffer(watched, np.uint8)
        starts = np.concatenate([[0], np.flatnonzero(w == 10) + 1])
        starts = starts[starts < len(w)]
        odd = np.flatnonzero(np.bitwise_xor.reduceat((w == 34).view(np.uint8), starts))
        if len(odd):
            k = int(np.count_nonzero(w[:starts[odd[0]]] == 10))  # the odd line's number in the lines, from 0
            feeds = np.flatnonzero(np.frombuffer(lines_bytes(), np.uint8) == 10)
            found.append((0 if not k else int(feeds[k - 1]) + 1, "quote"))
    if found:
        raise _raw_error(path, lines_bytes(), offset, *min(found))


def _raw_error(path: Path, block: bytes, offset: int, pos: int, kind: str) -> ParseError:
    start = block.rfind(b"\n", 0, pos) + 1
    stop = block.find(b"\n", pos)
    line_no = _line_at(path, offset + start)
    if kind == "quote":
        return ParseError(path, line_no, "expected double quotes in pairs around a value, found an odd number on "
                                         "this line: a value may not run onto the next line, and a quote inside "
                                         'a quoted value is written twice ("")')
    text = block[start:len(block) if stop < 0 else stop].decode("utf-8", errors="replace")
    at = len(block[start:pos].decode("utf-8", errors="replace"))
    code = ord(text[at]) if at < len(text) else 0
    where = _field_name(path, line_no, text, at)
    if kind == "cr":
        return ParseError(path, line_no, f"expected lines to end with LF or CRLF, found a carriage return inside "
                                         f"the line{where}: it would split the line in two")
    hint = " (a UTF-16 file has one in every character: save the file as UTF-8 CSV)" if code == 0 else ""
    return ParseError(path, line_no, f"expected text without control characters, found U+{code:04X} "
                                     f"({_CHAR_NAMES.get(code, 'control character')}){where}: it can split or "
                                     f"join values, so the file is not read; remove it{hint}")


def _field_name(path: Path, line_no: int, text: str, at: int) -> str:
    """' in <column>' for the character at `at` of a line (quote-aware comma count); '' when unknown."""
    if line_no == 1:
        return " in the header"
    field, quoted = 0, False
    for ch in text[:at]:
        if ch == '"':
            quoted = not quoted
        elif ch == "," and not quoted:
            field += 1
    try:
        header = [c.strip() for c in read_header(path)]
    except ParseError:
        header = []
    return f" in {header[field]}" if field < len(header) else f" in field {field + 1}"


def _line_at(path: Path, offset: int) -> int:
    """The line number (1 = first) of the byte at offset: the line feeds before it, counted (error path only)."""
    count, left = 0, offset
    with path.open("rb") as fh:
        while left > 0 and (data := fh.read(min(left, 1 << 24))):
            count += data.count(b"\n")
            left -= len(data)
    return count + 1


def _check_line_count(path: Path, raw: RawLines, records: int) -> None:
    """One record per line: pandas read as many records as the file has lines (but the header and the blank
    lines at its end), or the difference is explained line by line (csv module, this path only): blank lines
    in the middle are fine (pandas skips them); a quoted value running over several lines (a stray quote
    check_raw_lines' quote count let through) is a ParseError naming its lines."""
    if records + 1 + raw.trailing_blank == raw.lines:
        return
    rows = blank = 0
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        end = 0
        try:
            for row in reader:
                start, end = end + 1, reader.line_num
                if end > start:
                    raise ParseError(path, start, f"expected each service line on one line, found a quoted value "
                                                  f"that runs from line {start} to line {end} (a stray double "
                                                  "quote?)")
                rows += 1
                blank += not row or (len(row) == 1 and not row[0].strip(" \t"))
        except csv.Error as exc:
            raise ParseError(path, reader.line_num, f"expected a CSV row of claim fields, found one that is "
                                                    f"not ({exc})") from None
    if rows - 1 - blank != records:
        raise ParseError(path, None, f"expected one service line per line, found {records} rows in {rows - 1} "
                                     "lines below the header")


def _read(path: Path, read):
    """Run one pandas read; CSV shape errors become a ParseError naming the line."""
    try:
        with warnings.catch_warnings():
            # pandas only warns (and drops the extra values) when the first row is longer than the header
            warnings.simplefilter("error", pd.errors.ParserWarning)
            return read()
    except pd.errors.ParserWarning:
        line, (width, found) = _first_long_row(path)
        raise ParseError(path, line, f"expected at most {width} fields like the header, found {found} "
                                     "(a value with a comma must be quoted)") from None
    except pd.errors.ParserError as exc:
        raise ParseError(path, None, f"expected a CSV file with one row per service line: {exc}".strip()) from None


def _first_long_row(path: Path) -> tuple[int | None, tuple[int, int]]:
    with path.open(newline="", encoding="utf-8-sig", errors="replace") as fh:
        reader = csv.reader(fh)
        try:
            width = len(next(reader, []))
            for row in reader:
                if len(row) > width:
                    return reader.line_num, (width, len(row))
        except csv.Error as exc:  # a value longer than the csv module's field limit
            raise ParseError(path, reader.line_num, f"expected a CSV row of claim fields, found one that is "
                                                    f"not ({exc})") from None
    return None, (width, width)


def procedure_code(value: str) -> str:
    """A procedure code as the rules compare it: stripped, upper case."""
    return value.strip().upper()


def service_days(texts) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dates of service as written (strings): (each as datetime64[D], NaT where it is not a date of service;
    unreadable: neither YYYY-MM-DD nor MM/DD/YYYY; outside: a date outside DOS_MIN..DOS_MAX). Parsed at day
    precision (pandas picks the unit; 9999-12-31 fits it, but not datetime64[ns], where it wraps to 1816)."""
    text = pd.Series(np.array([t.strip() for t in texts], dtype=object), dtype=object)
    day = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce").to_numpy().astype("datetime64[D]")
    retry = np.isnat(day)
    if retry.any():
        day[retry] = pd.to_datetime(text[retry], format="%m/%d/%Y", errors="coerce").to_numpy().astype(
            "datetime64[D]")
    outside = ~np.isnat(day) & ((day < DOS_MIN) | (day > DOS_MAX))
    unreadable = np.isnat(day)
    day[outside] = np.datetime64("NaT")
    return day, unreadable, outside


@dataclass(frozen=True)
class CodeSpan:
    """The distinct procedure codes of a whole claims file (as the rules compare them) and the span of its dates
    of service: what the scrubber reads the edit tables for once per file (claims.reference.EditReference.warm),
    not once per partition. Made from the distinct values as written (claims.partition collects them while it
    spills the file)."""

    codes: tuple[str, ...]  # sorted, no empty code
    first: dt.date
    last: dt.date

    @classmethod
    def of(cls, codes, dates) -> CodeSpan | None:
        """The span of these distinct procedure codes and dates as written; None when no date is one."""
        day, _, _ = service_days(dates)
        day = day[~np.isnat(day)]
        if not len(day):
            return None
        normal = sorted({procedure_code(c) for c in codes} - {""})
        return cls(tuple(normal), day.min().item(), day.max().item())

    def covers(self, codes, first: dt.date, last: dt.date) -> bool:
        """Whether a partition of these codes and dates lies inside the span (its edit tables are the span's)."""
        return self.first <= first and last <= self.last and set(codes) <= set(self.codes)


@dataclass
class Lines:
    """One chunk of service lines, parsed: a frame of typed columns, modifiers, diagnoses, bad fields."""

    frame: pd.DataFrame  # row, claim_id, line, patient_id, patient_key (an integer per patient), sex, npi, payer,
    # pos, code, code_kind, dos, day, units, minutes, charge, claim_key, visit_key (claim and date), provider_day
    # (patient, provider and date), n_dx
    dx: pd.DataFrame  # long: i (line position), k (0 = primary), code (no dot, upper case), cid (in dx_vocab)
    malformed: pd.DataFrame  # MALFORMED_COLUMNS
    code_ids: np.ndarray  # (n,) index of each line's procedure code in code_vocab
    code_vocab: pd.Index
    mod_ids: np.ndarray  # (n, 4) index of each modifier in mod_vocab, -1 where none
    mod_vocab: pd.Index
    dx_vocab: np.ndarray = field(default_factory=lambda: np.array([], dtype=object))  # dx["cid"] indexes it
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def mods(self) -> np.ndarray:
        """(n, 4) object array of the modifiers, '' where none (made from mod_ids when first asked)."""
        if "mods" not in self._cache:
            self._cache["mods"] = self.mod_text(self.mod_ids)
        return self._cache["mods"]

    def mod_text(self, ids: np.ndarray) -> np.ndarray:
        """The modifiers of mod_ids values (any shape), '' for -1 (no modifier)."""
        return np.append(self.mod_vocab.to_numpy(object), "").astype(object)[ids]

    def code_in(self, codes) -> np.ndarray:
        """(n,) bool: the line's procedure code is one of codes (a set lookup per distinct code of the lines: the
        rule file's lists hold up to some 10,000 codes, which isin would hash again for every partition)."""
        codes = codes if isinstance(codes, frozenset) else frozenset(codes)
        key = ("code", codes)
        if key not in self._cache:
            vocab = self.code_vocab
            self._cache[key] = np.fromiter((c in codes for c in vocab), bool, len(vocab))[self.code_ids]
        return self._cache[key]

    def factorized(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        """(ids, values) of a frame column, values[ids] == frame[column]: as parse_lines made the column (the
        normalised distinct raw values, which may repeat a value), else pd.factorize of it (cached)."""
        key = ("codes", column)
        if key not in self._cache:
            ids, uniques = pd.factorize(self.frame[column].to_numpy(object))
            self._cache[key] = (ids, np.asarray(uniques, dtype=object))
        return self._cache[key]

    def keep_factorized(self, column: str, ids: np.ndarray, values: np.ndarray) -> None:
        """Record how parse_lines made a column (values[ids]), for factorized()."""
        self._cache[("codes", column)] = (np.asarray(ids), np.asarray(values, dtype=object))

    def equals(self, column: str, value: str) -> np.ndarray:
        """(n,) bool: frame[column] == value, compared once per distinct value of the column (cached)."""
        key = ("eq", column, value)
        if key not in self._cache:
            ids, values = self.factorized(column)
            self._cache[key] = (values == value)[ids] if len(ids) else np.zeros(0, bool)
        return self._cache[key]

    def code_key(self) -> np.ndarray:
        """(n,) int64: one integer per distinct procedure code (as cleaned: ' 97110' and '97110' are one)."""
        if "code_key" not in self._cache:
            self._cache["code_key"] = pd.factorize(self.code_vocab.to_numpy(object))[0].astype(np.int64)[
                self.code_ids] if len(self.code_ids) else np.zeros(0, np.int64)
        return self._cache["code_key"]

    def mods_isin(self, values) -> np.ndarray:
        """(n, 4) bool: which modifier slots hold one of values."""
        key = ("mods", frozenset(values))
        if key not in self._cache:
            lookup = np.append(self.mod_vocab.isin(list(values)), False)  # -1 (no modifier) -> False
            self._cache[key] = lookup[self.mod_ids]
        return self._cache[key]

    def has_mod(self, values) -> np.ndarray:
        key = ("has", frozenset(values))
        if key not in self._cache:
            self._cache[key] = any_slot(self.mods_isin(values))
        return self._cache[key]

    def any_mod(self) -> np.ndarray:
        """(n,) bool: the line carries a modifier."""
        if "any" not in self._cache:
            self._cache["any"] = any_slot(self.mod_ids >= 0)
        return self._cache["any"]


def any_slot(m: np.ndarray) -> np.ndarray:
    """m.any(axis=1) of an (n, k) bool array with few columns, as k - 1 ORs of its columns (numpy's reduction
    along a short row axis is several times slower)."""
    out = m[:, 0].copy() if m.shape[1] else np.zeros(len(m), bool)
    for slot in range(1, m.shape[1]):
        out |= m[:, slot]
    return out


def _factorize(values: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(id per line, distinct values as an object array): a Coded column (claims.partition.coded_columns) or a
    categorical one (claims.partition.frame_of), both from Arrow's dictionary encoding, gives its codes and
    distinct values as they are, without a hash per line."""
    if isinstance(values, Coded):
        return values.ids, values.values
    if isinstance(values.dtype, pd.CategoricalDtype):
        return values.cat.codes.to_numpy(np.int64), np.asarray(values.cat.categories, dtype=object)
    ids, uniques = pd.factorize(values.to_numpy(dtype=object))
    return ids, np.asarray(uniques, dtype=object)


def _per_unique(values: pd.Series, fn) -> tuple[np.ndarray, np.ndarray]:
    """(ids, results per unique value): fn runs once per distinct value, never once per line."""
    ids, uniques = _factorize(values)
    return ids, np.array([fn(u) for u in uniques], dtype=object) if len(uniques) else np.array([], object)


# A value that needs str.strip: one not all ASCII, or starting or ending with a space or control character (the
# ASCII characters str.strip removes); every other value is its own stripped form.
_MAY_STRIP = r"^[\x00-\x20]|[\x00-\x20]$"


def _string_buffers(values: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(offsets of each string, from 0; the UTF-8 bytes) of an Arrow string array without nulls, from its buffers."""
    if values.type == pa.large_string():
        width = np.int64
    elif values.type == pa.string():
        width = np.int32
    else:
        raise TypeError(values.type)
    n = len(values)
    offsets = np.frombuffer(values.buffers()[1], width)[values.offset: values.offset + n + 1].astype(np.int64)
    data = values.buffers()[2]
    start, end = int(offsets[0]), int(offsets[-1])
    raw = np.frombuffer(data, np.uint8)[start:end] if data is not None and end > start else np.zeros(0, np.uint8)
    return offsets - start, raw


def may_strip(values: pa.Array) -> np.ndarray:
    """(n,) bool: which strings str.strip may change (_MAY_STRIP: not all ASCII, or a first or last byte at or
    below a space), from the array's bytes; by the regular expression for an array it cannot read so."""
    if values.null_count or values.type not in (pa.string(), pa.large_string()):
        return pc.or_(pc.invert(pc.string_is_ascii(values)), pc.match_substring_regex(values, _MAY_STRIP)
                      ).to_numpy(zero_copy_only=False)
    offsets, raw = _string_buffers(values)
    out = np.zeros(len(values), bool)
    if len(raw) and (raw >= 0x80).any():
        out |= ~pc.string_is_ascii(values).to_numpy(zero_copy_only=False)
    k = np.flatnonzero(offsets[1:] > offsets[:-1])  # the non-empty strings
    out[k] |= (raw[offsets[:-1][k]] <= 0x20) | (raw[offsets[1:][k] - 1] <= 0x20)
    return out


def stripped(values: pa.Array) -> np.ndarray:
    """The strings of an Arrow array (a dictionary: the distinct values), each as str.strip gives it, as an object
    array; str.strip runs in Python only on the values that may change (_MAY_STRIP)."""
    return _stripped_changed(values)[0]


def _stripped_changed(values: pa.Array) -> tuple[np.ndarray, bool]:
    """stripped(values), and whether str.strip changed any value."""
    out = values.to_numpy(zero_copy_only=False).astype(object)
    changed = False
    if len(out):
        idx = np.flatnonzero(may_strip(values))
        if len(idx):
            new = [v.strip() for v in out[idx]]
            changed = any(s != v for s, v in zip(new, out[idx], strict=True))
            out[idx] = new
    return out, changed


def _stripped_ids(values) -> tuple[np.ndarray, np.ndarray, bool]:
    """_per_unique(values, str.strip), and whether the stripped values are still distinct (str.strip changed
    none of them): then a factorization of them is their own order, and is skipped. A Coded column's values
    are stripped by stripped() (str.strip in Python only for the values that may change)."""
    if isinstance(values, Coded) and values.arrow is not None:
        out, changed = _stripped_changed(values.arrow)
        return values.ids, out, not changed and not (values.ids < 0).any()
    ids, uniques = _factorize(values)
    out = np.array([u.strip() for u in uniques], dtype=object) if len(uniques) else np.array([], object)
    # (a missing value's id -1: the factorization is asked for, as it always was)
    return ids, out, all(s == u for s, u in zip(out.tolist(), list(uniques), strict=True)) and not (ids < 0).any()


def _norm_pos(value: str) -> str:
    v = value.strip()
    return v.zfill(2) if v.isdigit() and len(v) < 2 else v


def _code_kind(code: str) -> str:
    """cpt or hcpcs by the registry's code shapes (ingest.systems); other or empty otherwise."""
    if CPT.kind_of(code) == "code":
        return "cpt"
    if HCPCS.kind_of(code) == "procedure":
        return "hcpcs"
    return "other" if code else "empty"


# A number pyarrow and pandas read alike (at most 15 significant digits: both round it correctly), and that
# str.strip and the '$' and ',' removal leave as it is.
_PLAIN_NUMBER = r"^[0-9]{1,9}(\.[0-9]{1,6})?$"


def _numbers(values: pd.Series | Coded) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value per line as float, blank mask, unreadable mask); '$1,250.00' reads as 1250. A Coded column's plain
    numbers (_PLAIN_NUMBER) are cast by pyarrow, the other distinct values read as below."""
    if isinstance(values, Coded) and values.arrow is not None:
        ids, arrow = values.ids, values.arrow
        num, blank = np.full(len(arrow), np.nan), np.zeros(len(arrow), bool)
        plain = pc.match_substring_regex(arrow, _PLAIN_NUMBER).to_numpy(zero_copy_only=False) if len(arrow) else blank
        if plain.any():
            num[plain] = pc.cast(arrow.filter(pa.array(plain)), pa.float64()).to_numpy()
        rest = np.flatnonzero(~plain)
        if len(rest):
            num[rest], blank[rest] = _read_numbers(arrow.take(pa.array(rest)).to_numpy(zero_copy_only=False))
    else:
        ids, uniques = _factorize(values)
        num, blank = _read_numbers(uniques)
    return num[ids], blank[ids], (~blank & ~np.isfinite(num))[ids]


def _read_numbers(uniques) -> tuple[np.ndarray, np.ndarray]:
    """(value as float, blank) of distinct strings: stripped, a leading '$' and every ',' removed."""
    text = pd.Series(uniques, dtype=object).str.strip()
    num = pd.to_numeric(text.str.replace(r"^\$|,", "", regex=True), errors="coerce").to_numpy(float)
    return num, (text == "").to_numpy(bool)


def _split_tokens(values: pd.Series, sep: str, clean) -> tuple[np.ndarray, ...]:
    """Split a list-valued column: (line index per token, position in the line, the token's index in the
    distinct cleaned tokens, those tokens); a token's text is vocab[token_ids].

    The distinct values are joined into one string and split once (C speed), so the cost does not grow with
    Python work per line or per distinct value; clean() runs once per distinct token.
    """
    if isinstance(values, Coded) and values.arrow is not None:
        ids, n_u = values.ids, len(values.arrow)
    else:
        ids, uniques = _factorize(values)
        n_u = len(uniques)
    if not n_u:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64), np.array([], dtype=object)
    if isinstance(values, Coded) and values.arrow is not None:
        # split by pyarrow: each distinct value's pieces (as str.split gives them), numbered in order of first
        # appearance as pd.factorize numbers them
        split = pc.split_pattern(values.arrow, sep)
        owner = np.repeat(np.arange(n_u), pc.list_value_length(split).to_numpy(zero_copy_only=False))
        encoded = pc.list_flatten(split).dictionary_encode()
        tok_ids = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
        tok_u = encoded.dictionary.to_numpy(zero_copy_only=False).astype(object)
        return _tokens(ids, n_u, owner, tok_ids, tok_u, clean)
    # The distinct values are joined with a mark between them. The mark must not occur in any value: a value
    # holding it (a "\x1e" diagnosis) was taken for a boundary and moved every later code to the next claim.
    # It is looked for in the joined string (one C-speed count); when a value holds it, each value's pieces are
    # counted instead (slower, exact; claims files cannot hold it, check_raw_lines refuses control characters).
    mark = "\x1e"
    joined = (sep + mark + sep).join(uniques)
    if joined.count(mark) == len(uniques) - 1:
        parts = np.array(joined.split(sep), dtype=object)
        is_mark = parts == mark
        owner = np.cumsum(is_mark)[~is_mark]  # which distinct value each piece came from
        pieces = parts[~is_mark]
    else:
        per_value = np.array([u.count(sep) + 1 for u in uniques], dtype=np.int64)
        owner = np.repeat(np.arange(len(uniques)), per_value)
        pieces = np.array(sep.join(uniques).split(sep), dtype=object)
    tok_ids, tok_u = pd.factorize(pieces)
    return _tokens(ids, len(uniques), owner, tok_ids, tok_u, clean)


def _tokens(ids: np.ndarray, n_u: int, owner: np.ndarray, tok_ids: np.ndarray, tok_u, clean
            ) -> tuple[np.ndarray, ...]:
    """_split_tokens from the pieces of the distinct values: owner (the distinct value of each piece), tok_ids
    (each piece's index in tok_u, the distinct pieces)."""
    n = len(ids)
    cleaned = np.array([clean(t) for t in tok_u], dtype=object)
    clean_ids, vocab = pd.factorize(cleaned)  # the distinct cleaned tokens ("e11.9" and "E11.9" are one)
    vocab = np.asarray(vocab, dtype=object)
    tok = clean_ids[tok_ids]
    keep = (cleaned != "")[tok_ids]
    owner, tok = owner[keep], tok[keep]
    counts_u = np.bincount(owner, minlength=n_u).astype(np.int64)
    starts_u = np.concatenate([[0], np.cumsum(counts_u)[:-1]])
    counts = counts_u[ids]
    ends = np.cumsum(counts)
    total = int(ends[-1]) if n else 0
    # each token's line: a line's tokens start where the ones before it end (a count of the line ends at or
    # before each token, where np.repeat of the counts loops per line)
    line_idx = np.cumsum(np.bincount(ends[:-1], minlength=total + 1)[:total]) if n else np.zeros(0, np.int64)
    pos = np.arange(total) - (ends - counts)[line_idx]
    token_ids = tok[starts_u[ids][line_idx] + pos].astype(np.int64)
    return line_idx, pos, token_ids, vocab


class Coded:
    """A column as Arrow's dictionary encoding gives it (claims.partition.coded_columns): a code per line into
    its distinct strings, with none of a pandas Categorical's checks. The distinct strings are an object array,
    or an Arrow array (`arrow`) made into Python strings only when asked for (`values`): the columns parsed in
    Arrow (numbers, diagnosis and modifier lists) never make a Python string per distinct value."""

    __slots__ = ("ids", "arrow", "_values")

    def __init__(self, ids: np.ndarray, values: np.ndarray | None = None, arrow: pa.Array | None = None):
        self.ids = ids  # (n,) int64
        self.arrow = arrow
        self._values = values

    @property
    def values(self) -> np.ndarray:
        """The distinct strings, object."""
        if self._values is None:
            self._values = self.arrow.to_numpy(zero_copy_only=False).astype(object)
        return self._values

    def __len__(self) -> int:
        return len(self.ids)

    def take(self, idx: np.ndarray) -> np.ndarray:
        if self._values is None:
            return self.arrow.take(pa.array(self.ids[idx])).to_numpy(zero_copy_only=False).astype(object)
        return self.values[self.ids[idx]]


def parse_lines(frame: pd.DataFrame | dict) -> Lines:
    """Type every column of a chunk; unreadable values become malformed-field rows, never exceptions. frame: a
    DataFrame of the claim columns (strings or categoricals) and optionally _row, or a dict of Coded columns and
    _row (claims.partition.coded_columns)."""
    coded = isinstance(frame, dict)
    n = len(frame["_row"]) if coded else len(frame)
    bad: list[pd.DataFrame] = []

    def flag(mask: np.ndarray, field: str, values, expected: str) -> None:
        idx = np.flatnonzero(mask)
        if len(idx):
            if isinstance(values, Coded):
                vals = values.take(idx)
            elif isinstance(values, pd.Series):
                vals = values.take(idx).to_numpy(dtype=object)
            else:
                vals = np.asarray(values, dtype=object)[idx] if not isinstance(values, str) else values
            bad.append(object_frame({"i": idx, "field": np.full(len(idx), field, dtype=object),
                                     "value": vals, "expected": np.full(len(idx), expected, dtype=object)}))

    raw = {c: frame[c] if coded or isinstance(frame[c].dtype, pd.CategoricalDtype) else frame[c].astype(object)
           for c in CLAIM_COLUMNS}
    strip_ids, strip_u, claims_distinct = _stripped_ids(raw["claim_id"])
    claim_id = strip_u[strip_ids] if n else np.array([], object)
    patient_ids, patient_u, patients_distinct = _stripped_ids(raw["patient_id"])
    line_ids, line_u, _ = _stripped_ids(raw["line"])
    line = line_u[line_ids] if n else np.array([], object)
    code_ids, code_u = _per_unique(raw["procedure_code"], procedure_code)
    code = code_u[code_ids] if n else np.array([], object)
    kind_u = np.array([_code_kind(c) for c in code_u], dtype=object)
    code_kind = kind_u[code_ids] if n else np.array([], object)
    pos_ids, pos_u = _per_unique(raw["place_of_service"], _norm_pos)
    pos = pos_u[pos_ids] if n else np.array([], object)
    payer_ids, payer_u = _per_unique(raw["payer"], lambda v: v.strip().upper())
    sex_ids, sex_u = _per_unique(raw["patient_sex"], lambda v: v.strip().upper())
    npi_ids, npi_u, npis_distinct = _stripped_ids(raw["provider_npi"])

    for name, values, ids_u, values_u in (("claim_id", claim_id, strip_ids, strip_u), ("line", line, line_ids, line_u),
                                          ("procedure_code", code, code_ids, code_u),
                                          ("place_of_service", pos, pos_ids, pos_u)):
        # compared once per distinct value
        empty = (values_u == "")[ids_u] if n else np.zeros(0, bool)
        flag(empty, name, values, "is empty: it is required on every line")

    # Dates: ISO first, then MM/DD/YYYY; anything else is malformed and the line gets no date; a date outside
    # DOS_MIN..DOS_MAX is malformed too, before anything becomes datetime64[ns] (service_days).
    d_ids, d_u = _factorize(raw["date_of_service"])
    day_u, unreadable_u, outside_u = service_days(d_u)
    dos_u = day_u.astype("datetime64[ns]")
    dos = dos_u[d_ids] if n else np.array([], "datetime64[ns]")
    text_u = np.where(np.isnat(dos_u), "an unreadable date", np.datetime_as_string(dos_u, unit="D")).astype(object)
    dos_text = text_u[d_ids] if n else np.array([], object)
    flag(unreadable_u[d_ids] if n else np.zeros(0, bool), "date_of_service", raw["date_of_service"],
         "is not a date (YYYY-MM-DD or MM/DD/YYYY)")
    flag(outside_u[d_ids] if n else np.zeros(0, bool), "date_of_service", raw["date_of_service"],
         f"is not a date of service between {DOS_MIN} and {DOS_MAX}")
    day = dos.astype("datetime64[D]").astype(np.int64)

    units, units_blank, units_bad = _numbers(raw["units"])
    units_ok = ~units_blank & ~units_bad & (units >= 1) & (np.mod(np.nan_to_num(units), 1) == 0)
    flag(~units_ok, "units", raw["units"], "is not a whole number of units of at least 1")
    units = np.where(units_ok, units, np.nan)
    minutes, minutes_blank, minutes_bad = _numbers(raw["minutes"])
    minutes_ok = minutes_blank | (~minutes_bad & (minutes >= 0))
    flag(~minutes_ok, "minutes", raw["minutes"], "is not a number of minutes")
    minutes = np.where(minutes_ok & ~minutes_blank, minutes, np.nan)
    charge, charge_blank, charge_bad = _numbers(raw["charge"])
    charge_ok = charge_blank | (~charge_bad & (charge >= 0))
    flag(~charge_ok, "charge", raw["charge"], "is not an amount")
    charge = np.where(charge_ok & ~charge_blank, charge, np.nan)

    # Modifiers: up to four, separated by spaces.
    m_line, m_pos, m_ids, mod_vocab = _split_tokens(raw["modifiers"], " ", lambda t: t.strip().upper())
    m_count = np.bincount(m_line, minlength=n)
    flag(m_count > MAX_MODIFIERS, "modifiers", raw["modifiers"],
         f"holds more than {MAX_MODIFIERS} modifiers; a claim line holds at most {MAX_MODIFIERS}")
    keep = m_pos < MAX_MODIFIERS
    mod_ids = np.full((n, MAX_MODIFIERS), -1, dtype=np.int64)
    mod_ids[m_line[keep], m_pos[keep]] = m_ids[keep]

    # Diagnoses: up to twelve, separated by ';', the first is primary; dots and case do not matter.
    x_line, x_pos, x_ids, dx_vocab = _split_tokens(raw["diagnosis_codes"], ";",
                                                   lambda t: t.strip().upper().replace(".", ""))
    x_count = np.bincount(x_line, minlength=n)
    flag(x_count > MAX_DIAGNOSES, "diagnosis_codes", raw["diagnosis_codes"],
         f"holds more than {MAX_DIAGNOSES} diagnosis codes; a claim holds at most {MAX_DIAGNOSES}")
    keep = x_pos < MAX_DIAGNOSES
    x_ids = x_ids[keep]
    dx = object_frame({"i": x_line[keep], "k": x_pos[keep], "code": dx_vocab[x_ids], "cid": x_ids})

    # one key per stripped claim id (factorized on the distinct ids, not on the lines)
    claim_key = (np.asarray(strip_ids, np.int64) if claims_distinct else pd.factorize(strip_u)[0].astype(np.int64)[
        strip_ids]) if n else np.zeros(0, np.int64)
    has_day = ~np.isnat(dos)
    base = int(day[has_day].min()) if has_day.any() else 0
    visit_raw = np.where(has_day, claim_key * 1_000_000 + (day - base), -1)
    visit_key = np.where(has_day, pd.factorize(visit_raw)[0], -1) if n else np.zeros(0, np.int64)

    # The key CMS applies the PTP edits and the date-of-service MUEs by, across claims: the beneficiary, the
    # rendering provider and the date of service (a file without provider_npi: the beneficiary and date).
    if n:
        patient_key = (np.asarray(patient_ids, np.int64) if patients_distinct else  # one per stripped patient id
                       pd.factorize(patient_u)[0][patient_ids].astype(np.int64))
        npi_key = np.asarray(npi_ids if npis_distinct else pd.factorize(npi_u)[0][npi_ids], np.int64)
        who = patient_key * np.int64(len(npi_u) + 1) + npi_key
        who = pd.factorize(who)[0].astype(np.int64)
        npi_key = np.where((npi_u == "")[npi_ids], -1, npi_key) if len(npi_u) else npi_key  # blank: -1
        provider_day = np.where(has_day, pd.factorize(np.where(has_day, who * 1_000_000 + (day - base), -1))[0],
                                -1).astype(np.int64)
    else:
        provider_day = patient_key = npi_key = np.zeros(0, np.int64)

    out = object_frame({
        "row": (np.asarray(frame["_row"], np.int64) if coded else frame["_row"].to_numpy(np.int64)) if "_row" in frame
        else np.arange(n, dtype=np.int64) + 2,
        "claim_id": claim_id,
        "line": line,
        "patient_id": patient_u[patient_ids] if n else np.array([], object),
        "patient_key": patient_key,
        "sex": sex_u[sex_ids] if n else np.array([], object),
        "npi": npi_u[npi_ids] if n else np.array([], object),
        "npi_key": npi_key,  # one integer per stripped NPI, -1 blank
        "payer": payer_u[payer_ids] if n else np.array([], object),
        "pos": pos,
        "code": code,
        "code_kind": code_kind,
        "dos": dos,
        "dos_text": dos_text,  # YYYY-MM-DD for messages ('an unreadable date' when malformed)
        "day": day,
        "units": units,
        "minutes": minutes,
        "charge": charge,
        "claim_key": claim_key,
        "visit_key": visit_key.astype(np.int64),
        "provider_day": provider_day,
        "n_dx": np.minimum(x_count, MAX_DIAGNOSES),
    })
    malformed = pd.concat(bad, ignore_index=True) if bad else pd.DataFrame(
        {c: pd.Series(dtype=object if c != "i" else np.int64) for c in MALFORMED_COLUMNS})
    lines = Lines(out, dx, malformed, code_ids.astype(np.int64) if n else np.zeros(0, np.int64),
                  pd.Index(code_u, dtype=object), mod_ids, pd.Index(mod_vocab, dtype=object), dx_vocab)
    if n:  # the columns made from their distinct raw values: the rules compare those, never each line's string
        for column, ids, values in (("pos", pos_ids, pos_u), ("code_kind", code_ids, kind_u),
                                    ("payer", payer_ids, payer_u), ("sex", sex_ids, sex_u)):
            lines.keep_factorized(column, ids, values)
    return lines


def prefetch(items: Iterator, depth: int = 1) -> Iterator:
    """The items of an iterator, produced one ahead in a background thread: the scrubber's next partition is
    read back, parsed and its reference tables looked up (claims.scrub) while the rules run on this one
    (Arrow, numpy and pandas release the GIL for much of it). At most `depth`
    items wait, so memory stays bounded; an exception in the producer is raised here, in order. Neither thread
    keeps an item once it is handed on: the consumer may free it (claims.partition drops each block once
    spilled)."""
    slots: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    end = object()

    def offer(entry: tuple) -> bool:
        """Hand an entry over, unless the consumer has stopped (then never block)."""
        while not stop.is_set():
            try:
                slots.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                entry, item = (item, None), None
                if not offer(entry):
                    return
                entry = None
            offer((end, None))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            offer((end, exc))
        finally:
            if hasattr(items, "close"):
                items.close()  # a generator reading a file closes it here, in its own thread

    worker = threading.Thread(target=produce, name="codegov-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item, exc = slots.get()
            if item is end:
                if exc is not None:
                    raise exc
                return
            held, item = [item], None
            yield held.pop()
    finally:
        stop.set()
        worker.join(timeout=5)
