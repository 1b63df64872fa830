"""Export files that two `files` sources of one connection both read.

Their month is combined into one drop, so every row of such a file would be sent twice (an
`anycost add-source --write` run twice on one export does exactly that). The listing check runs
when anycost.yaml is read (local paths), in `anycost validate` and before `add-source` writes;
the month's own rows (`_source_file`) are checked again before anything is sent.
"""

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from anycost_pipeline.cbf.errors import SOURCE_FILE
from anycost_pipeline.config import AnycostConfig, FilesSource, is_url

MAX_FILES_NAMED = 3


@dataclass(frozen=True)
class SharedFiles:
    """Two sources of one connection that read the same export file(s)."""

    connection: str
    first: str
    second: str
    files: tuple[str, ...]

    def sentence(self, base: Path | None = None) -> str:
        """What is wrong and what to do, naming both sources and a file they share."""
        shown = [_shown(f, base) for f in self.files[:MAX_FILES_NAMED]]
        more = len(self.files) - len(shown)
        listed = ", ".join(shown) + (f" and {more} more" if more else "")
        return (
            f"sources {self.first} and {self.second} both read {listed} and both feed "
            f"connection {self.connection}, so every row of "
            f"{'that file' if len(self.files) == 1 else 'those files'} would be sent twice; "
            f"point each source's `path` at its own files (sources.{self.second}.path), or "
            "remove one of the two sources"
        )


def _shown(file: str, base: Path | None) -> str:
    if base is not None and not is_url(file):
        try:
            return Path(file).relative_to(base.resolve()).as_posix()
        except ValueError:
            pass
    return file


def same_files(paths: Iterable[str]) -> set[str]:
    """One spelling per file: local paths through their links (`os.path.realpath`), URLs as
    listed. A folder's links are followed once for all its files, not once per file (a source
    of daily exports lists thousands)."""
    folders: dict[str, str] = {}
    spelled = set()
    for path in paths:
        folder, name = os.path.split(path)
        if is_url(path):
            spelled.add(path)
        elif name in ("", ".", "..") or os.path.islink(path):
            spelled.add(os.path.realpath(path))
        else:
            if folder not in folders:
                folders[folder] = os.path.realpath(folder)
            spelled.add(os.path.join(folders[folder], name))
    return spelled


def source_files(config: AnycostConfig, *, local_only: bool = False) -> dict[str, set[str]]:
    """Each `files` source → the files its `path` matches now (unreadable listings left out:
    `anycost validate` reports them on their own)."""
    from anycost_pipeline.sources.files import list_files

    found: dict[str, set[str]] = {}
    for name, source in config.sources.items():
        if not isinstance(source, FilesSource):
            continue
        pattern = config.resolve_path(source.path)
        if local_only and is_url(pattern):
            continue
        try:
            found[name] = same_files(list_files(pattern))
        except (OSError, ValueError):
            continue
    return found


def shared_files(config: AnycostConfig, *, local_only: bool = False) -> list[SharedFiles]:
    """Every pair of sources of one connection whose `path` matches the same file(s)."""
    files = source_files(config, local_only=local_only)
    names = [n for n in config.sources if n in files]
    shared = []
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            connection = config.sources[first].connection
            both = files[first] & files[second]
            if both and config.sources[second].connection == connection:
                shared.append(SharedFiles(connection, first, second, tuple(sorted(both))))
    return shared


def shared_in_month(
    config: AnycostConfig, connection: str, frames: Mapping[str, pl.DataFrame]
) -> list[SharedFiles]:
    """Pairs of a month's `files` source frames whose rows come from the same export file."""
    files = {
        name: same_files(frame.get_column(SOURCE_FILE).drop_nulls().unique())
        for name, frame in frames.items()
        if isinstance(config.sources[name], FilesSource)
        and SOURCE_FILE in frame.columns
        and not frame.is_empty()
    }
    names = list(files)
    return [
        SharedFiles(connection, first, second, tuple(sorted(files[first] & files[second])))
        for i, first in enumerate(names)
        for second in names[i + 1 :]
        if files[first] & files[second]
    ]
