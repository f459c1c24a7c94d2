"""One answer per code, everywhere: lookup, the checks, the site's pages and the PR report agree on every
inventory code; one update reads each release table once and computes each change set once; every code the
official order files hold is accepted by every stage."""

from __future__ import annotations

import datetime as dt
import re
import shutil

import pandas as pd
import pytest

from tests.conftest import CODESETS, ROOT, SAMPLE, make_sample_codesets, shared

INVENTORY = CODESETS / "inventory" / "inventory.csv"


def _codes(replacements) -> set[str]:
    """Replacement display codes, whatever the stage's form: dicts, (code, source) pairs, or text."""
    out = set()
    for r in replacements:
        out.add(r["display_code"] if isinstance(r, dict) else r[0])
    return out


def answers(releases, codesets=CODESETS, inventory_file=INVENTORY) -> dict:
    """Every stage's answer for every ICD-10-CM and HCPCS inventory code, in the newest release of its set."""
    from checks.runner import run_checks
    from ingest.inventory import load_inventory
    from ingest.repository import ReleaseRepository
    from playbooks.report import render_markdown
    from playbooks.site import Site, gather

    repo = ReleaseRepository(releases, codesets)
    inventory = load_inventory(inventory_file)
    history = repo.history()
    site = Site(gather(repo, inventory=inventory))
    on = repo.latest("icd10cm")
    report = run_checks(repo=repo, inventory=inventory, on=on, suites=("inventory",))
    failing = {}
    for row in report.rows:
        if row["status"] == "failed" and row["gate"].endswith(("_exists", "_billable")):
            system = row["gate"].split("_", 1)[0]
            for code in row["failing_sample"]:
                failing[(system, code)] = row["replacements"].get(code, [])
    change_sets = [repo.change_set(s, inventory=inventory) for s in ("icd10cm", "hcpcs") if len(repo.ids[s]) > 1]
    body = render_markdown(change_sets)
    out = {}
    for rec in inventory.rows.to_dict("records"):
        system, code = rec["system"], rec["code"]
        if system not in ("icd10cm", "hcpcs") or not repo.ids[system]:
            continue
        latest = repo.latest(system)
        v = history.lookup(code, dt.date.fromisoformat(latest), system)
        st = site.index.status(system, code)
        out[(system, code)] = {
            "lookup": (v.status == "valid", _codes(v.replacements)),
            "site": (st["state"] == "active", _codes(st["replacements"])),
            "checks": ((system, code) not in failing, _codes(failing.get((system, code), []))),
            "display": st["display_code"],
        }
    return {"by_code": out, "body": body, "inventory_page": site.inventory(), "change_sets": change_sets}


def _assert_agree(result: dict) -> None:
    for key, a in result["by_code"].items():
        assert a["lookup"] == a["site"] == a["checks"], (key, a)
    # the PR body's deleted inventory codes: the same replacements, with each code listed
    for cs in result["change_sets"]:
        for d in cs.inventory["deleted"]:
            a = result["by_code"][(cs.system, d["code"])]
            assert not a["site"][0], d["code"]
            assert _codes(d["replacements"]) == a["site"][1], d["code"]
            row = next(line for line in result["body"].splitlines() if line.startswith(f"| `{d['display_code']}` |"))
            for rep in a["site"][1]:
                assert re.search(rf"(?<![\w.]){re.escape(rep)}(?![\w.])", row), (d["code"], rep, row)


@pytest.mark.realdata
def test_lookup_checks_site_and_pr_body_agree_on_every_inventory_code_on_the_real_releases(real_releases):
    result = answers(real_releases)
    assert len(result["by_code"]) > 60
    _assert_agree(result)
    not_billable = {k for k, a in result["by_code"].items() if not a["site"][0]}
    assert ("icd10cm", "G35") in not_billable and ("hcpcs", "K0903") in not_billable
    k0903 = result["by_code"][("hcpcs", "K0903")]
    assert k0903["lookup"] == k0903["site"] == k0903["checks"] == (False, {"A5514"})


def test_the_demo_pr_body_lists_k0903_as_deleted_with_a5514(tmp_path):
    codesets = make_sample_codesets(tmp_path / "codesets", inventory=INVENTORY.read_text(encoding="utf-8"))
    result = answers(codesets / "releases", codesets, codesets / "inventory" / "inventory.csv")
    _assert_agree(result)
    row = next(line for line in result["body"].splitlines() if line.startswith("| `K0903` |"))
    assert "discontinued (terminated 2018-12-31)" in row and "A5514 (same descriptor, added 2019-01-01)" in row
    page_row = next(line for line in result["inventory_page"].splitlines() if "K0903" in line)
    assert "A5514" in page_row


def test_one_update_reads_each_table_once_and_computes_each_change_set_once(tmp_path, monkeypatch):
    """Counted where the work happens (the store's reader, the diff, the sources parser), not by the
    repository's own bookkeeping."""
    import ingest.diff
    import ingest.sources
    import ingest.store
    from codegov.update import UpdateOptions, run_update

    codesets = tmp_path / "codesets"
    codesets.mkdir()
    for name in ("sources.toml", "pos.csv"):
        shutil.copy(CODESETS / name, codesets)
    shutil.copytree(CODESETS / "inventory", codesets / "inventory")
    shutil.copytree(CODESETS / "rules", codesets / "rules")
    docs = tmp_path / "site_src"
    shutil.copytree(ROOT / "site_src", docs, ignore=shutil.ignore_patterns("generated"))
    reads, diffs, sources = [], [], []
    real_read, real_diff, real_sources = ingest.store.read_release_bytes, ingest.diff.diff_releases, \
        ingest.sources.load_sources
    monkeypatch.setattr(ingest.store, "_TABLES", ingest.store.Kept(ingest.store.TABLES_KEPT_BYTES))  # none kept yet
    monkeypatch.setattr(ingest.store, "read_release_bytes",
                        lambda out, s, r, **kw: reads.append((s, r)) or real_read(out, s, r, **kw))
    monkeypatch.setattr(ingest.diff, "diff_releases",
                        lambda old, new, **kw: diffs.append(str(new["release"].iloc[0])) or real_diff(old, new, **kw))
    monkeypatch.setattr(ingest.sources, "load_sources", lambda c: sources.append(c) or real_sources(c))
    opts = UpdateOptions(codesets=codesets, mirror=SAMPLE, offline=True, build=tmp_path / "build",
                         playbooks=ROOT / "playbooks", docs_dir=docs, site=False,
                         releases_dir=codesets / "releases")
    result = run_update(opts)
    stored = {(s, r) for s, ids in result.repo.ids.items() for r in ids}
    assert len(stored) >= 7
    assert sorted(reads) == sorted(stored)  # each table once
    neighbours = sum(max(len(ids) - 1, 0) for ids in result.repo.ids.values())
    assert len(diffs) == neighbours == len(set(diffs))  # each change set once (one per newer release)
    assert len(sources) == 1
    assert (docs / "generated" / "inventory.md").exists() and (tmp_path / "build" / "report" / "pr-body.md").exists()


@pytest.mark.realdata
def test_every_code_of_the_fy2026_order_file_is_accepted_by_every_stage(real_releases):
    """QA0.0101 (a letter second, new in FY2026) and the other 98,000 codes: the registry, the inventory,
    the playbook schema, lookup's guess of the code set, the release gate's pattern and the date-of-service
    answer all take them."""
    from checks.suites import CODE_PATTERNS
    from codegov.cli import main
    from ingest.history import guess_system
    from ingest.inventory import normalise_code
    from ingest.parse_icd10cm import parse_order
    from ingest.repository import ReleaseRepository
    from ingest.systems import ICD10CM
    from playbooks.load import _is_code

    order = parse_order(shared("icd10cm", "FY2026", "icd10cm_order_2026.txt"))
    codes = order["code"].tolist()
    assert "QA00101" in codes and len(codes) > 98_000
    pattern = re.compile(CODE_PATTERNS[("icd10cm", None)])
    history = ReleaseRepository(real_releases, CODESETS).history()
    for code in codes:
        dotted = ICD10CM.display(code)
        assert ICD10CM.matches(code) and ICD10CM.matches(dotted), code
        assert pattern.fullmatch(code), code
        assert normalise_code("icd10cm", dotted) == (code, []), code
        assert _is_code("icd10cm", dotted) and _is_code("icd10cm", code), code
        if "." in dotted:  # an undotted three-character code such as A00 is also a HCPCS modifier's shape: no
            assert guess_system(dotted, history) == "icd10cm", code
    statuses = history.validate(pd.Series(codes, dtype=object), pd.Series([pd.Timestamp("2025-10-01")] * len(codes)),
                                "icd10cm")
    assert set(statuses["status"]) == {"valid", "header", "deleted"}  # deleted: billable codes that became headers
    assert main(["--codesets", str(CODESETS), "--releases", str(real_releases), "lookup", "QA0.0101", "--on",
                 "2025-10-01"]) == 0


@pytest.mark.realdata
def test_a_headers_children_from_whole_columns_are_the_rules_answer(real_releases, monkeypatch):
    """ReleaseReplacements.pairs on whole columns (what the lookup index asks for every header) gives what the
    rules give one code at a time (for_code): children, and the conversion table's targets (E78.0 in FY2026)."""
    import ingest.replacements as rules
    from ingest.repository import ReleaseRepository

    repo = ReleaseRepository(real_releases, CODESETS)
    table = repo.table("icd10cm", "2025-10-01")
    headers = table.loc[table["billable"] == "0", "code"].tolist()
    asked = [*headers[::10], "E780", "G35", "E11", "A00", "Z99", "E7801"]
    answers = {}
    for eager_after in (10**9, 0):  # every question through for_code, then none
        monkeypatch.setattr(rules, "_EAGER_AFTER", eager_after)
        engine = rules.ReleaseReplacements("icd10cm", table, repo.conversion("icd10cm", "2025-10-01"), "conversion")
        answers[eager_after] = [engine.pairs(code) for code in asked]
    assert answers[0] == answers[10**9]
    assert ("E78.010", "children") in answers[0][asked.index("E780")]
    assert all(pairs for pairs in answers[0][:-6])  # every header has billable codes under it
