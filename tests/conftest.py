"""Shared fixtures: where the official files live, and a CLI runner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CODESETS = ROOT / "codesets"
SAMPLE = CODESETS / "sample"
SHARED = Path(os.environ.get("CODEGOV_SHARED_DATA", ROOT.parent / "shared" / "data" / "cms"))


def shared(*parts: str) -> Path:
    """A file of the real official releases in ../shared/data/cms; skips the test when absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path}")
    return path


@pytest.fixture
def codegov(capsys):
    """Run the CLI in-process: returns (exit status, stdout, stderr)."""
    from codegov.cli import main

    def run(*args: str):
        status = main([str(a) for a in args])
        out = capsys.readouterr()
        return status, out.out, out.err

    return run
