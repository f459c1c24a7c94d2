"""Run the validation suites on an ephemeral Great Expectations context and flatten the results to report rows.

One row per expectation per target: suite, target, expectation (the GX type), gate (a stable key), column,
success, status (passed | failed | not checked), failing_count, failing_sample (at most 20 distinct
values), failing_codes (codes of failing rows, when the table has codes), details (what the gate
checks, for a reader), observed, and for the codes of a code list that are not valid in the release
replacements ({code: [replacement, ...]}) and code_notes ({code: what happened to it}).
Bad data is rows, never exceptions; `CheckReport.success` says whether every gate passed.
"""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from pathlib import Path

from checks.suites import (
    DEFAULT_DRIFT,
    DEFAULT_DRIFT_MIN_ROWS,
    ReleaseCodes,
    code_list_frame,
    inventory_suite,
    playbook_suite,
    release_frame,
    release_suite,
)
from ingest.model import SYSTEM_NAMES, SYSTEMS, CodegovError

SUITES = ("release", "inventory", "playbooks")
SAMPLE = 20  # failing values kept per row
ROW_KEYS = ("suite", "target", "expectation", "gate", "column", "success", "status", "failing_count",
            "failing_sample", "failing_codes", "details", "observed", "replacements", "code_notes")
_RELEASE_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE}
_LIST_FORMAT = {"result_format": "COMPLETE"}  # code lists are small; every failing code is wanted


# ---------------------------------------------------------------------------------------------------------
# Report


@dataclass
class CheckReport:
    rows: list[dict] = field(default_factory=list)
    checked: dict = field(default_factory=dict)  # what was checked: releases folder, date, inventory, drift

    @property
    def success(self) -> bool:
        return all(r["success"] for r in self.rows)

    def suite_success(self, suite: str) -> bool:
        return all(r["success"] for r in self.rows if r["suite"] == suite)

    @property
    def failed(self) -> list[dict]:
        return [r for r in self.rows if not r["success"]]

    def summary(self) -> dict:
        counts = {"gates": len(self.rows), "passed": 0, "failed": 0, "not checked": 0}
        for r in self.rows:
            counts[r["status"]] += 1
        return counts

    def to_dict(self) -> dict:
        return {"success": self.success, "summary": self.summary(), "checked": self.checked, "rows": self.rows}


def _row(suite: str, target: str, expectation: str, gate: str, *, column: str = "", success: bool = True,
         status: str | None = None, failing_count: int = 0, failing_sample: list | None = None,
         failing_codes: list | None = None, details: str = "", observed=None,
         replacements: dict | None = None, code_notes: dict | None = None) -> dict:
    return {"suite": suite, "target": target, "expectation": expectation, "gate": gate, "column": column,
            "success": bool(success), "status": status or ("passed" if success else "failed"),
            "failing_count": int(failing_count), "failing_sample": list(failing_sample or []),
            "failing_codes": list(failing_codes or []), "details": details, "observed": observed,
            "replacements": dict(replacements or {}), "code_notes": dict(code_notes or {})}


def not_checked(suite: str, target: str, gate: str, details: str, *, column: str = "", observed=None) -> dict:
    return _row(suite, target, "not checked", gate, column=column, details=details, status="not checked",
                observed=observed)


def _plain(value):
    """JSON-safe: numpy scalars to Python, tuples to lists, NaN/None to None."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    return value


def _distinct(values, limit: int = SAMPLE) -> list:
    seen, out = set(), []
    for v in values:
        key = repr(v)
        if key not in seen:
            seen.add(key)
            out.append(v)
            if len(out) == limit:
                break
    return out


def _exception_message(info) -> str:
    if not isinstance(info, dict):
        return ""
    if info.get("raised_exception"):
        return str(info.get("exception_message") or "error")
    for inner in info.values():
        if isinstance(inner, dict) and inner.get("raised_exception"):
            return str(inner.get("exception_message") or "error")
    return ""


def result_rows(result, suite: str, target: str) -> list[dict]:
    """One row per expectation of a GX suite validation result (in the order GX returns them)."""
    rows = []
    for r in result.results:
        cfg = r.expectation_config
        meta, kwargs, res = dict(cfg.meta or {}), dict(cfg.kwargs), dict(r.result or {})
        column = kwargs.get("column") or ", ".join(kwargs[k] for k in ("column_A", "column_B") if k in kwargs)
        common = {"column": column, "details": meta.get("check", "")}
        error = _exception_message(r.exception_info)
        if error:
            rows.append(_row(suite, target, cfg.type, meta.get("gate", cfg.type), success=False, failing_count=0,
                             **{**common, "details": f"{common['details']}: could not run: {error}"}))
            continue
        observed = _plain(res.get("observed_value"))
        if cfg.type == "expect_table_columns_to_match_ordered_list":
            expected, found = list(kwargs["column_list"]), list(observed or [])
            sample = [f"missing {c}" for c in expected if c not in found]
            sample += [f"unexpected {c}" for c in found if c not in expected]
            if not sample and expected != found:
                sample = ["columns out of order"]
            rows.append(_row(suite, target, cfg.type, meta["gate"], success=r.success, failing_count=len(sample),
                             failing_sample=sample, observed=found, **common))
        elif "unexpected_count" in res:
            values = res.get("unexpected_list", res.get("partial_unexpected_list")) or []
            values = [f"{b} > {a}" if isinstance(v, (list, tuple)) and len(v) == 2 and (a := v[0]) is not None
                      and (b := v[1]) is not None else v for v in values]
            index = res.get("unexpected_index_list", res.get("partial_unexpected_index_list")) or []
            codes = [i["code"] for i in index if isinstance(i, dict) and "code" in i]
            rows.append(_row(suite, target, cfg.type, meta["gate"], success=r.success,
                             failing_count=_plain(res["unexpected_count"]),
                             failing_sample=[v for v in _plain(_distinct(values)) if v is not None],
                             failing_codes=_plain(_distinct(codes)), **common))
        else:  # table-level: row count
            rows.append(_row(suite, target, cfg.type, meta["gate"], success=r.success,
                             failing_count=0 if r.success else 1,
                             failing_sample=[] if r.success else [observed], observed=observed, **common))
    return rows


# ---------------------------------------------------------------------------------------------------------
# Great Expectations: one ephemeral context per run


class Gates:
    """An ephemeral GX context (nothing written to the working folder, progress bars and analytics off)
    with one pandas data source and one whole-dataframe batch definition per kind of target.

    Suites and validation definitions are registered once per key and reused, so a suite validated many
    times (the benchmark) is built once. `data_docs`: a folder to build GX Data Docs into (optional; its
    HTML loads CSS and JS from CDNs, so the project renders its own report pages for the site)."""

    ASSETS = ("release", "inventory", "playbook")

    def __init__(self, data_docs: Path | None = None):
        # checks/__init__.py has set GX_ANALYTICS_ENABLED=false before this first import
        import great_expectations as gx
        from great_expectations.data_context.types.base import (
            DataContextConfig,
            InMemoryStoreBackendDefaults,
            ProgressBarsConfig,
        )

        self.gx = gx
        config = DataContextConfig(
            store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
            analytics_enabled=False,
            progress_bars=ProgressBarsConfig(globally=False, metric_calculations=False),
        )
        self.data_docs = Path(data_docs) if data_docs else None
        if self.data_docs is not None:
            config.data_docs_sites = {"codegov": {
                "class_name": "SiteBuilder",
                "store_backend": {"class_name": "TupleFilesystemStoreBackend",
                                  "base_directory": str(self.data_docs.resolve())},
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            }}
        self.context = gx.get_context(mode="ephemeral", project_config=config)
        source = self.context.data_sources.add_pandas("codegov")
        self.batches = {a: source.add_dataframe_asset(a).add_batch_definition_whole_dataframe("whole")
                        for a in self.ASSETS}
        self._definitions: dict = {}
        self._counter = itertools.count(1)

    def definition(self, asset: str, key, build):
        """The validation definition for `key`, building its suite with `build()` the first time."""
        if key not in self._definitions:
            n = next(self._counter)
            suite = build()
            suite.name = f"{suite.name} #{n}"
            suite = self.context.suites.add(suite)
            vd = self.gx.ValidationDefinition(name=f"{asset} #{n}", data=self.batches[asset], suite=suite)
            self._definitions[key] = self.context.validation_definitions.add(vd)
        return self._definitions[key]

    def run(self, asset: str, key, build, frame, result_format: dict, suite: str, target: str) -> list[dict]:
        """Validate `frame` with the suite `build()` makes (built once per key); the report rows, in suite order."""
        vd = self.definition(asset, key, build)
        result = vd.run(batch_parameters={"dataframe": frame}, result_format=result_format)
        order = {e.meta["gate"]: i for i, e in enumerate(vd.suite.expectations)}
        rows = result_rows(result, suite, target)
        return sorted(rows, key=lambda r: order.get(r["gate"], len(order)))

    def build_data_docs(self) -> Path | None:
        if self.data_docs is None:
            return None
        self.context.build_data_docs()
        return self.data_docs / "index.html"


# ---------------------------------------------------------------------------------------------------------
# Release tables on disk, and where deleted codes went


class ReleaseStore:
    """The ingested release tables of one folder, read once each; labels from sources.toml when known."""

    def __init__(self, out: Path, codesets: Path | None = None):
        from ingest.store import list_releases

        self.out = Path(out)
        self.ids = {s: list_releases(self.out, s) for s in SYSTEMS}
        self.labels: dict[tuple[str, str], str] = {}
        self.sources = None
        if codesets is not None:
            try:
                from ingest.sources import load_sources

                self.sources = load_sources(codesets)
                self.labels = {(s, r.id): r.label for s in SYSTEMS for r in self.sources.releases(s)}
            except CodegovError:
                self.sources = None
        self._tables: dict = {}
        self._codes: dict = {}
        self._changes: dict = {}

    def table(self, system: str, release_id: str):
        from ingest.store import read_release

        key = (system, release_id)
        if key not in self._tables:
            self._tables[key] = read_release(self.out, system, release_id)
        return self._tables[key]

    def codes(self, system: str, release_id: str) -> ReleaseCodes:
        key = (system, release_id)
        if key not in self._codes:
            self._codes[key] = ReleaseCodes.from_table(system, release_id, self.table(system, release_id))
        return self._codes[key]

    def target(self, system: str, release_id: str) -> str:
        label = self.labels.get((system, release_id))
        return f"{system} {release_id} ({label})" if label and label != release_id else f"{system} {release_id}"

    def resolve(self, system: str, name: str) -> str | None:
        """A release id from an id, alias or label; None when that code set has no such ingested release."""
        if name in self.ids[system]:
            return name
        if self.sources is not None:
            try:
                rid = self.sources.resolve(system, name).id
            except CodegovError:
                return None
            return rid if rid in self.ids[system] else None
        return None

    def previous(self, system: str, release_id: str) -> str | None:
        earlier = [r for r in self.ids[system] if r < release_id]
        return earlier[-1] if earlier else None

    def in_force(self, system: str, on: str) -> str | None:
        """The newest ingested release of `system` effective on or before `on`."""
        earlier = [r for r in self.ids[system] if r <= on]
        return earlier[-1] if earlier else None

    def latest(self, system: str) -> str | None:
        return self.ids[system][-1] if self.ids[system] else None

    def row_count(self, system: str, release_id: str) -> int:
        """Rows of a stored release: from its manifest when it has one, else counted."""
        from ingest.store import read_manifest

        if (system, release_id) not in self._tables:
            manifest = read_manifest(self.out, system, release_id) or {}
            if isinstance(manifest.get("rows"), int):
                return manifest["rows"]
        return len(self.table(system, release_id))

    def change_set(self, system: str, old: str, new: str):
        from ingest.diff import conversion_path, diff_releases

        key = (system, old, new)
        if key not in self._changes:
            import pandas as pd

            conv = conversion_path(self.out, system, new)
            conversion = pd.read_csv(conv, dtype=str, keep_default_na=False) if conv.exists() else None
            label = self.labels.get((system, new), new)
            self._changes[key] = diff_releases(self.table(system, old), self.table(system, new), conversion=conversion,
                                               conversion_label=f"conversion table {label}",
                                               from_label=self.labels.get((system, old), old), to_label=label)
        return self._changes[key]

    def replacements(self, system: str, code: str, release_id: str) -> dict:
        """Why `code` is not billable in `release_id` and what replaces it:
        {"deleted_in", "reason", "termination_date", "replacements": [{code, display_code, description, source}]}.

        The source is the change set (ingest.diff) of the ingested release that deleted it: new children
        and the conversion table for ICD-10-CM, XREF for HCPCS. When no pair of ingested releases shows the
        deletion (one release ingested, or a HCPCS code added and ended between two annual files), the
        fallback reads the release itself: see `_fallback`."""
        ids = [r for r in self.ids[system] if r <= release_id]
        for old, new in reversed(list(zip(ids, ids[1:], strict=False))):
            cs = self.change_set(system, old, new)
            for entry in cs.deleted + cs.purged:
                if entry["code"] == code:
                    return {"deleted_in": new, "reason": entry.get("reason", "purged"),
                            "termination_date": entry.get("termination_date", ""),
                            "replacements": list(entry.get("replacements", []))}
        return self._fallback(system, code, release_id)

    def _fallback(self, system: str, code: str, release_id: str) -> dict:
        """ICD-10-CM: a code that is a header has its billable codes under it as replacements (the children
        rule). HCPCS: a discontinued row's XREF codes, else the active codes with the same short descriptor
        added the day after its termination date (K0903 -> A5514 in 2019 carries no XREF)."""
        info = {"deleted_in": "", "reason": "", "termination_date": "", "replacements": []}
        table = self.table(system, release_id)
        codes = table["code"].astype("str")
        row = table[codes == code]
        if not len(row):
            return info
        row = row.iloc[0]
        if system == "icd10cm":
            hit = table[codes.str.startswith(code) & (codes != code) & (table["billable"].astype("str") == "1")]
            info["reason"] = "expanded" if row["kind"] == "header" else ""
            info["replacements"] = [{"code": c, "display_code": d, "description": t, "source": "child code"}
                                    for c, d, t in zip(hit["code"], hit["display_code"], hit["long_desc"], strict=True)]
        elif system == "hcpcs":
            info["reason"] = "discontinued" if row["status"] == "discontinued" else ""
            info["termination_date"] = row["termination_date"]
            by_code = table.set_index("code")
            reps = [{"code": x, "display_code": x, "description": by_code.loc[x, "long_desc"] if x in by_code.index
                     else "", "source": "HCPCS XREF"} for x in row["xrefs"].split()]
            if not reps and row["termination_date"] and row["short_desc"]:
                day_after = (dt.date.fromisoformat(row["termination_date"]) + dt.timedelta(days=1)).isoformat()
                same = table[(table["short_desc"] == row["short_desc"]) & (table["add_date"] == day_after)
                             & (table["billable"].astype("str") == "1") & (codes != code)]
                reps = [{"code": c, "display_code": c, "description": t,
                         "source": f"same descriptor, added {day_after}"}
                        for c, t in zip(same["code"], same["long_desc"], strict=True)]
            info["replacements"] = reps
        return info


# ---------------------------------------------------------------------------------------------------------
# Suites on data


def validate_release(table, system: str, release_id: str, *, previous: tuple[str, int] | None = None,
                     drift: float = DEFAULT_DRIFT, gates: Gates | None = None, target: str | None = None) -> list[dict]:
    """The release suite on one release table (a DataFrame as ingest.store.read_release returns it)."""
    gates = gates or Gates()
    target = target or f"{system} {release_id}"
    key = ("release", system, release_id, previous, drift)
    result_format = dict(_RELEASE_FORMAT)
    if "code" in table.columns:
        result_format["unexpected_index_column_names"] = ["code"]
    return gates.run("release", key, lambda: release_suite(system, release_id, previous=previous, drift=drift),
                     release_frame(table), result_format, "release", target)


def check_release(store: ReleaseStore, system: str, release_id: str, gates: Gates, *, drift: float = DEFAULT_DRIFT,
                  drift_min_rows: int = DEFAULT_DRIFT_MIN_ROWS) -> list[dict]:
    target = store.target(system, release_id)
    prev_id = store.previous(system, release_id)
    previous, skipped = None, []
    if prev_id is None:
        skipped.append(not_checked("release", target, "drift", f"drift gate: no earlier {system} release is ingested "
                                   f"to compare the row count with"))
    else:
        prev_rows = store.row_count(system, prev_id)
        if prev_rows < drift_min_rows:
            skipped.append(not_checked("release", target, "drift",
                                       f"drift gate: the previous release {prev_id} has {prev_rows:,} rows, fewer than "
                                       f"{drift_min_rows:,}; a percentage band means nothing on a table that small "
                                       f"(the bundled sample)", observed=prev_rows))
        else:
            previous = (prev_id, prev_rows)
    rows = validate_release(store.table(system, release_id), system, release_id, previous=previous, drift=drift,
                            gates=gates, target=target)
    return rows + skipped


def _display(system: str, code: str) -> str:
    return f"{code[:3]}.{code[3:]}" if system == "icd10cm" and len(code) > 3 else code


def _explain_failures(rows: list[dict], store: ReleaseStore, releases: dict[str, ReleaseCodes]) -> None:
    """Attach replacements to failing exists/billable rows, and say in details where each code went."""
    for row in rows:
        system = row["gate"].split("_", 1)[0]
        if row["success"] or system not in releases or row["gate"] not in (
                f"{system}_exists", f"{system}_billable", "pos_assigned", "hcpcs_modifiers"):
            continue
        rc = releases[system]
        notes = []
        for code in row["failing_sample"]:
            info = store.replacements(system, code, rc.release_id)
            row["replacements"][code] = info["replacements"]
            reps = ", ".join(r.get("display_code") or r["code"] for r in info["replacements"][:10])
            more = f" and {len(info['replacements']) - 10} more" if len(info["replacements"]) > 10 else ""
            if info["deleted_in"]:
                why = f"{info['reason']} in {store.target(system, info['deleted_in'])}"
            elif info["reason"] == "discontinued":
                why = f"discontinued (terminated {info['termination_date']})" if info["termination_date"] \
                    else "discontinued"
            elif info["reason"] == "expanded":
                why = "a header, not billable"
            elif code in rc.codes:
                why = "not billable" if code not in rc.modifiers else "not an active modifier"
            else:
                why = "not in the release"
            row["code_notes"][code] = why
            notes.append(f"{_display(system, code)} {why}" + (f" -> {reps}{more}" if reps else ""))
        if notes:
            row["details"] += "; " + "; ".join(notes)


def _code_list_rows(suite: str, target: str, frame, store: ReleaseStore, releases: dict[str, ReleaseCodes],
                    gates: Gates, key, build) -> list[dict]:
    listed = set(frame["system"])
    rows = []
    built = build()
    if built.expectations:
        rows = gates.run("inventory" if suite == "inventory" else "playbook", key, lambda: built, frame,
                         _LIST_FORMAT, suite, target)
        _explain_failures(rows, store, releases)
    for system in ("icd10cm", "hcpcs", "pos"):
        if system in listed and system not in releases:
            n = int((frame["system"] == system).sum())
            rows.append(not_checked(suite, target, "pos_assigned" if system == "pos" else f"{system}_exists",
                                    f"{n} {SYSTEM_NAMES[system]} code(s) not checked: no {system} release is ingested"
                                    + (" in force on that date" if suite == "inventory" else ""), column="code",
                                    observed=n))
    cpt = frame[(frame["system"] == "cpt") & (frame["kind"] == "code")]
    if len(cpt):
        rows.append(not_checked(suite, target, "cpt_codes", f"{len(cpt)} CPT code(s) not checked: no CPT release ships "
                                "(AMA licence), so CPT codes cannot be validated here", column="code",
                                observed=len(cpt)))
    return rows


def check_inventory(inventory, store: ReleaseStore, on: str, gates: Gates) -> list[dict]:
    """The inventory suite: `inventory` is an ingest.inventory.Inventory, a path to one, or a DataFrame of rows."""
    if isinstance(inventory, (str, Path)):
        from ingest.inventory import load_inventory

        inventory = load_inventory(inventory)
    rows_df = getattr(inventory, "rows", inventory)
    name = Path(getattr(inventory, "path", "inventory.csv")).name
    target = f"{name} on {on}"
    out = []
    issues = list(getattr(inventory, "issues", []) or [])
    if issues or hasattr(inventory, "issues"):
        errors = [i for i in issues if i.get("severity") == "error"]
        warnings = [i for i in issues if i.get("severity") != "error"]
        details = "every inventory line loads (no spreadsheet damage, known code set, no blank key column)"
        if warnings:
            details += f"; {len(warnings)} warning(s): " + "; ".join(f"line {i['line']}: {i['issue']}"
                                                                     for i in warnings[:5])
        out.append(_row("inventory", target, "inventory loads", "inventory_loads", column="code",
                        success=not errors, failing_count=len(errors),
                        failing_sample=[f"line {i['line']}: {i['code']}" for i in errors[:SAMPLE]],
                        details=details + "".join(f"; line {i['line']}: {i['issue']}" for i in errors[:5])))
    frame = code_list_frame(rows_df)
    releases = {}
    for system in ("icd10cm", "hcpcs", "pos"):
        rid = store.in_force(system, on)
        if rid is not None:
            releases[system] = store.codes(system, rid)
    key = ("inventory", name, on, tuple(frame["system"]), tuple(frame["code"]),
           tuple((s, rc.release_id) for s, rc in releases.items()))
    return out + _code_list_rows("inventory", target, frame, store, releases, gates, key,
                                 lambda: inventory_suite(frame, releases, on))


def check_playbooks(books: list[dict], store: ReleaseStore, gates: Gates, folder: str = "playbooks") -> list[dict]:
    from playbooks.load import cited_codes

    cited = cited_codes(books)
    releases = {s: store.codes(s, store.latest(s)) for s in ("icd10cm", "hcpcs", "pos") if store.latest(s)}
    rows = []
    for book in books:
        pid = str(book["id"])
        frame = code_list_frame(cited[cited["playbook"] == pid].reset_index(drop=True))
        key = ("playbook", pid, tuple(frame["system"]), tuple(frame["code"]), tuple(frame["kind"]),
               tuple((s, rc.release_id) for s, rc in releases.items()))
        rows += _code_list_rows("playbooks", f"{folder}/{pid}.yml", frame, store, releases, gates, key,
                                lambda frame=frame, pid=pid: playbook_suite(frame, releases, pid))
    return rows


def run_checks(codesets: Path, *, releases: Path | None = None, systems: list[str] | None = None,
               release: list[str] | None = None, inventory=None, on: dt.date | str | None = None,
               playbooks=None, drift: float = DEFAULT_DRIFT, drift_min_rows: int = DEFAULT_DRIFT_MIN_ROWS,
               suites: tuple[str, ...] = SUITES, gates: Gates | None = None) -> CheckReport:
    """Run the suites on the ingested releases (default <codesets>/releases).

    release: names (id, alias or label) to validate; default every ingested release of `systems`.
    inventory: an Inventory, a path to one, or None (no inventory suite). on: the inventory's effective
    date (default: the newest ingested ICD-10-CM release's). playbooks: a folder of playbooks/*.yml, a
    list of loaded playbooks, or None. drift: the band for the row-count gate, a fraction of the previous
    release's rows; drift_min_rows: below this many rows in the previous release the band is not applied.
    """
    from ingest.store import releases_dir

    out = Path(releases) if releases else releases_dir(codesets)
    store = ReleaseStore(out, codesets)
    if not any(store.ids.values()):
        raise CodegovError(f"{out}: no release tables to check; run `codegov ingest` first")
    systems = list(systems or SYSTEMS)
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise CodegovError(f"unknown suite {', '.join(unknown)}; expected {', '.join(SUITES)}")
    selected: list[tuple[str, str]] = []
    for system in systems:
        if release:
            for name in release:
                rid = store.resolve(system, name)
                if rid is not None:
                    selected.append((system, rid))
        else:
            selected += [(system, rid) for rid in store.ids[system]]
    if release and not selected:
        raise CodegovError(f"no ingested release named {', '.join(release)} in {', '.join(systems)} "
                           f"(ingested: {', '.join(f'{s} {r}' for s in systems for r in store.ids[s]) or 'none'})")
    if on is None:
        on = store.latest("icd10cm") or max(r for ids in store.ids.values() for r in ids)
    on = on.isoformat() if isinstance(on, dt.date) else str(on)
    gates = gates or Gates()
    rows: list[dict] = []
    if "release" in suites:
        for system, rid in sorted(set(selected), key=lambda sr: (SYSTEMS.index(sr[0]), sr[1])):
            rows += check_release(store, system, rid, gates, drift=drift, drift_min_rows=drift_min_rows)
    checked = {"releases": str(out), "validated": [f"{s} {r}" for s, r in sorted(set(selected))],
               "drift": drift, "drift_min_rows": drift_min_rows, "on": on, "inventory": None, "playbooks": None}
    if "inventory" in suites and inventory is not None:
        checked["inventory"] = str(getattr(inventory, "path", inventory)) if not hasattr(inventory, "columns") \
            else "(data frame)"
        rows += check_inventory(inventory, store, on, gates)
    if "playbooks" in suites and playbooks is not None:
        if isinstance(playbooks, (str, Path)):
            from playbooks.load import load_playbooks

            checked["playbooks"] = str(playbooks)
            books = load_playbooks(Path(playbooks))
            folder = str(playbooks)
        else:
            books, folder = list(playbooks), "playbooks"
            checked["playbooks"] = "(loaded)"
        rows += check_playbooks(books, store, gates, folder=folder)
    rows = [{k: _plain(r[k]) for k in ROW_KEYS} for r in rows]
    return CheckReport(rows, checked)
