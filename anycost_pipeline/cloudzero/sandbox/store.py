"""What the sandbox holds, in SQLite: rows per connection and month, drops, idempotent answers.

Months are kept as YYYY-MM and hours as the UTC hour a row's usage_start falls in; the server
spells months the way its answers are set to.
"""

import dataclasses
import json
import os
import sqlite3
import threading
import time
import uuid
from datetime import datetime, timezone
from itertools import groupby
from operator import itemgetter
from pathlib import Path

from anycost_pipeline.cloudzero.locks import process_alive
from anycost_pipeline.cloudzero.sandbox.reference import utc_hour

SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS drop_parts (
        connection_id TEXT NOT NULL, month TEXT NOT NULL, row_count INTEGER NOT NULL,
        rows TEXT NOT NULL
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS drop_parts_month ON drop_parts (connection_id, month)
    """,
    """
    CREATE TABLE IF NOT EXISTS part_hours (
        part INTEGER NOT NULL, connection_id TEXT NOT NULL, month TEXT NOT NULL,
        hour TEXT NOT NULL, PRIMARY KEY (part, hour)
    )
    """,
    """
    CREATE INDEX IF NOT EXISTS part_hours_month ON part_hours (connection_id, month, hour)
    """,
    """
    CREATE VIEW IF NOT EXISTS cbf_rows (connection_id, month, row, part, position) AS
        SELECT p.connection_id, p.month, r.value, p.rowid, r.key
        FROM drop_parts p, json_each(p.rows) r WHERE r.type = 'object'
    """,
    """
    CREATE TRIGGER IF NOT EXISTS cbf_rows_delete INSTEAD OF DELETE ON cbf_rows BEGIN
        UPDATE drop_parts
        SET rows = json_replace(rows, '$[' || OLD.position || ']', NULL),
            row_count = row_count - 1
        WHERE rowid = OLD.part;
    END;
    """,
    """
    CREATE TABLE IF NOT EXISTS drops (
        drop_id TEXT PRIMARY KEY, connection_id TEXT NOT NULL, month TEXT NOT NULL,
        operation TEXT NOT NULL, row_count INTEGER NOT NULL, received_at TEXT NOT NULL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS answers (
        idempotency_key TEXT NOT NULL, connection_id TEXT NOT NULL,
        status INTEGER NOT NULL, body TEXT NOT NULL, PRIMARY KEY (idempotency_key, connection_id)
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL)
    """,
    """
    CREATE TABLE IF NOT EXISTS in_flight (
        connection_id TEXT PRIMARY KEY, token TEXT NOT NULL, since REAL NOT NULL,
        request TEXT NOT NULL DEFAULT '{}', held_since REAL
    )
    """,
    """
    CREATE TABLE IF NOT EXISTS overlaps (
        at REAL NOT NULL, connection_id TEXT NOT NULL, held TEXT NOT NULL,
        held_claimed REAL NOT NULL, held_since REAL, arrived TEXT NOT NULL
    )
    """,
)
# Rows are kept per accepted drop ("parts"): the body's data list as the client sent it, one
# insert per drop instead of one per row, with the hours each part holds rows of. A part holds
# only rows the month still has: replace_hourly rewrites the older parts it takes hours from.
# The view cbf_rows shows one row per line as the table of that name did (deleting from it
# blanks the row in its part), so SQL that reads the file directly still works. Files written
# before parts (user_version 0, a table cbf_rows) are converted when opened.
SCHEMA_VERSION = 1
# A claim older than this belongs to a server that died mid-request; it no longer counts.
STALE_SECONDS = 900.0
DATABASE_NAME = "cloudzero_sandbox.sqlite3"


@dataclasses.dataclass(frozen=True)
class Request:
    """A request as the overlap log keeps it."""

    method: str
    path: str
    key: str | None = None

    def __str__(self) -> str:
        return f"{self.method} {self.path}" + (f" key {self.key}" if self.key else "")


@dataclasses.dataclass(frozen=True)
class Overlap:
    """A request refused because another was in flight on the connection."""

    at: float
    connection_id: str
    held: Request  # the request in flight
    held_claimed: float  # when it claimed the connection
    held_since: float | None  # when its answer began to be held (Faults.slow_rate), if it was
    arrived: Request  # the request refused

    def __str__(self) -> str:
        state = ", applied, answer held" if self.held_since is not None else ""
        return f"{self.arrived} {self.at - self.held_claimed:.2f} s into {self.held}{state}"


class SandboxStore:
    """The sandbox's state; safe to share between threads and processes."""

    def __init__(self, folder: Path | str) -> None:
        self.path = Path(folder) / DATABASE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            _upgrade(db)
            for statement in SCHEMA:
                db.execute(statement)
            _add_claim_columns(db)
            db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            # Parts are megabytes each: large pages write them in a fraction of the time.
            # (Only a new file takes it; an existing one keeps its page size.)
            db.execute("PRAGMA page_size=65536")
            db.execute("PRAGMA journal_mode=WAL")
            # No fsync: a sandbox killed mid-write keeps a consistent file (SQLite hands each
            # commit to the system before it answers), and only a power cut could harm it. The
            # checkpoints' fsyncs took about 1 s of a 1,000,000-row month's 4.8 s of storing.
            db.execute("PRAGMA synchronous=OFF")
            self._local.db = db
        return db

    def apply(
        self,
        connection_id: str,
        month: str,
        operation: str,
        rows: list[dict],
        text: str | None = None,
    ) -> dict:
        """Apply one billing drop with CloudZero's semantics; returns the drop receipt.

        `text` is the JSON of `rows` as the client sent it; without it the rows are encoded here.
        """
        drop_id = f"sandbox-{uuid.uuid4().hex[:16]}"
        # The hour a row replaces under replace_hourly: its usage_start truncated to the UTC hour.
        hours = sorted({utc_hour(start) for start in set(map(itemgetter(START), rows))})
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            if operation == "replace_drop":
                for table in ("drop_parts", "part_hours"):
                    db.execute(
                        f"DELETE FROM {table} WHERE connection_id=? AND month=?",
                        (connection_id, month),
                    )
            elif operation == "replace_hourly":
                _take_hours(db, connection_id, month, set(hours))
            if rows:
                part = db.execute(
                    "INSERT INTO drop_parts VALUES (?, ?, ?, ?)",
                    (
                        connection_id,
                        month,
                        len(rows),
                        _CANONICAL.encode(rows) if text is None else text,
                    ),
                ).lastrowid
                db.executemany(
                    "INSERT OR IGNORE INTO part_hours VALUES (?, ?, ?, ?)",
                    [(part, connection_id, month, hour) for hour in hours],
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
        """Every row the connection holds for the month, by hour, then in the order received;
        keys in sorted order."""
        return [dict(sorted(row.items())) for row in self._rows(connection_id, month)]

    def month_row_texts(self, connection_id: str, month: str) -> list[str]:
        """Every row of the month as canonical JSON text (sorted keys, compact)."""
        return [canonical(row) for row in self._rows(connection_id, month)]

    def _rows(self, connection_id: str, month: str) -> list[dict]:
        cursor = self._db().execute(
            "SELECT rows FROM drop_parts WHERE connection_id=? AND month=? ORDER BY rowid",
            (connection_id, month),
        )
        received = [row for (rows,) in cursor for row in json.loads(rows) if row is not None]
        return sorted(received, key=_hour_of)  # stable: arrival order within each hour

    def claim(self, connection_id: str, request: Request | None = None) -> str | None:
        """Mark `request` in flight on the connection, atomically across processes.

        Returns a token to release it with, or None if another request is already in flight:
        then the pair is kept (`overlaps()`).
        """
        # The token names the claiming process: a claim left by a server that was killed
        # mid-request is stale at once, not only after STALE_SECONDS.
        token = f"{os.getpid()}:{uuid.uuid4().hex}"
        arrived = json.dumps(dataclasses.asdict(request or Request("", "")))
        db = self._db()
        db.execute("BEGIN IMMEDIATE")  # the holder read below is the one that refused this
        try:
            now = time.time()  # once the lock is ours: waiting for it is not time in flight
            held = db.execute(
                "SELECT token, since, request, held_since FROM in_flight WHERE connection_id=?",
                (connection_id,),
            ).fetchone()
            if held and (not _alive(held[0]) or held[1] < now - STALE_SECONDS):
                db.execute("DELETE FROM in_flight WHERE connection_id=?", (connection_id,))
                held = None
            if held is None:
                db.execute(
                    "INSERT INTO in_flight (connection_id, token, since, request) VALUES (?, ?, ?, ?)",
                    (connection_id, token, now, arrived),
                )
            else:
                db.execute(
                    "INSERT INTO overlaps VALUES (?, ?, ?, ?, ?, ?)",
                    (now, connection_id, held[2], held[1], held[3], arrived),
                )
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:  # SQLite may have rolled back already (disk full, I/O)
                db.execute("ROLLBACK")
            raise
        return token if held is None else None

    def hold(self, connection_id: str, token: str) -> None:
        """Note that the claimed request was applied and its answer is now being held."""
        self._db().execute(
            "UPDATE in_flight SET held_since=? WHERE connection_id=? AND token=?",
            (time.time(), connection_id, token),
        )

    def release(self, connection_id: str, token: str) -> None:
        self._db().execute(
            "DELETE FROM in_flight WHERE connection_id=? AND token=?", (connection_id, token)
        )

    def in_flight(self, connection_id: str) -> Request | None:
        """The request in flight on the connection now, if any."""
        found = (
            self._db()
            .execute("SELECT request FROM in_flight WHERE connection_id=?", (connection_id,))
            .fetchone()
        )
        return Request(**json.loads(found[0])) if found else None

    def overlaps(self) -> list[Overlap]:
        """Every request refused because another was in flight, oldest first."""
        cursor = self._db().execute(
            "SELECT at, connection_id, held, held_claimed, held_since, arrived FROM overlaps"
            " ORDER BY at, rowid"
        )
        return [
            Overlap(
                at, cid, Request(**json.loads(held)), claimed, since, Request(**json.loads(arrived))
            )
            for at, cid, held, claimed, since, arrived in cursor
        ]

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
                   (SELECT COALESCE(SUM(p.row_count), 0) FROM drop_parts p
                    WHERE p.connection_id=d.connection_id AND p.month=d.month)
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


START = "time/usage_start"


def _hour_of(row: dict) -> str:
    return utc_hour(row[START])


def _take_hours(db: sqlite3.Connection, connection_id: str, month: str, hours: set[str]) -> None:
    """Remove the month's rows in these hours from the parts that hold them (replace_hourly)."""
    marks = ",".join("?" * len(hours))
    found = db.execute(
        f"SELECT DISTINCT part FROM part_hours WHERE connection_id=? AND month=? AND hour IN ({marks})",
        (connection_id, month, *sorted(hours)),
    ).fetchall()
    for (part,) in found:
        (rows,) = db.execute("SELECT rows FROM drop_parts WHERE rowid=?", (part,)).fetchone()
        kept = [r for r in json.loads(rows) if r is not None and _hour_of(r) not in hours]
        if kept:
            db.execute(
                "UPDATE drop_parts SET rows=?, row_count=? WHERE rowid=?",
                (_CANONICAL.encode(kept), len(kept), part),
            )
        else:
            db.execute("DELETE FROM drop_parts WHERE rowid=?", (part,))
        db.execute(
            f"DELETE FROM part_hours WHERE part=? AND hour IN ({marks})", (part, *sorted(hours))
        )


def _upgrade(db: sqlite3.Connection) -> None:
    """Convert a file from before parts: each month's table rows become one part, order kept."""
    (version,) = db.execute("PRAGMA user_version").fetchone()
    table = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type='table' AND name='cbf_rows'"
    ).fetchone()
    if version >= SCHEMA_VERSION or table is None:
        return
    for statement in SCHEMA[:4]:
        db.execute(statement)
    cursor = db.execute(
        "SELECT connection_id, month, hour, row FROM cbf_rows ORDER BY connection_id, month, hour, rowid"
    )
    for (cid, month), group in groupby(cursor, key=itemgetter(0, 1)):
        held = list(group)
        part = db.execute(
            "INSERT INTO drop_parts VALUES (?, ?, ?, ?)",
            (cid, month, len(held), "[" + ",".join(row for *_, row in held) + "]"),
        ).lastrowid
        db.executemany(
            "INSERT OR IGNORE INTO part_hours VALUES (?, ?, ?, ?)",
            [(part, cid, month, hour) for hour in sorted({h for _, _, h, _ in held})],
        )
    db.execute("DROP TABLE cbf_rows")


def _add_claim_columns(db: sqlite3.Connection) -> None:
    """Files from before claims named their request get the columns (claims are transient).
    A sandbox of an older version can no longer claim on such a file: run one version."""
    columns = {name for _, name, *_ in db.execute("PRAGMA table_info(in_flight)")}
    if "request" not in columns:
        db.execute("ALTER TABLE in_flight ADD COLUMN request TEXT NOT NULL DEFAULT '{}'")
    if "held_since" not in columns:
        db.execute("ALTER TABLE in_flight ADD COLUMN held_since REAL")
        db.execute("DELETE FROM in_flight")  # claims of an older version: their requests unnamed
    logged = {name for _, name, *_ in db.execute("PRAGMA table_info(overlaps)")}
    if "held_claimed" not in logged:  # a log of an earlier shape: started again
        db.execute("DROP TABLE overlaps")
        db.execute(SCHEMA[-1])


def _alive(token: str) -> bool:
    """Whether the process that made a claim token still runs (tokens without a pid: assume so)."""
    pid, _, _ = token.partition(":")
    return not pid.isdigit() or process_alive(int(pid))
