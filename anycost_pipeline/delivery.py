"""What a month sends to a connection: the request bodies that drop/<connection> and
`anycost dry-run` both produce."""

import polars as pl

from anycost_pipeline.cbf.bodies import RequestBody, month_bodies
from anycost_pipeline.config import AnycostConfig


def connection_bodies(
    project: AnycostConfig, connection: str, cbf: pl.DataFrame, month: str
) -> list[RequestBody]:
    """The request bodies a submission of the month to the connection sends, byte for byte."""
    return month_bodies(
        cbf,
        month,
        operation=project.connections[connection].operation,
        target_bytes=project.cloudzero.limits.body_bytes,
    )
