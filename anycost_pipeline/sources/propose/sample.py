"""Reading the sample export exactly as the source will read it (every value as text), and the
keys that say how (`format`, `compression`, `delimiter`)."""

from pathlib import Path
from typing import Any

import polars as pl

from anycost_pipeline.cbf.columns import COST, USAGE_START
from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources.files import SourceFilesError, read_file
from anycost_pipeline.sources.local_csv import line_end


class ProposalError(ValueError):
    """The sample cannot be read, or no mapping can be proposed for it; the message says why."""


def sample_format(path: Path) -> tuple[str, str]:
    """The `format` and `compression` of an export, from its name (`.csv.gz`, `.ndjson`, ...)."""
    suffixes = [s.lower() for s in path.suffixes]
    compression = "gzip" if suffixes and suffixes[-1] in (".gz", ".gzip") else "none"
    if compression == "gzip":
        suffixes = suffixes[:-1]
    ending = suffixes[-1] if suffixes else ""
    formats = {
        ".csv": "csv",
        ".txt": "csv",
        ".tsv": "tsv",
        ".parquet": "parquet",
        ".pq": "parquet",
        ".ndjson": "ndjson",
        ".jsonl": "ndjson",
        ".json": "json",
    }
    if ending not in formats:
        raise ProposalError(
            f"{path}: cannot tell the format from the name; name the sample .csv, .tsv, "
            ".parquet, .json or .ndjson (optionally .gz)"
        )
    return formats[ending], compression


def _json_lines(path: Path, compression: str) -> bool:
    """Whether a `.json` file holds one record per line (NDJSON) rather than one document."""
    import gzip

    opener = gzip.open if compression == "gzip" else open
    with opener(path, "rt", encoding="utf-8-sig") as handle:  # type: ignore[operator]
        first = handle.readline().strip()
        second = handle.readline().strip()
    return first.startswith("{") and (second.startswith("{") or not second)


def read_sample(path: Path, name: str) -> tuple[pl.DataFrame, dict[str, Any]]:
    """The sample's rows as the source will read them, and the keys that say how to read it."""
    if not path.is_file():
        raise ProposalError(f"{path}: no such file")
    fmt, compression = sample_format(path)
    if fmt == "json" and _json_lines(path, compression):
        fmt = "ndjson"
    keys: dict[str, Any] = {"kind": "files", "path": str(path), "format": fmt}
    if compression == "gzip":
        keys["compression"] = "gzip"
    if fmt == "csv":
        with path.open("rb") as handle:
            head = handle.read(4096)
        if compression == "none":
            line = head.split(line_end(head).encode(), 1)[0]
            if line.count(b";") > line.count(b","):
                keys["delimiter"] = ";"
    reader = FilesSource.model_validate({"connection": "c", "columns": _ANY_COLUMNS, **keys})
    try:
        frame = read_file(name, reader, str(path))
    except SourceFilesError as error:
        raise ProposalError(str(error)) from None
    if frame.height == 0:
        raise ProposalError(f"{path}: the sample holds no rows; choose an export with some")
    return frame, keys


_ANY_COLUMNS = {USAGE_START: "t", COST: "c"}
