"""The monthly partitions every asset shares, from start_month to the current month."""

import dagster as dg

from anycost_pipeline.config import AnycostConfig

PARTITION_FORMAT = "%Y-%m"


def month_partitions(project: AnycostConfig) -> dg.MonthlyPartitionsDefinition:
    """One partition per UTC month from start_month up to and including the current month."""
    return dg.MonthlyPartitionsDefinition(
        start_date=project.start_month, fmt=PARTITION_FORMAT, timezone="UTC", end_offset=1
    )
