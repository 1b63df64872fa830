"""Months an incremental source's later pulls changed: a record restated into another month
changes two months, the one it left and the one it joined, but only the month being pulled is
re-sent by that run. Each raw run of an incremental source keeps a digest of every month's
records as all pulls so far state them; a month whose digest differs from the one its own last
raw run recorded needs sending again (the sensor `restated_<source>` requests it).
"""

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from anycost_pipeline.atomic import write_text_atomically
from anycost_pipeline.sources.batches import BATCHES

DIGESTS = "month_digests.json"
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()  # a month that holds no record


def month_digest(rows: pl.DataFrame) -> str:
    """The records' content, in any order: their lineage (file, row) left out, since a pull
    that states a record again from a new batch does not change it."""
    content = rows.select([c for c in rows.columns if not c.startswith("_")])
    if content.is_empty():
        return EMPTY_DIGEST
    rows_hashed = content.select(pl.all().cast(pl.String)).hash_rows(seed=0).sort()
    return hashlib.sha256(",".join(map(str, rows_hashed.to_list())).encode()).hexdigest()


def _file(state: Path, source: str) -> Path:
    return state / BATCHES / source / DIGESTS


def save_digests(state: Path, source: str, digests: dict[str, str]) -> None:
    write_text_atomically(_file(state, source), json.dumps(dict(sorted(digests.items())), indent=1))


def load_digests(state: Path, source: str) -> dict[str, str]:
    """Month → digest, as the latest raw run of the source found them (empty before one)."""
    path = _file(state, source)
    return json.loads(path.read_text()) if path.exists() else {}


@dataclass(frozen=True)
class Restated:
    """The months to request (month → run key) and the sensor's next cursor."""

    run_keys: dict[str, str]
    cursor: str


def restated_requests(
    source: str, digests: dict[str, str], last_raw: dict[str, str | None], cursor: str | None
) -> Restated:
    """The months whose digest differs from the one their own last raw run recorded (`last_raw`,
    None when the month never ran).

    A month is requested under a new sequence when its digest differs from the digest of its
    latest request: a record moved back and forth (August, September, August) states a digest
    seen before, and Dagster skips a run key it has seen, so the key holds the sequence. While
    the run of a request has not recorded its digest yet, later looks make the same request
    (the same key: Dagster runs it once). The cursor keeps one entry per month.
    """
    memory = json.loads(cursor) if cursor else {}
    epoch = memory.get("epoch") or uuid.uuid4().hex[:8]  # a reset cursor reuses no key
    sequence = int(memory.get("sequence", 0))
    requested: dict[str, list] = dict(memory.get("requested", {}))
    keys, advanced = {}, False
    for month in sorted(digests):
        digest = digests[month]
        if last_raw.get(month) == digest:
            continue
        before = requested.get(month)
        if not (before and before[0] == digest):
            if not advanced:
                sequence, advanced = sequence + 1, True
            before = requested[month] = [digest, sequence]
        keys[month] = f"{source}:{month}:{digest[:12]}:{epoch}.{before[1]}"
    data = {"epoch": epoch, "sequence": sequence, "requested": dict(sorted(requested.items()))}
    return Restated(keys, json.dumps(data))
