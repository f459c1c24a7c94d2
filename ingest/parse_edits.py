"""Parsers for the CMS edit tables in their published layouts, each into an Arrow table (ingest.edit_store).

- NCCI PTP edits (ccipra-/ccioph-v<ver>r<rev>-f<n>.txt): tab-delimited, six header lines, 7 fields.
- NCCI MUE tables (MCR_MUE_<Setting>Services_Eff_MM-DD-YYYY.csv): Latin-1 CSV, an AMA notice record, a
  header record, unquoted data cells.
- NCCI add-on code edits (AOC_V<yyyy>Q<q>-F-MCR.txt): tab-delimited, columns found by their captions,
  Julian (YYYYDDD) or calendar (YYYYMMDD) dates.
- The physician fee schedule relative value file (PPRRVU<yyyy>_<Mon>_nonQPP.csv): ten header lines whose
  last five stack into column captions. Its DESCRIPTION column is never read into a table: for CPT codes
  it holds AMA text.

Every malformed line is a ParseError naming the file and line. Each parser also returns what its file
proves about itself (rows per file), for the proof in ingest.proof_edits.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc

from ingest.model import ParseError
from ingest.readers import read_official_bytes

CODE = r"[0-9A-Z]{5}"  # a CPT or HCPCS procedure code in the edit tables
_CODE = re.compile(CODE)

PTP_SCHEMA = pa.schema([
    ("setting", pa.string()), ("column1", pa.string()), ("column2", pa.string()), ("prior_1996", pa.bool_()),
    ("effective", pa.date32()), ("deletion", pa.date32()), ("modifier_indicator", pa.string()),
    ("rationale", pa.string()),
])
MUE_SCHEMA = pa.schema([
    ("setting", pa.string()), ("code", pa.string()), ("mue", pa.int32()), ("mai", pa.int8()),
    ("rationale", pa.string()),
])
AOC_SCHEMA = pa.schema([
    ("addon", pa.string()), ("primary", pa.string()), ("edit_type", pa.int8()), ("effective", pa.date32()),
    ("deletion", pa.date32()), ("notes", pa.string()),
])
MAI_NAMES = {1: "line edit", 2: "date of service edit: policy", 3: "date of service edit: clinical"}
AOC_TYPES = {1: "only the listed primary codes", 2: "no primary list: the contractor decides",
             3: "the listed primaries, and others the contractor allows"}
MODIFIER_INDICATORS = {"0": "no modifier allowed", "1": "a modifier allowed", "9": "not applicable"}


def _lines_of(data: bytes) -> list[bytes]:
    return data.split(b"\n")


def _first_bad_line(path: Path, data: bytes, start: int, check) -> tuple[int, str]:
    """(1-based line, text) of the first line from `start` (0-based) that check() refuses; the slow path,
    taken only once a vectorised check has failed."""
    for i, raw in enumerate(_lines_of(data)[start:], start + 1):
        line = raw.rstrip(b"\r").decode("cp1252", errors="replace")
        if line.strip() and not check(line):
            return i, line
    return start + 1, ""


# -- NCCI PTP ---------------------------------------------------------------------------------------------

PTP_FIELDS = ("column1", "column2", "prior_1996", "effective", "deletion", "modifier_indicator", "rationale")
HEADER_SEARCH_LINES = 20


def _ptp_header_end(path: Path, data: bytes) -> int:
    """The 0-based index of the first data line: after the caption line holding 'Column 1' and 'Column 2'
    and its continuation lines (which start with a tab)."""
    lines = _lines_of(data[:8192])
    for i, raw in enumerate(lines[:HEADER_SEARCH_LINES]):
        low = raw.decode("cp1252", errors="replace").lower()
        if "column 1" in low and "column 2" in low:
            j = i + 1
            while j < len(lines) and not _CODE.match(lines[j].decode("cp1252", errors="replace")):
                if lines[j].strip(b"\t\r ") and not lines[j].startswith(b"\t"):
                    break
                j += 1
            return j
    raise ParseError(path, None, "expected the NCCI PTP header (a line with 'Column 1' and 'Column 2', tab-"
                                 f"delimited) within the first {HEADER_SEARCH_LINES} lines")


def _ptp_line_ok(line: str) -> bool:
    cells = line.split("\t")
    return (len(cells) == 7 and bool(_CODE.fullmatch(cells[0].strip())) and bool(_CODE.fullmatch(cells[1].strip()))
            and cells[2].strip() in ("", "*") and bool(re.fullmatch(r"\d{8}", cells[3].strip()))
            and bool(re.fullmatch(r"\d{8}|\*", cells[4].strip())) and cells[5].strip() in MODIFIER_INDICATORS
            and _calendar(cells[3].strip()) and (cells[4].strip() == "*" or _calendar(cells[4].strip())))


def _calendar(text: str) -> bool:
    try:
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        return True
    except ValueError:
        return False


def _ptp_expected(line: str) -> str:
    cells = line.split("\t")
    if len(cells) != 7:
        return f"expected 7 tab-separated fields (the NCCI PTP layout), found {len(cells)}"
    names = ("a column 1 code (5 letters/digits)", "a column 2 code (5 letters/digits)", "'*' or nothing",
             "an effective date YYYYMMDD", "a deletion date YYYYMMDD or *", "a modifier indicator 0, 1 or 9")
    checks = (lambda c: _CODE.fullmatch(c), lambda c: _CODE.fullmatch(c), lambda c: c in ("", "*"),
              lambda c: re.fullmatch(r"\d{8}", c) and _calendar(c),
              lambda c: c == "*" or (re.fullmatch(r"\d{8}", c) and _calendar(c)), lambda c: c in MODIFIER_INDICATORS)
    for cell, name, ok in zip(cells, names, checks, strict=False):
        if not ok(cell.strip()):
            return f"expected {name}, found {cell.strip()!r}"
    return "expected an NCCI PTP edit line"


def _dates(values: pa.Array, fmt: str) -> pa.Array:
    stamps = pc.strptime(values, format=fmt, unit="s", error_is_null=True)
    return pc.cast(stamps, pa.date32())


def _one_space(values) -> pa.Array:
    """Every run of white space one space. The regex runs once per distinct value (a part file has a few
    rationale spellings over 675,000 lines; run on every line it was most of the parse)."""
    encoded = pc.dictionary_encode(values)
    if isinstance(encoded, pa.ChunkedArray):
        encoded = encoded.combine_chunks()  # one dictionary across the chunks
    return pc.take(pc.replace_substring_regex(encoded.dictionary, r"\s+", " "), encoded.indices)


def parse_ptp(path: str | Path, setting: str) -> pa.Table:
    """One PTP part file as a table (PTP_SCHEMA); deletion is null for an active edit ('*')."""
    import pyarrow.csv as pacsv

    path = Path(path)
    data = read_official_bytes(path, "cp1252", "an NCCI PTP edit file (tab-delimited text)")
    start = _ptp_header_end(path, data)
    bad: list = []

    def invalid(row):
        bad.append(row)
        return "error"

    try:
        table = pacsv.read_csv(
            io.BytesIO(data),
            read_options=pacsv.ReadOptions(skip_rows=start, column_names=list(PTP_FIELDS), block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter="\t", quote_char=False, invalid_row_handler=invalid),
            convert_options=pacsv.ConvertOptions(column_types={c: pa.string() for c in PTP_FIELDS},
                                                 strings_can_be_null=False))
    except pa.ArrowInvalid:
        line, text = _first_bad_line(path, data, start, _ptp_line_ok)
        raise ParseError(path, line, _ptp_expected(text)) from None
    trim = {c: pc.utf8_trim_whitespace(table[c]) for c in PTP_FIELDS}
    ok = pc.and_(pc.match_substring_regex(trim["column1"], f"^{CODE}$"),
                 pc.match_substring_regex(trim["column2"], f"^{CODE}$"))
    ok = pc.and_(ok, pc.match_substring_regex(trim["prior_1996"], r"^\*?$"))
    ok = pc.and_(ok, pc.match_substring_regex(trim["effective"], r"^\d{8}$"))
    ok = pc.and_(ok, pc.match_substring_regex(trim["deletion"], r"^(\d{8}|\*)$"))
    ok = pc.and_(ok, pc.is_in(trim["modifier_indicator"], pa.array(list(MODIFIER_INDICATORS))))
    effective = _dates(trim["effective"], "%Y%m%d")
    is_deleted = pc.not_equal(trim["deletion"], "*")
    deletion = _dates(pc.if_else(is_deleted, trim["deletion"], pa.scalar(None, pa.string())), "%Y%m%d")
    ok = pc.and_(ok, pc.is_valid(effective))
    ok = pc.and_(ok, pc.or_(pc.invert(is_deleted), pc.is_valid(deletion)))
    if not pc.all(ok).as_py():
        line, text = _first_bad_line(path, data, start, _ptp_line_ok)
        raise ParseError(path, line, _ptp_expected(text))
    n = table.num_rows
    return pa.table({
        "setting": pa.array([setting] * n, pa.string()) if n < 1024 else pa.repeat(pa.scalar(setting), n),
        "column1": trim["column1"], "column2": trim["column2"],
        "prior_1996": pc.equal(trim["prior_1996"], "*"), "effective": effective, "deletion": deletion,
        "modifier_indicator": trim["modifier_indicator"],
        "rationale": _one_space(trim["rationale"]),
    }, schema=PTP_SCHEMA)


def ptp_version(path: str | Path) -> tuple[int, int] | None:
    """'ccipra-v322r0-f1.txt' -> (322, 0): the NCCI version and revision in the name."""
    m = re.search(r"-v(\d+)r(\d+)-", Path(path).name, re.IGNORECASE)
    return (int(m.group(1)), int(m.group(2))) if m else None


def ptp_part(path: str | Path) -> int | None:
    m = re.search(r"-f(\d+)\.\w+$", Path(path).name, re.IGNORECASE)
    return int(m.group(1)) if m else None


# -- NCCI MUE ---------------------------------------------------------------------------------------------

_EFFECTIVE_IN_NAME = re.compile(r"Eff[_-](\d{2})-(\d{2})-(\d{4})", re.IGNORECASE)


def mue_effective(path: str | Path) -> dt.date | None:
    """CMS names MUE files ..._Eff_01-01-2026.csv: the quarter they apply from."""
    m = _EFFECTIVE_IN_NAME.search(Path(path).name)
    if not m:
        return None
    month, day, year = (int(g) for g in m.groups())
    try:
        return dt.date(year, month, day)
    except ValueError:
        return None


def _norm(cell: str) -> str:
    return " ".join(cell.split()).upper()


def mue_rows(path: str | Path, setting_caption: str | None = None) -> list[tuple[str, int, int, str, int]]:
    """(code, value, adjudication indicator, rationale, line) per row of one MUE table.

    The file opens with an AMA notice (one quoted cell, its line breaks bare LF), then the header
    HCPCS/CPT Code, <Setting> Services MUE Values, MUE Adjudication Indicator, MUE Rationale, then one
    unquoted row per code. setting_caption ('PRACTITIONER'): the words the MUE Values caption must start
    with, so a hospital table filed as the practitioner one is refused."""
    path = Path(path)
    text = read_official_bytes(path, "latin-1", "an NCCI MUE table (CSV)").decode("latin-1")
    rows: list[tuple[str, int, int, str, int]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    cols = None
    seen: dict[str, int] = {}
    for record in reader:
        line = reader.line_num
        if cols is None:
            cells = [_norm(c) for c in record]
            if cells and cells[0].startswith("HCPCS") and "CPT" in cells[0]:
                find = {name: next((i for i, c in enumerate(cells) if key in c), None)
                        for name, key in (("mue", "MUE VALUE"), ("mai", "ADJUDICATION INDICATOR"),
                                          ("rationale", "RATIONALE"))}
                if find["mue"] is None or find["mai"] is None:
                    raise ParseError(path, line, "expected columns '... MUE Values' and 'MUE Adjudication "
                                                 f"Indicator' in the header, found {record}"[:400])
                caption = cells[find["mue"]]
                if setting_caption and not caption.startswith(setting_caption.upper()):
                    raise ParseError(path, line, f"expected the {setting_caption.title()} Services MUE table, "
                                                 f"its values column is {record[find['mue']]!r}")
                cols = find
            elif len(rows) == 0 and reader.line_num > 50:
                break
            continue
        if not any(c.strip() for c in record):
            continue
        code = record[0].strip().upper()
        if not _CODE.fullmatch(code):
            raise ParseError(path, line, f"expected a HCPCS/CPT code (5 letters/digits), found {record[0]!r}")
        try:
            value = int(record[cols["mue"]].strip())
            mai = int(record[cols["mai"]].strip()[:1])
        except (ValueError, IndexError):
            raise ParseError(path, line, "expected an MUE value (whole number) and an adjudication indicator "
                                         f"starting 1, 2 or 3, found {record}"[:400]) from None
        if mai not in MAI_NAMES or value < 0:
            raise ParseError(path, line, f"expected adjudication indicator 1, 2 or 3, found {record}"[:400])
        if code in seen:
            raise ParseError(path, line, f"expected one row per code, {code} appears again (line {seen[code]})")
        seen[code] = line
        rationale = record[cols["rationale"]].strip() if cols["rationale"] is not None and \
            cols["rationale"] < len(record) else ""
        rows.append((code, value, mai, " ".join(rationale.split()), line))
    if cols is None:
        raise ParseError(path, None, "expected a header row starting 'HCPCS/CPT Code' (the CMS MUE layout)")
    return rows


MUE_CAPTIONS = {"practitioner": "PRACTITIONER", "hospital": "OUTPATIENT HOSPITAL", "dme": "DME"}


def parse_mue(path: str | Path, setting: str) -> pa.Table:
    rows = mue_rows(path, MUE_CAPTIONS.get(setting))
    return pa.table({
        "setting": pa.array([setting] * len(rows), pa.string()), "code": pa.array([r[0] for r in rows], pa.string()),
        "mue": pa.array([r[1] for r in rows], pa.int32()), "mai": pa.array([r[2] for r in rows], pa.int8()),
        "rationale": pa.array([r[3] for r in rows], pa.string()),
    }, schema=MUE_SCHEMA)


# -- NCCI add-on codes ------------------------------------------------------------------------------------

def _aoc_date(text: str) -> dt.date | None | str:
    """A Julian YYYYDDD or calendar YYYYMMDD date; None for '*' or blank; 'bad' when neither."""
    text = text.strip()
    if text in ("", "*"):
        return None
    try:
        if re.fullmatch(r"\d{7}", text):
            return dt.date(int(text[:4]), 1, 1) + dt.timedelta(days=int(text[4:]) - 1) \
                if 1 <= int(text[4:]) <= (366 if _leap(int(text[:4])) else 365) else "bad"
        if re.fullmatch(r"\d{8}", text):
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        pass
    return "bad"


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def parse_aoc(path: str | Path) -> pa.Table:
    """One add-on code edit file (AOC_SCHEMA). Columns are found by their captions: Add-on Code, Primary
    Code, AOC Edit Type, and the edit's effective and deletion dates (AOC Edit Effective Date, or the first
    'Effective' caption when the file has no edit-level dates)."""
    path = Path(path)
    text = read_official_bytes(path, "cp1252", "an NCCI add-on code edit file (tab-delimited text)").decode("cp1252")
    lines = text.splitlines()
    head = None
    for i, line in enumerate(lines[:HEADER_SEARCH_LINES]):
        low = line.lower()
        if "add-on code" in low and "primary code" in low:
            head = i
            break
    if head is None:
        raise ParseError(path, None, "expected a header line with 'Add-on Code' and 'Primary Code' within the first "
                                     f"{HEADER_SEARCH_LINES} lines (the NCCI add-on code edit layout)")
    caps = [" ".join(c.split()).lower() for c in lines[head].split("\t")]

    def col(*keys, required=True):
        for key in keys:
            for i, c in enumerate(caps):
                if c == key:
                    return i
        for key in keys:
            for i, c in enumerate(caps):
                if key in c:
                    return i
        if required:
            raise ParseError(path, head + 1, f"expected a column {keys[0]!r} in the header, found {caps}"[:400])
        return None

    c_addon, c_primary = col("add-on code"), col("primary code")
    c_type = col("aoc edit type", "edit type")
    c_eff = col("aoc edit effective date", "effective date", "effective")
    c_del = col("aoc edit deletion date", "deletion date", "deletion")
    c_notes = col("special instruction notes", "notes", required=False)
    out = {k: [] for k in AOC_SCHEMA.names}
    for n, line in enumerate(lines[head + 1:], head + 2):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        need = max(c_addon, c_primary, c_type, c_eff, c_del) + 1
        if len(cells) < need:
            raise ParseError(path, n, f"expected at least {need} tab-separated fields, found {len(cells)}")
        addon, primary = cells[c_addon].upper(), cells[c_primary].upper()
        if not _CODE.fullmatch(addon):
            raise ParseError(path, n, f"expected an add-on code (5 letters/digits), found {cells[c_addon]!r}")
        if not _CODE.fullmatch(primary):
            raise ParseError(path, n, f"expected a primary code (5 letters/digits, or CCCCC), found "
                                      f"{cells[c_primary]!r}")
        if cells[c_type] not in ("1", "2", "3"):
            raise ParseError(path, n, f"expected an AOC edit type 1, 2 or 3, found {cells[c_type]!r}")
        eff, dele = _aoc_date(cells[c_eff]), _aoc_date(cells[c_del])
        if eff is None or eff == "bad" or dele == "bad":
            raise ParseError(path, n, "expected an effective date (YYYYDDD or YYYYMMDD) and a deletion date (the "
                                      f"same, or *), found {cells[c_eff]!r} / {cells[c_del]!r}")
        out["addon"].append(addon)
        out["primary"].append(primary)
        out["edit_type"].append(int(cells[c_type]))
        out["effective"].append(eff)
        out["deletion"].append(dele)
        out["notes"].append(" ".join(cells[c_notes].split()) if c_notes is not None and c_notes < len(cells) else "")
    return pa.table(out, schema=AOC_SCHEMA)


def aoc_quarter(path: str | Path) -> tuple[int, int] | None:
    """'AOC_V2026Q3-F-MCR.txt' -> (2026, 3)."""
    m = re.search(r"V(\d{4})Q([1-4])", Path(path).name, re.IGNORECASE)
    return (int(m.group(1)), int(m.group(2))) if m else None


# -- Physician fee schedule (PPRRVU) ----------------------------------------------------------------------

# stored column -> the captions it may have (compared without spaces, hyphens or case); DESCRIPTION is
# deliberately absent: never stored
PFS_COLUMNS: dict[str, tuple[str, ...]] = {
    "code": ("HCPCS",), "modifier": ("MOD",), "status": ("STATUS CODE", "STATUS"),
    "not_used_for_medicare": ("NOT USED FOR MEDICARE PAYMENT",),
    "work_rvu": ("WORK RVU", "WORK RVUS"), "nonfac_pe_rvu": ("NON-FAC PE RVU", "NON-FACILITY PE RVU"),
    "nonfac_na": ("NON-FAC NA INDICATOR", "NON-FACILITY NA INDICATOR"),
    "fac_pe_rvu": ("FACILITY PE RVU",), "fac_na": ("FACILITY NA INDICATOR",), "mp_rvu": ("MP RVU", "MP RVUS"),
    "nonfac_total": ("NON-FACILITY TOTAL", "NON-FAC TOTAL"), "fac_total": ("FACILITY TOTAL",),
    "pctc": ("PCTC IND",), "global_days": ("GLOB DAYS",), "pre_op": ("PRE OP",), "intra_op": ("INTRA OP",),
    "post_op": ("POST OP",), "mult_proc": ("MULT PROC",), "bilat_surg": ("BILAT SURG",),
    "asst_surg": ("ASST SURG",), "co_surg": ("CO-SURG", "CO SURG"), "team_surg": ("TEAM SURG",),
    "pric_ind": ("PRIC IND",), "endo_base": ("ENDO BASE",), "conv_factor": ("CONV FACTOR",),
    "supervision": ("PHYSICIAN SUPERVISION OF DIAGNOSTIC PROCEDURES",), "calc_flag": ("CALCULATION FLAG",),
    "imaging_family": ("DIAGNOSTIC IMAGING FAMILY INDICATOR",),
}
PFS_REQUIRED = ("code", "modifier", "status", "work_rvu", "nonfac_pe_rvu", "fac_pe_rvu", "mp_rvu", "nonfac_total",
                "fac_total", "pctc", "global_days", "pre_op", "intra_op", "post_op", "mult_proc", "bilat_surg",
                "asst_surg", "co_surg", "team_surg", "conv_factor")
PFS_NUMBERS = ("work_rvu", "nonfac_pe_rvu", "fac_pe_rvu", "mp_rvu", "nonfac_total", "fac_total", "pre_op",
               "intra_op", "post_op", "conv_factor")
PFS_SCHEMA = pa.schema([(c, pa.float64() if c in PFS_NUMBERS else pa.string()) for c in PFS_COLUMNS])
GLOBAL_DAYS = ("000", "010", "090", "XXX", "YYY", "ZZZ", "MMM")
PFS_CAPTION_LINES = 5
TOTAL_TOLERANCE = 0.015  # the published totals are the rounded sum of their parts


def _key(caption: str) -> str:
    return re.sub(r"[^A-Z0-9]", "", caption.upper())


def parse_pfs(path: str | Path) -> pa.Table:
    """The RVU file (PFS_SCHEMA): one row per code and modifier ('' for the global row, 26, TC, 53).

    The captions are the five lines above the first data line, stacked per column; each stored column is
    found by its caption, so a column CMS adds (PRIC IND in 2026) or drops moves nothing. Every row's
    totals must be the sum of its RVUs: a file whose columns slid fails here, naming the line."""
    path = Path(path)
    text = read_official_bytes(path, "latin-1", "a physician fee schedule RVU file (CSV)").decode("latin-1")
    records = list(csv.reader(io.StringIO(text, newline="")))
    # the bottom caption line starts with HCPCS (itself five capitals: the data start after it)
    bottom = next((i for i, r in enumerate(records[:60]) if r and _key(r[0]) == "HCPCS"), None)
    first = bottom + 1 if bottom is not None else None
    if first is None or first < PFS_CAPTION_LINES:
        raise ParseError(path, None, "expected caption lines then rows starting with a HCPCS/CPT code (the PPRRVU "
                                     "layout: ten header lines, then one row per code and modifier)")
    width = max(len(r) for r in records[first - PFS_CAPTION_LINES:first])
    stacked = [" ".join(r[c].strip() for r in records[first - PFS_CAPTION_LINES:first]
                        if c < len(r) and r[c].strip()) for c in range(width)]
    keys = [_key(s) for s in stacked]
    where: dict[str, int] = {}
    for column, captions in PFS_COLUMNS.items():
        for caption in captions:
            if _key(caption) in keys:
                where[column] = keys.index(_key(caption))
                break
    missing = [PFS_COLUMNS[c][0] for c in PFS_REQUIRED if c not in where]
    if missing:
        raise ParseError(path, first, f"expected the captions {', '.join(missing)} in the five lines above the first "
                                      f"row; found {[s for s in stacked if s]}"[:500])
    out: dict[str, list] = {c: [] for c in PFS_COLUMNS}
    seen: dict[tuple[str, str], int] = {}
    need = max(where.values()) + 1
    for n, record in enumerate(records[first:], first + 1):
        if not any(c.strip() for c in record):
            continue
        if len(record) < need:
            raise ParseError(path, n, f"expected {need} or more fields, found {len(record)}")
        cells = {c: record[i].strip() for c, i in where.items()}
        code, mod = cells["code"].upper(), cells["modifier"].upper()
        if not _CODE.fullmatch(code):
            raise ParseError(path, n, f"expected a HCPCS/CPT code (5 letters/digits), found {cells['code']!r}")
        if mod and not re.fullmatch(r"[0-9A-Z]{2}", mod):
            raise ParseError(path, n, f"expected a modifier (2 letters/digits) or nothing, found {cells['modifier']!r}")
        if (code, mod) in seen:
            raise ParseError(path, n, f"expected one row per code and modifier, {code} {mod or '(global)'} appears "
                                      f"again (line {seen[(code, mod)]})")
        seen[(code, mod)] = n
        if cells["global_days"] not in GLOBAL_DAYS:
            raise ParseError(path, n, f"expected GLOB DAYS one of {', '.join(GLOBAL_DAYS)}, found "
                                      f"{cells['global_days']!r}")
        numbers = {}
        for c in PFS_NUMBERS:
            raw = cells.get(c, "")
            try:
                numbers[c] = float(raw) if raw else 0.0
            except ValueError:
                raise ParseError(path, n, f"expected a number in {PFS_COLUMNS[c][0]}, found {raw!r}") from None
        for total, pe in (("nonfac_total", "nonfac_pe_rvu"), ("fac_total", "fac_pe_rvu")):
            parts = numbers["work_rvu"] + numbers[pe] + numbers["mp_rvu"]
            if abs(parts - numbers[total]) > TOTAL_TOLERANCE:
                raise ParseError(path, n, f"expected {PFS_COLUMNS[total][0]} = WORK + PE + MP RVU "
                                          f"({parts:.2f}), found {numbers[total]:.2f}: a column out of place?")
        for c in PFS_COLUMNS:
            if c in PFS_NUMBERS:
                out[c].append(numbers[c])
            elif c == "code":
                out[c].append(code)
            elif c == "modifier":
                out[c].append(mod)
            else:
                out[c].append(cells.get(c, ""))
    return pa.table(out, schema=PFS_SCHEMA)


_PFS_MONTHS = {"jan": 1, "apr": 4, "jul": 7, "oct": 10}


def pfs_quarter(path: str | Path) -> dt.date | None:
    """'PPRRVU2026_Jul_nonQPP.csv' -> 2026-07-01 (also PPRRVU26_JUL.csv)."""
    m = re.search(r"PPRRVU(\d{2}|\d{4})_(jan|apr|jul|oct)", Path(path).name, re.IGNORECASE)
    if not m:
        return None
    year = int(m.group(1))
    return dt.date(year + 2000 if year < 100 else year, _PFS_MONTHS[m.group(2).lower()], 1)
