"""The site's code lookup: a page where a coder types a code and a date of service and reads what
`codegov lookup CODE --on DATE` answers, from a compact index written beside the page at render time.

The answers are the engine's (ingest.history.ReleaseHistory.lookup, ingest.edits.code_answer), computed
here once per span of dates over which a code's answer cannot change (ReleaseHistory.spans); the page's
script (site_src/javascripts/lookup.js) only finds the span and fills the message's placeholders.

The index, under lookup/data/ beside the page:
- meta.json: per code set its name, releases (id, effective day, label), the days covered, the code shapes
  (the registry's patterns), the messages (templates with {code}, {on}, {since}, {release}, {reps}), the
  replacement sources, the answers for a code no release holds and for a date no release covers; the
  shards; the edit tables' answer for a code they do not list.
- <system>-<first character>.json: {code: [display code, [row, ...]]}, one row per span:
  [first day, last day (null: open), status, descriptor, since day, release (null: the one in force),
  [[replacement, source], ...], message, in effect before its documented start (0/1)]; days are days since
  1970-01-01, status an index into ingest.history.STATUSES, message and source indexes into meta.json's
  lists (a message is inline text when it has no template).
- edits.json (when edit tables are stored): {"codes": {code: [[first, last, [line, ...]], ...]}, "elsewhere":
  [code, ...]}, the lines `codegov lookup` prints (ingest.edits.answer_lines) per span of the quarters in
  force and the rows' dates; tables that list more than EDIT_CODES_LIMIT codes are indexed for the
  inventory's codes only, and the others are listed in "elsewhere" (the page sends those to the CLI).

`answer()` reads the index as the page's script does; the tests compare it with ReleaseHistory.lookup.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
from collections.abc import Iterable

import numpy as np

from ingest import systems as registry
from ingest.history import CPT_MESSAGE, NO_END, STATUSES, ReleaseHistory, short_list

PAGE = "lookup/index.md"
DATA = "lookup/data"
EPOCH = dt.date(1970, 1, 1)
SHORT_LIST = 5  # replacements a message names before "(+n more)" (ingest.history.short_list)
NO_SHAPE = "{raw!r} has the shape of no supported code set (ICD-10-CM, HCPCS Level II, POS, CPT)"


def day(d: dt.date) -> int:
    return (d - EPOCH).days


def date_of(n: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(n))


@functools.lru_cache(maxsize=4096)  # the index names a few distinct days many times
def _iso(n) -> str:
    return date_of(n).isoformat() if n is not None else ""


SHARD_WIDTH = {"icd10cm": 2, "hcpcs": 1, "pos": 0}  # leading characters that name a code's shard


def shard_key(system: str, code: str) -> str:
    """The shard a code's rows are in: its code set and first characters (ICD-10-CM two, HCPCS one; POS: one
    shard), so a lookup fetches a small file."""
    width = SHARD_WIDTH[system]
    return f"{system}-{code[:width]}" if width else system


def fill(template: str, *, code: str, on: str, since: str, release: str, reps: list[str]) -> str:
    """A message template filled for one date of service, as the page's script fills it."""
    return (template.replace("{reps}", short_list(reps, SHORT_LIST)).replace("{on}", on).replace("{since}", since)
            .replace("{release}", release).replace("{code}", code))


def _template(message: str, *, code: str, on: str | None, since: str, release: str, reps: list[str]) -> str | None:
    """The message with its fields as placeholders; None when filling it back would not give the message."""
    t = message
    if reps:
        t = t.replace(short_list(reps, SHORT_LIST), "{reps}")
    if on:
        t = t.replace(on, "{on}")
    if release:  # before since: the two are often the same day, and the release is usually the one in force
        t = t.replace(release, "{release}")
    if since:
        t = t.replace(since, "{since}")
    if t.startswith(code + " "):  # a message names its code first (and nowhere else but in {reps})
        t = "{code}" + t[len(code):]
    ok = fill(t, code=code, on=on or "", since=since, release=release, reps=reps) == message
    return t if ok and "{" not in message else None


def pack_replacements(reps: list[tuple[str, str]], code: str, source=lambda s: s) -> list:
    """[(display code, source)] as [[source(source), "code code ..."], ...], one group per run of one
    source (source: the source's index in meta.json, asked once per group); a code that starts with `code`
    (a header's children) is written "~" and the rest."""
    out: list = []
    n = len(code)
    group, last = None, None
    for c, s in reps:
        text = "~" + c[n:] if c != code and c.startswith(code) else c
        if group is not None and s == last:
            group.append(text)
        else:
            group, last = [text], s
            out.append([source(s), group])
    for entry in out:
        entry[1] = " ".join(entry[1])
    return out


def unpack_replacements(groups: list, code: str) -> list[tuple[str, int]]:
    return [(code + c[1:] if c.startswith("~") else c, s) for s, text in groups for c in text.split(" ")]


class _Strings:
    """A list of distinct strings, each stored once; rows name them by index."""

    def __init__(self):
        self.items: list[str] = []
        self._index: dict[str, int] = {}

    def __call__(self, text: str) -> int:
        if text not in self._index:
            self._index[text] = len(self.items)
            self.items.append(text)
        return self._index[text]


def _in_force(releases: list[tuple[str, int]], n: int) -> str | None:
    earlier = [r for r, d in releases if d <= n]
    return earlier[-1] if earlier else None


def _absent_code(history: ReleaseHistory, system: str) -> str:
    """A code of system's shape that no loaded release holds (for the answer about such a code)."""
    cs = registry.get(system)
    for candidate in ("ZZZ9999", "Z9999", "V9999", "00", "98", "97", "96", "ZZ"):
        if cs.matches(candidate) and not history.knows(system, candidate):
            return cs.normalize(candidate)
    for n in range(100):
        candidate = f"{n:02d}"
        if cs.matches(candidate) and not history.knows(system, candidate):
            return candidate
    raise ValueError(f"{system}: every candidate code is loaded")  # pragma: no cover - 100 POS codes


def system_index(history: ReleaseHistory, system: str, messages: _Strings, sources: _Strings,
                 labels: dict[str, str]) -> tuple[dict, dict[str, dict]]:
    """(the code set's entry of meta.json, {shard key: {code: [display, rows]}}) from the engine's answers."""
    import pandas as pd

    cs = registry.get(system)
    releases = history.release_days(system)
    meta = {"name": cs.name, "short": cs.short, "dotted_after": cs.dotted_after, "pad_digits": cs.pad_digits,
            "releases": [[r, d, labels.get(r, r)] for r, d in releases], "first": None, "last": None}
    absent = _absent_code(history, system)
    if not releases:
        v = history.lookup(absent, dt.date.today(), system)
        meta["none"] = messages(v.message)
        return meta, {}
    coverage = history.coverage(system)
    meta["first"] = day(coverage[0])
    meta["last"] = day(coverage[1]) if coverage[1] else None
    # a date no release covers, and a code no release holds
    before = coverage[0] - dt.timedelta(days=1)
    v = history.lookup(absent, before, system)
    meta["uncovered"] = messages(_template(v.message, code=v.display_code, on=before.isoformat(), since="",
                                           release="", reps=[]) or v.message)
    on = coverage[0] + dt.timedelta(days=1)
    v = history.lookup(absent, on, system)
    meta["unknown"] = messages(_template(v.message, code=v.display_code, on=on.isoformat(), since="",
                                         release="", reps=[]) or v.message)  # names the first and last release

    spans = history.spans(system)
    first, last = spans["first"].to_numpy(), spans["last"].to_numpy()
    length = np.where(last == NO_END, 2, last - first)
    probe = first + (length >= 1)  # the second day of a span: no date field can be it
    dates = pd.Series(pd.to_datetime(probe, unit="D"))
    answers = history.validate(pd.Series(spans["code"].to_numpy(), dtype=object), dates, system, detail=True)
    n = len(first)
    codes = answers["code"].to_numpy()
    display = answers["display_code"].to_numpy()
    message = answers["message"].to_numpy()
    description = answers["description"].to_numpy()
    release = answers["release"].to_numpy()
    replacements = answers["replacement_list"].to_numpy()
    since_days = answers["since"].to_numpy(dtype="datetime64[D]")
    no_since = np.isnat(since_days)
    since = np.where(no_since, 0, since_days.astype(np.int64)).astype(object)
    since[no_since] = None
    release_days = np.array([d for _, d in releases], dtype=np.int64)
    in_force = np.array([r for r, _ in releases], dtype=object)[np.searchsorted(release_days, probe, "right") - 1]
    stored_release = np.where(release == in_force, None, release)  # the one in force is not written
    status = pd.Categorical(answers["status"].to_numpy(), categories=STATUSES).codes.astype(np.int64)
    undocumented = answers["since_undocumented"].to_numpy().astype(bool).astype(np.int64)
    # each span's message as a template (an index into meta.json's messages) or inline text. The plain valid
    # answer (most spans: no replacements, no date of the message in its code) has the one template: checked
    # against the engine's messages over the whole column; the other spans through _template one by one
    name = cs.name
    valid_template = f"{{code}} is valid and billable on {{on}} ({name} release {{release}})"
    has_probe = probe != first
    probe_iso = np.array([_iso(d) for d in probe.tolist()], dtype=object)
    no_reps = np.array([not r for r in replacements.tolist()], dtype=bool)
    plain = (no_reps & has_probe & (release != probe_iso)
             & np.array(["-" not in d and "{" not in d for d in display.tolist()], dtype=bool))
    expected = [f"{d} is valid and billable on {o} ({name} release {r})" for d, o, r in
                zip(display[plain].tolist(), probe_iso[plain].tolist(), release[plain].tolist(), strict=True)]
    plain[plain] = message[plain] == np.array(expected, dtype=object)
    text = np.empty(n, dtype=object)  # ("t", template) or ("m", inline message): indexed below, in span order
    text.fill(("t", valid_template))  # the plain spans'; the others' set one by one
    packed = np.empty(n, dtype=object)
    for i in np.flatnonzero(plain | no_reps).tolist():
        packed[i] = []
    prev: tuple = (None, None, None, None)  # (display, replacements, their codes, packed) of the span before
    for i in np.flatnonzero(~plain).tolist():
        disp, reps = display[i], replacements[i]
        if not reps:
            rep_codes = []
        elif disp == prev[0] and reps == prev[1]:  # a header's children, the same in the next release
            rep_codes, packed[i] = prev[2], prev[3]
        else:
            rep_codes, packed[i] = [c for c, _ in reps], pack_replacements(reps, disp, sources)
            prev = (disp, reps, rep_codes, packed[i])
        t = _template(message[i], code=disp, on=probe_iso[i] if has_probe[i] else None, since=_iso(since[i]),
                      release=release[i] or "", reps=rep_codes)
        text[i] = ("t", t) if t is not None else ("m", message[i])
    # a span whose answer is the one of the span before it (the same code, the day after it) joins its row
    same = np.zeros(n, dtype=bool)
    if n > 1:
        same[1:] = (codes[1:] == codes[:-1]) & (last[:-1] != NO_END) & (last[:-1] + 1 == first[1:])
        for column in (status, undocumented, description, since, stored_release, text, packed):
            same[1:] &= column[1:] == column[:-1]  # object columns: Python's == element by element
    starts = np.flatnonzero(~same)
    ends = np.append(starts[1:], n)[:len(starts)] - 1  # the last span of each row
    last_l = [None if x == NO_END else x for x in last[ends].tolist()]
    shards: dict[str, dict] = {}
    last_code, rows = None, []
    for row in zip(codes[starts].tolist(), display[starts].tolist(), first[starts].tolist(), last_l,
                   status[starts].tolist(), description[starts].tolist(),
                   since[starts].tolist(), stored_release[starts].tolist(), packed[starts].tolist(),
                   text[starts].tolist(), undocumented[starts].tolist(), strict=True):
        code = row[0]
        if code != last_code:  # a code's spans are one run: its entry found once
            rows = shards.setdefault(shard_key(system, code), {}).setdefault(code, [row[1], []])[1]
            last_code = code
        kind, t = row[9]
        rows.append([*row[2:9], messages(t) if kind == "t" else t, row[10]])
    return meta, shards


EDIT_CODES_LIMIT = 2_000  # codes whose edit-table lines the index holds before it keeps only the billed ones


def edits_index(tables, billed: Iterable[str] = (), limit: int = EDIT_CODES_LIMIT) -> tuple[list, dict, list]:
    """(the answer for a code no edit table lists, {code: rows}, [codes listed but not indexed]) from
    ingest.edits.code_answer, per span of dates over which it cannot change (the quarters' windows, and the
    rows' effective and deletion dates). When the tables list more than `limit` codes (the real NCCI tables
    list about fifteen thousand, with thousands of PTP edits each) only the `billed` codes (the inventory's)
    are indexed, and the others are named so the page can send the coder to `codegov lookup`."""
    from ingest.edits import answer_lines, code_answer
    from ingest.systems import EDITS

    windows = [w for s in EDITS for w in tables.windows(s)]
    cuts = sorted({day(w.start) for w in windows} | {day(w.end) for w in windows})
    codes: dict[str, set[int]] = {}
    for w in windows:
        t = tables.stored(w.system, w.release).all()
        names = {"ptp": ("column1", "column2"), "mue": ("code",), "pfs": ("code",), "aoc": ("addon", "primary")}
        dated = "effective" in t.column_names
        for name in names[w.system]:
            values = t[name].to_pylist()
            eff = t["effective"].to_pylist() if dated else [None] * len(values)
            dele = t["deletion"].to_pylist() if dated else [None] * len(values)
            for c, e, d in zip(values, eff, dele, strict=True):
                days = codes.setdefault(c, set())
                for x in (e, d):
                    if x is not None and w.start <= _as_date(x) < w.end:
                        days.add(day(_as_date(x)))
    codes.pop("", None)
    elsewhere: list[str] = []
    if len(codes) > limit:
        wanted = set(billed)
        elsewhere = sorted(c for c in codes if c not in wanted)
        codes = {c: d for c, d in codes.items() if c in wanted}

    def rows_for(code: str, extra: Iterable[int]) -> list:
        points = sorted(set(cuts) | set(extra))
        spans = [(None, points[0] - 1)] + [(a, b - 1) for a, b in zip(points, points[1:], strict=False)] + \
            [(points[-1], None)]
        out: list = []
        for a, b in spans:
            on = date_of(a if a is not None else b)
            lines = answer_lines(code_answer(tables, code, on))
            if out and out[-1][2] == lines:
                out[-1][1] = b
            else:
                out.append([a, b, lines])
        return out

    if not cuts:
        return [], {}, []
    return rows_for("", ()), {c: rows_for(c, days) for c, days in sorted(codes.items())}, elsewhere


def _as_date(value) -> dt.date:
    return value.date() if isinstance(value, dt.datetime) else value


def build(history: ReleaseHistory, labels: dict[tuple[str, str], str], edit_tables=None,
          billed: Iterable[str] = ()) -> dict[str, str]:
    """Every file of the index: {path under the generated folder: text}. billed: the inventory's procedure
    codes (the edit tables' lines of large tables are indexed for these only)."""
    with gc_paused():
        return _build(history, labels, edit_tables, billed)


@contextlib.contextmanager
def gc_paused():
    """The cyclic garbage collector off: the index is millions of small lists and tuples that make no
    cycles, which the collector would only walk again and again (a fifth of the build)."""
    import gc

    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _build(history: ReleaseHistory, labels: dict[tuple[str, str], str], edit_tables, billed: Iterable[str]
           ) -> dict[str, str]:
    messages, sources = _Strings(), _Strings()
    meta: dict = {"statuses": list(STATUSES), "systems": {}, "short_list": SHORT_LIST, "shard_width": SHARD_WIDTH,
                  "cpt": {"message": CPT_MESSAGE, "code": registry.REGISTRY["cpt"].kind("code").pattern},
                  "no_shape": NO_SHAPE.replace("{raw!r}", "'{code}'"),
                  "patterns": {"icd10cm": registry.REGISTRY["icd10cm"].kind("code").pattern,
                               "hcpcs": registry.REGISTRY["hcpcs"].kind("procedure").pattern,
                               "modifier": registry.REGISTRY["hcpcs"].kind("modifier").pattern}}
    files: dict[str, str] = {}
    shard_names: list[str] = []
    for system in registry.LOADED:
        own = {r: label for (s, r), label in labels.items() if s == system}
        meta["systems"][system], shards = system_index(history, system, messages, sources, own)
        for key, codes in sorted(shards.items()):
            files[f"{DATA}/{key}.json"] = _dump(codes)
            shard_names.append(key)
    meta["shards"] = shard_names
    meta["messages"], meta["sources"] = messages.items, sources.items
    meta["edits"] = None
    if edit_tables is not None and not edit_tables.empty():
        empty, codes, elsewhere = edits_index(edit_tables, billed)
        meta["edits"] = {"empty": empty, "indexed": len(codes), "elsewhere": len(elsewhere)}
        files[f"{DATA}/edits.json"] = _dump({"codes": codes, "elsewhere": elsewhere})
    files[f"{DATA}/meta.json"] = _dump(meta)
    return files


def _dump(data) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"


# ---------------------------------------------------------------------------------------------------------
# Reading the index, as the page's script does (the tests hold it to ReleaseHistory.lookup)


def _guess(meta: dict, raw: str, shards) -> str:
    """ingest.history.guess_system on the index: the shard holding a code stands for the loaded history."""
    import re

    code = raw.strip().upper()
    pats = meta["patterns"]
    icd = re.fullmatch(pats["icd10cm"], code.replace(".", "").replace(" ", "")) is not None
    if re.fullmatch(r"\d{1,2}", code):
        return "pos"
    if "." in code:
        return "icd10cm" if re.fullmatch(r"[0-9A-Z]{3}\.[0-9A-Z]{1,4}", code) and icd else "unknown"
    if re.fullmatch(meta["cpt"]["code"], code):
        return "cpt"
    if re.fullmatch(pats["hcpcs"], code):
        if code not in shards("hcpcs", code) and code in shards("icd10cm", code):
            return "icd10cm"
        return "hcpcs"
    if re.fullmatch(pats["modifier"], code) and not icd:
        return "hcpcs"
    return "icd10cm" if icd else "unknown"


class Index:
    """The index files read as the page's script reads them, each file parsed once."""

    def __init__(self, files: dict[str, str]):
        self.files = files
        self.meta = json.loads(files[f"{DATA}/meta.json"])
        self._parsed: dict[str, dict] = {}

    def file(self, name: str) -> dict:
        if name not in self._parsed:
            self._parsed[name] = json.loads(self.files[f"{DATA}/{name}.json"])
        return self._parsed[name]

    def shard(self, system: str, code: str) -> dict:
        key = shard_key(system, code)
        return self.file(key) if key in self.meta["shards"] else {}

    def answer(self, raw: str, on: dt.date) -> dict:
        """Validity.to_dict() of `raw` on `on` (and "edits": the edit tables' lines, for a five-character
        code when edit tables are stored)."""
        meta = self.meta
        system = _guess(meta, raw, self.shard)
        text = raw.strip().upper()
        base = {"system": system, "code": text, "display_code": text, "status": "unknown", "billable": False,
                "description": "", "release": None, "since": None, "replacements": [], "since_undocumented": False}
        if system == "cpt":
            out = {**base, "message": meta["cpt"]["message"]}
        elif system == "unknown":
            out = {**base, "message": meta["no_shape"].replace("{code}", text)}
        else:
            out = _code_answer(meta, system, text, on, self.shard)
        if len(out["code"]) == 5 and meta.get("edits"):
            edits = self.file("edits")
            if out["code"] in edits["elsewhere"]:  # listed, not indexed: the page sends the coder to the CLI
                out["edits_elsewhere"] = True
                return out
            rows = edits["codes"].get(out["code"]) or meta["edits"]["empty"]
            n = day(on)
            out["edits"] = next(r[2] for r in rows if (r[0] is None or r[0] <= n) and (r[1] is None or n <= r[1]))
        return out


def answer(files: dict[str, str], raw: str, on: dt.date) -> dict:
    """Index(files).answer(raw, on): one answer from the index files."""
    return Index(files).answer(raw, on)


def _code_answer(meta: dict, system: str, text: str, on: dt.date, shard) -> dict:
    m = meta["systems"][system]
    cs = registry.get(system)
    code = cs.normalize(text)
    n = day(on)
    base = {"system": system, "code": code, "display_code": cs.display_official(code), "status": "unknown",
            "billable": False, "description": "", "release": None, "since": None, "replacements": [],
            "since_undocumented": False}
    msgs = meta["messages"]

    def message(ix, **fields) -> str:
        return ix if isinstance(ix, str) else fill(msgs[ix], on=on.isoformat(), **fields)

    if m["first"] is None:
        return {**base, "message": msgs[m["none"]]}
    if n < m["first"] or (m["last"] is not None and n > m["last"]):
        return {**base, "message": message(m["uncovered"], code=base["display_code"], since="", release="", reps=[])}
    in_force = _in_force([(r, d) for r, d, _ in m["releases"]], n)
    entry = shard(system, code).get(code)
    row = next((r for r in entry[1] if r[0] <= n and (r[1] is None or n <= r[1])), None) if entry else None
    if row is None:
        return {**base, "release": in_force,
                "message": message(m["unknown"], code=base["display_code"], since="", release="", reps=[])}
    first, last, status, desc, since, release, reps, msg, undoc = row
    release = release or in_force
    reps = [(c, meta["sources"][s]) for c, s in unpack_replacements(reps, entry[0])]
    return {**base, "display_code": entry[0], "status": meta["statuses"][status], "billable": status == 0,
            "description": desc, "release": release, "since": _iso(since) or None,
            "replacements": [{"code": c, "source": s} for c, s in reps],
            "message": message(msg, code=entry[0], since=_iso(since), release=release, reps=[c for c, _ in reps]),
            "since_undocumented": bool(undoc)}


# ---------------------------------------------------------------------------------------------------------
# The page


def billed_procedures(inventory_rows) -> set[str]:
    """The inventory's procedure codes (CPT, HCPCS): the edit-table lines of large tables are indexed for these."""
    return {r["code"] for r in inventory_rows or [] if r["system"] in ("cpt", "hcpcs") and len(r["code"]) == 5}


def build_from_store(out, codesets, labels: dict[tuple[str, str], str], billed: Iterable[str]) -> dict[str, str]:
    """build() on the releases and edit tables stored in out."""
    from ingest.repository import ReleaseRepository

    return build_from_repository(ReleaseRepository(out, codesets), labels, billed)


def build_from_repository(repo, labels: dict[tuple[str, str], str], billed: Iterable[str]) -> dict[str, str]:
    """build() on a repository's releases (its history built here) and the edit tables stored beside them."""
    from ingest.edits import EditTables

    return build(repo.history(), labels, EditTables(repo.out), billed)


_FORKED_REPO = None  # the repository a process forked by start_build builds the index from (inherited, not sent)


def _build_forked(labels: dict[tuple[str, str], str], billed: Iterable[str]) -> dict[str, str]:
    return build_from_repository(_FORKED_REPO, labels, billed)


def start_build(repo, inventory_rows):
    """The index of repo's stored releases, built in a second process: a concurrent.futures.Future of
    build_from_repository's files, and the executor to shut down once its result is taken. The labels and
    billed codes are the ones pages() would use, so the index is the same as one built in this process.

    Every table is read here first (the stages after this one read them all anyway) and the process is forked,
    so it starts with the tables in memory instead of reading them again (a second of CPU on the real
    releases). Safe to fork: no import is half done (the caller waits for a background import first: see
    codegov.update), and Arrow's thread pools are rebuilt in the child by its fork handlers."""
    global _FORKED_REPO
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import ingest.edits  # noqa: F401 - imported before the fork, not in the child

    repo.read_all()
    labels = {(s, r): repo.label(s, r) for s in registry.LOADED for r in repo.ids[s]}
    _FORKED_REPO = repo
    try:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))
        future = pool.submit(_build_forked, labels, billed_procedures(inventory_rows))  # forks here
    finally:
        _FORKED_REPO = None  # the child has its copy; this process need not keep the repository alive for it
    return future, pool


def pages(site, history: ReleaseHistory | None, edit_tables=None, files=None) -> dict[str, str]:
    """The lookup page and its index, {path under the generated folder: text}; the page alone when no
    history is given (a site rendered from hand-made data). files: the index already built (start_build),
    or a function that returns it (waits for the second process)."""
    labels = {(s, r["id"]): r["label"] for s, rs in site.data.releases.items() for r in rs}
    if callable(files):
        files = files()
    if files is not None:
        files = dict(files)
    else:
        billed = billed_procedures(site.data.inventory_rows)
        files = build(history, labels, edit_tables, billed) if history is not None else {}
    meta = json.loads(files[f"{DATA}/meta.json"]) if files else {"systems": {}}
    from playbooks.text import md_cell

    loaded = []
    for m in meta["systems"].values():
        releases = ", ".join(f"{label} ({r})" for r, _, label in m["releases"])
        span = f"dates from {_iso(m['first'])} " + (f"to {_iso(m['last'])}" if m["last"] is not None else "on")
        loaded.append(f"**{md_cell(m['name'])}**: " + (f"{md_cell(releases)}; {span}" if releases else
                                                        "no release loaded"))
    edits = meta.get("edits") or {}
    if edits:
        line = (f"**Edit tables** (NCCI PTP, MUE, add-on codes, PFS): the lines `codegov lookup` prints, for the "
                f"{edits['indexed']} code(s) they list")
        if edits["elsewhere"]:
            line += (f" that the inventory bills; for the {edits['elsewhere']} other codes they list, the answer "
                     "says to run `codegov lookup`")
        loaded.append(line)
    files[PAGE] = site.render("lookup.md.j2", loaded=loaded, has_index=bool(history is not None), edits=edits)
    return files
