"""Synthetic, full-size CMS edit tables in their published layouts, for the benchmark's `edits-*` stages.

    .venv/bin/python -m bench.synth_edits generate DIR            # DIR/ptp/2026-Q3/ccipra-v322r0-f1.txt ...
    .venv/bin/python -m bench.synth_edits ingest MIRROR OUT       # one timed ingest of the quarter, as JSON

Writes one quarter of every edit set into a mirror laid out as the publishers' files are
(<dir>/<set>/<folder>/<official file names>), byte for byte in the layouts of
../shared/PUBLISHED-FILES.md and codesets/sample/{ptp,mue,aoc,pfs}:
- NCCI PTP: practitioner ccipra-v322r0-f1..f4.txt with 675,037 / 675,235 / 674,890 / 608,227 edits (the
  real Q3 2026 counts) and hospital ccioph-v322r0-f1..f4.txt with 1.9 million; six header lines, CRLF, 7
  tab-delimited fields, about 10% deleted edits, modifier indicators 0/1/9, the real rationale spellings;
- MUE: practitioner, outpatient hospital and DME supplier tables of about 15,000 codes each (Latin-1, the
  AMA notice record with bare-LF breaks, the header with its quoted two-line first caption);
- add-on codes: AOC_V2026Q3-F-MCR.txt, about 4,500 rows with Julian dates and CCCCC primaries;
- the RVU file PPRRVU2026_Jul_nonQPP.csv: about 19,000 rows, ten header lines, 32 columns, 26 and TC rows
  for PC/TC indicator 1 codes that add up to their global row, one conversion factor (33.4009).
The codes are made up but shaped like CPT (five digits, 0000T, 0000U) and HCPCS (a letter and four digits);
a handful of real code numbers the claim generators use (bench/bench_scrub.py) are among them so claims hit
edits. No descriptor is real: the RVU file's DESCRIPTION column holds a placeholder.

Deterministic (one seed gives the same bytes) and vectorised: the text is built by pyarrow string kernels,
so the full quarter (about 320 MB of text) is written in seconds. `mirror(workdir)` caches it in the bench
workdir so the stages share one copy. `Sizes.small()` is the same generator at a test's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

ROOT = Path(__file__).resolve().parent.parent
SEED = 20260701

# the real Q3 2026 practitioner part sizes (PUBLISHED-FILES.md); the hospital parts add up to 1.9 million
PRACTITIONER_PARTS = (675_037, 675_235, 674_890, 608_227)
HOSPITAL_PARTS = (490_113, 488_744, 489_607, 431_536)


@dataclass(frozen=True)
class Sizes:
    practitioner_parts: tuple[int, ...] = PRACTITIONER_PARTS
    hospital_parts: tuple[int, ...] = HOSPITAL_PARTS
    mue: dict = field(default_factory=lambda: {"practitioner": 15_100, "hospital": 14_800, "dme": 14_950})
    aoc_addons: int = 720  # add-on codes; their primaries make about 6 rows each
    pfs_codes: int = 15_600  # codes with a global row; the PC/TC ones add a 26 and a TC row
    pctc_share: float = 0.11
    codes: int = 19_400  # the synthetic code universe

    @classmethod
    def small(cls) -> Sizes:
        return cls(practitioner_parts=(1_200, 1_100, 900), hospital_parts=(800, 700), mue={
            "practitioner": 300, "hospital": 250, "dme": 200}, aoc_addons=40, pfs_codes=400, codes=1_500)


# Real code numbers that the claim generators and the hand-written samples use: kept in the universe so that
# generated claims meet edits (bench/bench_scrub.py: 97140 + 97530 trip a PTP edit).
KNOWN_CODES = ("97110", "97112", "97116", "97140", "97530", "97161", "97162", "97163", "97164", "G0283", "99203",
               "99204", "99205", "99213", "99214", "99215", "11055", "20610", "20611", "17110", "36415", "36591",
               "73560", "71045", "71046", "76700", "76705", "76775", "93880", "93882", "99417", "G2212", "10005",
               "10006", "97546", "0001U", "99397", "G0439")
KNOWN_ADDONS = ("99417", "G2212", "10006", "97546")  # add-on codes (ZZZ on the fee schedule) among them
KNOWN_PAIRS = (("97530", "97140"), ("97140", "97530"), ("17110", "11055"), ("20611", "20610"), ("36591", "36415"),
               ("71046", "71045"), ("76700", "76705"), ("76700", "76775"), ("93880", "93882"), ("99214", "36415"))

# PTP Edit Rationale as the files spell it (case and spacing vary: PUBLISHED-FILES.md and the samples)
RATIONALES = ("Misuse of column two code with column one code", "Misuse of Column Two code with Column One code",
              "Standards of medical / surgical practice", "Standards of medical/surgical practice",
              "CPT Manual or CMS manual coding instruction", "Mutually exclusive procedures",
              "HCPCS/CPT procedure code definition", "More extensive procedure")
RATIONALE_WEIGHTS = (0.30, 0.08, 0.28, 0.06, 0.16, 0.07, 0.03, 0.02)
MUE_MAI = ("1 Line Edit", "2 Date of Service Edit: Policy", "3 Date of Service Edit: Clinical")
MUE_RATIONALES = ("Clinical: Data", "Code Descriptor / CPT Instruction", "Nature of Service/Procedure",
                  "Anatomic Consideration", "CMS Policy", "Nature of Equipment", "Prescribing Information")
HCPCS_LETTERS = "ABCEGHJKLMPQRSTUV"
PLACEHOLDER = "(synthetic: no descriptor)"
CONV_FACTOR = "33.4009"
MONTHS = {1: "Jan", 4: "Apr", 7: "Jul", 10: "Oct"}


# -- the quarter and its names ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Quarter:
    year: int
    q: int

    @classmethod
    def parse(cls, text: str) -> Quarter:
        year, q = text.upper().split("-Q")
        return cls(int(year), int(q))

    @property
    def start(self) -> dt.date:
        return dt.date(self.year, 3 * self.q - 2, 1)

    @property
    def folder(self) -> str:  # ptp, mue, aoc
        return f"{self.year}-Q{self.q}"

    @property
    def pfs_folder(self) -> str:  # the fee schedule's quarters are A-D
        return f"{self.year}-{'ABCD'[self.q - 1]}"

    @property
    def ncci_version(self) -> int:
        return 320 + (self.year * 4 + self.q - 1) - 2026 * 4  # v320 is 2026 Q1, one more per quarter

    def folders(self) -> dict[str, str]:
        return {"ptp": self.folder, "mue": self.folder, "aoc": self.folder, "pfs": self.pfs_folder}


Q3_2026 = Quarter(2026, 3)


def quarter_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    out, year, month = [], first.year, first.month
    while dt.date(year, month, 1) <= last:
        out.append(dt.date(year, month, 1))
        month += 3
        if month > 12:
            year, month = year + 1, month - 12
    return out


# -- the code universe -------------------------------------------------------------------------------------

def code_universe(rng: np.random.Generator, n: int) -> np.ndarray:
    """n distinct five-character codes, sorted: about 57% CPT-shaped numbers (00100-99607), 3% 0000T, 2%
    0000U, the rest a HCPCS letter and four digits; KNOWN_CODES always among them."""
    n_num, n_t, n_u = int(n * 0.57), int(n * 0.03), int(n * 0.02)
    n_hcpcs = n - n_num - n_t - n_u
    numeric = np.char.zfill(rng.choice(np.arange(100, 99_608), n_num, replace=False).astype("U5"), 5)
    cat3 = np.char.add(np.char.zfill(rng.choice(np.arange(1, 1000), n_t, replace=False).astype("U4"), 4), "T")
    pla = np.char.add(np.char.zfill(rng.choice(np.arange(1, 1000), n_u, replace=False).astype("U4"), 4), "U")
    letters = np.array(list(HCPCS_LETTERS))
    pool = np.char.add(np.repeat(letters, 10_000), np.tile(np.char.zfill(np.arange(10_000).astype("U4"), 4),
                                                              len(letters)))
    hcpcs = rng.choice(pool, n_hcpcs, replace=False)
    codes = np.unique(np.concatenate([numeric, cat3, pla, hcpcs, np.array(KNOWN_CODES)]))
    extra = len(codes) - n  # the known codes that were not drawn push the count over: drop as many others
    if extra > 0:
        droppable = np.flatnonzero(~np.isin(codes, KNOWN_CODES))
        codes = np.delete(codes, rng.choice(droppable, extra, replace=False))
    return codes.astype("U5")


@dataclass(frozen=True)
class Universe:
    """The codes every set draws from, and which of them are add-on codes: the add-on code file's add-on
    codes are the fee schedule's ZZZ codes, as in the CMS files."""

    codes: np.ndarray
    addons: np.ndarray  # sorted indices into codes


def universe(rng: np.random.Generator, sizes: Sizes) -> Universe:
    codes = code_universe(rng, sizes.codes)
    ordinary = np.flatnonzero(~np.isin(codes, [c for c in KNOWN_CODES if c not in KNOWN_ADDONS]))
    known = np.flatnonzero(np.isin(codes, KNOWN_ADDONS))
    addons = np.union1d(rng.choice(ordinary, min(sizes.aoc_addons, len(ordinary)), replace=False), known)
    return Universe(codes, addons)


def popularity(rng: np.random.Generator, n: int, sigma: float) -> np.ndarray:
    """Heavy-tailed weights (log-normal), summing to 1: a few codes are everywhere, most are rare."""
    w = rng.lognormal(0.0, sigma, n)
    return w / w.sum()


# -- text from columns -------------------------------------------------------------------------------------

def _text(columns: list[pa.Array], sep: str, end: str) -> memoryview:
    """The rows of string columns joined by sep, each ending in end, as one buffer (the concatenated data
    buffer of pyarrow's element-wise join: no Python loop over rows, no copy)."""
    joined = pc.binary_join_element_wise(*columns, sep)
    joined = pc.binary_join_element_wise(joined, pa.scalar(end), "")
    if isinstance(joined, pa.ChunkedArray):
        joined = joined.combine_chunks()
    offsets = np.frombuffer(joined.buffers()[1], dtype=np.int32, count=len(joined) + 1, offset=joined.offset * 4)
    return memoryview(joined.buffers()[2])[offsets[0]:offsets[-1]]


def _write(path: Path, head: bytes, body: memoryview) -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.write(body)
    return path


def _pick(values, index: np.ndarray) -> pa.Array:
    return pa.array(list(values) if not isinstance(values, np.ndarray) else values, pa.string()).take(
        pa.array(index, pa.int32()))


def _yyyymmdd(days: list[dt.date]) -> list[str]:
    return [d.strftime("%Y%m%d") for d in days]


def _julian(days: list[dt.date]) -> list[str]:
    return [f"{d.year}{d.timetuple().tm_yday:03d}" for d in days]


# -- NCCI PTP ----------------------------------------------------------------------------------------------

PTP_HEADER = ("CPT only copyright {year} American Medical Association.  All rights reserved.\t\t\t\t\t\t\r\n"
              "Column1/Column2 Edits\r\n"
              "Column 1\tColumn 2\t*=in existence\tEffective\tDeletion\tModifier\tPTP Edit Rationale\r\n"
              "\t\tprior to 1996\tDate\tDate\t0=not allowed\t\r\n"
              "\t\t\t\t*=no data\t1=allowed\t\r\n"
              "\t\t\t\t\t9=not applicable\t\r\n")


def _pairs(rng: np.random.Generator, codes: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
    """n distinct (column 1, column 2) index pairs, no code paired with itself, KNOWN_PAIRS among them, in
    code order (as CMS sorts its files)."""
    m = len(codes)
    p1, p2 = popularity(rng, m, 1.0), popularity(rng, m, 1.6)
    where = {c: i for i, c in enumerate(codes)}
    known = np.array([where[a] * m + where[b] for a, b in KNOWN_PAIRS if a in where and b in where], np.int64)
    keys = known
    while len(keys) < n:
        draw = int((n - len(keys)) * 1.08) + 1000
        c1 = rng.choice(m, draw, p=p1).astype(np.int64)
        c2 = rng.choice(m, draw, p=p2).astype(np.int64)
        keys = np.sort(np.concatenate([keys, (c1 * m + c2)[c1 != c2]]))
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]  # distinct (np.unique hashes: slower)
    if len(keys) > n:  # keep the known pairs, drop a random choice of the others
        others = np.flatnonzero(~np.isin(keys, known))
        keys = np.delete(keys, rng.choice(others, len(keys) - n, replace=False))
    return keys // m, keys % m


def _ptp_columns(rng: np.random.Generator, codes: np.ndarray, c1: np.ndarray, c2: np.ndarray,
                 quarter: Quarter) -> list[pa.Array]:
    n = len(c1)
    starts = quarter_starts(dt.date(1996, 1, 1), quarter.start)
    dates = _yyyymmdd(starts)
    last = len(starts) - 1
    prior = rng.random(n) < 0.12  # in existence prior to 1996: effective 19960101, marked *
    eff = np.where(prior, 0, rng.integers(1, last + 1, n))
    deleted = rng.random(n) < 0.10
    dele = eff + (rng.random(n) * (last - eff + 1)).astype(np.int64)  # a quarter start from eff on (eff: never applied)
    mod = np.where(deleted & (rng.random(n) < 0.4), 2, (rng.random(n) < 0.7).astype(np.int64))  # 1, 0, or 9
    rationale = rng.choice(len(RATIONALES), n, p=RATIONALE_WEIGHTS)
    universe = pa.array(codes, pa.string())
    return [universe.take(pa.array(c1, pa.int32())), universe.take(pa.array(c2, pa.int32())),
            _pick(["", "*"], prior.astype(np.int8)), _pick(dates, eff),
            _pick(dates + ["*"], np.where(deleted, dele, len(dates))), _pick(["0", "1", "9"], mod),
            _pick(RATIONALES, rationale)]


def _write_parts(folder: Path, stem: str, columns: list[pa.Array], parts: tuple[int, ...], header: bytes) -> list[Path]:
    written, at = [], 0
    for i, size in enumerate(parts, 1):
        body = _text([c.slice(at, size) for c in columns], "\t", "\r\n")
        written.append(_write(folder / f"{stem}-f{i}.txt", header, body))
        at += size
    return written


def write_ptp(folder: Path, rng: np.random.Generator, u: Universe, sizes: Sizes, quarter: Quarter) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    codes = u.codes
    header = PTP_HEADER.format(year=quarter.year - 1).encode("ascii")
    version = f"v{quarter.ncci_version}r0"
    c1, c2 = _pairs(rng, codes, sum(sizes.practitioner_parts))
    written = _write_parts(folder, f"ccipra-{version}", _ptp_columns(rng, codes, c1, c2, quarter),
                           sizes.practitioner_parts, header)
    # the hospital edits: a subset of the practitioner pairs (as most of the real ones are), unique per setting
    keep = np.sort(rng.choice(len(c1), sum(sizes.hospital_parts), replace=False))
    written += _write_parts(folder, f"ccioph-{version}", _ptp_columns(rng, codes, c1[keep], c2[keep], quarter),
                            sizes.hospital_parts, header)
    return written


# -- NCCI MUE ----------------------------------------------------------------------------------------------

MUE_SETTINGS = {"practitioner": ("Practitioner", "PractitionerServices"),
                "hospital": ("Outpatient Hospital", "OutpatientHospitalServices"),
                "dme": ("DME Supplier", "DMESupplierServices")}


def mue_notice(year: int) -> bytes:
    """Record 1 (the AMA notice, one quoted cell with bare-LF breaks, then ,,,) as the MUE files have it."""
    return (f'"CPT codes and descriptions only are copyright {year} American Medical Association. All Rights '
            f'Reserved.\nApplicable FARS/DFARS Apply.\n\xa9 {year} American Medical Association",,,\r\n'
            ).encode("latin-1")


def write_mue(folder: Path, rng: np.random.Generator, u: Universe, sizes: Sizes, quarter: Quarter) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    codes = u.codes
    written = []
    values = np.array([1, 1, 1, 1, 2, 2, 3, 4, 6, 8, 10, 12, 20, 30, 50, 100, 999])
    is_hcpcs = np.char.isalpha(np.array([c[0] for c in codes]))
    for setting, n in sizes.mue.items():
        caption, stem = MUE_SETTINGS[setting]
        weight = np.where(is_hcpcs, 4.0, 1.0) if setting == "dme" else np.ones(len(codes))
        chosen = np.sort(rng.choice(len(codes), min(n, len(codes)), replace=False, p=weight / weight.sum()))
        k = len(chosen)
        columns = [_pick(codes, chosen), _pick([str(v) for v in values], rng.integers(0, len(values), k)),
                   _pick(MUE_MAI, rng.choice(3, k, p=[0.35, 0.35, 0.30])),
                   _pick(MUE_RATIONALES, rng.integers(0, len(MUE_RATIONALES), k))]
        head = mue_notice(quarter.year - 1) + (f'"HCPCS/\nCPT Code",{caption} Services MUE Values,MUE Adjudication '
                                                f'Indicator,MUE Rationale\r\n').encode("latin-1")
        path = folder / f"MCR_MUE_{stem}_Eff_{quarter.start:%m-%d-%Y}.csv"
        written.append(_write(path, head, _text(columns, ",", "\r\n")))
    return written


# -- NCCI add-on codes -------------------------------------------------------------------------------------

AOC_CAPTIONS = ("Add-on Code", "Add-on Code Effective Date", "Add-on Code Deletion Date", "Primary Code",
                "Primary Code Effective Date", "Primary Code Deletion Date", "AOC Edit Type",
                "AOC Edit Effective Date", "AOC Edit Deletion Date", "Special Instruction Notes")


def write_aoc(folder: Path, rng: np.random.Generator, u: Universe, sizes: Sizes, quarter: Quarter) -> list[Path]:
    """Type 1 add-on codes list their primaries, type 2 have one CCCCC row (the contractor decides), type 3
    list some primaries; Julian dates (YYYYDDD), about 10% of edits deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    starts = quarter_starts(dt.date(2000, 1, 1), quarter.start)
    julian = _julian(starts) + ["*"]
    codes, addons = u.codes, u.addons
    m, last = len(codes), len(starts) - 1
    kinds = rng.choice([1, 2, 3], len(addons), p=[0.82, 0.06, 0.12])
    counts = np.where(kinds == 2, 1, 1 + rng.geometric(0.18, len(addons)))
    addon = np.repeat(addons, counts).astype(np.int64)
    primary = rng.choice(m, len(addon), p=popularity(rng, m, 1.2)).astype(np.int64)
    primary = np.where(primary == addon, (primary + 1) % m, primary)  # no code is its own primary
    primary = np.where(np.repeat(kinds, counts) == 2, m, primary)  # index m is CCCCC
    key = np.unique(addon * (m + 1) + primary)  # one row per (add-on, primary), in code order
    addon, primary = key // (m + 1), key % (m + 1)
    edit_type = kinds[np.searchsorted(addons, addon)]
    n = len(addon)
    a_eff = rng.integers(0, last + 1, len(addons))[np.searchsorted(addons, addon)]
    deleted = rng.random(n) < 0.10
    e_del = np.where(deleted, a_eff + (rng.random(n) * (last - a_eff + 1)).astype(np.int64), len(starts))
    names = np.append(codes, "CCCCC")
    star = np.full(n, len(starts))
    columns = [_pick(names, addon), _pick(julian, a_eff), _pick(julian, star), _pick(names, primary),
               _pick(julian, np.where(edit_type == 2, star, 0)), _pick(julian, star),
               _pick(["", "1", "2", "3"], edit_type), _pick(julian, a_eff), _pick(julian, e_del),
               _pick(["", "Contractor defines primary codes", "Contractor may allow other primary codes"],
                     np.where(edit_type == 2, 1, np.where(edit_type == 3, 2, 0)))]
    head = (f"CPT only copyright {quarter.year - 1} American Medical Association.  All rights reserved.\r\n"
            + "\t".join(AOC_CAPTIONS) + "\r\n").encode("ascii")
    path = folder / f"AOC_V{quarter.year}Q{quarter.q}-F-MCR.txt"
    return [_write(path, head, _text(columns, "\t", "\r\n"))]


# -- Physician fee schedule RVU file -----------------------------------------------------------------------

PFS_CAPTIONS = (  # the five caption lines, per column (what the PPRRVU file stacks into column names)
    ("", "", "", "", "HCPCS"), ("", "", "", "", "MOD"), ("", "", "", "", "DESCRIPTION"),
    ("", "", "", "", "STATUS CODE"), ("", "", "NOT USED", "FOR MEDICARE", "PAYMENT"),
    ("", "", "", "", "WORK RVU"), ("", "", "", "NON-FAC PE", "RVU"), ("", "", "", "NON-FAC NA", "INDICATOR"),
    ("", "", "", "FACILITY PE", "RVU"), ("", "", "", "FACILITY NA", "INDICATOR"), ("", "", "", "", "MP RVU"),
    ("", "", "", "", "NON-FACILITY TOTAL"), ("", "", "", "", "FACILITY TOTAL"), ("", "", "", "", "PCTC IND"),
    ("", "", "", "", "GLOB DAYS"), ("", "", "", "", "PRE OP"), ("", "", "", "", "INTRA OP"),
    ("", "", "", "", "POST OP"), ("", "", "", "", "MULT PROC"), ("", "", "", "", "BILAT SURG"),
    ("", "", "", "", "ASST SURG"), ("", "", "", "", "CO-SURG"), ("", "", "", "", "TEAM SURG"),
    ("", "", "", "", "PRIC IND"), ("", "", "", "", "ENDO BASE"), ("", "", "", "", "CONV FACTOR"),
    ("", "", "PHYSICIAN SUPERVISION", "OF DIAGNOSTIC", "PROCEDURES"), ("", "", "", "", "CALCULATION FLAG"),
    ("", "", "", "DIAGNOSTIC IMAGING", "FAMILY INDICATOR"),
    ("", "NON-FACILITY PE", "USED FOR", "OPPS PAYMENT", "AMOUNT"),
    ("", "FACILITY PE", "USED FOR", "OPPS PAYMENT", "AMOUNT"), ("", "", "MP USED", "FOR OPPS", "PAYMENT AMOUNT"),
)
GLOBAL_DAYS = ("000", "010", "090", "XXX", "YYY", "ZZZ", "MMM")


def _pfs_head(quarter: Quarter) -> bytes:
    blank = "," * (len(PFS_CAPTIONS) - 1)
    notices = [f'"CPT codes and descriptions only are copyright {quarter.year - 1} American Medical Association. '
               f'All Rights Reserved. Applicable FARS/DFARS Apply."' + blank,
               f'"Dental codes (D codes) are copyright {quarter.year - 1} American Dental Association.  All Rights '
               f'Reserved."' + blank, blank,
               '"SYNTHETIC for the codegov benchmark: generated values in the PPRRVU layout, not the CMS file."'
               + blank,
               blank]
    captions = [",".join(f'"{col[i]}"' for col in PFS_CAPTIONS) for i in range(5)]
    return ("\r\n".join(notices + captions) + "\r\n").encode("latin-1")


def _money(cents: np.ndarray) -> pa.Array:
    """Hundredths as text with two decimals ('1.07')."""
    whole = (cents // 100).astype("U8")
    frac = np.char.zfill((cents % 100).astype("U2"), 2)
    return pa.array(np.char.add(np.char.add(whole, "."), frac), pa.string())


def write_pfs(folder: Path, rng: np.random.Generator, u: Universe, sizes: Sizes, quarter: Quarter) -> list[Path]:
    """One global row per code, plus 26 and TC rows for PC/TC indicator 1 codes, whose RVUs split the
    global row's so the totals add up; every total is WORK + PE + MP (in hundredths, so exactly)."""
    folder.mkdir(parents=True, exist_ok=True)
    codes = u.codes
    chosen = np.union1d(rng.choice(len(codes), min(sizes.pfs_codes, len(codes)), replace=False), u.addons)
    k = len(chosen)
    numeric = np.char.isdigit(codes[chosen])
    pctc = np.where(numeric & (rng.random(k) < sizes.pctc_share / 0.6), 1,
                    rng.choice([0, 0, 0, 0, 2, 3, 4, 5, 6, 7, 8, 9], k))
    status = rng.choice(list("AAAAAAAAAAAAAAAABCEINRTX"), k)
    work = np.round(rng.lognormal(0.0, 1.1, k) * 100).astype(np.int64) * (rng.random(k) < 0.85)
    pe_tc = np.round(rng.lognormal(0.0, 1.0, k) * 100).astype(np.int64)  # the technical (equipment, staff) part
    pe_26 = np.round(work * rng.uniform(0.2, 0.6, k)).astype(np.int64)
    mp_26 = np.round(work * rng.uniform(0.03, 0.12, k)).astype(np.int64)
    mp_tc = np.where(pctc == 1, rng.integers(1, 4, k), 0)
    fac_na = rng.random(k) < 0.25
    # per row: (code index, modifier, work, non-facility PE, facility PE, MP, facility NA)
    rows = [(chosen, np.full(k, ""), work, pe_26 + np.where(pctc == 1, pe_tc, pe_tc // 2),
             np.where(fac_na | (pctc == 1), 0, pe_26), mp_26 + mp_tc, fac_na | (pctc == 1))]
    split = pctc == 1
    rows.append((chosen[split], np.full(split.sum(), "26"), work[split], pe_26[split], pe_26[split], mp_26[split],
                 np.zeros(split.sum(), bool)))
    rows.append((chosen[split], np.full(split.sum(), "TC"), np.zeros(split.sum(), np.int64), pe_tc[split],
                 np.zeros(split.sum(), np.int64), mp_tc[split], np.ones(split.sum(), bool)))
    idx = np.concatenate([r[0] for r in rows])
    order = np.lexsort((np.concatenate([r[1] for r in rows]), idx))  # by code, then '' < 26 < TC

    def col(i):
        return np.concatenate([r[i] for r in rows])[order]

    code_i, mod, w, nf_pe, f_pe, mp, na = col(0), col(1), col(2), col(3), col(4), col(5), col(6)
    where_global = {c: j for j, c in enumerate(chosen.tolist())}
    g = np.array([where_global[c] for c in code_i.tolist()])
    n = len(code_i)
    zzz = GLOBAL_DAYS.index("ZZZ")  # the add-on codes, and only they
    glob = np.where(np.isin(chosen, u.addons), zzz,
                    rng.choice(len(GLOBAL_DAYS), k, p=[0.20, 0.11, 0.13, 0.50, 0.04, 0.0, 0.02]))[g]
    surgical = np.isin(glob, [1, 2])
    pre, intra, post = np.where(surgical, 10, 0), np.where(surgical, 80, np.where(glob == 0, 100, 0)), \
        np.where(surgical, 10, 0)
    digits = lambda choices, p=None: _pick([str(c) for c in choices], rng.choice(len(choices), k, p=p)[g])  # noqa: E731
    empty = pa.array([""] * n, pa.string())
    zero = pa.array(["0.00"] * n, pa.string())
    columns = [
        _pick(codes, code_i), pa.array(mod.astype(str), pa.string()), pa.array([PLACEHOLDER] * n, pa.string()),
        _pick(status, g), empty, _money(w), _money(nf_pe), _pick(["", "NA"], np.zeros(n, np.int8)), _money(f_pe),
        _pick(["", "NA"], na.astype(np.int8)), _money(mp), _money(w + nf_pe + mp), _money(w + f_pe + mp),
        _pick([str(v) for v in range(10)], pctc[g]), _pick(GLOBAL_DAYS, glob), _money(pre), _money(intra),
        _money(post), digits([0, 2, 3, 4, 5, 9], [0.3, 0.4, 0.05, 0.05, 0.1, 0.1]), digits([0, 1, 2, 3, 9]),
        digits([0, 1, 2, 9]), digits([0, 1, 2, 9]), digits([0, 1, 2, 9]), empty, empty,
        pa.array([CONV_FACTOR] * n, pa.string()), digits(["01", "02", "03", "09"]), empty,
        digits(["99", "01", "88"], [0.9, 0.05, 0.05]), zero, zero, zero,
    ]
    path = folder / f"PPRRVU{quarter.year}_{MONTHS[quarter.start.month]}_nonQPP.csv"
    return [_write(path, _pfs_head(quarter), _text(columns, ",", "\r\n"))]


# -- the mirror --------------------------------------------------------------------------------------------

WRITERS = {"ptp": write_ptp, "mue": write_mue, "aoc": write_aoc, "pfs": write_pfs}
DONE = ".complete"  # written last: a folder without it (an interrupted run) is written again


def generate(root: Path, sizes: Sizes | None = None, quarter: Quarter = Q3_2026, seed: int = SEED) -> dict:
    """Write one quarter of every edit set under root/<set>/<folder>/; what was written, as a dict (also
    root/.complete). The same seed and sizes give the same bytes."""
    sizes = sizes or Sizes()
    root = Path(root)
    t0 = time.perf_counter()
    u = universe(np.random.default_rng(seed), sizes)
    files = {}
    for system, folder in quarter.folders().items():
        # each set draws from its own stream, so changing one set's size leaves the others' bytes alone
        sub = np.random.default_rng([seed, list(WRITERS).index(system)])
        files[system] = [p.name for p in WRITERS[system](root / system / folder, sub, u, sizes, quarter)]
    text_bytes = sum(p.stat().st_size for p in root.rglob("*") if p.is_file() and p.name != DONE)
    info = {"quarter": quarter.folder, "seed": seed, "sizes": asdict(sizes), "files": files, "codes": len(u.codes),
            "addon_codes": len(u.addons),
            "text_bytes": text_bytes, "seconds": round(time.perf_counter() - t0, 2)}
    (root / DONE).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def codes_of(sizes: Sizes | None = None, seed: int = SEED) -> np.ndarray:
    """The code universe generate() draws from (for claims that should meet the edits)."""
    return universe(np.random.default_rng(seed), sizes or Sizes()).codes


def mirror(workdir: Path, sizes: Sizes | None = None) -> tuple[Path, dict]:
    """The full-size synthetic quarter in workdir/edits-mirror, generated once per bench workdir."""
    root = Path(workdir) / "edits-mirror"
    done = root / DONE
    if done.exists():
        return root, json.loads(done.read_text(encoding="utf-8"))
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    return root, generate(root, sizes)


# -- ingest: parse, prove and store the quarter, as codegov ingest does ------------------------------------

def load_mirror_sources(root: Path, codesets: Path = ROOT / "codesets"):
    from ingest.discover import discover_mirror
    from ingest.sources import load_sources
    from ingest.systems import EDITS

    sources = load_sources(codesets)
    sources.merge(discover_mirror(root, sources.rules, list(EDITS)))
    return sources


def ingest_quarter(root: Path, out: Path, codesets: Path = ROOT / "codesets") -> dict:
    """Every edit set's release in the mirror through build_edit_release + store_edit_release into out;
    rows, text and stored sizes per set. (The previous quarter, when out holds one, is proved against.)"""
    from ingest.build_edits import build_edit_release, previous_stored, store_edit_release
    from ingest.systems import EDITS

    sources = load_mirror_sources(root, codesets)
    summary = {}
    for system in EDITS:
        for release in sources.releases(system):
            folder = Path(root) / system / release.mirror_dir
            if not folder.is_dir():
                continue
            built = build_edit_release(sources, release, folder)
            result = store_edit_release(built, out, previous=previous_stored(out, release))
            summary[system] = {"release": release.id, "rows": result.rows,
                               "text_bytes": sum(e["size"] for e in built.file_entries),
                               "stored_bytes": len(built.data)}
            del built
    return summary


def _peak_mb() -> float:
    from bench.bench_scrub import _peak_mb as peak

    return peak()


def ingest_worker(root: Path, out: Path) -> dict:
    """One ingest in this (fresh) process: wall seconds, the process's peak resident memory, the sizes."""
    import gc

    import ingest.build_edits  # noqa: F401  (imports are not the ingest's time)
    import ingest.parse_edits  # noqa: F401

    gc.collect()
    t0, c0 = time.perf_counter(), time.process_time()
    summary = ingest_quarter(root, out)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    return {"seconds": seconds, "cpu_seconds": round(cpu, 3), "peak_rss_mb": round(_peak_mb(), 1), "sets": summary}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.synth_edits", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate", help="write the synthetic quarter into DIR")
    g.add_argument("dir", type=Path)
    g.add_argument("--small", action="store_true", help="the test size instead of the full size")
    g.add_argument("--quarter", default=Q3_2026.folder, help="e.g. 2026-Q3")
    i = sub.add_parser("ingest", help="ingest the mirror's quarter into OUT once; JSON on standard output")
    i.add_argument("mirror", type=Path)
    i.add_argument("out", type=Path)
    args = p.parse_args(argv)
    if args.command == "generate":
        info = generate(args.dir, Sizes.small() if args.small else Sizes(), Quarter.parse(args.quarter))
        print(json.dumps(info, indent=2))
    else:
        print(json.dumps(ingest_worker(args.mirror, args.out)))
    return 0


if __name__ == "__main__":
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    sys.exit(main())
