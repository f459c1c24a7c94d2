"""Run the validation suites (checks.suites) on the release repository, the inventory and the playbooks.

Release tables get the release suite and a drift gate against the previous release; the inventory is
checked against the releases in force on its date, the playbooks against the newest releases. A code
that is not valid gets its status and replacements from the one status engine (ingest.status), so the
checks page says what the site and the PR body say. Results are rows (checks.rows), never exceptions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from checks.context import Gates
from checks.rows import ROW_KEYS, SAMPLE, CheckReport, CheckRow, _row, not_checked, result_rows
from checks.suites import (
    DEFAULT_DRIFT,
    DEFAULT_DRIFT_MIN_ROWS,
    TARGET,
    ReleaseCodes,
    code_list_frame,
    inventory_suite,
    playbook_suite,
    release_frame,
    release_suite,
    releases_suite,
)
from ingest import systems as registry
from ingest.model import COLUMNS, SYSTEM_NAMES, SYSTEMS, CodegovError
from ingest.repository import ReleaseRepository

SUITES = ("release", "inventory", "playbooks", "freshness")
__all__ = ["ROW_KEYS", "SUITES", "CheckReport", "CheckRow", "Gates", "run_checks", "validate_release"]
# return_unexpected_index_query False: GX computes a pandas query string of the failing rows' index for every
# expectation (unexpected_index_query), which no report row shows, unless told not to
_RELEASE_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE,
                   "return_unexpected_index_query": False}
_LIST_FORMAT = {"result_format": "COMPLETE", "return_unexpected_index_query": False}  # every failing code is wanted


def validate_release(table, system: str, release_id: str, *, previous: tuple[str, int] | None = None,
                     drift: float = DEFAULT_DRIFT, gates: Gates | None = None,
                     target: str | None = None) -> list[CheckRow]:
    """The release suite on one release table (a DataFrame as ingest.store.read_release returns it)."""
    gates = gates or Gates()
    target = target or f"{system} {release_id}"
    key = ("release", system, release_id, previous, drift)
    result_format = dict(_RELEASE_FORMAT)
    if "code" in table.columns:
        result_format["unexpected_index_column_names"] = ["code"]
    return gates.run("release", key, lambda: release_suite(system, release_id, previous=previous, drift=drift),
                     release_frame(table), result_format, "release", target)


# GX's cost is per expectation on small tables and per row on large ones: twelve 50-row POS releases take
# 0.56 s stacked against 2.4 s one by one, three HCPCS releases 0.46 s against 1.3 s, but three 98,000-row
# ICD-10-CM releases 1.6 s stacked against 1.05 s alone (the row conditions filter the whole stack).
STACK_MAX_ROWS = 20_000


def validate_releases(tables: list[tuple[str, object, tuple[str, int] | None, str]], system: str, *,
                      drift: float = DEFAULT_DRIFT, gates: Gates | None = None) -> dict[str, list[CheckRow]]:
    """The release suite on several release tables of one code set: {release id: its rows}, each exactly
    what validate_release gives that table alone (tests/test_checks_release.py proves it).
    tables: (release id, table, previous, target) per release. The tables with the release-table schema
    and at most STACK_MAX_ROWS rows are validated in one GX run on their rows stacked
    (checks.suites.releases_suite) and each release's rows are cut from the result; a larger table, or one
    with other columns, is validated alone."""
    import pandas as pd

    gates = gates or Gates()
    out: dict[str, list[CheckRow]] = {}
    schema = [tuple(t[1].columns) == COLUMNS and len(t[1]) <= STACK_MAX_ROWS for t in tables]
    stacked = [t for t, ok in zip(tables, schema, strict=True) if ok] if sum(schema) > 1 else []
    alone = [t for t, ok in zip(tables, schema, strict=True) if not (ok and stacked)]
    for rid, table, previous, target in alone:
        out[rid] = validate_release(table, system, rid, previous=previous, drift=drift, gates=gates, target=target)
    if len(stacked) > 1:
        frame = pd.concat([release_frame(t).assign(**{TARGET: rid}) for rid, t, _, _ in stacked], ignore_index=True)
        specs = [(rid, previous) for rid, _, previous, _ in stacked]
        key = ("releases", system, tuple(specs), drift)
        result = gates.validate("release", key, lambda: releases_suite(system, specs, drift=drift), frame,
                                {**_LIST_FORMAT, "unexpected_index_column_names": [TARGET, "code"]})
        order = {}
        for e in release_suite(system, stacked[0][0], previous=("", 1), drift=drift).expectations:
            order.setdefault(e.meta["gate"], len(order))
        for rid, _, _, target in stacked:
            out[rid] = sorted(_release_rows_of(result, rid, target), key=lambda r: order.get(r["gate"], len(order)))
    return out


def _release_rows_of(result, rid: str, target: str) -> list[CheckRow]:
    """One release's rows from the validation of several stacked (checks.suites.releases_suite), as the
    SUMMARY result of its own run reads: the first SAMPLE failing values and their codes."""
    from types import SimpleNamespace

    mine = []
    for r in result.results:
        cfg, res = r.expectation_config, dict(r.result or {})
        meta = dict(cfg.meta or {})
        if "release" in meta and meta["release"] != rid:
            continue
        if meta.get("gate") == "columns":
            res = {**res, "observed_value": [c for c in res.get("observed_value") or [] if c != TARGET]}
            cfg = SimpleNamespace(type=cfg.type, meta=meta, kwargs={**cfg.kwargs, "column_list": list(COLUMNS)})
        elif "unexpected_count" in res and "release" not in meta:
            index = res.get("unexpected_index_list") or []
            keep = [i for i, ix in enumerate(index) if ix.get(TARGET) == rid]
            values = res.get("unexpected_list") or []
            picked = [values[i] for i in keep]
            if meta.get("gate") == "unique_codes":  # reads as the gate of a run of its own: code is unique
                picked = [v.get("code") if isinstance(v, dict) else v for v in picked]
                cfg = SimpleNamespace(type="expect_column_values_to_be_unique", meta=meta, kwargs={"column": "code"})
            res = {"unexpected_count": len(keep), "partial_unexpected_list": picked[:SAMPLE],
                   "partial_unexpected_index_list": [{"code": index[i].get("code")} for i in keep[:SAMPLE]]}
            r = SimpleNamespace(expectation_config=cfg, result=res, success=not keep, exception_info=r.exception_info)
        elif "unexpected_count" in res:  # the release gate of this release
            res = {**res, "partial_unexpected_list": (res.get("unexpected_list") or [])[:SAMPLE],
                   "partial_unexpected_index_list": [{"code": i.get("code")} for i in
                                                     (res.get("unexpected_index_list") or [])[:SAMPLE]]}
            res.pop("unexpected_list", None)
            res.pop("unexpected_index_list", None)
        mine.append(SimpleNamespace(expectation_config=cfg, result=res, success=r.success,
                                    exception_info=r.exception_info))
    return result_rows(SimpleNamespace(results=mine), "release", target)


def check_releases(store: ReleaseRepository, system: str, release_ids: list[str], gates: Gates, *,
                   drift: float = DEFAULT_DRIFT, drift_min_rows: int = DEFAULT_DRIFT_MIN_ROWS) -> list[CheckRow]:
    """The release suite and the drift gate on stored releases of one code set, in release order."""
    tables, skipped = [], {}
    for release_id in release_ids:
        target = store.target(system, release_id)
        prev_id = store.previous(system, release_id)
        previous, skipped[release_id] = None, []
        if prev_id is None:
            skipped[release_id].append(not_checked(
                "release", target, "drift", f"drift gate: no earlier {system} release is ingested to compare the "
                "row count with"))
        else:
            prev_rows = store.row_count(system, prev_id)
            if prev_rows < drift_min_rows:
                skipped[release_id].append(not_checked(
                    "release", target, "drift", f"drift gate: the previous release {prev_id} has {prev_rows:,} rows, "
                    f"fewer than {drift_min_rows:,}; a percentage band means nothing on a table that small (the "
                    f"bundled sample)", observed=prev_rows))
            else:
                previous = (prev_id, prev_rows)
        tables.append((release_id, store.table(system, release_id), previous, target))
    validated = validate_releases(tables, system, drift=drift, gates=gates)
    return [row for rid in release_ids for row in validated[rid] + skipped[rid]]


def status_index(repo: ReleaseRepository, releases: dict[str, ReleaseCodes]):
    """The one status engine (ingest.status.CodeIndex) on the releases a code list is checked against, with
    the change sets up to each of them."""
    from ingest.status import CodeIndex

    current = {s: repo.table(s, rc.release_id) for s, rc in releases.items()}
    meta = {s: {"id": rc.release_id, "label": repo.label(s, rc.release_id)} for s, rc in releases.items()}
    change_sets = [cs for s, rc in releases.items() for cs in repo.change_sets(s) if cs.to_release <= rc.release_id]
    return CodeIndex(current, meta, change_sets, engines=repo.replacements)


def _explain_failures(rows: list[CheckRow], repo: ReleaseRepository, releases: dict[str, ReleaseCodes]) -> None:
    """Attach replacements to failing exists/billable rows, and say in details where each code went."""
    index = None
    for row in rows:
        system = row["gate"].split("_", 1)[0]
        if row["success"] or system not in releases or row["gate"] not in (
                f"{system}_exists", f"{system}_billable", "pos_assigned", "hcpcs_modifiers"):
            continue
        index = index or status_index(repo, releases)
        rc = releases[system]
        notes = []
        for code in row["failing_sample"]:
            st = index.status(system, code)
            where, replacements = st["deleted_in"], st["replacements"]
            row.replacements[code] = replacements
            reps = ", ".join(r.get("display_code") or r["code"] for r in replacements[:10])
            more = f" and {len(replacements) - 10} more" if len(replacements) > 10 else ""
            row_fields = index.engine(system).row(code) or {}
            if where:
                why = f"{where['reason']} in {repo.target(system, where['to'])}"
            elif st["state"] == "not-billable" and st["detail"].startswith("discontinued"):
                end = row_fields.get("termination_date")
                why = f"discontinued (terminated {end})" if end else "discontinued"
            elif st["state"] == "not-billable" and st["detail"].startswith("header"):
                why = "a header, not billable"
            elif code in rc.codes:
                why = "not billable" if code not in rc.modifiers else "not an active modifier"
            else:
                why = "not in the release"
            row.code_notes[code] = why
            notes.append(f"{registry.display(system, code)} {why}" + (f" -> {reps}{more}" if reps else ""))
        if notes:
            row.details += "; " + "; ".join(notes)


def _code_list_rows(suite: str, target: str, frame, store: ReleaseRepository, releases: dict[str, ReleaseCodes],
                    gates: Gates, key, build, validated=None) -> list[CheckRow]:
    """The rows of one code list. validated: fn(suite) -> its rows, when the list was validated together
    with others (the playbooks); default one GX run of its own."""
    listed = set(frame["system"])
    rows = []
    built = build()
    if built.expectations:
        rows = validated(built) if validated is not None else gates.run(
            "inventory" if suite == "inventory" else "playbook", key, lambda: built, frame, _LIST_FORMAT, suite,
            target)
        _explain_failures(rows, store, releases)
    for system in SYSTEMS:
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


def check_inventory(inventory, store: ReleaseRepository, on: str, gates: Gates) -> list[CheckRow]:
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
    for system in SYSTEMS:
        rid = store.in_force(system, on)
        if rid is not None:
            releases[system] = release_codes(store, system, rid)
    key = ("inventory", name, on, tuple(frame["system"]), tuple(frame["code"]),
           tuple((s, rc.release_id) for s, rc in releases.items()))
    return out + _code_list_rows("inventory", target, frame, store, releases, gates, key,
                                 lambda: inventory_suite(frame, releases, on))


def check_playbooks(books: list[dict], store: ReleaseRepository, gates: Gates,
                    folder: str = "playbooks") -> list[CheckRow]:
    from playbooks.load import cited_codes

    cited = cited_codes(books)
    releases = {s: release_codes(store, s, store.latest(s)) for s in SYSTEMS if store.latest(s)}
    # Every playbook in one GX run (its cost is per expectation, not per row): the suite of all cited codes
    # gives each code the outcome its own playbook's suite would, and each playbook's rows are cut from it.
    combined = code_list_frame(cited)
    combined["playbook"] = cited["playbook"].astype("str").to_numpy()
    built_all = playbook_suite(combined, releases, "all")
    result = None
    if built_all.expectations:
        key = ("playbooks", tuple(combined["playbook"]), tuple(combined["system"]), tuple(combined["code"]),
               tuple(combined["kind"]), tuple((s, rc.release_id) for s, rc in releases.items()))
        result = gates.validate("playbook", key, lambda: built_all, combined,
                                {**_LIST_FORMAT, "unexpected_index_column_names": ["playbook"]})
    rows = []
    for book in books:
        pid = str(book["id"])
        frame = code_list_frame(cited[cited["playbook"] == pid].reset_index(drop=True))
        target = f"{folder}/{pid}.yml"
        rows += _code_list_rows("playbooks", target, frame, store, releases, gates, None,
                                lambda frame=frame, pid=pid: playbook_suite(frame, releases, pid),
                                validated=lambda suite, pid=pid, target=target: _rows_of(result, suite, pid, target))
    return rows


def _rows_of(result, suite, playbook: str, target: str) -> list[CheckRow]:
    """One playbook's rows from the validation of every playbook: the expectations its own suite has, each
    with only its failing rows (the unexpected index names the playbook of each failing row)."""
    from types import SimpleNamespace

    order = {e.meta["gate"]: i for i, e in enumerate(suite.expectations)}
    mine = []
    for r in result.results:
        if r.expectation_config.meta.get("gate") not in order:
            continue
        res = dict(r.result or {})
        if "unexpected_count" in res:
            index = res.get("unexpected_index_list") or []
            keep = [i for i, ix in enumerate(index) if ix.get("playbook") == playbook]
            values = res.get("unexpected_list") or []
            res = {"unexpected_count": len(keep), "unexpected_list": [values[i] for i in keep],
                   "unexpected_index_list": []}
            success = not keep
        else:
            success = r.success
        mine.append(SimpleNamespace(expectation_config=r.expectation_config, result=res, success=success,
                                    exception_info=r.exception_info))
    rows = result_rows(SimpleNamespace(results=mine), "playbooks", target)
    return sorted(rows, key=lambda row: order.get(row["gate"], len(order)))


def release_codes(repo: ReleaseRepository, system: str, release_id: str) -> ReleaseCodes:
    """The code sets a code-list suite checks against, built once per release of the repository."""
    return repo.memo(("release-codes", system, release_id),
                     lambda: ReleaseCodes.from_table(system, release_id, repo.table(system, release_id)))


def run_checks(codesets: Path | None = None, *, releases: Path | None = None, systems: list[str] | None = None,
               release: list[str] | None = None, inventory=None, on: dt.date | str | None = None,
               playbooks=None, drift: float = DEFAULT_DRIFT, drift_min_rows: int = DEFAULT_DRIFT_MIN_ROWS,
               suites: tuple[str, ...] = SUITES, gates: Gates | None = None,
               repo: ReleaseRepository | None = None, playbooks_folder: str | None = None,
               freshness: list | None = None, today: dt.date | None = None) -> CheckReport:
    """Run the suites on a release repository (default: the one under releases or <codesets>/releases).

    release: names (id, alias or label) to validate; default every ingested release of `systems`.
    inventory: an Inventory, a path to one, or None (no inventory suite). on: the inventory's effective
    date (default: the newest ingested ICD-10-CM release's). playbooks: a folder of playbooks/*.yml, a
    list of loaded playbooks, or None. drift: the band for the row-count gate, a fraction of the previous
    release's rows; drift_min_rows: below this many rows in the previous release the band is not applied.
    freshness: the update's ingest.freshness.Freshness per code set; default computed on `today` (default:
    the run date) from the repository's sources.
    """
    # on its own (`codegov check`), every release stored as changes is checked by its full sha256
    store = repo or ReleaseRepository(releases, codesets, full_check=True)
    out = store.out
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
    rows: list[CheckRow] = []
    if "release" in suites:
        for system in SYSTEMS:  # one GX run per code set (validate_releases)
            ids = sorted({rid for s, rid in selected if s == system})
            if ids:
                rows += check_releases(store, system, ids, gates, drift=drift, drift_min_rows=drift_min_rows)
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
            books, folder = list(playbooks), playbooks_folder or "playbooks"
            checked["playbooks"] = playbooks_folder or "(loaded)"
        rows += check_playbooks(books, store, gates, folder=folder)
    if "freshness" in suites:
        rows += freshness_rows(store, systems, freshness, today or dt.date.today())
    rows = [r.plain() for r in rows]
    return CheckReport(rows, checked)


def freshness_rows(store: ReleaseRepository, systems: list[str], fresh: list | None, today: dt.date) -> list[CheckRow]:
    """One gate per code set: the release in force on the run date is ingested (ingest.freshness)."""
    if fresh is None:
        if store.sources is None:
            return [not_checked("freshness", "releases", "in_force_ingested",
                                "freshness gate: no sources.toml, so no release is known beyond the ingested ones")]
        from ingest import freshness

        _, fresh = freshness.check(store.sources, store, today, systems)
    rows = []
    for f in fresh:
        if f.system not in systems:
            continue
        rows.append(_row("freshness", f"{f.system} in force {f.on}", "release in force is ingested",
                         "in_force_ingested", success=f.ok, failing_count=0 if f.ok else 1,
                         failing_sample=[] if f.ok else [f.in_force], details=f.message,
                         observed={"newest": f.newest, "in_force": f.in_force, "state": f.in_force_state}))
    return rows

