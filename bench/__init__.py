"""Benchmarks: every stage on the real files in ../shared/data/cms, each beside a baseline run in the same process."""
