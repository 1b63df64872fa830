"""The run history on SQLite as Dagster keeps it, written through one engine per database file.

Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine for every record it writes or
reads and throws it away after, so SQLAlchemy compiles each statement again and looks up the
index's tables again for every asset check record. A month of 50 sources writes about 1,400
records. This storage keeps the same files, tables and transactions (one per record, under
Dagster's own lock) and only keeps each file's engine. The engine holds no open connection
(`NullPool`, as Dagster's), so files stay closed between records, and a process that holds many
runs' files (the UI, the daemon) keeps at most `KEPT_ENGINES` engines.

`anycost` writes it into the instance settings of each new DAGSTER_HOME (`cli/home.py`), as

    event_log_storage:
      module: anycost_pipeline.run_history
      class: SqliteEventLogKeepingEngines
      config:
        home:
          env: DAGSTER_HOME

and the files are where Dagster's default storage keeps them, `<home>/history/runs/`, so a
history begun with either storage reads the same. An existing `dagster.yaml` keeps what it says.
Dagster finds `dagster.yaml` by DAGSTER_HOME; a script that opens an instance by its folder
(`DagsterInstance.from_config`) sets DAGSTER_HOME to that folder too, or is refused.
"""

import os
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

KEPT_ENGINES = 16


def events_folder(home: str) -> str:
    """Where Dagster's default SQLite storage of the instance at `home` keeps run events."""
    return os.path.join(home, "history", "runs", "")


class SqliteEventLogKeepingEngines(SqliteEventLogStorage):
    """Dagster's SQLite event log storage that keeps one engine per database file."""

    def __init__(self, home: str, inst_data: Any = None):
        self._home = home
        self._engines: OrderedDict[str, Engine] = OrderedDict()
        self._engines_lock = threading.Lock()
        self._tables: set[str] = set()
        super().__init__(events_folder(home), inst_data=inst_data)

    @classmethod
    def config_type(cls) -> dict:
        return {"home": dg.StringSource}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> "SqliteEventLogKeepingEngines":
        return cls(config_value["home"], inst_data=inst_data)

    def register_instance(self, instance: dg.DagsterInstance) -> None:
        super().register_instance(instance)
        if not os.path.samefile(self._home, instance.root_directory):
            # An instance opened by its folder while DAGSTER_HOME names another: its runs
            # would be listed with another instance's events.
            raise dg.DagsterInvariantViolationError(
                f"the Dagster instance in {instance.root_directory} keeps its run history under "
                f"DAGSTER_HOME, which is {self._home}: set DAGSTER_HOME={instance.root_directory}"
            )

    def _engine(self, shard: str) -> Engine:
        with self._engines_lock:
            engine = self._engines.pop(shard, None)
            if engine is None:
                engine = create_engine(
                    self.conn_string_for_shard(shard),
                    poolclass=NullPool,
                    connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
                )
            self._engines[shard] = engine  # the most recently used last
            while len(self._engines) > KEPT_ENGINES:
                self._engines.popitem(last=False)[1].dispose()
            return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's own `_connect`, with the engine kept instead of built and disposed.
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def has_table(self, table_name: str) -> bool:
        # Asked for every asset check record; a table, once there, stays (wipes keep the index).
        if table_name not in self._tables:
            engine = self._engine(INDEX_SHARD_NAME)
            with engine.connect() as conn:
                if engine.dialect.has_table(conn, table_name):
                    self._tables.add(table_name)
        return table_name in self._tables

    def dispose(self) -> None:
        super().dispose()
        with self._engines_lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
