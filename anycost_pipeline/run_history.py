"""The run history on SQLite as Dagster keeps it, written through engines and connections that
stay open between records, per database file.

Dagster's `SqliteEventLogStorage` builds a new SQLAlchemy engine for every record it writes or
reads and throws it away after, so SQLAlchemy compiles each statement again and looks up the
index's tables again for every asset check record. And when a record's connection closes, it is
the file's last one, so SQLite folds the write-ahead log back into the file and deletes it, with
its disk syncs, for every record. A month of 50 sources writes about 1,400 records.

This storage keeps the same files, tables and transactions (one per record, under Dagster's own
lock), and keeps three things per file: the engines, one connection for records, and one idle
connection that holds the file open, so the log is folded in by SQLite's own checkpoints (about
every thousand pages) and when the file's last connection closes (this storage's, unless another
process holds the file too).

- Records (`store_event`: inserts and updates, and a schema lookup read whole) go through the
  kept connection: opening a connection cost more than the record. Every read gets a new
  connection, as in Dagster, so no read can see a snapshot a kept connection holds; and in
  write-ahead-log mode SQLite never lets a write start from an old snapshot (it fails instead).
- The idle connection never runs a statement after opening, so it pins no snapshot; it holds
  only the shared lock that every connection to a write-ahead-log file holds, which lets
  writers, readers and checkpoints of every process through and refuses only leaving
  write-ahead-log mode, which Dagster never does.

A process that holds many runs' files (the UI, the daemon) keeps at most `KEPT_FILES` files
open; the others close.

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
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import dagster as dg
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
)
from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, QueuePool

from anycost_pipeline.migration_scripts import read_once

KEPT_FILES = 16
read_once()  # every process whose instance uses this storage: the UI, the daemon, runs
_LIVE: "weakref.WeakSet[SqliteEventLogKeepingEngines]" = weakref.WeakSet()


def events_folder(home: str) -> str:
    """Where Dagster's default SQLite storage of the instance at `home` keeps run events."""
    return os.path.join(home, "history", "runs", "")


def _record_engine(url: str, kept: bool = False) -> Engine:
    """An engine whose connections write a record without waiting for the disk: a new
    connection each time, or one `kept` between uses."""
    pool: dict[str, Any] = (
        {"poolclass": QueuePool, "pool_size": 1} if kept else {"poolclass": NullPool}
    )
    # Any thread may use the kept connection, one at a time, or close it after a fork.
    connect_args = {"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False}
    engine = create_engine(url, **pool, connect_args=connect_args)
    event.listen(engine, "connect", _sync_at_checkpoints)
    return engine


def _sync_at_checkpoints(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # SQLite's advice for write-ahead-log mode: a commit reaches the log without a disk sync,
    # and the file is synced at checkpoints. A killed process loses no committed record; a
    # machine that loses power may lose the last ones. That costs no money: what is sent is
    # decided by the connection's journal and CloudZero's drop list. At worst the sensor of
    # restated months starts a run that finds the month unchanged, or the reconcile check
    # compares CloudZero with the submission before the last.
    dbapi_connection.execute("PRAGMA synchronous=NORMAL")


@dataclass
class _OpenFile:
    """A database file's engines (one for reads, one that keeps its connection for records),
    and the idle connection that holds the file open."""

    engine: Engine
    recorder: Engine
    recording: sqlite3.Connection | None = None  # the recorder's connection, once opened
    holder: sqlite3.Connection | None = None
    inode: int | None = None  # of the file when its kept connections were first opened

    @classmethod
    def at(cls, url: str) -> "_OpenFile":
        kept = cls(_record_engine(url), _record_engine(url, kept=True))
        event.listen(kept.recorder, "connect", kept._opened)
        return kept

    def _opened(self, dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        # `_connect` runs one use at a time (Dagster's lock), so the pool holds one connection.
        self.recording = dbapi_connection

    def follow(self, path: str) -> None:
        """Before a use: a file deleted, or deleted and made again (a wipe, by this process or
        another), since its kept connections were opened has them closed, so that no record
        goes to the deleted file (on which SQLite folds nothing in and deletes nothing). The
        file is looked at before any connection opens: one opened after a replacement is
        only closed once more, needlessly."""
        now = _inode(path)
        if self.inode is not None and self.inode != now:
            self.close()
        if self.inode is None:
            self.inode = now

    def hold(self, path: str) -> None:
        """After a use: open the idle connection, once the file is in write-ahead-log mode;
        having read the file, it keeps the log open when a record's connection closes."""
        if self.holder is None:
            holder = sqlite3.connect(
                path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS, check_same_thread=False
            )
            holder.execute("SELECT count(*) FROM sqlite_master").fetchall()
            self.holder = holder

    def close(self) -> None:
        """Close the file; as its last connection, SQLite folds the log into it."""
        self.engine.dispose()
        self.recorder.dispose()
        if self.holder is not None:
            self.holder.close()
        self.recording = self.holder = self.inode = None

    def forget(self) -> None:
        """In a forked child: close the inherited connections themselves, not through the
        recorder's pool, whose lock another thread may have held at the fork."""
        for connection in (self.recording, self.holder):
            if connection is not None:
                connection.close()


def _inode(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except FileNotFoundError:
        return None


class SqliteEventLogKeepingEngines(SqliteEventLogStorage):
    """Dagster's SQLite event log storage that keeps each database file's engine, and the file
    open, between records."""

    def __init__(self, home: str, inst_data: Any = None):
        self._home = home
        self._files: OrderedDict[str, _OpenFile] = OrderedDict()
        self._files_lock = threading.Lock()
        self._tables: set[str] = set()
        self._recording = threading.local()
        super().__init__(events_folder(home), inst_data=inst_data)
        _LIVE.add(self)

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

    def _file(self, shard: str) -> _OpenFile:
        with self._files_lock:
            kept = self._files.pop(shard, None)
            if kept is None:
                kept = _OpenFile.at(self.conn_string_for_shard(shard))
            self._files[shard] = kept  # the most recently used last
            while len(self._files) > KEPT_FILES:
                self._files.popitem(last=False)[1].close()
            return kept

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        # Dagster's own `_connect`, with the engines kept instead of built and disposed, records
        # through a kept connection, and the file held open after its first use.
        with self._db_lock:
            kept = self._file(shard)
            if shard not in self._initialized_dbs:
                self._initdb(kept.engine)
                self._initialized_dbs.add(shard)
            path = self.path_for_shard(shard)
            kept.follow(path)
            recording = getattr(self._recording, "active", False)
            with (kept.recorder if recording else kept.engine).connect() as conn, conn.begin():
                yield conn
            kept.hold(path)

    def has_table(self, table_name: str) -> bool:
        # Asked for every asset check record; a table, once there, stays (wipes keep the index).
        if table_name not in self._tables:
            engine = self._file(INDEX_SHARD_NAME).engine
            with engine.connect() as conn:
                if engine.dialect.has_table(conn, table_name):
                    self._tables.add(table_name)
        return table_name in self._tables

    def store_event(self, event: Any) -> None:
        self._recording.active = True
        try:
            super().store_event(event)
        finally:
            self._recording.active = False
        # Dagster's watcher of a run (the UI's live run log) waits for the run's file to change.
        # With the file held open, a record goes to the write-ahead log and the file changes only
        # at a checkpoint: touched instead, once the record is committed.
        path = self.path_for_shard(event.run_id)
        if os.path.exists(path):
            os.utime(path)

    def _close_files(self) -> None:
        with self._files_lock:
            for kept in self._files.values():
                kept.close()
            self._files.clear()

    def _forget_files(self) -> None:
        """In a forked child: close the connections it inherited, its copy of the parent's
        (SQLite forbids using one across a fork). Kept open, they would make SQLite in the child
        believe it holds the parent's locks, and the child's own connections would then take
        none, so that the parent closing its files would delete their logs under the child.
        Closing takes nothing from the parent, whose own lock keeps SQLite from folding the log
        in. The lock on the list is new too: another thread may have held it at the fork; the
        engines are let go without their pools, for the same reason."""
        self._files_lock = threading.Lock()
        for kept in self._files.values():
            kept.forget()
        self._files.clear()

    def wipe(self) -> None:
        # Dagster deletes the runs' files and their logs: the connections held on them are
        # closed first, so that none keeps a deleted file open (a run's new file is held anew
        # by `hold`).
        self._close_files()
        super().wipe()

    def dispose(self) -> None:
        super().dispose()
        self._close_files()


def _after_fork_in_child() -> None:
    for storage in list(_LIVE):
        storage._forget_files()


os.register_at_fork(after_in_child=_after_fork_in_child)
