"""ingest.kept.Kept: at most `budget` bytes, least recently used out first, nothing larger than `largest`."""

from __future__ import annotations

from ingest.kept import Kept, file_identity


def test_the_least_recently_used_go_first_and_the_rest_fit_the_budget():
    kept = Kept(100, largest=60)
    kept.put("a", "A", 40)
    kept.put("b", "B", 40)
    assert kept.get("a") == "A"  # now the most recently used
    kept.put("c", "C", 40)  # 120 > 100: b, the least recently used, goes
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == ("A", None, "C") and kept.bytes == 80
    kept.put("d", "D", 61)  # larger than largest: never kept, nothing else goes
    assert kept.get("d") is None and len(kept) == 2 and kept.bytes == 80
    kept.put("a", "A2", 10)  # kept again: replaces, and its size counts once
    assert kept.get("a") == "A2" and kept.bytes == 50
    kept.clear()
    assert len(kept) == 0 and kept.bytes == 0 and kept.get("c") is None


def test_a_file_written_again_is_another_identity(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a\n")
    before = file_identity(path)
    assert file_identity(path) == before
    other = tmp_path / "t.tmp"
    other.write_bytes(b"b\n")
    other.replace(path)  # as the store writes: a new file renamed over the old
    assert file_identity(path) != before
