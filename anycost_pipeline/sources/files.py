"""The `files` source kind: every export file that matches a glob, read as text.

CSV/TSV, Parquet, NDJSON and JSON, each optionally gzip-compressed, on a local folder or any
fsspec URL (s3://, gs://, az://, memory://). Every value is kept as text so costs stay exact;
`_source_file` and `_source_row` point every later error at its place in the export.
"""

import codecs
import hashlib
import io
import json
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from glob import has_magic

import polars as pl

from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW
from anycost_pipeline.config import FilesSource
from anycost_pipeline.sources.local_csv import (
    csv_options,
    first_row,
    is_utf8,
    line_end,
    lineage,
    read_local_csv,
    read_local_csvs,
)
from anycost_pipeline.sources.records import dig, loads, records_to_frame


class SourceFilesError(ValueError):
    """The export files cannot be found or read."""


@dataclass(frozen=True)
class FileInfo:
    """What a listing says about a file, without reading it."""

    path: str
    size: int
    # Object store: the first of the listing's version id, ETag or hash (s3fs, as opened here,
    # lists no version id: the ETag); local file: modification and change times and inode.
    version: str
    local: bool = False  # a local file's listing says nothing of its content: it is hashed

    @property
    def listing_key(self) -> str:
        """What the listing alone tells apart; for a local file it changes on every write (the
        change time moves even when the modification time is set back)."""
        return f"{self.size}:{self.version}"


def fingerprint(info: FileInfo, known: tuple[str, str] | None = None) -> str:
    """What identifies a file's content: the version the object store's listing gives (for S3 the
    ETag: the same bytes uploaded again in one part are the same fingerprint) with the size; for
    a local file the SHA-256 of its bytes with its size and modification time (a file delivered
    again is a new delivery). `known` is an earlier look's (listing key, fingerprint): while the
    listing key is the same the file was not written since, and is not read again."""
    if not info.local:
        return info.listing_key
    if known is not None and known[0] == info.listing_key:
        return known[1]
    digest = hashlib.sha256()
    try:
        with open(info.path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise SourceFilesError(f"cannot read {info.path}: {exc}") from None
    mtime = info.version.split(":", 1)[0]
    return f"{info.size}:{mtime}:sha256:{digest.hexdigest()}"


def _local_version(found: os.stat_result) -> str:
    return f"{found.st_mtime_ns}:{found.st_ctime_ns}:{found.st_ino}"


def _with_protocol(pattern: str, path: str) -> str:
    protocol = pattern.split("://")[0] + "://" if "://" in pattern else ""
    return path if path.startswith(protocol) else protocol + path


def list_files(pattern: str) -> list[str]:
    """Every file matching the glob (local path or fsspec URL), sorted for a stable order."""
    return [info.path for info in file_infos(pattern)]


def file_infos(pattern: str) -> list[FileInfo]:
    """Every file matching the glob with its size and version, from the listing alone."""
    named = _named_local_file(pattern)
    return named if named is not None else _listed_by_fsspec(pattern)


def _listed_by_fsspec(pattern: str) -> list[FileInfo]:
    import fsspec

    fs, _ = fsspec.core.url_to_fs(pattern)
    fs.invalidate_cache()  # a listing cached by an earlier look would hide new or changed files
    found = fs.glob(pattern, detail=True)
    local = "file" in ((fs.protocol,) if isinstance(fs.protocol, str) else fs.protocol)
    infos = []
    for path, info in sorted(found.items()):
        if info.get("type", "file") != "file":
            continue
        if local:
            try:
                infos.append(FileInfo(path, int(info["size"]), _local_version(os.stat(path)), True))
            except OSError:
                pass  # gone since the listing
            continue
        version = next(
            (
                str(info[k])
                for k in (
                    "VersionId",
                    "version_id",
                    "ETag",
                    "etag",
                    "md5Hash",
                    "crc32c",
                    "mtime",
                    "LastModified",
                    "last_modified",
                    "updated",
                    "created",
                )
                if info.get(k) is not None
            ),
            "",
        )
        infos.append(FileInfo(_with_protocol(pattern, path), int(info.get("size") or 0), version))
    return infos


def _named_local_file(pattern: str) -> list[FileInfo] | None:
    """What fsspec's listing says of a local path without wildcards, without loading fsspec
    (and the asyncio it brings): the path made absolute as fsspec makes it, the size and the
    modification time of the file it names (through a link), nothing for a folder or a
    missing file. None for anything else: fsspec lists it."""
    if os.sep != "/" or ":" in pattern:
        return None
    path = pattern
    if path.startswith("~"):
        path = os.path.expanduser(path)
    elif not path.startswith("/"):
        path = f"{os.getcwd()}/{'' if path == '.' else path.removeprefix('./')}"
    path = path.rstrip("/") or "/"
    if has_magic(path):  # fsspec looks for wildcards after making the path absolute
        return None
    try:
        found = os.stat(path)
    except (OSError, ValueError):
        return []
    return (
        [FileInfo(path, found.st_size, _local_version(found), True)]
        if stat.S_ISREG(found.st_mode)
        else []
    )


def read_files(source_name: str, source: FilesSource, infos: list[FileInfo]) -> pl.DataFrame:
    """All rows of the given files, every column as text, with lineage columns."""
    frames = [read() for _, read in read_each(source_name, source, infos)]
    if not frames:
        return pl.DataFrame(schema={SOURCE_ROW: pl.Int64, SOURCE_FILE: pl.String})
    return pl.concat(frames, how="diagonal")


def read_source_files(source_name: str, source: FilesSource, pattern: str) -> pl.DataFrame:
    """Every file matching the source's glob; an empty match is an error (a wrong `path`)."""
    infos = file_infos(pattern)
    if not infos:
        raise SourceFilesError(
            f"source {source_name!r}: no file matches {pattern!r}; check `path` in anycost.yaml"
        )
    return read_files(source_name, source, infos)


# Small local CSVs are read ahead in passes of at most this many bytes; a bigger file by itself.
TOGETHER_BYTES = 16 << 20


def read_each(
    source_name: str, source: FilesSource, infos: list[FileInfo]
) -> Iterator[tuple[FileInfo, Callable[[], pl.DataFrame]]]:
    """Each file with a function that reads it as `read_file` does, raising its error. Small
    local CSVs that share a header are read ahead together (`read_local_csvs`), one pass of
    files at a time, so no more than a pass is held before it is asked for."""
    passes: list[list[FileInfo]] = []
    size = 0
    for info in infos:
        if not passes or size + info.size > TOGETHER_BYTES:
            passes.append([])
            size = 0
        passes[-1].append(info)
        size += info.size
    for together in passes:
        ahead = read_local_csvs(source, [info.path for info in together])
        for info in together:
            frame = ahead.pop(info.path, None)
            if frame is None:
                yield info, partial(read_file, source_name, source, info.path)
            else:
                yield info, partial(_read_ahead, frame)


def _read_ahead(frame: pl.DataFrame) -> pl.DataFrame:
    return frame


def read_file(source_name: str, source: FilesSource, path: str) -> pl.DataFrame:
    """One export file as text columns plus `_source_file` and `_source_row`."""
    frame = read_local_csv(source, path)
    if frame is not None:
        return frame
    data = _file_bytes(source_name, source, path)
    where = f"source {source_name!r}: cannot read {path} as {source.format}"
    try:
        if source.format in ("csv", "tsv"):
            return _csv(data, source, path)
        if source.format == "parquet":
            frame = _as_text(pl.read_parquet(io.BytesIO(data)))
            return lineage(frame, path, first_row=1)
        if source.format == "ndjson":
            lines = _decode(data, source.encoding).splitlines()
            records = ((n, loads(line)) for n, line in enumerate(lines, start=1) if line.strip())
            return records_to_frame(records, path)
        document = loads(_decode(data, source.encoding))
        records = dig(document, source.records or "")
        if not isinstance(records, list):
            raise ValueError(f"expected a list of records at {source.records or 'the top level'}")
        return records_to_frame(enumerate(records, start=1), path)
    except KeyError as exc:
        raise SourceFilesError(
            f"{where}: no key {exc} on the way to records {source.records!r}"
        ) from None
    except UnicodeDecodeError as exc:
        raise SourceFilesError(
            f"{where}: byte {exc.start} is not valid {source.encoding}; set `encoding` (e.g. latin-1, cp1252)"
        ) from None
    except (pl.exceptions.PolarsError, ValueError, OSError) as exc:
        raise SourceFilesError(f"{where}: {exc}") from None


def _file_bytes(source_name: str, source: FilesSource, path: str) -> bytes:
    """The file's bytes, unpacked as `compression` says."""
    import fsspec

    compression = {"infer": "infer", "gzip": "gzip", "none": None}[source.compression]
    try:
        with fsspec.open(path, "rb", compression=compression) as handle:
            return handle.read()
    except (OSError, EOFError) as exc:  # gzip errors are OSError / EOFError
        raise SourceFilesError(f"source {source_name!r}: cannot read {path}: {exc}") from None


def read_ragged_file(source_name: str, source: FilesSource, path: str) -> pl.DataFrame | None:
    """A CSV or TSV file that `read_file` refuses because a line has more fields than the
    header (a decimal comma without quotes), with each line's values up to the header's width:
    enough to learn which months the file holds, never to send. None for any other file."""
    if source.format not in ("csv", "tsv"):
        return None
    try:
        text = _decode(_file_bytes(source_name, source, path), source.encoding)
        utf8 = text.encode("utf-8")
        frame = pl.read_csv(
            utf8, truncate_ragged_lines=True, eol_char=line_end(utf8), **csv_options(source)
        )
        return lineage(frame, path, first_row=first_row(source))
    except (SourceFilesError, UnicodeDecodeError, pl.exceptions.PolarsError, ValueError):
        return None  # not only a line too long: the months cannot be told


# How much of a CSV file is read to learn its header: the header and skipped lines fit in it.
_HEADER_BYTES = 1 << 20


def file_columns(source_name: str, source: FilesSource, path: str) -> list[str]:
    """The columns `read_file` gives for one file (without the lineage columns), reading as
    little as it can: a Parquet file's schema, a CSV file's first megabyte; a JSON file whole,
    since its nested objects become columns. The path is opened as it is, never as a glob, so
    an object name holding `?`, `*` or `[` is read."""
    if source.format in ("ndjson", "json"):
        frame = read_file(source_name, source, path)
        return [c for c in frame.columns if c not in (SOURCE_ROW, SOURCE_FILE)]
    import fsspec

    compression = {"infer": "infer", "gzip": "gzip", "none": None}[source.compression]
    where = f"source {source_name!r}: cannot read {path} as {source.format}"
    try:
        with fsspec.open(path, "rb", compression=compression) as handle:
            if source.format == "parquet":
                return list(pl.read_parquet_schema(handle))
            head = handle.read(_HEADER_BYTES)
            whole = len(head) < _HEADER_BYTES
    except (OSError, EOFError) as exc:  # gzip errors are OSError / EOFError
        raise SourceFilesError(f"source {source_name!r}: cannot read {path}: {exc}") from None
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise SourceFilesError(f"{where}: {exc}") from None
    end = line_end(head).encode()
    if not whole and end in head:
        head = head[: head.rindex(end) + 1]  # whole lines only
    try:
        frame = _csv(head, source, path, n_rows=1)  # the header and one row: no cut row
        return [c for c in frame.columns if c not in (SOURCE_ROW, SOURCE_FILE)]
    except UnicodeDecodeError as exc:
        raise SourceFilesError(
            f"{where}: byte {exc.start} is not valid {source.encoding}; set `encoding` (e.g. latin-1, cp1252)"
        ) from None
    except (pl.exceptions.PolarsError, ValueError) as exc:
        raise SourceFilesError(f"{where}: {exc}") from None


def _decode(data: bytes, encoding: str) -> str:
    # utf-8-sig drops the byte-order mark spreadsheet programs put at the start.
    return data.decode("utf-8-sig" if is_utf8(encoding) else encoding)


def _csv(data: bytes, source: FilesSource, path: str, n_rows: int | None = None) -> pl.DataFrame:
    if is_utf8(source.encoding):
        # Polars reads UTF-8 bytes as they are: decoding only proves they are UTF-8 (and names
        # the first bad byte), and plain ASCII needs not even that. No re-encoded copy.
        if not data.isascii():
            _decode(data, source.encoding)
        utf8 = data[len(codecs.BOM_UTF8) :] if data.startswith(codecs.BOM_UTF8) else data
    else:
        utf8 = _decode(data, source.encoding).encode("utf-8")
    try:
        frame = pl.read_csv(utf8, n_rows=n_rows, eol_char=line_end(utf8), **csv_options(source))
    except pl.exceptions.ComputeError as error:
        ragged = _ragged_line(utf8, source) if "ragged" in str(error) else None
        if ragged is None:
            raise
        raise ValueError(ragged) from None
    return lineage(frame, path, first_row=first_row(source))


def _ragged_line(utf8: bytes, source: FilesSource) -> str | None:
    """The first line with more fields than the header, in words (None: none found)."""
    import csv

    separator = csv_options(source)["separator"]
    # newline="": lines end as the file ends them, a lone carriage return included.
    lines = io.StringIO(utf8.decode("utf-8", errors="replace"), newline="")
    reader = csv.reader(lines, delimiter=separator)
    width = None
    try:
        for number, fields in enumerate(reader, start=1):
            if number <= source.skip_rows or not fields:
                continue
            if width is None:
                width = len(fields)  # the header, or the first row of a file without one
                continue
            if len(fields) > width:
                return (
                    f"line {reader.line_num} has {len(fields)} fields where the header has "
                    f"{width}: {separator!r} appears in a value without quotes (a decimal comma "
                    "such as 1.234,50?). Quote such values in the export, or set `delimiter` in "
                    "anycost.yaml if the file is separated by another character"
                )
    except csv.Error:
        return None  # polars' own words then name the problem
    return None


def _as_text(frame: pl.DataFrame) -> pl.DataFrame:
    """Every column as text: decimals exactly, times as ISO text the time parser reads."""
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if isinstance(dtype, pl.Datetime) and dtype.time_zone:
            columns.append(column.dt.convert_time_zone("UTC").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ"))
        elif isinstance(dtype, pl.Datetime):
            columns.append(column.dt.strftime("%Y-%m-%dT%H:%M:%S%.f"))
        elif dtype.is_nested():
            values = [None if v is None else _json(v) for v in frame.get_column(name).to_list()]
            columns.append(pl.Series(name, values, dtype=pl.String))
        else:
            columns.append(column.cast(pl.String))
    return frame.select(columns)


def _json(value: object) -> str:
    return json.dumps(value, default=str, ensure_ascii=False)


def read_csv_files(source: str, pattern: str) -> pl.DataFrame:
    """All rows of all matching CSV files (comma-separated, UTF-8, header row), as text."""
    defaults = FilesSource.model_construct(connection="", path=pattern, columns={})
    return read_source_files(source, defaults, pattern)
