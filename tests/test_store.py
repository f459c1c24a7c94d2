"""The release-table writer: the same bytes pandas' csv writer gives, on tricky text and on every stored table."""

from __future__ import annotations

import io
import os

import pandas as pd
import pytest

from ingest.model import COLUMNS
from ingest.store import ARROW_READ_BYTES, csv_bytes, read_release, same_table_bytes, table_bytes, text_frame


def pandas_csv(frame: pd.DataFrame, columns) -> bytes:
    buf = io.StringIO()
    frame.loc[:, list(columns)].to_csv(buf, index=False, lineterminator="\n")
    return buf.getvalue().encode("utf-8")


def test_quoting_matches_the_csv_module():
    frame = pd.DataFrame({"a": ["plain", "with, comma", 'a "quote"', "line\nbreak", "cr\rhere", "", " spaced ",
                                "Patient\u2019s Home", "=1+2"],
                          "b": ["x"] * 9}, dtype=object)
    assert csv_bytes(frame, ["a", "b"]) == pandas_csv(frame, ["a", "b"])
    empty = frame.iloc[:0]
    assert csv_bytes(empty, ["a", "b"]) == pandas_csv(empty, ["a", "b"]) == b"a,b\n"


def test_same_table_bytes_is_table_bytes_compared():
    """same_table_bytes (the writer's check that a changes file rebuilds its table) says what comparing the
    written bytes says: on text that needs quoting, on object and Arrow-backed columns, and on a null."""
    texts = ["plain", "with, comma", 'a "quote"', "line\nbreak", "cr\rhere", "", " spaced ", "Patient\u2019s Home"]
    base = pd.DataFrame({c: texts for c in COLUMNS}, dtype=object)
    variants = [base.copy(), base.astype("str"), base.assign(code=list(reversed(texts))),
                base.assign(long_desc=[*texts[:-1], "Patient's Home"]), base.assign(kind=[None, *texts[1:]]),
                base.assign(kind=["", *texts[1:]]), base.iloc[:-1], base.assign(order_no='with, comma')]
    for a in variants:
        for b in variants:
            assert same_table_bytes(a, b) == (table_bytes(a) == table_bytes(b))
    assert same_table_bytes(base, base.astype("str"))
    assert not same_table_bytes(base, base.assign(order_no="with, comma"))


def _every_table(folder):
    for system_dir in sorted(p for p in folder.iterdir() if p.is_dir()):
        for path in sorted(system_dir.glob("*.csv")):
            yield system_dir.name, path


def test_every_sample_table_and_conversion_table_writes_the_same_bytes(sample_releases):
    for system, path in _every_table(sample_releases):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, engine="pyarrow")
        if ".conversion" in path.name or ".changes" in path.name:  # a changes file: the table's columns after op
            assert csv_bytes(frame, list(frame.columns)) == path.read_bytes() == pandas_csv(frame, frame.columns)
        else:
            table = read_release(sample_releases, system, path.stem)
            assert table_bytes(table) == path.read_bytes() == pandas_csv(table, COLUMNS), path


@pytest.mark.realdata
def test_every_real_table_writes_the_same_bytes_as_pandas(real_releases):
    for _system, path in _every_table(real_releases):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, engine="pyarrow")
        columns = list(frame.columns)
        assert csv_bytes(frame, columns) == pandas_csv(frame, columns) == path.read_bytes(), path


def test_text_frame_is_the_same_frame_from_either_reader(sample_releases):
    """text_frame reads small files with pandas' C engine and large ones with Arrow's: each gives what the
    other gives, on the sample's tables and on a table past the threshold (text that needs quoting, blanks)."""
    texts = ["plain", "with, comma", 'a "quote"', "line\nbreak", "", " spaced ", "Patient\u2019s Home", "NA", "null"]
    big = pd.DataFrame({c: (texts * (ARROW_READ_BYTES // 60 + 1))[: ARROW_READ_BYTES // 60 + 1] for c in COLUMNS})
    tables = [csv_bytes(big, COLUMNS)] + [path.read_bytes() for _, path in _every_table(sample_releases)]
    assert len(tables[0]) > ARROW_READ_BYTES > max(len(t) for t in tables[1:])
    for data in tables:
        frame = text_frame(data)
        for engine in ("c", "pyarrow"):
            pd.testing.assert_frame_equal(frame, pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False,
                                                             engine=engine))
    assert text_frame(tables[0])["code"].tolist()[:len(texts)] == texts  # blanks stay "", "NA" is text


def test_every_command_takes_arrow_buffers_from_jemalloc_unless_the_environment_names_an_allocator(monkeypatch,
                                                                                                  tmp_path):
    """codegov.cli.main, through codegov.options.arrow_allocator: Arrow's buffers from jemalloc in its process and,
    through the environment, in the workers it starts; an allocator named in the environment wins; where this
    pyarrow lacks jemalloc, Arrow's pool stays as it was and the workers are told that one."""
    import pyarrow as pa

    from codegov.cli import main
    from codegov.options import ARROW_POOL, arrow_allocator

    before = pa.default_memory_pool()
    try:
        monkeypatch.delenv(ARROW_POOL, raising=False)
        pa.set_memory_pool(pa.system_memory_pool())
        main(["lookup", "A0001", "--releases", str(tmp_path / "none"), "--quiet"])
        assert (pa.default_memory_pool().backend_name, os.environ[ARROW_POOL]) == ("jemalloc", "jemalloc")
        monkeypatch.setenv(ARROW_POOL, "system")
        arrow_allocator()
        assert pa.default_memory_pool().backend_name == "system"

        def not_built():
            raise NotImplementedError("this build of Arrow lacks jemalloc")

        monkeypatch.delenv(ARROW_POOL)
        monkeypatch.setattr(pa, "jemalloc_memory_pool", not_built)
        arrow_allocator()
        assert (pa.default_memory_pool().backend_name, os.environ[ARROW_POOL]) == ("system", "system")
    finally:
        pa.set_memory_pool(before)
