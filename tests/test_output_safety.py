"""Neutralised output: no report CSV cell a spreadsheet would run as a formula (OWASP CSV injection), and
no raw HTML from a playbook on the site."""

from __future__ import annotations

import csv
import dataclasses
import io

import markdown

from playbooks.report import render_csv
from playbooks.text import csv_safe, md_body


def test_csv_safe_follows_the_owasp_advice():
    for formula in ("=1+1", "+SUM(A1)", "-2+3", "@cmd", "\t=1", "\r=1", '=HYPERLINK("http://x","click")'):
        assert csv_safe(formula) == "'" + formula
    for plain in ("E11.9", "Type 2 diabetes", "-5", "+1.5", "", "2025-10-01", 3, None):
        assert csv_safe(plain) == plain


def test_a_descriptor_that_is_a_formula_is_written_as_text(sample_releases):
    from ingest.repository import ReleaseRepository
    from tests.conftest import CODESETS

    repo = ReleaseRepository(sample_releases, CODESETS)
    cs = repo.change_set("hcpcs")
    evil = dataclasses.replace(cs.added[0], description='=HYPERLINK("http://evil.example","Click")')
    cs = dataclasses.replace(cs, added=[evil, *cs.added[1:]])
    rows = list(csv.DictReader(io.StringIO(render_csv([cs]))))
    cells = [v for r in rows for v in r.values()]
    assert "'=HYPERLINK(\"http://evil.example\",\"Click\")" in cells
    assert not [v for v in cells if v and v[0] in "=+@" and v != "'"]


def test_a_playbook_body_cannot_put_html_on_the_site():
    body = ("Bill **G0283** with GP.\n\n<script>alert(1)</script>\n\n<img src=x onerror=alert(2)>\n\n"
            "Use `<modifier>` literally; 3 < 4 and &lt;b&gt; stays text.")
    html = markdown.markdown(md_body(body))
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;" in html or "&lt;script>" in html
    assert "<strong>G0283</strong>" in html  # Markdown is still Markdown
    assert "<code>&lt;modifier&gt;</code>" in html  # code spans untouched (Markdown escapes them itself)
