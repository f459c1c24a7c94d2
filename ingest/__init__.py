"""Ingest: fetch official code-set releases, parse them, normalise them into release tables, diff them."""
