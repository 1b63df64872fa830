"""Frames stored as Parquet under `storage`, one file per asset and month."""

import os
import uuid

import dagster as dg
import polars as pl
from upath import UPath

from anycost_pipeline.config import AnycostConfig


def frames_folder(project: AnycostConfig) -> UPath:
    """Where the frames of every asset and month are kept: `frames` under `storage`, a local
    folder or an object-store URL."""
    return UPath(project.frames_location)


class ParquetIOManager(dg.UPathIOManager):
    """Polars frames to Parquet files on any fsspec path (a local folder or an object store)."""

    extension = ".parquet"

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.protocol in ("", "file", "local"):
            # Write beside, then rename: a run killed mid-write leaves the old file intact.
            temporary = f"{path.path}.{uuid.uuid4().hex}.tmp"
            obj.write_parquet(temporary)
            os.replace(temporary, path.path)
        else:
            with path.open("wb") as handle:
                obj.write_parquet(handle)

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        with path.open("rb") as handle:
            return pl.read_parquet(handle)


class ParquetStorage(dg.ConfigurableIOManagerFactory):
    """Where frames are kept: `storage` from anycost.yaml, a folder or an object-store URL."""

    base_path: str

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetIOManager:
        return ParquetIOManager(base_path=UPath(self.base_path))
