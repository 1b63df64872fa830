"""A local UTF-8 CSV is read by polars from its path: the same frame, and the same error, as
reading the file's bytes through fsspec (the path every other file takes)."""

import gzip
import uuid
import zlib
from pathlib import Path

import fsspec
import polars as pl
import pytest

from anycost_pipeline.cbf.errors import SOURCE_FILE
from anycost_pipeline.sources import files
from anycost_pipeline.sources.files import SourceFilesError, read_file
from anycost_pipeline.sources.local_csv import read_local_csv
from anycost_pipeline_tests.sources.helpers import files_source

BOM = b"\xef\xbb\xbf"
GOOD = b"date,service,cost\n2024-08-01,Compute,1.50\n2024-08-02,Storage,2.25\n"

CONTENTS = {
    "plain": GOOD,
    "byte-order mark": BOM + GOOD,
    "two byte-order marks": BOM + BOM + GOOD,
    "byte-order mark only": BOM,
    "empty": b"",
    "header only": b"date,service,cost\n",
    "CRLF": GOOD.replace(b"\n", b"\r\n"),
    "no final newline": GOOD.rstrip(b"\n"),
    "blank lines": b"date,service,cost\n\n2024-08-01,Compute,1.50\n\n",
    "quoted newline and separator": b'date,service,cost\n2024-08-01,"Com,pute\nspecial",1.50\n',
    "multi-byte text": "date,service,cost\n2024-08-01,Café ☁ 计算,1.50\n".encode(),
    "real U+FFFD in the header": "date,serv\ufffdice,cost\n2024-08-01,Compute,1.50\n".encode(),
    "Latin-1 in a field": b"date,service,cost\n2024-08-01,Caf\xe9,1.50\n",
    "Latin-1 in the header": b"date,serv\xe9ice,cost\n2024-08-01,Compute,1.50\n",
    "Latin-1 in a quoted field": b'date,service,cost\n2024-08-01,"Caf\xe9\nx",1.50\n',
    "Latin-1 at the end, no newline": b"date,service,cost\n2024-08-01,Compute,1.5\xe9",
    "truncated UTF-8": b"date,service,cost\n2024-08-01,Compute\xc3,1.50\n",
    "UTF-8 surrogate": b"date,service,cost\n2024-08-01,Comp\xed\xa0\x80,1.50\n",
    "overlong UTF-8": b"date,service,cost\n2024-08-01,Comp\xc0\xaf,1.50\n",
    "too many fields": b"date,service,cost\n2024-08-01,Compute,1.50,extra\n",
    "lone carriage returns, a field too many": b"date,service,cost\n2024-08-01,Compute,1.50\r"
    b"2024-08-02,Storage,2,25\r",
    "Latin-1 in a title line": b"Caf\xe9 export\ndate,service,cost\n2024-08-01,Compute,1.50\n",
    "a column named like a lineage column": b"date,_source_row,cost\n2024-08-01,7,1.50\n",
    "a column named like the file column": b"date,_source_file,cost\n2024-08-01,x.csv,1.50\n",
    "gzip bytes in a .csv": gzip.compress(GOOD),
    "zlib bytes": zlib.compress(GOOD),
    "text that starts like zlib": b"x^,service,cost\n2024-08-01,Compute,1.50\n",
    "byte-order mark, then text that starts like zlib": BOM
    + b"x^,service,cost\n2024-08-01,Compute,1.50\n",
    "byte-order mark, then gzip bytes": BOM + gzip.compress(GOOD),
}

SETTINGS = {
    "defaults": {},
    "no compression": {"compression": "none"},
    "tsv": {"format": "tsv"},
    "no header": {"header": False, "column_names": ["date", "service", "cost"]},
    "header replaced": {"column_names": ["d", "s", "c"]},
    "title line skipped": {"skip_rows": 1},
}


def _read(source: object, path: str) -> pl.DataFrame | str:
    """The frame without the file name, or the error with the file name taken out."""
    try:
        return read_file("v", source, path).drop(SOURCE_FILE)
    except SourceFilesError as error:
        return str(error).replace(path, "<file>")


@pytest.mark.parametrize("setting", SETTINGS)
def test_local_csv_reads_as_the_general_path_does(tmp_path: Path, setting: str) -> None:
    store = fsspec.filesystem("memory")
    folder = f"memory://direct-{uuid.uuid4().hex}"
    source = files_source("x", **SETTINGS[setting])
    try:
        for case, content in CONTENTS.items():
            if source.format == "tsv":
                content = content.replace(b",", b"\t")
            local = tmp_path / f"{len(list(tmp_path.iterdir()))}.csv"
            local.write_bytes(content)
            remote = f"{folder}/{local.name}"
            store.pipe(remote, content)
            direct, general = _read(source, str(local)), _read(source, remote)
            if isinstance(general, str):
                assert isinstance(direct, str) and direct == general, (
                    f"{case}: {direct!r} != {general!r}"
                )
            else:
                assert isinstance(direct, pl.DataFrame), f"{case}: {direct}"
                assert direct.columns == general.columns and direct.schema == general.schema, case
                assert direct.equals(general, null_equal=True), case
    finally:
        store.rm(folder, recursive=True)


def test_plain_local_csv_takes_the_direct_read(tmp_path: Path) -> None:
    """Guards the test above: the common case must not quietly fall back to the general path."""
    path = tmp_path / "export.csv"
    path.write_bytes(BOM + GOOD)
    frame = read_local_csv(files_source("x"), str(path))
    assert frame is not None and frame.columns[:4] == ["_source_row", "date", "service", "cost"]
    assert frame.get_column("_source_row").to_list() == [2, 3]
    assert frame.get_column(SOURCE_FILE).to_list() == [str(path)] * 2
    path.write_bytes(b"date,service,cost\n2024-08-01,Caf\xe9,1.50\n")
    assert read_local_csv(files_source("x"), str(path)) is None
    with pytest.raises(SourceFilesError, match=r"export\.csv.*byte 32 is not valid utf-8"):
        read_file("v", files_source("x"), str(path))


def test_a_named_local_file_is_listed_as_fsspec_lists_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A local path without wildcards is listed without fsspec: the same paths, sizes, versions."""
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "export.csv").write_bytes(GOOD)
    (tmp_path / "link.csv").symlink_to(tmp_path / "data" / "export.csv")
    (tmp_path / "broken.csv").symlink_to(tmp_path / "gone.csv")
    (tmp_path / "home").mkdir()
    (tmp_path / "home" / "mine.csv").write_bytes(GOOD * 2)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    patterns = [
        str(tmp_path / "data" / "export.csv"),
        "data/export.csv",
        "./data/export.csv",
        "data//export.csv",
        "data/export.csv/",
        "data/../data/export.csv",
        "link.csv",
        "broken.csv",
        "missing.csv",
        "data",
        ".",
        "",
        "~/mine.csv",
        "~",
    ]
    for pattern in patterns:
        named = files._named_local_file(pattern)
        assert named is not None, pattern
        assert named == files._listed_by_fsspec(pattern), pattern
    assert (
        files._named_local_file(str(tmp_path / "data" / "*.csv")) is None
    )  # a glob: fsspec lists it
    assert files._named_local_file("file://" + str(tmp_path / "data" / "export.csv")) is None
    assert [i.size for i in files.file_infos("link.csv")] == [len(GOOD)]
    odd = tmp_path / "odd[1]"
    odd.mkdir()
    (odd / "export.csv").write_bytes(GOOD)
    monkeypatch.chdir(odd)
    assert files._named_local_file("export.csv") is None  # fsspec reads `[1]` as a wildcard


def test_a_field_too_many_is_named_by_its_line_whatever_ends_the_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    head, good, bad = "date,service,cost", "2024-08-01,Compute,1.50", "2024-08-02,Storage,2,25"
    for lines in ([head, good, bad, ""], [head + "\r", good + "\r", bad + "\r", ""]):
        path.write_bytes("\n".join(lines).encode())
        with pytest.raises(SourceFilesError, match=r"export\.csv.*line 3 has 4 fields"):
            read_file("v", files_source("x"), str(path))
    # Lines after the header ended by a carriage return alone, as old Mac exports end them.
    path.write_bytes(f"{head}\n{good}\r{bad}\r".encode())
    with pytest.raises(SourceFilesError, match=r"export\.csv.*line 3 has 4 fields"):
        read_file("v", files_source("x"), str(path))
