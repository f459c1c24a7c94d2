"""The organisation's licensed CPT descriptors (ingest.cpt): a private, git-ignored file; `codegov lookup` shows
them, the site only when CODEGOV_CPT_DESCRIPTORS_ON_SITE=true, the PR body and commits never (tests/test_workflows.py
runs the update job with the file present). Every descriptor here is invented: no AMA text ships."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from ingest import cpt
from tests.conftest import CODESETS, ROOT

INVENTED = "Invented wording for a test fixture, not AMA text: established patient visit, level four"


@pytest.fixture
def codesets(tmp_path):
    folder = tmp_path / "codesets"
    folder.mkdir()
    for name in ("sources.toml", "pos.csv"):
        shutil.copy(CODESETS / name, folder)
    shutil.copytree(CODESETS / "inventory", folder / "inventory")
    (folder / "private").mkdir()
    text = f"code,descriptor\n99214,\"{INVENTED}\"\n0001F,Invented two\n"
    (folder / "private" / "cpt-descriptors.csv").write_text(text, encoding="utf-8")
    return folder


def test_lookup_shows_the_descriptor_from_the_private_file(codegov, codesets, sample_releases):
    args = ("--codesets", codesets, "--releases", sample_releases, "lookup", "99214", "--on", "2025-06-01")
    status, out, _ = codegov(*args)
    assert status == 3  # CPT is still never validated: the file gives wording, not validity
    assert out.splitlines()[:2] == ["99214  cpt  unknown",
                                    f"  {INVENTED}  (your licensed CPT descriptor, "
                                    f"{codesets / 'private' / 'cpt-descriptors.csv'})"]
    status, out, _ = codegov(*args, "--format", "json")
    source = str(codesets / "private" / "cpt-descriptors.csv")
    assert json.loads(out)["descriptor"] == {"text": INVENTED, "source": source}
    (codesets / "private" / "cpt-descriptors.csv").unlink()  # without the file: the answer as before
    status, out, _ = codegov(*args)
    assert status == 3 and INVENTED not in out and "licensed CPT descriptor" not in out


@pytest.mark.parametrize("text, line, expected", [
    ("code,description\n99214,x\n", 1, "expected the header code,descriptor"),
    ("code,descriptor\n99214,x,y\n", 2, "expected 2 fields (code,descriptor), found 3"),
    ("code,descriptor\n99214,x\n9921,y\n", 3, "expected a CPT code of 5 characters"),
    ("code,descriptor\n99214,\n", 2, "expected a descriptor for 99214"),
    ("code,descriptor\n99214,x\n\n99214,y\n", 4, "99214 is listed twice"),
    ("code,descriptor\n99214,\"x\n", 2, "not CSV"),
])
def test_a_malformed_descriptor_file_is_one_line_naming_file_and_line(codegov, codesets, sample_releases, text, line,
                                                                      expected):
    path = codesets / "private" / "cpt-descriptors.csv"
    path.write_text(text, encoding="utf-8")
    status, _, err = codegov("--codesets", codesets, "--releases", sample_releases, "lookup", "99214")
    assert status == 1 and err.count("\n") == 1
    assert err.startswith(f"Error: {path}:{line}: ") and expected in err, err


def test_a_descriptor_file_that_is_not_utf8_names_its_line(codesets):
    path = codesets / "private" / "cpt-descriptors.csv"
    path.write_bytes(b"code,descriptor\n99214,ok\n99215,caf\xe9\n")
    with pytest.raises(cpt.CodegovError, match=rf"{path}:3: expected UTF-8 text"):
        cpt.load(codesets)


def test_the_site_shows_descriptors_only_when_the_organisation_says_so(codesets, sample_releases, monkeypatch):
    from ingest.inventory import load_inventory
    from ingest.repository import ReleaseRepository
    from playbooks.site import Site, gather

    repo = ReleaseRepository(sample_releases, codesets)
    inventory = load_inventory(codesets / "inventory")
    monkeypatch.delenv(cpt.ON_SITE, raising=False)
    page = Site(gather(repo, inventory=inventory)).inventory()
    assert "99214" in page and INVENTED not in page
    monkeypatch.setenv(cpt.ON_SITE, "true")
    data = gather(repo, inventory=inventory)
    assert data.cpt_descriptors == {"99214": INVENTED, "0001F": "Invented two"}
    assert INVENTED in Site(data).inventory()


def test_the_private_folder_is_ignored_by_git():
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git work tree")
    proc = subprocess.run(["git", "check-ignore", "-q", "codesets/private/cpt-descriptors.csv"], cwd=ROOT)
    assert proc.returncode == 0
