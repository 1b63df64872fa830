"""JSON records to a frame of text: exact numbers, nested objects as dotted column names."""

import json
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import polars as pl

from anycost_pipeline.cbf.errors import SOURCE_FILE, SOURCE_ROW


def loads(text: str | bytes) -> Any:
    """Parse JSON keeping numbers as the source wrote them (`12.10` stays "12.10")."""
    return json.loads(text, parse_float=str, parse_int=str)


def dig(document: Any, path: str) -> Any:
    """The value at a dotted path (`data.items`); the document itself for an empty path.

    Raises KeyError naming the first missing step.
    """
    value = document
    for step in [s for s in path.split(".") if s]:
        if isinstance(value, dict) and step in value:
            value = value[step]
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            raise KeyError(step)
    return value


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _flatten(record: dict, prefix: str = "") -> dict[str, str | None]:
    flat: dict[str, str | None] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = _text(value)
    return flat


def records_to_frame(records: Iterable[tuple[int, Any]], origin: str) -> pl.DataFrame:
    """(row number, record) pairs to a frame of text columns plus lineage columns.

    Nested objects become dotted columns (`tags.team`); lists stay JSON text.
    """
    rows: list[dict[str, str | None]] = []
    numbers: list[int] = []
    for number, record in records:
        if not isinstance(record, dict):
            raise ValueError(
                f"{origin}, record {number}: expected a JSON object, got {_text(record)!r:.80}"
            )
        rows.append(_flatten(record))
        numbers.append(number)
    names = list(dict.fromkeys(name for row in rows for name in row))
    frame = pl.DataFrame(
        {name: [row.get(name) for row in rows] for name in names},
        schema={name: pl.String for name in names},
    )
    return frame.with_columns(
        pl.Series(SOURCE_ROW, numbers, dtype=pl.Int64),
        pl.lit(origin, dtype=pl.String).alias(SOURCE_FILE),
    )


def values_to_frame(names: list[str], rows: Iterable[tuple[Any, ...]], origin: str) -> pl.DataFrame:
    """Database rows to a frame of text columns plus lineage columns (row numbers from 1)."""
    texts = [[_db_text(v) for v in row] for row in rows]
    frame = pl.DataFrame(
        {name: [row[i] for row in texts] for i, name in enumerate(names)},
        schema={name: pl.String for name in names},
    )
    return frame.with_columns(
        pl.Series(SOURCE_ROW, range(1, len(texts) + 1), dtype=pl.Int64),
        pl.lit(origin, dtype=pl.String).alias(SOURCE_FILE),
    )


def _db_text(value: Any) -> str | None:
    if hasattr(value, "isoformat"):  # date, datetime, time: ISO text the time parser reads
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")  # plain notation: a database may hand back Decimal("1E-9")
    if isinstance(value, float):
        # Shortest text that reads back as the same float, in plain notation (no 1e-05).
        return format(Decimal(repr(value)), "f")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value).hex()
    return _text(value)
