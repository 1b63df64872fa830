"""The `files` source kind: every export file that matches a glob, read as text."""

import fsspec
import polars as pl

from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW


class SourceFilesError(ValueError):
    """The export files cannot be found or read."""


def list_files(pattern: str) -> list[str]:
    """Every file matching the glob (local path or fsspec URL), sorted for a stable order."""
    fs, _ = fsspec.core.url_to_fs(pattern)
    matches = sorted(fs.glob(pattern))
    protocol = pattern.split("://")[0] + "://" if "://" in pattern else ""
    return [m if m.startswith(protocol) else protocol + m for m in matches]


def read_csv_files(source: str, pattern: str) -> pl.DataFrame:
    """All rows of all matching CSV files, every column as text, with lineage columns.

    `_source_file` and `_source_row` (the spreadsheet row number: the header is row 1) let
    every later error point at the exact place in the export.
    """
    paths = list_files(pattern)
    if not paths:
        raise SourceFilesError(
            f"source {source!r}: no file matches {pattern!r}; check `path` in anycost.yaml"
        )
    frames = []
    for path in paths:
        try:
            with fsspec.open(path, "rb") as handle:
                frame = pl.read_csv(handle.read(), infer_schema=False)
        except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
            raise SourceFilesError(f"source {source!r}: cannot read {path} as CSV: {exc}") from None
        frames.append(
            frame.with_row_index(SOURCE_ROW, offset=2).with_columns(
                pl.col(SOURCE_ROW).cast(pl.Int64), pl.lit(path).alias(SOURCE_FILE)
            )
        )
    return pl.concat(frames, how="diagonal")
