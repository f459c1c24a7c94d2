"""The command line's contract (#16): one exit status per outcome, the same for every command and listed by
`codegov --help` and the README; a partial check never replaces the results the site is built from; a
reversed diff range is refused; global options after the command; suggestions, --quiet and completion."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from codegov import options
from codegov.options import ERROR, EXIT_STATUSES, INTERRUPTED, OK, POLICY, USAGE
from tests.conftest import CODESETS, ROOT, SAMPLE, make_sample_codesets

INVENTORY = ("system,code,specialty,service_line,owner,notes\n"
             "icd10cm,G35,neuro,,Owner,\n"  # a header from FY2026 on: the inventory gate fails
             "icd10cm,E11.9,endo,,Owner,\n")


@pytest.fixture(scope="module")
def codesets(tmp_path_factory):
    """The sample mirror ingested (code sets and edit tables) into a codesets folder of this module's own,
    with an inventory that bills G35."""
    return make_sample_codesets(tmp_path_factory.mktemp("exit-status") / "codesets", inventory=INVENTORY,
                                edits=True)


# -- the table ----------------------------------------------------------------------------------------


def test_the_statuses_are_distinct_and_listed_by_help_and_the_readme(capsys):
    from codegov.cli import build_parser

    codes = [code for code, _ in EXIT_STATUSES]
    assert codes == [OK, ERROR, USAGE, POLICY, INTERRUPTED] == [0, 1, 2, 3, 130]
    assert len(set(codes)) == len(codes)
    text = build_parser().format_help()
    listed = text[text.index("exit status:"):]
    for code, meaning in EXIT_STATUSES:
        assert re.search(rf"^  {code} +{re.escape(meaning.split()[0])}", listed, re.MULTILINE), code
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands = readme[readme.index("## Commands"):readme.index("## Releases")]
    rows = dict(re.findall(r"^\| (\d+) \| (.+) \|$", commands, re.MULTILINE))
    assert [int(c) for c in rows] == codes
    for code, meaning in EXIT_STATUSES:  # the same first words in both places
        first = " ".join(meaning.split()[:2]).rstrip(";:,")
        assert first.replace("`", "") in rows[str(code)].replace("`", ""), (code, rows[str(code)])


def test_every_command_uses_the_statuses_of_options(capsys):
    """No command returns a bare number: each status comes from codegov.options."""
    for path in sorted((ROOT / "codegov").rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        bare = re.findall(r"^\s*return [0-9]+\b", source, re.MULTILINE)
        assert not bare, f"{path.relative_to(ROOT)}: {bare}"
        assert "return 1 if" not in source and "else 0\n" not in source, path


# -- 0 and 3: lookup ----------------------------------------------------------------------------------


@pytest.mark.parametrize("code, on, status, first", [
    ("E11.9", "2025-06-01", OK, "E11.9  icd10cm  valid  billable"),
    ("G35", "2025-01-01", OK, "G35  icd10cm  valid  billable"),
    ("GP", "2019-06-01", OK, "GP  hcpcs  valid  billable"),  # a modifier
    ("02", "2024-07-01", OK, "02  pos  valid  billable"),
    ("G35", "2025-10-01", POLICY, "G35  icd10cm  deleted"),  # became a header
    ("K0903", "2019-01-01", POLICY, "K0903  hcpcs  deleted"),
    ("66", "2024-07-01", POLICY, "66  pos  not-yet-effective"),
    ("Z99.999", "2025-06-01", POLICY, "Z99.999  icd10cm  unknown"),
    ("99213", "2025-06-01", POLICY, "99213  cpt  unknown"),  # CPT: recognised, never validated
], ids=["valid", "valid-before", "modifier", "pos", "header", "deleted", "not-yet", "unknown", "cpt"])
def test_lookup_exits_0_only_for_a_code_valid_on_the_date(codegov, codesets, code, on, status, first):
    got, out, err = codegov("--codesets", codesets, "--releases", codesets / "releases", "lookup", code, "--on", on)
    assert (got, out.splitlines()[0]) == (status, first), err
    got, out, _ = codegov("--codesets", codesets, "--releases", codesets / "releases", "lookup", code, "--on", on,
                          "--format", "json")
    assert got == status and json.loads(out)["code"]


def test_a_header_code_is_not_valid(codegov, codesets):
    """E11 is a header (it needs more characters) in every release: 3, like a deleted code."""
    status, out, _ = codegov("--codesets", codesets, "--releases", codesets / "releases", "lookup", "E11",
                             "--on", "2025-10-01")
    assert status == POLICY and out.split()[2] in ("header", "deleted"), out


def test_the_two_code_form_answers_and_exits_0(codegov, codesets):
    status, out, err = codegov("--codesets", codesets, "--releases", codesets / "releases", "lookup", "97110",
                               "97530", "--on", "2026-10-01")
    assert status == OK, err
    assert out.startswith("97110 with 97530 on 2026-10-01")


# -- 3: gates and --fail-on ---------------------------------------------------------------------------


def test_tripped_gates_exit_3_and_errors_exit_1(codegov, codesets, tmp_path):
    common = ("--codesets", codesets, "--releases", codesets / "releases")
    assert codegov(*common, "diff", "--system", "icd10cm")[0] == OK
    status, _, err = codegov(*common, "diff", "--system", "icd10cm", "--fail-on", "inventory-deleted")
    assert status == POLICY and "inventory code(s) deleted" in err
    status, _, err = codegov(*common, "diff", "--system", "icd10cm", "--to", "FY1999")
    assert status == ERROR and err.startswith("Error: ") and err.count("\n") == 1
    status, _, err = codegov(*common, "check", "--suite", "inventory", "--on", "2025-10-01", "--out", tmp_path / "c")
    assert status == POLICY and "a validation gate failed" in err
    status, _, err = codegov(*common, "check", "--suite", "inventory", "--on", "2025-01-15", "--out", tmp_path / "c")
    assert status == OK, err
    status, _, err = codegov(*common, "check", "--release", "FY1999", "--out", tmp_path / "c")
    assert status == ERROR and "FY1999" in err
    status, _, err = codegov(*common, "scrub", tmp_path / "no-such-claims.csv")
    assert status == ERROR and "no such rule file" in err


def test_scrub_fail_on_exits_3(codegov):
    from tests.test_claims_rules import FIXTURES, PATH_RULES

    args = ("--codesets", FIXTURES, "scrub", FIXTURES / "errors.csv", "--rules", PATH_RULES)
    assert codegov(*args)[0] == OK
    assert codegov(*args, "--fail-on", "error")[0] == POLICY
    assert codegov("--codesets", FIXTURES, "scrub", FIXTURES / "clean.csv", "--rules", PATH_RULES,
                   "--fail-on", "warning")[0] == OK


def test_releases_fail_stale_exits_3(codegov, codesets, tmp_path):
    common = ("--codesets", CODESETS, "--releases", codesets / "releases", "releases", "--offline", "--cache",
              tmp_path / "cache", "--fail-stale", "--format", "csv")
    assert codegov(*common, "--on", "2026-12-01")[0] == POLICY  # ICD-10-CM FY2026 April update not ingested
    assert codegov(*common, "--on", "2025-11-01", "--system", "icd10cm")[0] == OK


def test_a_failed_release_gate_in_update_exits_3(monkeypatch, capsys, tmp_path):
    import codegov.update as update

    monkeypatch.setattr(update, "run_update", lambda opts: update.UpdateResult(checks_passed=False))
    assert update.main_update(update.UpdateOptions(codesets=CODESETS, build=tmp_path)) == POLICY
    assert "a validation gate failed" in capsys.readouterr().err
    monkeypatch.setattr(update, "run_update", lambda opts: update.UpdateResult())
    assert update.main_update(update.UpdateOptions(codesets=CODESETS, build=tmp_path)) == OK


# -- 2 and 130 ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    (),  # no command
    ("lokup", "E11.9"),
    ("lookup", "E11.9", "--on", "2025-13-01"),
    ("lookup", "E11.9", "--format", "yaml"),
    ("diff",),  # --system is required
    ("check", "--drift", "5"),
    ("lookup", "E11.9", "--no-such-option"),
])
def test_usage_errors_exit_2(codegov, capsys, args):
    with pytest.raises(SystemExit) as exc:
        codegov(*args)
    assert exc.value.code == USAGE
    assert "usage: codegov" in capsys.readouterr().err


def test_an_interrupt_exits_130(codegov, monkeypatch):
    import codegov.commands.lookup as lookup

    def interrupted(args):
        raise KeyboardInterrupt

    monkeypatch.setattr(lookup, "run", interrupted)
    status, _, err = codegov("lookup", "E11.9")
    assert (status, err) == (INTERRUPTED, "Error: interrupted\n")


# -- a partial check never replaces the full results ---------------------------------------------------


def test_a_partial_check_leaves_the_full_results_and_the_site_shows_them(codegov, codesets, tmp_path):
    """#16: `check --suite release` used to overwrite build/checks/results.json, and the next render
    published "All N checks passed", dropping the inventory failures."""
    out, pages = tmp_path / "checks", tmp_path / "generated"
    common = ("--codesets", codesets, "--releases", codesets / "releases")
    status, stdout, _ = codegov(*common, "check", "--on", "2025-10-01", "--playbooks", tmp_path / "none",
                                "--out", out)
    assert status == POLICY
    assert "FAILED inventory inventory.csv on 2025-10-01: icd10cm_billable code: 1 failing: G35" in stdout
    full = (out / "results.json").read_bytes()
    assert json.loads(full)["success"] is False
    for partial in (("--suite", "release"), ("--suite", "release", "--suite", "inventory", "--on", "2025-01-15"),
                    ("--system", "pos", "--on", "2025-01-15"), ("--suite", "release", "--release", "FY2026")):
        status, stdout, err = codegov(*common, "check", *partial, "--playbooks", tmp_path / "none", "--out", out)
        assert status == OK, stdout + err
        assert "a partial run" in stdout and f"results: {out / 'partial' / 'results.json'}" in stdout
        assert (out / "results.json").read_bytes() == full
        assert json.loads((out / "partial" / "results.json").read_text())["success"] is True
    assert (out / "partial" / "results.md").is_file()
    status, _, err = codegov(*common, "render", "--checks", out / "results.json", "--out", pages,
                             "--playbooks", tmp_path / "none")
    assert status == OK, err
    page = (pages / "checks.md").read_text(encoding="utf-8")
    assert re.search(r'!!! failure "\d+ of \d+ checks failed"', page) and "checks passed" not in page
    assert "G35" in page
    # a full run (every suite, no --system or --release) writes the full results again
    status, stdout, _ = codegov(*common, "check", "--suite", "release", "--suite", "inventory", "--suite",
                                "playbooks", "--suite", "freshness", "--on", "2025-01-15",
                                "--playbooks", tmp_path / "none", "--out", out)
    assert "a partial run" not in stdout and (out / "results.json").read_bytes() != full


# -- diff refuses a reversed range --------------------------------------------------------------------


def test_a_reversed_diff_range_is_an_error_naming_both(codegov, codesets):
    common = ("--codesets", codesets, "--releases", codesets / "releases", "diff", "--system", "icd10cm",
              "--no-inventory")
    status, out, err = codegov(*common, "--from", "FY2026", "--to", "FY2025")
    assert status == ERROR and out == "" and err.count("\n") == 1
    assert "--from FY2026 (2025-10-01) is newer than --to FY2025 (2024-10-01)" in err and "swap them" in err
    status, _, err = codegov(*common, "--from", "2025-10-01")  # --to defaults to the latest: the same release
    assert status == ERROR and "2025-10-01 (FY2026)" in err and "nothing to diff" in err
    status, out, err = codegov(*common, "--from", "FY2025", "--to", "FY2026", "--format", "json")
    assert status == OK, err
    data = json.loads(out)
    assert (data["from"], data["to"]) == ("2024-10-01", "2025-10-01")


# -- global options after the command -----------------------------------------------------------------


def test_global_options_go_before_or_after_the_command(codegov, codesets):
    before = codegov("--codesets", codesets, "--releases", codesets / "releases", "lookup", "G35", "--on",
                     "2025-01-01")
    after = codegov("lookup", "G35", "--on", "2025-01-01", "--codesets", codesets, "--releases",
                    codesets / "releases")
    assert before == after and before[0] == OK
    # given on both sides, the one after the command stands
    status, out, _ = codegov("--releases", codesets / "no-such-folder", "lookup", "G35", "--on", "2025-01-01",
                             "--codesets", codesets, "--releases", codesets / "releases")
    assert status == OK and "valid" in out
    # check, diff and render have their own --releases (the same meaning): it is theirs, after the command
    status, _, err = codegov("diff", "--system", "icd10cm", "--codesets", codesets, "--releases",
                             codesets / "releases", "--no-inventory")
    assert status == OK, err


def test_debug_after_the_command_shows_the_traceback(codegov, codesets):
    from ingest.model import CodegovError

    args = ("diff", "--system", "icd10cm", "--from", "FY2026", "--to", "FY2025", "--codesets", codesets,
            "--releases", codesets / "releases")
    assert codegov(*args)[0] == ERROR
    with pytest.raises(CodegovError, match="is newer than"):
        codegov(*args, "--debug")


def test_quiet_drops_progress_lines_never_errors_or_findings(codegov, codesets, tmp_path):
    common = ("--codesets", codesets, "--releases", codesets / "releases")
    status, out, _ = codegov(*common, "ingest", "--mirror", SAMPLE, "--offline", "--system", "icd10cm")
    assert status == OK and "unchanged" in out
    for args in ((*common, "ingest", "--mirror", SAMPLE, "--offline", "--system", "icd10cm", "--quiet"),
                 ("--quiet", *common, "ingest", "--mirror", SAMPLE, "--offline", "--system", "icd10cm")):
        assert codegov(*args) == (OK, "", "")
    status, out, err = codegov(*common, "check", "--suite", "inventory", "--on", "2025-10-01", "--out",
                               tmp_path / "c", "--quiet")
    assert status == POLICY
    assert out.splitlines() == ["FAILED inventory inventory.csv on 2025-10-01: icd10cm_billable code: 1 failing: G35"]
    assert err.startswith("Error: a validation gate failed")
    status, out, err = codegov(*common, "lookup", "G35", "--on", "2025-10-01", "--quiet")  # the requested output
    assert status == POLICY and out.startswith("G35  icd10cm  deleted")
    status, out, err = codegov(*common, "ingest", "--mirror", tmp_path / "none", "--offline", "--quiet")
    assert status == ERROR and "no such mirror folder" in err


# -- suggestions and code-set names -------------------------------------------------------------------


def test_a_code_set_alias_is_its_id_and_a_near_miss_gets_a_suggestion(codegov, codesets, capsys):
    common = ("--codesets", codesets, "--releases", codesets / "releases")
    for name in ("icd10", "ICD-10-CM", "icd-10-cm"):
        status, out, err = codegov(*common, "diff", "--system", name, "--no-inventory", "--format", "json")
        assert status == OK and json.loads(out)["system"] == "icd10cm", (name, err)
    status, out, _ = codegov(*common, "lookup", "E11.9", "--system", "icd10", "--on", "2025-06-01")
    assert status == OK and "icd10cm" in out
    for args, hint in [(("diff", "--system", "icd1"), "did you mean 'icd10cm'?"),
                       (("lookup", "X", "--system", "hcpc"), "did you mean 'hcpcs'?"),
                       (("lokup", "E11.9"), "did you mean 'lookup'?"),
                       (("lookup", "E11.9", "--format", "jsn"), "did you mean 'json'?"),
                       (("diff", "--system", "icd10cm", "--sytem", "pos"), "did you mean --system?"),
                       (("lookup", "E11.9", "--qiet"), "did you mean --quiet?")]:
        with pytest.raises(SystemExit) as exc:
            codegov(*common, *args)
        err = capsys.readouterr().err
        assert exc.value.code == USAGE and hint in err, (args, err)
    with pytest.raises(SystemExit):
        codegov(*common, "diff", "--system", "zzz")
    assert "did you mean" not in capsys.readouterr().err  # nothing close: no guess


def test_code_set_names_every_edit_table_too():
    assert [options.code_set(t) for t in ("NCCI PTP", "mue", "Add-on codes", "rvu", "HCPCS Level II", "pos")] == [
        "ptp", "mue", "aoc", "pfs", "hcpcs", "pos"]
    assert options.code_set("nonsense") == "nonsense"


# -- examples and completion --------------------------------------------------------------------------


def test_every_command_has_examples_in_its_help():
    from codegov.cli import build_parser
    from codegov.commands import COMMANDS

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    assert "examples:" in parser.format_help()
    for name in COMMANDS:
        text = sub.choices[name].format_help()
        examples = text[text.index("examples:\n  "):]
        assert "codegov " + name in examples, name
        assert "global options (before or after the command)" in text and "--quiet" in text, name


def test_completion_prints_shell_code_and_completes_commands_and_choices(codegov, tmp_path):
    status, out, _ = codegov("completion", "bash")
    assert status == OK and "complete " in out and "codegov" in out
    assert codegov("completion", "fish")[0] == OK
    answers = tmp_path / "completions"

    def complete(line: str) -> list[str]:
        env = {**os.environ, "_ARGCOMPLETE": "1", "COMP_LINE": line, "COMP_POINT": str(len(line)),
               "_ARGCOMPLETE_STDOUT_FILENAME": str(answers), "_ARGCOMPLETE_IFS": "\n"}
        proc = subprocess.run([sys.executable, "-m", "codegov.cli"], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60)
        assert proc.returncode == 0, proc.stderr
        return answers.read_text().split()

    assert complete("codegov lo") == ["lookup"]
    assert complete("codegov diff --system ") == ["icd10cm", "hcpcs", "pos"]
    assert "--quiet" in complete("codegov check --q")
