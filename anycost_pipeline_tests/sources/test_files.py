"""The files kind: every format and option, on disk and on an fsspec object store."""

import gzip
import json
import uuid
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import fsspec
import polars as pl
import pytest

from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.config import ConfigError, load_config
from anycost_pipeline.sources.files import (
    SourceFilesError,
    file_infos,
    fingerprint,
    read_source_files,
)
from anycost_pipeline_tests.sources.helpers import files_source, month_of, total

CSV = (
    "date,service,cost\n"
    "2024-07-31T22:00:00Z,Compute,0.000001\n"
    "2024-07-31T23:59:59Z,Storage,12345678901234.123456789\n"
    "2024-08-01T00:00:00Z,Compute,0.1\n"
    "2024-08-15,Network,-3.30\n"
)


def test_csv_file_spanning_two_months_gives_each_month_its_rows(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_text(CSV)
    frame = read_source_files(
        "vendor", files_source(str(tmp_path / "*.csv")), str(tmp_path / "*.csv")
    )
    july, august = month_of(frame, "2024-07"), month_of(frame, "2024-08")
    assert (len(july), len(august)) == (2, 2)
    assert total(july) == Decimal("12345678901234.123457789")
    assert total(august) == Decimal("-3.20")
    assert july.get_column("cost").to_list() == [
        "0.000001",
        "12345678901234.123456789",
    ]  # text, untouched
    assert august.get_column(SOURCE_ROW).to_list() == [
        4,
        5,
    ]  # spreadsheet rows: the header is row 1


def test_a_month_spread_over_many_files(tmp_path: Path) -> None:
    for day in range(1, 4):
        (tmp_path / f"day{day}.csv").write_text(
            f"date,service,cost\n2024-08-0{day},Compute,{day}.01\n"
        )
    pattern = str(tmp_path / "day*.csv")
    august = month_of(read_source_files("vendor", files_source(pattern), pattern), "2024-08")
    assert len(august) == 3 and total(august) == Decimal("6.03")
    assert sorted(Path(p).name for p in august.get_column(SOURCE_FILE).to_list()) == [
        "day1.csv",
        "day2.csv",
        "day3.csv",
    ]


def test_gzip_csv_and_tsv(tmp_path: Path) -> None:
    (tmp_path / "a.csv.gz").write_bytes(gzip.compress(CSV.encode()))
    (tmp_path / "b.tsv.gz").write_bytes(gzip.compress(CSV.replace(",", "\t").encode()))
    csv = read_source_files("v", files_source("x"), str(tmp_path / "*.csv.gz"))
    tsv = read_source_files("v", files_source("x", format="tsv"), str(tmp_path / "*.tsv.gz"))
    for frame in (csv, tsv):
        assert len(frame) == 4
        assert total(month_of(frame, "2024-08")) == Decimal("-3.20")


def test_latin1_semicolons_without_header_after_a_title_line(tmp_path: Path) -> None:
    text = "Relevé de coûts juillet\n2024-07-02;Société Générale;1.50\n2024-07-03;Café;2.25\n"
    (tmp_path / "export.csv").write_bytes(text.encode("latin-1"))
    source = files_source(
        "x",
        encoding="latin-1",
        delimiter=";",
        header=False,
        skip_rows=1,
        column_names=["date", "service", "cost"],
    )
    frame = read_source_files("v", source, str(tmp_path / "*.csv"))
    assert frame.get_column("service").to_list() == ["Société Générale", "Café"]
    assert total(frame) == Decimal("3.75")
    assert frame.get_column(SOURCE_ROW).to_list() == [2, 3]


def test_wrong_encoding_names_the_file_and_the_fix(tmp_path: Path) -> None:
    (tmp_path / "export.csv").write_bytes(
        "date,service,cost\n2024-07-02,Café,1\n".encode("latin-1")
    )
    with pytest.raises(SourceFilesError, match=r"export\.csv.*not valid utf-8.*encoding"):
        read_source_files("v", files_source("x"), str(tmp_path / "*.csv"))


def test_parquet_decimals_and_times_become_exact_text(tmp_path: Path) -> None:
    frame = pl.DataFrame(
        {
            "date": [
                datetime(2024, 8, 1, 5, 30, tzinfo=timezone.utc),
                datetime(2024, 8, 31, 23, 0, tzinfo=timezone.utc),
                datetime(2024, 9, 1, tzinfo=timezone.utc),
            ],
            "service": ["Compute", "Storage", "Compute"],
            "cost": [Decimal("1.100000001"), Decimal("2.200000002"), Decimal("9")],
            "usage": [1, 2, 3],
        },
        schema_overrides={"cost": pl.Decimal(20, 9)},
    )
    frame.write_parquet(tmp_path / "export.parquet")
    read = read_source_files("v", files_source("x", format="parquet"), str(tmp_path / "*.parquet"))
    assert all(dtype == pl.String for name, dtype in read.schema.items() if name != SOURCE_ROW)
    august = month_of(read, "2024-08")
    assert len(august) == 2 and total(august) == Decimal("3.300000003")
    assert read.get_column("usage").to_list() == ["1", "2", "3"]


def test_ndjson_gzip_keeps_json_numbers_exact_and_flattens_objects(tmp_path: Path) -> None:
    lines = [
        '{"date": "2024-08-02", "service": "Compute", "cost": 0.1, "tags": {"team": "data"}}',
        "",
        '{"date": "2024-08-03", "service": "Storage", "cost": 0.2, "tags": {"team": "web"}, "ids": [1, 2]}',
        '{"date": "2024-08-04", "service": "Network", "cost": 1234567890.123456789012}',
    ]
    (tmp_path / "export.ndjson.gz").write_bytes(gzip.compress("\n".join(lines).encode()))
    frame = read_source_files(
        "v", files_source("x", format="ndjson"), str(tmp_path / "*.ndjson.gz")
    )
    assert frame.get_column("cost").to_list() == ["0.1", "0.2", "1234567890.123456789012"]
    assert total(frame) == Decimal("1234567890.423456789012")
    assert frame.get_column("tags.team").to_list() == ["data", "web", None]
    assert frame.get_column(SOURCE_ROW).to_list() == [1, 3, 4]  # line numbers, blank line skipped


def test_json_array_at_a_nested_path(tmp_path: Path) -> None:
    document = {
        "meta": {"vendor": "x"},
        "data": {
            "items": [
                {"date": "2024-08-02", "service": "Compute", "cost": "5.55"},
                {"date": "2024-08-03", "service": "Storage", "cost": "4.45"},
            ]
        },
    }
    (tmp_path / "export.json").write_text(json.dumps(document))
    frame = read_source_files(
        "v", files_source("x", format="json", records="data.items"), str(tmp_path / "*.json")
    )
    assert len(frame) == 2 and total(frame) == Decimal("10.00")
    with pytest.raises(SourceFilesError, match="no key 'rows'"):
        read_source_files(
            "v", files_source("x", format="json", records="data.rows"), str(tmp_path / "*.json")
        )


def test_object_store_url_and_listing_fingerprints() -> None:
    folder = f"memory://exports-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    fs.pipe(f"{folder}/2024-08.csv", CSV.encode())
    fs.pipe(
        f"{folder}/2024-09.csv.gz", gzip.compress(b"date,service,cost\n2024-09-01,Compute,7.77\n")
    )
    pattern = f"{folder}/*.csv*"
    frame = read_source_files("v", files_source(pattern), pattern)
    assert len(frame) == 5
    assert total(month_of(frame, "2024-09")) == Decimal("7.77")
    assert all(p.startswith("memory://") for p in frame.get_column(SOURCE_FILE).unique().to_list())
    before = {i.path: fingerprint(i) for i in file_infos(pattern)}
    fs.pipe(f"{folder}/2024-08.csv", CSV.encode() + b"2024-08-20,Compute,1\n")
    after = {i.path: fingerprint(i) for i in file_infos(pattern)}
    assert before.keys() == after.keys()
    changed = [p for p in after if after[p] != before[p]]
    assert [Path(p).name for p in changed] == ["2024-08.csv"]


def test_full_export_takes_the_files_as_the_truth(tmp_path: Path) -> None:
    """A record gone from the files is gone from the month."""
    from anycost_pipeline import sources
    from anycost_pipeline.months import Month

    (tmp_path / "a.csv").write_text("date,service,cost\n2024-08-01,Compute,1.00\n")
    (tmp_path / "b.csv").write_text("date,service,cost\n2024-08-02,Compute,2.00\n")
    (tmp_path / "anycost.yaml").write_text(
        "start_month: 2024-01\nconnections: {main: {connection_id: x}}\n"
        "sources:\n  vendor:\n    connection: main\n    path: '*.csv'\n"
        "    columns: {time/usage_start: date, cost/cost: cost}\n"
    )
    config = load_config(tmp_path / "anycost.yaml")
    source = config.sources["vendor"]
    assert total(sources.read_month("vendor", source, config, Month(2024, 8))) == Decimal("3.00")
    (tmp_path / "b.csv").unlink()
    assert total(sources.read_month("vendor", source, config, Month(2024, 8))) == Decimal("1.00")
    assert not (tmp_path / ".anycost" / "batches").exists()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"header": False}, "needs `column_names`"),
        ({"encoding": "klingon"}, "not a known text encoding"),
        ({"format": "parquet", "delimiter": ";"}, "csv and tsv only"),
        ({"incremental": True}, "needs `key`"),
        ({"kind": "ftp"}, "kind must be one of files, http, sql"),
        ({"kind": "http"}, r"url: is required"),
    ],
)
def test_file_options_are_checked_when_the_config_loads(
    tmp_path: Path, options: dict, message: str
) -> None:
    import yaml

    source = {
        "connection": "main",
        "path": "*.csv",
        "columns": {"time/usage_start": "date", "cost/cost": "cost"},
        **options,
    }
    (tmp_path / "anycost.yaml").write_text(
        yaml.safe_dump(
            {
                "start_month": "2024-01",
                "connections": {"main": {"connection_id": "x"}},
                "sources": {"vendor": source},
            }
        )
    )
    with pytest.raises(ConfigError, match=f"sources\\.vendor.*{message}"):
        load_config(tmp_path / "anycost.yaml")


def test_an_empty_export_file_adds_no_rows(tmp_path: Path) -> None:
    (tmp_path / "a.csv").write_text("date,service,cost\n2024-08-01,Compute,1.00\n")
    (tmp_path / "b.csv").write_text("")
    (tmp_path / "c.csv").write_text("date,service,cost\n")
    frame = read_source_files("v", files_source("x"), str(tmp_path / "*.csv"))
    assert len(frame) == 1 and total(month_of(frame, "2024-08")) == Decimal("1.00")
