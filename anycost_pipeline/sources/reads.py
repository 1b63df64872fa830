"""Which read of a source a month's frame holds, so a month never goes back to older data.

Every read of a source (a pull, or a reading of its files) takes a number as it starts, from
one counter per source (`batches.next_pull`). The number travels with the month's frames, from
raw to cbf to the drop, and the journal keeps the numbers of the last submission: a run whose
read started before the one last sent (two runs of a month overlapping, the first one slow)
sends nothing.

The number is kept in the type of a column, an Enum of one value, not only in its rows: a
month the source holds nothing of is a frame without rows, and it must carry its read too.
"""

import polars as pl

READ_COLUMN = "_read"


def with_read(frame: pl.DataFrame, number: int) -> pl.DataFrame:
    """The frame marked as read number `number` of its source."""
    label = str(number)
    return frame.with_columns(pl.lit(label, dtype=pl.Enum([label])).alias(READ_COLUMN))


def read_of(frame: pl.DataFrame) -> int | None:
    """The read number a frame was marked with (None: a frame stored before reads were
    numbered, or not read from a source)."""
    dtype = frame.schema.get(READ_COLUMN)
    if not isinstance(dtype, pl.Enum) or len(dtype.categories) != 1:
        return None
    return int(dtype.categories[0])


def without_read(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.drop(READ_COLUMN, strict=False)
