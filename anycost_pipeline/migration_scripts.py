"""Alembic's migration scripts, read once per process.

Dagster's SQLite storages ask alembic for the newest schema revision each time they open or make
a database file, and alembic reads and runs every one of Dagster's revision scripts to answer:
twelve times for the first run in a new instance folder (about 0.4 s of a 2 s month), and twice
for every run's new file of the run history. The scripts cannot change while a process runs, so
each alembic configuration's script directory (Dagster keeps one configuration per storage) is
built once and kept, by what the configuration says: the same revisions, stamped and checked
as before.
"""

import threading

from alembic.config import Config
from alembic.script import ScriptDirectory

_read = ScriptDirectory.from_config.__func__  # type: ignore[attr-defined]
_kept: dict[tuple, ScriptDirectory] = {}
_lock = threading.Lock()


def _settings(config: Config) -> tuple:
    """What a configuration says: its file and its options. Dagster makes a configuration
    object again when its own small cache of them overflows (an ephemeral instance beside the
    project's), so the objects themselves are no key: the scripts would be kept again each
    time."""
    section = config.get_section(config.config_ini_section, {})
    return (config.config_file_name, tuple(sorted(section.items())))


def _read_once(cls: type[ScriptDirectory], config: Config) -> ScriptDirectory:
    key = (cls, _settings(config))
    with _lock:
        if key not in _kept:
            _kept[key] = _read(cls, config)
        return _kept[key]


def read_once() -> None:
    """Keep each configuration's script directory from its first reading on (idempotent)."""
    ScriptDirectory.from_config = classmethod(_read_once)  # type: ignore[method-assign,assignment]
