"""This project's code location: its `anycost.yaml`, built by the same Dagster Component that
another Dagster project uses from a `defs.yaml` (`anycost_pipeline.AnycostComponent`)."""

from functools import cache
from pathlib import Path

import dagster as dg

from anycost_pipeline.component import AnycostComponent
from anycost_pipeline.config import config_path


@cache
def _component(path: Path, mtime: float) -> AnycostComponent:
    return AnycostComponent.from_file(path)


@dg.definitions
def defs() -> dg.Definitions:
    path = config_path()  # $ANYCOST_CONFIG, else anycost.yaml in the working directory
    mtime = path.stat().st_mtime if path.exists() else 0.0  # read again only when it changes
    return _component(path, mtime).definitions(path.parent, declared_in=path.name)
