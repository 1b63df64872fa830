"""How polars reads a CSV export for a source (its options and the lineage columns every frame
carries), and the direct reads of local files by path: one file, or many small files that share
a header in one pass.

A direct read gives the frame the general path (`files._csv`, from the file's bytes) gives, or
nothing where that sameness is not certain: the general path then reads the file and names its
problem.
"""

import codecs
import os
import re
import sys

import polars as pl

from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.config import FilesSource


def is_utf8(encoding: str) -> bool:
    return encoding.replace("_", "-").lower() in ("utf-8", "utf8")


def csv_options(source: FilesSource) -> dict:
    return {
        "separator": source.delimiter or ("\t" if source.format == "tsv" else ","),
        "has_header": source.header,
        "new_columns": source.column_names,
        "skip_rows": source.skip_rows,
        "infer_schema": False,
        "raise_if_empty": False,  # an export with no rows is an empty month, not an error
    }


_LINE_MARKS = re.compile(rb'["\r\n]')


def line_end(data: bytes) -> str:
    """The character that ends the lines of CSV bytes, for polars' `eol_char`, as the first line
    ends outside quotes: a carriage return alone (Excel for Mac's "CSV (Macintosh)"; a line
    break inside one of its cells is a newline), else a newline (polars drops the carriage
    return of a CRLF). Polars reads a file of carriage returns as one long header line."""
    quoted = False
    for mark in _LINE_MARKS.finditer(data):
        if mark[0] == b'"':
            quoted = not quoted
        elif not quoted:
            alone = mark[0] == b"\r" and data[mark.end() : mark.end() + 1] != b"\n"
            return "\r" if alone else "\n"
    return "\n"


def unpacked_by_polars(data: bytes) -> bool:
    """Whether polars reads these bytes as compressed (gzip, zlib, zstd) and unpacks them."""
    return data.startswith(_POLARS_UNPACKS)


def first_row(source: FilesSource) -> int:
    # `_source_row` is the line a spreadsheet shows: lines skipped, then the header, then data.
    return source.skip_rows + (2 if source.header else 1)


def lineage(frame: pl.DataFrame, path: str, first_row: int) -> pl.DataFrame:
    """The frame with `_source_row` first and `_source_file` last."""
    _refuse_repeated_columns(frame)
    # The row numbers built as Int64 at once (no UInt32 index to cast); the file name stays one
    # value for the whole column until something reads it.
    rows = pl.int_range(first_row, first_row + frame.height, dtype=pl.Int64, eager=True)
    frame.insert_column(0, rows.alias(SOURCE_ROW))  # a frame of the caller's own: no copy
    return frame.with_columns(pl.lit(path, dtype=pl.String).alias(SOURCE_FILE))


_DUPLICATE = re.compile(r"^(?P<name>.*)_duplicated_\d+$")  # polars' name for a repeated header


def _refuse_repeated_columns(frame: pl.DataFrame) -> None:
    """A header naming one column twice: polars keeps the first under the name (the second
    becomes `<name>_duplicated_0`), so a mapping would read the first without a word."""
    columns = frame.columns
    for position, column in enumerate(columns, start=1):
        match = _DUPLICATE.match(column)
        if match and match["name"] in columns:
            first = columns.index(match["name"]) + 1
            raise ValueError(
                f"the header names column {match['name']!r} twice (columns {first} and "
                f"{position}), so which one holds the values cannot be told; rename one in the "
                "file, or name every column with `column_names` in anycost.yaml"
            )


# The name endings fsspec decompresses by (`compression: infer`), with its optional codecs.
_COMPRESSED_ENDINGS = ("gz", "bz2", "zip", "lzma", "xz", "lz4", "zst")


def _unpacked_by_name(path: str) -> bool:
    ending = os.path.splitext(path)[-1].strip(".").lower()
    fsspec = sys.modules.get("fsspec")  # once loaded, codecs may have been added to it
    return ending in _COMPRESSED_ENDINGS or (
        fsspec is not None and fsspec.utils.infer_compression(path) is not None
    )


# The starts of gzip, zlib and zstd data, which polars decompresses whatever the file's name.
_POLARS_UNPACKS = (
    b"\x1f\x8b",
    b"\x78\x01",
    b"\x78\x5e",
    b"\x78\x9c",
    b"\x78\xda",
    b"\x28\xb5\x2f\xfd",
)


def _direct(source: FilesSource, path: str) -> bool:
    """Whether polars may read the file from its path, as far as the settings and name tell.
    Polars proves every field is UTF-8 but repairs header names instead of failing, and reads
    skipped lines and a replaced header unchecked: those cases take the general path."""
    return not (
        source.format not in ("csv", "tsv")
        or not is_utf8(source.encoding)
        or ":" in path  # URLs, chained and data: paths are fsspec's
        or source.skip_rows
        or (source.header and source.column_names)
        or source.compression == "gzip"
        or (source.compression == "infer" and _unpacked_by_name(path))
    )


def _plain_start(head: bytes) -> bool:
    # `_csv` drops one byte-order mark and polars then one more; polars alone drops one. And
    # polars unpacks compressed bytes it recognises, which `_csv` refuses as not UTF-8.
    text = head.removeprefix(codecs.BOM_UTF8)
    return not (
        text.startswith(codecs.BOM_UTF8) or unpacked_by_polars(text) or unpacked_by_polars(head)
    )


def _clean_header(source: FilesSource, columns: list[str]) -> bool:
    # A header byte that is not UTF-8, or a real U+FFFD: `_csv` tells them apart.
    return not (source.header and any("\ufffd" in name for name in columns))


# How much of a file is read to find its header line (a longer header is read alone) and to
# learn what ends its lines.
_HEADER_LINE_BYTES = 1 << 16


def read_local_csv(source: FilesSource, path: str) -> pl.DataFrame | None:
    """A local, uncompressed UTF-8 CSV read by polars from its path, without a copy of the file
    in Python memory; None where the frame may differ from the general path's, and on any
    problem (a byte that is not UTF-8, a bad row, an unreadable file)."""
    if not _direct(source, path):
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEADER_LINE_BYTES)
        # Lines ended by carriage returns alone: the general path tells polars so.
        if not _plain_start(head) or line_end(head) == "\r":
            return None
        frame = pl.read_csv(path, glob=False, **csv_options(source))
        if not _clean_header(source, frame.columns):
            return None
        return lineage(frame, path, first_row=first_row(source))
    except Exception:  # whatever it is, the general path meets it too and reports it
        return None


def _header_line(source: FilesSource, path: str) -> bytes | None:
    """The file's first line without a byte-order mark, when polars may read the file directly;
    None otherwise. Files are read together by it (polars checks their header names too)."""
    if not _direct(source, path):
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(_HEADER_LINE_BYTES)
    except OSError:
        return None
    line, newline, _ = head.partition(b"\n")
    lineage_named = SOURCE_ROW.encode() in line or SOURCE_FILE.encode() in line
    if not newline or lineage_named or not _plain_start(head) or line_end(head) == "\r":
        return None
    return line.removeprefix(codecs.BOM_UTF8)  # polars drops it, as `_csv` does


def read_local_csvs(source: FilesSource, paths: list[str]) -> dict[str, pl.DataFrame]:
    """`read_local_csv`'s frame of each file that polars reads in one pass with others whose
    header line is the same: a call of polars per file costs about a millisecond, more than
    reading a day's export. A file left out (alone with its header, not certain to read the
    same, or in a pass that failed) is missing from the result: read it by itself."""
    if not source.header or len(set(paths)) != len(paths):
        return {}
    by_header: dict[bytes, list[str]] = {}
    for path in paths:
        line = _header_line(source, path)
        if line is not None:
            by_header.setdefault(line, []).append(path)
    frames: dict[str, pl.DataFrame] = {}
    for together in by_header.values():
        if len(together) > 1:
            frames.update(_read_together(source, together))
    return {path: frames[path] for path in paths if path in frames}


def _read_together(source: FilesSource, paths: list[str]) -> dict[str, pl.DataFrame]:
    try:
        # Polars refuses files whose header names differ from the first file's.
        scan = pl.scan_csv(paths, glob=False, include_file_paths=SOURCE_FILE, **csv_options(source))
        frame = scan.collect()
        if not _clean_header(source, frame.columns):
            return {}
        _refuse_repeated_columns(frame)
        first = first_row(source)
        rows = (pl.int_range(pl.len(), dtype=pl.Int64) + first).over(SOURCE_FILE)
        frame = frame.select(rows.alias(SOURCE_ROW), pl.exclude(SOURCE_FILE), pl.col(SOURCE_FILE))
        parts = frame.partition_by(SOURCE_FILE, as_dict=True, maintain_order=True)
    except Exception:  # each file is then read by itself, and its problem named
        return {}
    if not {key for (key,) in parts} <= set(paths):
        return {}  # polars named a file otherwise than it was given
    # A file without rows is left to be read by itself: it may have been emptied since its
    # header was looked at, and then has no columns of its own.
    return {path: parts[(path,)] for path in paths if (path,) in parts}
