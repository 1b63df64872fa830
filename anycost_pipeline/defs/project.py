"""The project's anycost.yaml, read once per process, and the monthly partitions it declares."""

from functools import cache
from pathlib import Path

import dagster as dg

from anycost_pipeline.config import AnycostConfig, config_path, load_config

PARTITION_FORMAT = "%Y-%m"


@cache
def _load(path: Path, mtime: float) -> AnycostConfig:
    return load_config(path)


def project_config() -> AnycostConfig:
    """anycost.yaml as validated config (re-read when the file changes)."""
    path = config_path()
    mtime = path.stat().st_mtime if path.exists() else 0.0
    return _load(path, mtime)


def month_partitions(config: AnycostConfig) -> dg.MonthlyPartitionsDefinition:
    """One partition per UTC month from start_month up to and including the current month."""
    return dg.MonthlyPartitionsDefinition(
        start_date=config.start_month, fmt=PARTITION_FORMAT, timezone="UTC", end_offset=1
    )
