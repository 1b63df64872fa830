"""Exports whose lines end in a carriage return alone, as Excel for Mac's "CSV (Macintosh)"
saves them: read as the same file with newlines would be, through `anycost run` and
`anycost validate` as a user runs them, and by every reading path (alone, with other files,
the file's columns, a line too long, a rate card, the sample `anycost add-source` reads)."""

import gzip
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.errors import SOURCE_FILE
from anycost_pipeline.cbf.options import RateCard
from anycost_pipeline.cli import main
from anycost_pipeline.cloudzero.sandbox.store import SandboxStore
from anycost_pipeline.sources import files
from anycost_pipeline.sources.files import SourceFilesError, read_file
from anycost_pipeline.sources.propose.sample import read_sample
from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import files_source

MONTH = "2024-08"


def _mac(text: bytes) -> bytes:
    return text.replace(b"\r\n", b"\n").replace(b"\n", b"\r")


def _exported_cost(project: Project, month: str) -> Decimal:
    return sum(
        (
            Decimal(line.rsplit(b",", 1)[1].decode())
            for path in project.data_dir.glob(f"*_{month}-*.csv")
            for line in path.read_bytes().split(b"\r")[1:]
            if line
        ),
        Decimal(0),
    )


def test_a_month_of_mac_exports_is_sent_whole(
    project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in project.data_dir.glob("*.csv"):
        path.write_bytes(_mac(path.read_bytes()))
    assert main(["validate"]) == 0, capsys.readouterr().out
    assert "mapped columns present" in capsys.readouterr().out
    assert main(["run", MONTH]) == 0, capsys.readouterr().out
    rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", MONTH)
    expected = _exported_cost(project, MONTH)
    assert expected > 0
    assert sum(Decimal(row["cost/cost"]) for row in rows) == expected
    assert len(rows) == sum(
        len([line for line in path.read_bytes().split(b"\r")[1:] if line])
        for path in project.data_dir.glob(f"*_{MONTH}-*.csv")
    )


GOOD = b'date,service,cost\n2024-08-01,"Com,pute",1.50\n2024-08-02,Storage,2.25\n'
SETTINGS = {
    "defaults": {},
    "tsv": {"format": "tsv"},
    "no header": {"header": False, "column_names": ["date", "service", "cost"]},
    "title line skipped": {"skip_rows": 1},
}


def _as_read(source: object, path: Path) -> pl.DataFrame:
    return read_file("v", source, str(path)).drop(SOURCE_FILE)


@pytest.mark.parametrize("setting", SETTINGS)
def test_a_mac_file_reads_as_the_same_file_with_newlines(tmp_path: Path, setting: str) -> None:
    source = files_source("x", **SETTINGS[setting])
    content = GOOD.replace(b",", b"\t") if setting == "tsv" else GOOD
    if setting == "title line skipped":
        content = b"Vendor export\n" + content
    unix, mac = tmp_path / "unix.csv", tmp_path / "mac.csv"
    unix.write_bytes(content)
    mac.write_bytes(_mac(content))
    expected = _as_read(source, unix)
    assert expected.height == (3 if setting == "no header" else 2)
    assert _as_read(source, mac).equals(expected)
    assert files.file_columns("v", source, str(mac)) == files.file_columns("v", source, str(unix))


def test_a_quoted_carriage_return_stays_in_its_value(tmp_path: Path) -> None:
    path = tmp_path / "mac.csv"
    path.write_bytes(b'date,service,cost\r2024-08-01,"two\rlines",1.50\r2024-08-02,S,2\r')
    frame = _as_read(files_source("x"), path)
    assert frame["service"].to_list() == ["two\rlines", "S"]
    assert frame["_source_row"].to_list() == [2, 3]


def test_mac_files_read_with_others_each_as_alone(tmp_path: Path) -> None:
    source = files_source("x")
    paths = []
    for number, content in enumerate([GOOD, _mac(GOOD), GOOD, _mac(GOOD)]):
        paths.append(str(tmp_path / f"{number}.csv"))
        Path(paths[-1]).write_bytes(content)
    infos = [files.FileInfo(path=p, size=Path(p).stat().st_size, version="v") for p in paths]
    read = {info.path: get() for info, get in files.read_each("v", source, infos)}
    for path in paths:
        assert read[path].equals(read_file("v", source, path))
        assert read[path].height == 2


def test_a_field_too_many_in_a_mac_file_is_named_by_its_line(tmp_path: Path) -> None:
    path = tmp_path / "export.csv"
    path.write_bytes(b"date,service,cost\r2024-08-01,Compute,1.50\r2024-08-02,Storage,2,25\r")
    with pytest.raises(SourceFilesError, match=r"export\.csv.*line 3 has 4 fields"):
        read_file("v", files_source("x"), str(path))


VALUES = st.text(
    alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\r\n\x00"),
    max_size=8,
)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(VALUES, VALUES), min_size=1, max_size=6))
def test_any_table_reads_the_same_with_mac_line_endings(tmp_path_factory, rows) -> None:
    folder = tmp_path_factory.mktemp("mac")
    lines = ["a,b", *(",".join('"' + v.replace('"', '""') + '"' for v in row) for row in rows)]
    unix, mac = folder / "unix.csv", folder / "mac.csv"
    unix.write_bytes(("\n".join(lines) + "\n").encode())
    mac.write_bytes(("\r".join(lines) + "\r").encode())
    source = files_source("x")
    assert _as_read(source, mac).equals(_as_read(source, unix))


def test_a_mac_file_with_a_line_break_inside_a_cell_reads_as_with_newlines(tmp_path: Path) -> None:
    # Excel writes a line break inside a cell (Alt+Enter) as a newline, whatever ends its lines.
    row = b'2024-08-01,"two\nlines",1.50'
    unix, mac = tmp_path / "unix.csv", tmp_path / "mac.csv"
    unix.write_bytes(b"date,service,cost\n" + row + b"\n2024-08-02,S,2\n")
    mac.write_bytes(b"date,service,cost\r" + row + b"\r2024-08-02,S,2\r")
    source = files_source("x")
    assert _as_read(source, mac).equals(_as_read(source, unix))
    assert _as_read(source, mac)["service"].to_list() == ["two\nlines", "S"]
    # The cell far into the file: its columns are read from the first lines alone.
    filler = b"2024-08-01,Compute,1.00\r" * 60_000
    mac.write_bytes(b"date,service,cost\r" + filler + row + b"\r")
    assert files.file_columns("v", source, str(mac)) == ["date", "service", "cost"]
    assert _as_read(source, mac).height == 60_001


def test_gzip_rate_cards_read_their_rates_whatever_bytes_they_pack_to(tmp_path: Path) -> None:
    path = tmp_path / "rates.csv.gz"
    for number in range(200):  # compressed bytes hold a carriage return alone by chance
        path.write_bytes(gzip.compress(f"service,rate\nvm,0.{number:04d}\n".encode(), mtime=0))
        card = RateCard(quantity="q", match=["service"], file=path.name).with_file(str(path))
        assert [(line.keys()["service"], line.rate) for line in card.rates] == [
            ("vm", f"0.{number:04d}")
        ], number


def test_add_source_proposes_the_delimiter_of_a_mac_export(tmp_path: Path) -> None:
    row = b'2024-08-01;"Compute, EU, west, a";1,50\n'  # more commas than semicolons in rows
    text = b"date;service;cost\n" + row * 3
    for name, content in (("unix.csv", text), ("mac.csv", _mac(text))):
        (tmp_path / name).write_bytes(content)
        frame, keys = read_sample(tmp_path / name, "vendor")
        assert keys.get("delimiter") == ";", name
        assert frame.height == 3, name
