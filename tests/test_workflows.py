"""The GitHub Actions workflows: actionlint, their shape, and the update workflow's run steps replayed locally.

The replay reads .github/workflows/codeset-update.yml and runs its `run:` steps in order, with their `if:`
conditions and `env:` expressions evaluated, in a clone of a throwaway repository whose `origin` is a
local bare repository. GitHub-only pieces are stubbed: `uses:` steps are not run (the venv stands in for
checkout, setup-python and the install step), GITHUB_STEP_SUMMARY and GITHUB_OUTPUT are temp files, and
a fake `gh` first on PATH records its arguments and keeps the pull requests in a JSON file. Official
files come from the bundled sample mirror (CODEGOV_MIRROR=codesets/sample, CODEGOV_OFFLINE=1). The `codegov`
first on PATH runs codegov.cli.main in a process forked from one that has imported its dependencies
(tests/zygote.py): the same code with the step's folder, environment and output, without 3 s of imports a run.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT
from tests.zygote import Zygote

WORKFLOWS = ROOT / ".github" / "workflows"
SCRIPTS = ROOT / ".github" / "scripts"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
UPDATE = WORKFLOWS / "codeset-update.yml"
VENV_BIN = Path(sys.executable).parent
ACTIONLINT = VENV_BIN / "actionlint"
PR_BODY_LIMIT = 65_536  # GitHub's limit on a pull request body, in characters
BRANCH = "codegov/update"
INVENTED_DESCRIPTOR = "Invented descriptor for a test, not AMA text: office visit level four"
SHA_PIN = re.compile(r"^[\w.-]+/[\w.-]+(?:/[\w./-]+)?@[0-9a-f]{40}$")
# Not copied into the throwaway repository: environments, caches and generated output.
NOT_COPIED = {".git", ".venv", "build", "site", "cache", "test-artifacts", "node_modules"}
NOT_COPIED_ANYWHERE = {"__pycache__", ".pytest_cache", ".ruff_cache"}


def load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if True in data:  # YAML 1.1 reads the key `on` as the boolean true
        data["on"] = data.pop(True)
    return data


# ---------------------------------------------------------------------------------------------------------
# actionlint and the shape of the workflows


def test_every_workflow_is_there():
    assert {p.name for p in WORKFLOW_FILES} >= {"codeset-update.yml", "ci.yml", "pages.yml"}


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actionlint_reports_nothing(workflow):
    if not ACTIONLINT.exists():
        pytest.fail(f"{ACTIONLINT} is missing: install the test extra (pip install -e '.[test]')")
    proc = subprocess.run([str(ACTIONLINT), "-no-color", str(workflow)], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert (proc.returncode, proc.stdout + proc.stderr) == (0, "")


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha(workflow):
    for line in workflow.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$", line)
        if m and not m.group(1).startswith("./"):
            assert SHA_PIN.match(m.group(1)), f"{workflow.name}: not pinned to a commit SHA: {line.strip()}"
            assert re.search(r"#\s*v\d+\.\d+\.\d+", m.group(2)), f"{workflow.name}: no version comment: {line.strip()}"


@pytest.mark.parametrize("workflow", WORKFLOW_FILES, ids=lambda p: p.name)
def test_no_expression_is_pasted_into_a_script(workflow):
    """`${{ }}` inside `run:` is template injection; values reach scripts through `env:` only."""
    for job_id, job in load(workflow)["jobs"].items():
        for step in job.get("steps", []):
            assert "${{" not in step.get("run", ""), f"{workflow.name}: {job_id}: {step.get('name', step['run'])}"


def test_update_workflow_triggers():
    on = load(UPDATE)["on"]
    crons = [entry["cron"] for entry in on["schedule"]]
    assert crons and all(len(c.split()) == 5 for c in crons)
    # every month is covered: the quarterly HCPCS files, the October release and the April update
    assert any(c.split()[3] == "*" for c in crons)
    inputs = on["workflow_dispatch"]["inputs"]
    assert set(inputs["codeset"]["options"]) >= {"icd10cm", "hcpcs", "pos"}
    assert inputs["release"]["type"] == "string" and not inputs["release"].get("required", False)


def test_update_workflow_least_privilege_and_concurrency():
    """The job that installs dependencies and parses network data holds a read-only token; the write
    token is only in the publish job, which installs nothing and runs git, tar and gh."""
    wf = load(UPDATE)
    assert wf["permissions"] == {}
    assert wf["concurrency"]["group"] and wf["concurrency"]["cancel-in-progress"] is False
    assert list(wf["jobs"]) == ["update", "publish"]
    assert wf["jobs"]["update"]["permissions"] == {"contents": "read"}
    assert wf["jobs"]["publish"]["permissions"] == {"contents": "write", "pull-requests": "write"}
    assert wf["jobs"]["publish"]["needs"] == "update"
    text = UPDATE.read_text(encoding="utf-8")
    assert "secrets." not in text and "set -x" not in text
    for job in wf["jobs"].values():
        checkout = next(s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@"))
        assert checkout["with"]["persist-credentials"] is False  # the token reaches git only in the PR step
    publish_runs = "\n".join(s.get("run", "") for s in wf["jobs"]["publish"]["steps"])
    assert "pip" not in publish_runs and "python" not in publish_runs
    token_steps = [s["name"] for job in wf["jobs"].values() for s in job["steps"] if "GH_TOKEN" in s.get("env", {})]
    assert token_steps == ["Open or update the pull request"]


def test_the_update_installs_dependencies_pinned_by_hash():
    install = next(s for s in load(UPDATE)["jobs"]["update"]["steps"] if s.get("name") == "Install codegov")
    assert "--require-hashes -r requirements.lock" in install["run"] and "--no-deps" in install["run"]
    lock = (ROOT / "requirements.lock").read_text(encoding="utf-8")
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["dependencies"]
    pinned = {m.group(1).lower().replace("_", "-")
              for m in re.finditer(r"^([A-Za-z0-9_.-]+)==\S+", lock, re.MULTILINE)}
    for requirement in declared:
        name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower().replace("_", "-")
        assert name in pinned, name
    blocks = re.split(r"\n(?=[A-Za-z0-9])", lock.split("\n", 1)[1] if lock.startswith("#") else lock)
    assert all("--hash=sha256:" in b for b in blocks if re.match(r"[A-Za-z0-9_.-]+==", b))


def test_update_workflow_uploads_reports_and_checks_always():
    steps = load(UPDATE)["jobs"]["update"]["steps"]
    uploads = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")
               and s["with"]["name"] in ("codegov-report", "codegov-checks")]
    assert len(uploads) == 2 and all(s["if"] == "always()" for s in uploads)
    paths = "\n".join(s["with"]["path"] for s in uploads)
    assert "build/report/" in paths and "build/checks/" in paths


def test_no_other_workflow_can_write():
    for workflow in WORKFLOW_FILES:
        wf = load(workflow)
        assert wf["permissions"] in ({}, {"contents": "read"}), workflow.name
        for job_id, job in wf["jobs"].items():
            perms = job.get("permissions", {})
            if workflow == UPDATE:
                continue
            if workflow.name == "pages.yml" and job_id == "deploy":
                assert perms == {"pages": "write", "id-token": "write"}
            else:
                assert all(v in ("read", "none") for v in perms.values()), f"{workflow.name}: {job_id}"


def test_ci_workflow_runs_lint_tests_strict_docs_and_actionlint():
    wf = load(WORKFLOWS / "ci.yml")
    runs = "\n".join(s.get("run", "") for job in wf["jobs"].values() for s in job["steps"])
    assert "ruff check" in runs and ".ci/run" in runs and "actionlint" in runs
    assert ".github/scripts/build-site.sh" in runs
    assert "mkdocs build --strict" in (SCRIPTS / "build-site.sh").read_text(encoding="utf-8")
    assert "make test" in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert {"push", "pull_request"} <= set(wf["on"])


def test_pages_workflow_deploys_main():
    wf = load(WORKFLOWS / "pages.yml")
    assert wf["on"]["push"]["branches"] == ["main"] and "workflow_dispatch" in wf["on"]
    assert wf["concurrency"]["group"] == "pages"
    uses = [s.get("uses", "") for job in wf["jobs"].values() for s in job["steps"]]
    assert any(u.startswith("actions/upload-pages-artifact@") for u in uses)
    assert any(u.startswith("actions/deploy-pages@") for u in uses)
    assert wf["jobs"]["deploy"]["environment"]["name"] == "github-pages"


# ---------------------------------------------------------------------------------------------------------
# The update workflow's run steps, replayed locally

FAKE_GH = '''\
"""A stand-in for the GitHub CLI: records every call, keeps pull requests in a JSON file."""
import json
import os
import subprocess
import sys

args = sys.argv[1:]
with open(os.environ["FAKE_GH_LOG"], "a", encoding="utf-8") as log:
    log.write(json.dumps(args) + "\\n")
state = os.environ["FAKE_GH_STATE"]
prs = json.load(open(state, encoding="utf-8")) if os.path.exists(state) else []


def opt(name, default=None):
    return args[args.index(name) + 1] if name in args else default


def pushed(branch):
    out = subprocess.run(["git", "ls-remote", "origin", "refs/heads/" + branch],
                         capture_output=True, text=True, check=True).stdout.split()
    return out[0] if out else None


def save():
    with open(state, "w", encoding="utf-8") as f:
        json.dump(prs, f, indent=1)


def find(sel):
    sel = sel.rstrip("/").rsplit("/", 1)[-1]
    for pr in prs:
        if pr["state"] == "OPEN" and (str(pr["number"]) == sel or pr["headRefName"] == sel):
            return pr
    sys.exit(f"no open pull request found for {sel}")


cmd = args[:2]
if cmd in (["auth", "setup-git"], ["label", "create"]):
    sys.exit(0)
if cmd == ["pr", "list"]:
    head, base, wanted = opt("--head"), opt("--base"), opt("--state", "open").upper()
    rows = [p for p in reversed(prs) if (head is None or p["headRefName"] == head)
            and (base is None or p["baseRefName"] == base) and wanted in ("ALL", p["state"])]
    print(json.dumps([{k: p[k] for k in opt("--json").split(",")} for p in rows]))
elif cmd == ["pr", "create"]:
    head = opt("--head")
    oid = pushed(head)
    if oid is None:
        sys.exit(f"pull request create failed: {head} is not on origin")
    number = len(prs) + 1
    prs.append({"number": number, "state": "OPEN", "headRefName": head, "baseRefName": opt("--base"),
                "headRefOid": oid, "title": opt("--title"),
                "body": open(opt("--body-file"), encoding="utf-8").read(), "labels": []})
    save()
    print(f"https://github.com/example-org/codegov/pull/{number}")
elif cmd == ["pr", "edit"]:
    pr = find(args[2])
    if "--title" in args:
        pr["title"] = opt("--title")
    if "--body-file" in args:
        pr["body"] = open(opt("--body-file"), encoding="utf-8").read()
    if "--add-label" in args and opt("--add-label") not in pr["labels"]:
        pr["labels"].append(opt("--add-label"))
    if "--remove-label" in args and opt("--remove-label") in pr["labels"]:
        pr["labels"].remove(opt("--remove-label"))
    pr["headRefOid"] = pushed(pr["headRefName"])
    save()
else:
    sys.exit("fake gh: unsupported command: " + " ".join(args))
'''


@dataclass
class Step:
    name: str
    ran: bool
    returncode: int = 0
    stdout: str = ""
    outputs: dict = field(default_factory=dict)
    stubbed: bool = False  # its condition held, but it is GitHub's (a `uses:` step) or the install step


@dataclass
class JobRun:
    workspace: Path
    steps: list[Step]
    summary: str
    gh_calls: list[list[str]]

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    @property
    def failed(self) -> bool:
        return any(s.returncode for s in self.steps)


class Sandbox:
    """A throwaway repository with a bare `origin`, a fake `gh`, and the update job's run steps."""

    def __init__(self, tmp: Path, zygote: Zygote | None = None):
        self.tmp = tmp
        self.origin = tmp / "origin.git"
        self.bin = tmp / "bin"
        self.gh_log = tmp / "gh-calls.jsonl"
        self.gh_state = tmp / "gh-prs.json"
        self.home = tmp / "home"
        self.runs = 0
        self.home.mkdir()
        self.bin.mkdir()
        gh = self.bin / "gh"
        gh.write_text(f"#!{sys.executable}\n{FAKE_GH}", encoding="utf-8")
        gh.chmod(0o755)
        if zygote is not None:
            zygote.write_command(self.bin)

        src = tmp / "src"
        shutil.copytree(ROOT, src, ignore=self._not_copied)
        self.git(src, "init", "--quiet", "-b", "main")
        self.git(src, "add", "-A")
        self.git(src, "-c", "user.name=Maintainer", "-c", "user.email=maintainer@example.org",
                 "commit", "--quiet", "-m", "the organisation's repository")
        self.git(tmp, "clone", "--quiet", "--bare", str(src), str(self.origin))

    @staticmethod
    def _not_copied(folder: str, names: list[str]) -> set[str]:
        skip = {n for n in names if n in NOT_COPIED_ANYWHERE or n.endswith(".egg-info")}
        if Path(folder) == ROOT:
            skip |= NOT_COPIED & set(names)
        rel = Path(folder).relative_to(ROOT).as_posix()
        if rel == "codesets":
            skip |= {"releases", "releases-sample"} & set(names)
        if rel == "site_src":
            skip |= {"generated"} & set(names)
        return skip

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.pathsep.join([str(self.bin), str(VENV_BIN), os.environ.get("PATH", "/usr/bin:/bin")]),
            "HOME": str(self.home),
            "XDG_CONFIG_HOME": str(self.home / ".config"),
            "GIT_CONFIG_NOSYSTEM": "1",
            "LANG": "C.UTF-8",
            "FAKE_GH_LOG": str(self.gh_log),
            "FAKE_GH_STATE": str(self.gh_state),
        }
        if os.environ.get("PYTHONPATH"):  # the code under test (a worktree run with PYTHONPATH=$PWD), not the venv's
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        env.update(extra)
        return env

    def git(self, cwd: Path, *args: str) -> str:
        proc = subprocess.run(["git", *args], cwd=cwd, env=self.env(), capture_output=True, text=True)
        assert proc.returncode == 0, f"git {' '.join(args)}: {proc.stderr}"
        return proc.stdout.strip()

    def gh_calls(self) -> list[list[str]]:
        if not self.gh_log.exists():
            return []
        return [json.loads(line) for line in self.gh_log.read_text(encoding="utf-8").splitlines()]

    def prs(self) -> list[dict]:
        return json.loads(self.gh_state.read_text(encoding="utf-8")) if self.gh_state.exists() else []

    def checkout(self) -> Path:
        """What actions/checkout does on a scheduled run: a fresh clone of main."""
        self.runs += 1
        workspace = self.tmp / f"run{self.runs}" / "codegov"
        self.git(self.tmp, "clone", "--quiet", str(self.origin), str(workspace))
        return workspace

    def commit_to_main(self, message: str, edit) -> str:
        """A maintainer's commit on main: edit(work_tree) changes files, then it is pushed to origin."""
        self.runs += 1
        tree = self.tmp / f"maintainer{self.runs}"
        self.git(self.tmp, "clone", "--quiet", str(self.origin), str(tree))
        edit(tree)
        self.git(tree, "-c", "user.name=Maintainer", "-c", "user.email=maintainer@example.org",
                 "commit", "--quiet", "-am", message)
        self.git(tree, "push", "--quiet", "origin", "main")
        return self.git(tree, "rev-parse", "HEAD")

    def run_job(self, workspace: Path, event: str = "schedule", inputs: dict | None = None,
                **env_overrides: str) -> JobRun:
        wf = load(UPDATE)
        shell = (wf.get("defaults") or {}).get("run", {}).get("shell")
        assert shell == "bash"
        calls_before = len(self.gh_calls())
        context = {
            "inputs": dict(inputs or {}),
            "github": {"token": "fake-token", "repository": "example-org/codegov", "ref_name": "main",
                       "event_name": event},
            "steps": {},
            "needs": {},
            "vars": {},  # repository variables: none set (CODEGOV_EDIT_TABLES_IN_GIT unset)
        }
        scratch = workspace.parent / f"runner-{len(list(workspace.parent.glob('runner-*')))}"
        scratch.mkdir()
        summary = scratch / "step-summary.md"
        summary.touch()
        steps, failed_jobs = [], set()
        # The jobs in order, on one work tree: what the update job uploads (the reports, build/changes.tar)
        # is what the publish job downloads, so the artifact steps are stubbed like every `uses:` step.
        for job_id, job in wf["jobs"].items():
            needs = job.get("needs") or []
            needs = [needs] if isinstance(needs, str) else needs
            context["steps"] = {}
            if any(n in failed_jobs for n in needs) or (
                    "if" in job and not self._condition(job["if"], context, False)):
                steps += [Step(spec.get("name") or spec.get("uses") or spec["run"], ran=False)
                          for spec in job["steps"]]
                continue
            failed = False
            for i, spec in enumerate(job["steps"]):
                name = spec.get("name") or spec.get("uses") or spec["run"]
                if not self._condition(spec.get("if", "success()"), context, failed):
                    steps.append(Step(name, ran=False))
                    continue
                run = spec.get("run")
                # Stubbed: `uses:` steps (GitHub's actions) and installing codegov (the venv has it).
                if run is None or re.search(r"\bpip install\b", run):
                    steps.append(Step(name, ran=False, stubbed=True))
                    continue
                output = scratch / f"output-{job_id}-{i}"
                output.touch()
                env = self.env(
                    CI="true", GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(workspace), GITHUB_EVENT_NAME=event,
                    GITHUB_REPOSITORY="example-org/codegov", GITHUB_REF_NAME="main", RUNNER_TEMP=str(scratch),
                    GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(output),
                    CODEGOV_MIRROR="codesets/sample", CODEGOV_OFFLINE="1",
                )
                env.update(env_overrides)
                for scope in (wf.get("env") or {}, job.get("env") or {}, spec.get("env") or {}):
                    env.update({k: self._resolve(str(v), context) for k, v in scope.items()})
                proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", run],
                                      cwd=workspace, env=env, capture_output=True, text=True, timeout=600)
                outputs = parse_outputs(output.read_text(encoding="utf-8"))
                if "id" in spec:
                    context["steps"][spec["id"]] = {"outputs": outputs}
                steps.append(Step(name, True, proc.returncode, proc.stdout + proc.stderr, outputs))
                failed = failed or proc.returncode != 0
            if failed:
                failed_jobs.add(job_id)
            context["needs"][job_id] = {"outputs": {k: self._resolve(str(v), context)
                                                    for k, v in (job.get("outputs") or {}).items()}}
        return JobRun(workspace, steps, summary.read_text(encoding="utf-8"), self.gh_calls()[calls_before:])

    @staticmethod
    def _lookup(expr: str, context: dict) -> str:
        """A context value; like GitHub, a missing one (a skipped step's output) is the empty string."""
        if expr.strip().split(".")[0] not in context:
            raise AssertionError(f"unsupported expression: {expr}")
        node = context
        for part in expr.strip().split("."):
            if not isinstance(node, dict):
                raise AssertionError(f"unsupported expression: {expr}")
            node = node.get(part, {})
        if node == {}:
            return ""
        if isinstance(node, dict):
            raise AssertionError(f"unsupported expression: {expr}")
        return str(node)

    def _resolve(self, value: str, context: dict) -> str:
        resolved = re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", lambda m: self._lookup(m.group(1), context), value)
        assert "${{" not in resolved, f"unsupported expression: {value}"
        return resolved

    def _condition(self, cond: str, context: dict, failed: bool) -> bool:
        cond = re.sub(r"^\$\{\{\s*(.*?)\s*\}\}$", r"\1", cond.strip())
        result = True
        for term in (t.strip() for t in cond.split("&&")):
            if term == "always()":
                continue
            if term in ("success()", "failure()"):
                result &= failed == (term == "failure()")
            elif m := re.fullmatch(r"([\w.-]+)\s*(==|!=)\s*'([^']*)'", term):
                equal = self._lookup(m.group(1), context) == m.group(3)
                result &= equal if m.group(2) == "==" else not equal
            else:
                raise AssertionError(f"unsupported condition: {cond}")
        if "always()" not in cond and not any(t in cond for t in ("success()", "failure()")):
            result &= not failed  # a condition without a status function implies success()
        return result


def parse_outputs(text: str) -> dict[str, str]:
    """$GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` blocks."""
    outputs, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            block = []
            for body in lines:
                if body == delimiter:
                    break
                block.append(body)
            outputs[name] = "\n".join(block)
        elif "=" in line:
            name, value = line.split("=", 1)
            outputs[name] = value
    return outputs


def snapshot(workspace: Path) -> dict[str, tuple[str, int]]:
    """Every file the job leaves in the work tree (the job's own log aside): its sha256 and mtime."""
    files = {}
    for path in sorted(workspace.rglob("*")):
        rel = path.relative_to(workspace).as_posix()
        if path.is_file() and not rel.startswith(".git/") and "__pycache__" not in rel and rel != "build/update.log":
            files[rel] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return files


def tree_files(sandbox: Sandbox, ref: str) -> set[str]:
    return set(sandbox.git(sandbox.origin, "ls-tree", "-r", "--name-only", ref).splitlines())


def assert_ran_cleanly(job: JobRun):
    assert not job.failed, "\n\n".join(f"--- {s.name} ({s.returncode})\n{s.stdout}" for s in job.steps if s.ran)


@pytest.fixture(scope="module")
def zygote():
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    server = Zygote(env)
    yield server
    server.close()


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, zygote):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    return Sandbox(tmp_path_factory.mktemp("actions"), zygote)


@pytest.fixture(scope="module")
def first_run(sandbox):
    """The first scheduled run: every sample release is new, so it commits, pushes and opens the PR."""
    main_before = sandbox.git(sandbox.origin, "rev-parse", "main")
    workspace = sandbox.checkout()
    private = workspace / "codesets" / "private" / "cpt-descriptors.csv"  # the organisation's licensed CPT text
    private.parent.mkdir(parents=True)
    private.write_text(f"code,descriptor\n99214,{INVENTED_DESCRIPTOR}\n", encoding="utf-8")
    job = sandbox.run_job(workspace)
    assert_ran_cleanly(job)
    return job, main_before


@pytest.fixture(scope="module")
def second_run(sandbox, first_run):
    """The same steps again in the same work tree, on the same inputs."""
    job, _ = first_run
    before = snapshot(job.workspace)
    head = sandbox.git(job.workspace, "rev-parse", "HEAD")
    again = sandbox.run_job(job.workspace)
    assert_ran_cleanly(again)
    return again, before, head


@pytest.fixture(scope="module")
def next_scheduled_run(sandbox, second_run):
    """A fresh checkout of main while the pull request is still open and nothing new was published."""
    pushed = sandbox.git(sandbox.origin, "rev-parse", BRANCH)
    job = sandbox.run_job(sandbox.checkout())
    assert_ran_cleanly(job)
    return job, pushed


@pytest.fixture(scope="module")
def run_after_main_moved(sandbox, next_scheduled_run):
    """While the pull request is open, the team stops billing R10.2: the next run updates the same PR."""
    pushed = sandbox.git(sandbox.origin, "rev-parse", BRANCH)

    def drop_r10_2(tree: Path):
        inventory = tree / "codesets" / "inventory" / "inventory.csv"
        lines = inventory.read_text(encoding="utf-8").splitlines(keepends=True)
        kept = [line for line in lines if not line.startswith("icd10cm,R10.2,")]
        assert len(kept) == len(lines) - 1
        inventory.write_text("".join(kept), encoding="utf-8")

    main = sandbox.commit_to_main("Inventory: we no longer bill R10.2", drop_r10_2)
    job = sandbox.run_job(sandbox.checkout())
    assert_ran_cleanly(job)
    return job, pushed, main


@pytest.fixture(scope="module")
def run_after_merge(sandbox, run_after_main_moved):
    """The pull request is merged; the next scheduled run finds nothing new."""
    head = sandbox.git(sandbox.origin, "rev-parse", BRANCH)
    sandbox.git(sandbox.origin, "update-ref", "refs/heads/main", head)
    prs = sandbox.prs()
    for pr in prs:
        pr["state"] = "MERGED"
    sandbox.gh_state.write_text(json.dumps(prs), encoding="utf-8")
    job = sandbox.run_job(sandbox.checkout())
    assert_ran_cleanly(job)
    return job, head


def test_first_run_writes_the_report_to_the_step_summary(first_run):
    job, _ = first_run
    update = job.step("Ingest, diff and report")
    assert update.ran and update.outputs == {"changed": "true", "inventory_affected": "true"}
    assert job.summary.startswith("# Code-set update\n")
    for code in ("G35", "R10.2", "E78.01"):  # the sample's deleted codes that the inventory bills
        assert f"`{code}`" in job.summary
    assert "codegov update log" in job.summary


def test_first_run_writes_the_pr_body_and_the_artifacts(first_run):
    job, _ = first_run
    body = (job.workspace / "build" / "report" / "pr-body.md").read_text(encoding="utf-8")
    assert 0 < len(body) < PR_BODY_LIMIT and "`G35`" in body
    for name in ("pr-body.md", "report.md", "report.json", "report.csv"):
        assert (job.workspace / "build" / "report" / name).is_file()
    assert (job.workspace / "build" / "update.log").is_file()


def test_first_run_commits_exactly_the_release_tables_and_pages(sandbox, first_run):
    job, main_before = first_run
    assert job.step("Commit the release tables and pages").outputs == {"changed": "true"}
    head = sandbox.git(sandbox.origin, "rev-parse", BRANCH)
    assert sandbox.git(sandbox.origin, "rev-parse", f"{BRANCH}^") == main_before
    committed = set(sandbox.git(sandbox.origin, "diff", "--name-only", "main", BRANCH).splitlines())
    on_disk = {p.relative_to(job.workspace).as_posix()
               for folder in ("codesets/releases", "site_src/generated")
               for p in (job.workspace / folder).rglob("*") if p.is_file()}
    # every release table and generated page, nothing else; the edit tables' Parquet stays out of git
    # (AMA-licensed CPT codes, tens of MB a quarter) unless CODEGOV_EDIT_TABLES_IN_GIT=true: their manifests go in
    edit_tables = {p for p in on_disk if p.endswith(".parquet")}
    assert edit_tables and committed == on_disk - edit_tables
    assert "codesets/releases/ptp/2026-10-01.manifest.json" in committed
    # the oldest release of a code set whole, each later one as its changes (ingest/delta.py)
    assert {"codesets/releases/icd10cm/2024-10-01.csv", "codesets/releases/icd10cm/2025-10-01.changes.csv",
            "codesets/releases/hcpcs/2018-01-01.csv", "codesets/releases/hcpcs/2019-01-01.changes.csv"} <= committed
    assert not {p for p in committed
                if p.startswith("codesets/releases/") and p.endswith(("2025-10-01.csv", "2019-01-01.csv"))}
    # the private CPT descriptor file is never staged, and its text is in no committed file nor the PR body
    assert not [p for p in committed if "private" in p]
    assert "codesets/private/cpt-descriptors.csv" not in sandbox.git(job.workspace, "ls-files")
    for path in committed:
        assert INVENTED_DESCRIPTOR not in (job.workspace / path).read_text(encoding="utf-8", errors="replace"), path
    for path in (job.workspace / "build" / "report").iterdir():
        assert INVENTED_DESCRIPTOR not in path.read_text(encoding="utf-8"), path
    if (job.workspace / "site_src" / "generated").is_dir():
        assert any(p.startswith("site_src/generated/") for p in committed)
    message = sandbox.git(sandbox.origin, "log", "-1", "--format=%an <%ae>%n%B", head)
    assert message.startswith("github-actions[bot] <41898282+github-actions[bot]@users.noreply.github.com>\n"
                              "Code-set update: ICD-10-CM 2025-10-01, HCPCS 2019-01-01, POS 2024-08-01, "
                              "NCCI PTP 2026-10-01, MUE 2026-10-01, add-on codes 2026-10-01, PFS RVUs 2026-10-01\n")
    assert "- ICD-10-CM 2024-10-01: added" in message
    assert sandbox.git(job.workspace, "status", "--porcelain") == ""


def test_first_run_opens_one_labelled_pull_request(sandbox, first_run):
    job, _ = first_run
    creates = [c for c in job.gh_calls if c[:2] == ["pr", "create"]]
    assert len(creates) == 1
    create = creates[0]
    assert create[create.index("--body-file") + 1] == "build/report/pr-body.md"
    assert create[create.index("--head") + 1] == BRANCH and create[create.index("--base") + 1] == "main"
    [pr] = sandbox.prs()
    assert pr["body"] == (job.workspace / "build" / "report" / "pr-body.md").read_text(encoding="utf-8")
    assert pr["title"].startswith("Code-set update: ICD-10-CM 2025-10-01")
    assert pr["labels"] == ["inventory-affected"]
    assert pr["headRefOid"] == sandbox.git(sandbox.origin, "rev-parse", BRANCH)


def test_second_run_changes_no_file_and_opens_nothing(sandbox, second_run):
    job, before, head = second_run
    update = job.step("Ingest, diff and report")
    assert "nothing changed" in update.stdout
    assert update.outputs == {"changed": "false", "inventory_affected": "true"}
    assert snapshot(job.workspace) == before  # byte for byte, and not even rewritten
    assert not job.step("Commit the release tables and pages").ran
    assert not job.step("Open or update the pull request").ran
    assert sandbox.git(job.workspace, "rev-parse", "HEAD") == head
    assert job.gh_calls == []
    assert "Nothing was published since the last run" in job.summary


def test_next_scheduled_run_leaves_the_open_pull_request_alone(sandbox, next_scheduled_run):
    job, pushed = next_scheduled_run
    assert job.step("Ingest, diff and report").outputs["changed"] == "true"  # main has no tables yet
    assert job.step("Commit the release tables and pages").outputs == {"changed": "true"}
    assert "nothing new: pull request #1 already shows" in job.step("Open or update the pull request").stdout
    assert sandbox.git(sandbox.origin, "rev-parse", BRANCH) == pushed
    assert [c[:2] for c in job.gh_calls] == [["auth", "setup-git"], ["pr", "list"]]
    assert len(sandbox.prs()) == 1


def test_a_later_run_updates_the_same_pull_request(sandbox, run_after_main_moved):
    job, pushed, main = run_after_main_moved
    head = sandbox.git(sandbox.origin, "rev-parse", BRANCH)
    assert head != pushed and sandbox.git(sandbox.origin, "rev-parse", f"{BRANCH}^") == main
    assert not [c for c in job.gh_calls if c[:2] == ["pr", "create"]]
    edits = [c for c in job.gh_calls if c[:2] == ["pr", "edit"] and "--body-file" in c]
    assert len(edits) == 1 and edits[0][2] == "1"
    [pr] = sandbox.prs()
    body = (job.workspace / "build" / "report" / "pr-body.md").read_text(encoding="utf-8")
    assert pr["body"] == body
    report = json.loads((job.workspace / "build" / "report" / "report.json").read_text(encoding="utf-8"))
    icd10cm = next(cs for cs in report if cs["system"] == "icd10cm")
    assert {row["display_code"] for row in icd10cm["inventory"]["deleted"]} == {"E78.01", "G35"}
    assert pr["headRefOid"] == head and pr["labels"] == ["inventory-affected"]


def test_a_failed_update_still_uploads_and_commits_nothing(tmp_path, zygote):
    sandbox = Sandbox(tmp_path, zygote)
    job = sandbox.run_job(sandbox.checkout(), "workflow_dispatch", {"codeset": "icd10cm", "release": "FY1999"})
    update = job.step("Ingest, diff and report")
    assert update.returncode == 1 and update.outputs == {"changed": "false", "inventory_affected": "false"}
    assert job.summary.startswith("## codegov update failed (exit status 1)")
    assert "FY1999" in job.summary
    assert job.step("Upload the reports").stubbed and job.step("Upload the check results").stubbed
    assert not job.step("Commit the release tables and pages").ran
    assert not job.step("Open or update the pull request").ran
    assert job.gh_calls == []


def test_run_after_the_merge_opens_nothing(sandbox, run_after_merge):
    job, head = run_after_merge
    assert tree_files(sandbox, "main") >= {"codesets/releases/icd10cm/2025-10-01.changes.csv"}
    assert job.step("Ingest, diff and report").outputs["changed"] == "false"
    assert not job.step("Commit the release tables and pages").ran
    assert not job.step("Open or update the pull request").ran
    assert job.gh_calls == []
    assert sandbox.git(sandbox.origin, "rev-parse", "main") == sandbox.git(sandbox.origin, "rev-parse", BRANCH) == head


def test_a_release_needs_a_code_set(sandbox, first_run):
    job, _ = first_run
    proc = subprocess.run([".github/scripts/update.sh"], cwd=job.workspace, capture_output=True, text=True,
                          env=sandbox.env(CODEGOV_RELEASE="FY2026", CODEGOV_MIRROR="codesets/sample",
                                          CODEGOV_OFFLINE="1"))
    assert proc.returncode == 1
    assert "Error: release 'FY2026' needs a code set" in proc.stderr
