"""Read a claims CSV in chunks that never split a claim, and parse its fields into arrays the rules use."""

from __future__ import annotations

import csv
import warnings
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

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
DEFAULT_CHUNK_LINES = 250_000
# A claim that comes back after other claims is found when its lines are at most this many chunks apart:
# memory stays bounded (the claim ids of these chunks) for any file size.
GROUPING_CHECK_CHUNKS = 4


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
    return header


def _with_all_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """Optional columns added empty; the missing cells of a short row are empty strings, not NaN."""
    frame.columns = [str(c).strip() for c in frame.columns]
    for col in OPTIONAL_COLUMNS:
        if col not in frame:
            frame[col] = ""
    for col in CLAIM_COLUMNS:
        if frame[col].isna().any():
            frame[col] = frame[col].fillna("")
    return frame


def read_claims(path: str | Path, allow_unknown: bool = False) -> pd.DataFrame:
    """The whole file as strings, with a _row column (CSV record number; the header is record 1)."""
    frames = list(iter_claim_chunks(path, chunk_lines=None, allow_unknown=allow_unknown))
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def iter_claim_chunks(path: str | Path, chunk_lines: int | None = DEFAULT_CHUNK_LINES,
                      allow_unknown: bool = False) -> Iterator[pd.DataFrame]:
    """Frames of about chunk_lines lines each; a claim's lines always land in one frame.

    The file must list each claim's lines together (grouped by claim_id, in any order of claims). A claim
    that shows up again after other claims, across a chunk boundary (up to GROUPING_CHECK_CHUNKS chunks
    later), is a ParseError naming its row.
    """
    path = Path(path)
    check_header(path, read_header(path), allow_unknown)
    # dtype=object: every value stays the string it is in the file (no numbers, no NaN), as python strings,
    # which the vectorised steps below handle faster than pandas' Arrow-backed str dtype.
    options = dict(dtype=object, keep_default_na=False, na_filter=False, encoding="utf-8-sig",
                   encoding_errors="replace", skipinitialspace=False, index_col=False)
    if chunk_lines is None:
        frame = _read(path, lambda: pd.read_csv(path, **options))
        frame["_row"] = np.arange(len(frame), dtype=np.int64) + 2
        yield _with_all_columns(frame)
        return
    reader = _read(path, lambda: pd.read_csv(path, chunksize=chunk_lines, **options))
    offset = 0
    carry: pd.DataFrame | None = None
    recent: deque[pd.Index] = deque(maxlen=GROUPING_CHECK_CHUNKS)  # claims of the last chunks
    while (chunk := _read(path, lambda: next(reader, None))) is not None:
        if not len(chunk):
            continue
        chunk["_row"] = np.arange(offset, offset + len(chunk), dtype=np.int64) + 2
        offset += len(chunk)
        if carry is not None:
            chunk = pd.concat([carry, chunk], ignore_index=True)
        ids = chunk["claim_id"].to_numpy(dtype=object)
        other = np.flatnonzero(ids != ids[-1])
        if not len(other):  # one claim so far: keep reading
            carry = chunk
            continue
        cut = int(other[-1]) + 1
        done, carry = chunk.iloc[:cut].reset_index(drop=True), chunk.iloc[cut:].reset_index(drop=True)
        recent.append(_check_grouped(path, done, recent))
        yield _with_all_columns(done)
    if carry is not None and len(carry):
        _check_grouped(path, carry, recent)
        yield _with_all_columns(carry)


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
        width = len(next(reader, []))
        for row in reader:
            if len(row) > width:
                return reader.line_num, (width, len(row))
    return None, (width, width)


def _check_grouped(path: Path, frame: pd.DataFrame, recent: Iterable[pd.Index]) -> pd.Index:
    """Every claim of frame must be new: raise on one already seen in the last few chunks."""
    ids = pd.Index(pd.unique(frame["claim_id"].to_numpy(dtype=object)), dtype=object)
    again = np.zeros(len(ids), dtype=bool)
    for previous in recent:
        again |= ids.isin(previous)
    if again.any():
        claim = ids[again][0]
        row = int(frame.loc[frame["claim_id"] == claim, "_row"].iloc[0])
        raise ParseError(path, row, f"claim {claim!r} appears again after other claims: list each claim's "
                                    "lines together (sort the file by claim_id) so no claim spans two chunks")
    return ids


def object_frame(columns: dict) -> pd.DataFrame:
    """A DataFrame whose object arrays stay object dtype (pandas 3 would re-infer them as its str dtype)."""
    return pd.DataFrame({k: pd.Series(v, dtype=object) if isinstance(v, np.ndarray) and v.dtype == object
                         else v for k, v in columns.items()}, copy=False)


@dataclass
class Lines:
    """One chunk of service lines, parsed: a frame of typed columns, modifiers, diagnoses, bad fields."""

    frame: pd.DataFrame  # row, claim_id, line, patient_id, sex, payer, pos, code, code_kind, dos, day, units,
    # minutes, charge, claim_key, visit_key, n_dx
    mods: np.ndarray  # (n, 4) object array of modifiers, '' where none
    dx: pd.DataFrame  # long: i (line position), k (0 = primary), code (no dot, upper case)
    malformed: pd.DataFrame  # MALFORMED_COLUMNS
    code_ids: np.ndarray  # (n,) index of each line's procedure code in code_vocab
    code_vocab: pd.Index
    mod_ids: np.ndarray  # (n, 4) index of each modifier in mod_vocab, -1 where none
    mod_vocab: pd.Index
    _cache: dict = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.frame)

    def code_in(self, codes) -> np.ndarray:
        """(n,) bool: the line's procedure code is one of codes (a set lookup per distinct code)."""
        key = ("code", frozenset(codes))
        if key not in self._cache:
            self._cache[key] = self.code_vocab.isin(list(codes))[self.code_ids]
        return self._cache[key]

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
            self._cache[key] = self.mods_isin(values).any(axis=1)
        return self._cache[key]


def _per_unique(values: pd.Series, fn) -> tuple[np.ndarray, np.ndarray]:
    """(ids, results per unique value): fn runs once per distinct value, never once per line."""
    ids, uniques = pd.factorize(values.to_numpy(dtype=object))
    return ids, np.array([fn(u) for u in uniques], dtype=object) if len(uniques) else np.array([], object)


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


def _numbers(values: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(value per line as float, blank mask, unreadable mask); '$1,250.00' reads as 1250."""
    ids, uniques = pd.factorize(values.to_numpy(dtype=object))
    text = pd.Series(uniques, dtype=object).str.strip()
    num = pd.to_numeric(text.str.replace(r"^\$|,", "", regex=True), errors="coerce").to_numpy(float)
    blank = (text == "").to_numpy(bool)
    return num[ids], blank[ids], (~blank & ~np.isfinite(num))[ids]


def _split_tokens(values: pd.Series, sep: str, clean) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split a list-valued column: (line index per token, position in the line, token).

    The distinct values are joined into one string and split once (C speed), so the cost does not grow with
    Python work per line or per distinct value; clean() runs once per distinct token.
    """
    ids, uniques = pd.factorize(values.to_numpy(dtype=object))
    n = len(ids)
    if not len(uniques):
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.array([], dtype=object)
    mark = "\x1e"
    parts = np.array((sep + mark + sep).join(uniques).split(sep), dtype=object)
    is_mark = parts == mark
    owner = np.cumsum(is_mark)[~is_mark]  # which distinct value each piece came from
    tok_ids, tok_u = pd.factorize(parts[~is_mark])
    cleaned = np.array([clean(t) for t in tok_u], dtype=object)
    tok = cleaned[tok_ids]
    keep = tok != ""
    owner, tok = owner[keep], tok[keep]
    counts_u = np.bincount(owner, minlength=len(uniques)).astype(np.int64)
    starts_u = np.concatenate([[0], np.cumsum(counts_u)[:-1]])
    counts = counts_u[ids]
    total = int(counts.sum())
    line_idx = np.repeat(np.arange(n), counts)
    pos = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    return line_idx, pos, tok[np.repeat(starts_u[ids], counts) + pos]


def parse_lines(frame: pd.DataFrame) -> Lines:
    """Type every column of a chunk; unreadable values become malformed-field rows, never exceptions."""
    n = len(frame)
    bad: list[pd.DataFrame] = []

    def flag(mask: np.ndarray, field: str, values, expected: str) -> None:
        idx = np.flatnonzero(mask)
        if len(idx):
            vals = np.asarray(values, dtype=object)[idx] if not isinstance(values, str) else values
            bad.append(object_frame({"i": idx, "field": np.full(len(idx), field, dtype=object),
                                     "value": vals, "expected": np.full(len(idx), expected, dtype=object)}))

    raw = {c: frame[c].astype(object) for c in CLAIM_COLUMNS}
    strip_ids, strip_u = _per_unique(raw["claim_id"], str.strip)
    claim_id = strip_u[strip_ids] if n else np.array([], object)
    patient_ids, patient_u = _per_unique(raw["patient_id"], str.strip)
    line_ids, line_u = _per_unique(raw["line"], str.strip)
    line = line_u[line_ids] if n else np.array([], object)
    code_ids, code_u = _per_unique(raw["procedure_code"], lambda v: v.strip().upper())
    code = code_u[code_ids] if n else np.array([], object)
    kind_u = np.array([_code_kind(c) for c in code_u], dtype=object)
    code_kind = kind_u[code_ids] if n else np.array([], object)
    pos_ids, pos_u = _per_unique(raw["place_of_service"], _norm_pos)
    pos = pos_u[pos_ids] if n else np.array([], object)
    payer_ids, payer_u = _per_unique(raw["payer"], lambda v: v.strip().upper())
    sex_ids, sex_u = _per_unique(raw["patient_sex"], lambda v: v.strip().upper())

    for name, values in (("claim_id", claim_id), ("line", line), ("procedure_code", code),
                         ("place_of_service", pos)):
        flag(values == "", name, values, "is empty: it is required on every line")

    # Dates: ISO first, then MM/DD/YYYY; anything else is malformed and the line gets no date.
    d_ids, d_u = pd.factorize(raw["date_of_service"].to_numpy(object))
    d_u = np.array([u.strip() for u in d_u], dtype=object)
    d_text = pd.Series(d_u, dtype=object)
    parsed = pd.to_datetime(d_text, format="%Y-%m-%d", errors="coerce")
    retry = parsed.isna()
    if retry.any():
        parsed[retry] = pd.to_datetime(d_text[retry], format="%m/%d/%Y", errors="coerce")
    dos_u = parsed.to_numpy("datetime64[ns]")
    dos = dos_u[d_ids] if n else np.array([], "datetime64[ns]")
    text_u = np.where(np.isnat(dos_u), "an unreadable date", np.datetime_as_string(dos_u, unit="D")).astype(object)
    dos_text = text_u[d_ids] if n else np.array([], object)
    flag(np.isnat(dos), "date_of_service", raw["date_of_service"], "is not a date (YYYY-MM-DD or MM/DD/YYYY)")
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
    m_line, m_pos, m_tok = _split_tokens(raw["modifiers"], " ", lambda t: t.strip().upper())
    m_count = np.bincount(m_line, minlength=n)
    flag(m_count > MAX_MODIFIERS, "modifiers", raw["modifiers"],
         f"holds more than {MAX_MODIFIERS} modifiers; a claim line holds at most {MAX_MODIFIERS}")
    mods = np.full((n, MAX_MODIFIERS), "", dtype=object)
    keep = m_pos < MAX_MODIFIERS
    mods[m_line[keep], m_pos[keep]] = m_tok[keep]
    tok_ids, mod_vocab = pd.factorize(m_tok[keep]) if keep.any() else (np.zeros(0, np.int64), [])
    mod_ids = np.full((n, MAX_MODIFIERS), -1, dtype=np.int64)
    mod_ids[m_line[keep], m_pos[keep]] = tok_ids

    # Diagnoses: up to twelve, separated by ';', the first is primary; dots and case do not matter.
    x_line, x_pos, x_tok = _split_tokens(raw["diagnosis_codes"], ";",
                                         lambda t: t.strip().upper().replace(".", ""))
    x_count = np.bincount(x_line, minlength=n)
    flag(x_count > MAX_DIAGNOSES, "diagnosis_codes", raw["diagnosis_codes"],
         f"holds more than {MAX_DIAGNOSES} diagnosis codes; a claim holds at most {MAX_DIAGNOSES}")
    keep = x_pos < MAX_DIAGNOSES
    dx = object_frame({"i": x_line[keep], "k": x_pos[keep], "code": x_tok[keep]})

    claim_key = pd.factorize(claim_id)[0].astype(np.int64) if n else np.zeros(0, np.int64)
    has_day = ~np.isnat(dos)
    base = int(day[has_day].min()) if has_day.any() else 0
    visit_raw = np.where(has_day, claim_key * 1_000_000 + (day - base), -1)
    visit_key = np.where(has_day, pd.factorize(visit_raw)[0], -1) if n else np.zeros(0, np.int64)

    out = object_frame({
        "row": frame["_row"].to_numpy(np.int64) if "_row" in frame else np.arange(n, dtype=np.int64) + 2,
        "claim_id": claim_id,
        "line": line,
        "patient_id": patient_u[patient_ids] if n else np.array([], object),
        "sex": sex_u[sex_ids] if n else np.array([], object),
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
        "n_dx": np.minimum(x_count, MAX_DIAGNOSES),
    })
    malformed = pd.concat(bad, ignore_index=True) if bad else pd.DataFrame(
        {c: pd.Series(dtype=object if c != "i" else np.int64) for c in MALFORMED_COLUMNS})
    return Lines(out, mods, dx, malformed, code_ids.astype(np.int64) if n else np.zeros(0, np.int64),
                 pd.Index(code_u, dtype=object), mod_ids, pd.Index(mod_vocab, dtype=object))
