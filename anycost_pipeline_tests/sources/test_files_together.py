"""Small local CSVs that share a header are read by polars in one pass: each file's frame, and
each file's error, is the one reading it alone gives."""

import uuid
from pathlib import Path

import fsspec
import polars as pl
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.errors import SOURCE_FILE
from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources import files, local_csv
from anycost_pipeline.sources.files import SourceFilesError, file_infos, read_each
from anycost_pipeline.sources.local_csv import read_local_csvs
from anycost_pipeline_tests.sources.helpers import files_source
from anycost_pipeline_tests.sources.test_files_direct import BOM, CONTENTS, GOOD, SETTINGS


def _each(source: FilesSource, folder: Path) -> dict[str, pl.DataFrame | str]:
    """What `read_each` gives for every file of the folder: the frame, or the error."""
    read: dict[str, pl.DataFrame | str] = {}
    for info, reader in read_each("v", source, file_infos(str(folder / "*"))):
        try:
            read[info.path] = reader()
        except SourceFilesError as error:
            read[info.path] = str(error)
    return read


def _alone(source: FilesSource, path: str) -> pl.DataFrame | str:
    try:
        return files.read_file("v", source, path)
    except SourceFilesError as error:
        return str(error)


def _same(together: pl.DataFrame | str, alone: pl.DataFrame | str, case: str) -> None:
    if isinstance(alone, str):
        assert together == alone, case
        return
    assert isinstance(together, pl.DataFrame), f"{case}: {together}"
    assert together.schema == alone.schema, case
    assert together.equals(alone, null_equal=True), case


def test_every_file_reads_together_as_it_reads_alone(tmp_path: Path) -> None:
    """Each awkward file beside two plain ones and a copy of itself, under every setting."""
    for setting, options in SETTINGS.items():
        source = files_source("x", **options)
        for number, (case, content) in enumerate(CONTENTS.items()):
            if source.format == "tsv":
                content = content.replace(b",", b"\t")
            folder = tmp_path / f"{setting}-{number}"
            folder.mkdir()
            for name, data in (("a", content), ("b", GOOD), ("c", content), ("d", GOOD)):
                (folder / f"{name}.csv").write_bytes(data)
            read = _each(source, folder)
            assert len(read) == 4, case
            for path, together in read.items():
                _same(together, _alone(source, path), f"{setting}, {case}, {Path(path).name}")


def test_a_month_of_daily_files_is_read_in_one_pass(tmp_path: Path) -> None:
    """Guards the test above: the common case must not quietly fall back to a read per file."""
    paths = []
    for day in range(1, 32):
        path = tmp_path / f"export_2024-08-{day:02d}.csv"
        path.write_bytes(BOM + GOOD if day % 2 else GOOD)  # a byte-order mark or not: one pass
        paths.append(str(path))
    for day in range(1, 4):  # files of another header, among them: a pass of their own
        path = tmp_path / f"credits_2024-08-{day:02d}.csv"
        path.write_bytes(b"service,date,cost\nCompute,2024-08-01,-1.00\nStorage,2024-08-02,-0.50\n")
        paths.insert(day * 10, str(path))
    source = files_source("x")
    frames = read_local_csvs(source, paths)
    assert list(frames) == paths
    for path in paths:
        assert frames[path].get_column("_source_row").to_list() == [2, 3]
        assert frames[path].get_column(SOURCE_FILE).to_list() == [path] * 2
        _same(frames[path], _alone(source, path), path)


def test_files_on_an_object_store_are_read_one_by_one() -> None:
    """Only local files are read by polars from their path; the others as before, whole."""
    store = fsspec.filesystem("memory")
    folder = f"memory://together-{uuid.uuid4().hex}"
    try:
        for name in ("a", "b"):
            store.pipe(f"{folder}/{name}.csv", GOOD)
        paths = [f"{folder}/a.csv", f"{folder}/b.csv"]
        assert read_local_csvs(files_source("x"), paths) == {}
        read = list(read_each("v", files_source("x"), file_infos(f"{folder}/*.csv")))
        assert [reader().height for _, reader in read] == [2, 2]
    finally:
        store.rm(folder, recursive=True)


def test_a_pass_holds_no_more_than_its_bytes(tmp_path: Path, monkeypatch) -> None:
    """Files are read ahead a pass at a time, so a month of many files is never held twice."""
    monkeypatch.setattr(files, "TOGETHER_BYTES", 3 * len(GOOD))
    for day in range(1, 8):
        (tmp_path / f"{day}.csv").write_bytes(GOOD)
    passes: list[list[str]] = []
    real = files.read_local_csvs

    def recorded(source: FilesSource, paths: list[str]) -> dict[str, pl.DataFrame]:
        passes.append([Path(p).name for p in paths])
        return real(source, paths)

    monkeypatch.setattr(files, "read_local_csvs", recorded)
    read = [
        reader() for _, reader in read_each("v", files_source("x"), file_infos(str(tmp_path / "*")))
    ]
    assert passes == [["1.csv", "2.csv", "3.csv"], ["4.csv", "5.csv", "6.csv"], ["7.csv"]]
    assert [frame.height for frame in read] == [2] * 7


# Fields that exercise the reader: separators, quotes, line breaks, blanks, text beyond ASCII.
FIELD = st.sampled_from(["", "1.50", "x", "a,b", 'say "hi"', "two\nlines", "Café", " ", "-0.001"])
HEADERS = [
    b"date,service,cost",
    b"date,service,cost,tag",
    b"cost,date",
    b"d\xc3\xa9bit,cost",
    b'"date",cost',  # a name quoted
    b'"da\nte",cost',  # a header over two lines
]


def _row(fields: list[str]) -> bytes:
    return ",".join(
        '"' + f.replace('"', '""') + '"' if set(f) & set(',"\n') else f for f in fields
    ).encode()


@st.composite
def csv_file(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 9)) == 0:
        return b""  # an export with nothing in it
    header = draw(st.sampled_from(HEADERS))
    width = header.count(b",") + 1
    rows = draw(st.lists(st.lists(FIELD, min_size=width, max_size=width), max_size=4))
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    lines = [header, *(_row(r) for r in rows)]
    text = newline.join(lines) + (newline if draw(st.booleans()) else b"")
    if draw(st.integers(0, 9)) == 0:
        text += b",extra\n"  # a line with more fields than the header
    return (BOM if draw(st.booleans()) else b"") + text


@settings(max_examples=100, deadline=None)
@given(contents=st.lists(csv_file(), min_size=1, max_size=6))
def test_generated_files_read_together_as_each_alone(
    tmp_path_factory, contents: list[bytes]
) -> None:
    folder = tmp_path_factory.mktemp("together")
    for number, content in enumerate(contents):
        (folder / f"{number:02d}.csv").write_bytes(content)
    source = files_source("x")
    read = _each(source, folder)
    assert len(read) == len(contents)
    for path, together in read.items():
        _same(together, _alone(source, path), path)


def test_a_file_emptied_after_its_header_was_looked_at_reads_as_it_reads_alone(
    tmp_path: Path, monkeypatch
) -> None:
    """An exporter that rewrites a file empties it first: emptied between the look at its header
    and the pass, it is read by itself, without the columns of the files beside it."""
    for name in ("a", "b", "c"):
        (tmp_path / f"{name}.csv").write_bytes(GOOD)
    looked = local_csv._header_line

    def emptied_after_the_look(source: FilesSource, path: str) -> bytes | None:
        line = looked(source, path)
        if path.endswith("b.csv"):
            Path(path).write_bytes(b"")
        return line

    monkeypatch.setattr(local_csv, "_header_line", emptied_after_the_look)
    source = files_source("x")
    read = _each(source, tmp_path)
    monkeypatch.setattr(local_csv, "_header_line", looked)
    for path, together in read.items():
        _same(together, _alone(source, path), path)
    assert read[str(tmp_path / "b.csv")].columns == ["_source_row", SOURCE_FILE]
