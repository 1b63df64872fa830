"""What the sandbox holds, in SQLite: rows per connection and month, drops, idempotent answers.

Months are kept as YYYY-MM and hours as the UTC hour a row's usage_start falls in; the server
spells months the way its answers are set to.
"""

import json
import os
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timezone
from pathlib import Path

from anycost_pipeline.cloudzero.locks import process_alive
from anycost_pipeline.cloudzero.sandbox.reference import utc_hour

SCHEMA = """
CREATE TABLE IF NOT EXISTS cbf_rows (
    connection_id TEXT NOT NULL, month TEXT NOT NULL, hour TEXT NOT NULL, row TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cbf_rows_month ON cbf_rows (connection_id, month, hour);
CREATE TABLE IF NOT EXISTS drops (
    drop_id TEXT PRIMARY KEY, connection_id TEXT NOT NULL, month TEXT NOT NULL,
    operation TEXT NOT NULL, row_count INTEGER NOT NULL, received_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS answers (
    idempotency_key TEXT NOT NULL, connection_id TEXT NOT NULL,
    status INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (idempotency_key, connection_id)
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS in_flight (
    connection_id TEXT PRIMARY KEY, token TEXT NOT NULL, since REAL NOT NULL
);
"""
# A claim older than this belongs to a server that died mid-request; it no longer counts.
STALE_SECONDS = 900.0
DATABASE_NAME = "cloudzero_sandbox.sqlite3"


class SandboxStore:
    """The sandbox's state; safe to share between threads and processes."""

    def __init__(self, folder: Path | str) -> None:
        self.path = Path(folder) / DATABASE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._db() as db:
            db.executescript(SCHEMA)

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "PRAGMA synchronous=NORMAL"
            )  # WAL stays consistent; a power cut may lose the last write
            self._local.db = db
        return db

    def apply(self, connection_id: str, month: str, operation: str, rows: list[dict]) -> dict:
        """Apply one billing drop with CloudZero's semantics; returns the drop receipt."""
        drop_id = f"sandbox-{uuid.uuid4().hex[:16]}"
        # The hour a row replaces under replace_hourly: its usage_start truncated to the UTC hour.
        hours = [utc_hour(r["time/usage_start"]) for r in rows]
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if operation == "replace_drop":
                db.execute(
                    "DELETE FROM cbf_rows WHERE connection_id=? AND month=?", (connection_id, month)
                )
            elif operation == "replace_hourly":
                db.executemany(
                    "DELETE FROM cbf_rows WHERE connection_id=? AND month=? AND hour=?",
                    [(connection_id, month, h) for h in sorted(set(hours))],
                )
            db.executemany(
                "INSERT INTO cbf_rows VALUES (?, ?, ?, ?)",
                (
                    (connection_id, month, hour, canonical(r))
                    for hour, r in zip(hours, rows, strict=True)
                ),
            )
            db.execute(
                "INSERT INTO drops VALUES (?, ?, ?, ?, ?, ?)",
                (
                    drop_id,
                    connection_id,
                    month,
                    operation,
                    len(rows),
                    datetime.now(timezone.utc).isoformat(),
                ),
            )
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return {"drop_id": drop_id, "month": month, "row_count": len(rows)}

    def month_rows(self, connection_id: str, month: str) -> list[dict]:
        """Every row the connection holds for the month."""
        return [json.loads(row) for row in self.month_row_texts(connection_id, month)]

    def month_row_texts(self, connection_id: str, month: str) -> list[str]:
        """Every row of the month as canonical JSON text (sorted keys, compact)."""
        cursor = self._db().execute(
            "SELECT row FROM cbf_rows WHERE connection_id=? AND month=? ORDER BY hour, rowid",
            (connection_id, month),
        )
        return [row for (row,) in cursor]

    def claim(self, connection_id: str) -> str | None:
        """Mark a request in flight on the connection, atomically across processes.

        Returns a token to release it with, or None if another request is already in flight.
        """
        # The token names the claiming process: a claim left by a server that was killed
        # mid-request is stale at once, not only after STALE_SECONDS.
        token = f"{os.getpid()}:{uuid.uuid4().hex}"
        now = time.time()
        held = (
            self._db()
            .execute("SELECT token FROM in_flight WHERE connection_id=?", (connection_id,))
            .fetchone()
        )
        if held and not _alive(held[0]):
            self._db().execute(
                "DELETE FROM in_flight WHERE connection_id=? AND token=?", (connection_id, held[0])
            )
        cursor = self._db().execute(
            """
            INSERT INTO in_flight VALUES (?, ?, ?)
            ON CONFLICT(connection_id) DO UPDATE SET token=excluded.token, since=excluded.since
            WHERE in_flight.since < ?
            """,
            (connection_id, token, now, now - STALE_SECONDS),
        )
        return token if cursor.rowcount == 1 else None

    def release(self, connection_id: str, token: str) -> None:
        self._db().execute(
            "DELETE FROM in_flight WHERE connection_id=? AND token=?", (connection_id, token)
        )

    def has_month(self, connection_id: str, month: str) -> bool:
        found = (
            self._db()
            .execute(
                "SELECT 1 FROM drops WHERE connection_id=? AND month=? LIMIT 1",
                (connection_id, month),
            )
            .fetchone()
        )
        return found is not None

    def drops(self, connection_id: str) -> list[dict]:
        """One entry per month: its latest drop and the rows the month holds now."""
        cursor = self._db().execute(
            """
            SELECT d.month, d.drop_id,
                   (SELECT COUNT(*) FROM cbf_rows r WHERE r.connection_id=d.connection_id AND r.month=d.month)
            FROM drops d
            WHERE d.connection_id=? AND d.rowid = (
                SELECT MAX(rowid) FROM drops x WHERE x.connection_id=d.connection_id AND x.month=d.month)
            ORDER BY d.month
            """,
            (connection_id,),
        )
        return [{"drop_id": d, "month": m, "row_count": n} for m, d, n in cursor]

    def drop_history(self, connection_id: str) -> list[dict]:
        """One entry per accepted drop, oldest first, each with its own row count."""
        cursor = self._db().execute(
            "SELECT drop_id, month, row_count FROM drops WHERE connection_id=? ORDER BY rowid",
            (connection_id,),
        )
        return [{"drop_id": d, "month": m, "row_count": n} for d, m, n in cursor]

    def remembered_text(self, key: str, scope: str) -> tuple[int, str] | None:
        """The answer (status, body text) given before under this idempotency key and scope."""
        found = (
            self._db()
            .execute(
                "SELECT status, body FROM answers WHERE idempotency_key=? AND connection_id=?",
                (key, scope),
            )
            .fetchone()
        )
        return (int(found[0]), str(found[1])) if found else None

    def remember_text(self, key: str, scope: str, status: int, text: str) -> None:
        self._db().execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?)", (key, scope, status, text)
        )

    def count(self, name: str, by: int = 1) -> None:
        self._db().execute(
            "INSERT INTO counters VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = value + ?",
            (name, by, by),
        )

    def counter(self, name: str) -> int:
        found = self._db().execute("SELECT value FROM counters WHERE name=?", (name,)).fetchone()
        return int(found[0]) if found else 0


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical(row: dict) -> str:
    """One row as stored and returned: sorted keys, no spaces, characters as they are."""
    return _CANONICAL.encode(row)


def _alive(token: str) -> bool:
    """Whether the process that made a claim token still runs (tokens without a pid: assume so)."""
    pid, _, _ = token.partition(":")
    return not pid.isdigit() or process_alive(int(pid))
