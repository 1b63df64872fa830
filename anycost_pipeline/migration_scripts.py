"""Alembic's migration scripts, read once per process.

Dagster's SQLite storages ask alembic for the newest schema revision each time they open or make
a database file, and alembic reads and runs every one of Dagster's revision scripts to answer:
twelve times for the first run in a new instance folder (about 0.4 s of a 2 s month), and twice
for every run's new file of the run history. The scripts cannot change while a process runs, so
each alembic configuration's script directory (Dagster keeps one configuration per storage) is
built once and kept: the same revisions, stamped and checked as before.
"""

import threading

from alembic.config import Config
from alembic.script import ScriptDirectory

_read = ScriptDirectory.from_config.__func__  # type: ignore[attr-defined]
_kept: dict[Config, ScriptDirectory] = {}  # by the configuration object itself
_lock = threading.Lock()


def _read_once(cls: type[ScriptDirectory], config: Config) -> ScriptDirectory:
    with _lock:
        if config not in _kept:
            _kept[config] = _read(cls, config)
        return _kept[config]


def read_once() -> None:
    """Keep each configuration's script directory from its first reading on (idempotent)."""
    ScriptDirectory.from_config = classmethod(_read_once)  # type: ignore[method-assign,assignment]
