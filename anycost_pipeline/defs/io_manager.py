"""Frames stored as Parquet under `storage`, one file per asset and month."""

import os
import uuid

import dagster as dg
import polars as pl
from upath import UPath

from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.defs.names import READER, READS, made_from
from anycost_pipeline.storage import missing_bucket, missing_bucket_message


def frames_folder(project: AnycostConfig) -> UPath:
    """Where the frames of every asset and month are kept: `frames` under `storage`, a local
    folder or an object-store URL."""
    return UPath(project.frames_location)


def materialise_first(reader: str, month: str, missing: list[str]) -> str:
    """What to do when `reader` runs for `month` before the frames it reads were made."""
    select = ",".join(key for frame in missing for key in (*made_from(frame), frame))
    names = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
    them = "them" if len(missing) > 1 else "it"
    return (
        f"{reader} for {month} reads {names}, not yet materialised for {month} (as after a "
        f"source is added). Nothing was sent. Materialise {them} first: "
        f"`dagster asset materialize --select {select} --partition {month}`, or in the UI "
        f"select {select.replace(',', ', ')} and Materialize partition {month}; or materialise "
        f"{reader} together with everything upstream of it."
    )


class ParquetIOManager(dg.UPathIOManager):
    """Polars frames to Parquet files on any fsspec path (a local folder or an object store)."""

    extension = ".parquet"

    def make_directory(self, path: UPath) -> None:
        """Folders on a disk only. An object store has none, and s3fs's mkdir creates a missing
        bucket: a misspelt `storage` would become a new bucket holding the frames."""
        if path.protocol in ("", "file", "local"):
            path.mkdir(parents=True, exist_ok=True)

    def dump_to_path(self, context: dg.OutputContext, obj: pl.DataFrame, path: UPath) -> None:
        if path.protocol in ("", "file", "local"):
            path.parent.mkdir(parents=True, exist_ok=True)
            # Write beside, then rename: a run killed mid-write leaves the old file intact.
            temporary = f"{path.path}.{uuid.uuid4().hex}.tmp"
            obj.write_parquet(temporary)
            os.replace(temporary, path.path)
            return
        # No mkdir here either (see make_directory): a missing bucket fails the write.
        try:
            with path.open("wb") as handle:
                obj.write_parquet(handle)
        except FileNotFoundError:
            url = str(path)
            bucket = missing_bucket(url)
            if bucket is None:
                raise
            raise dg.Failure(
                description=missing_bucket_message(url, bucket) + ".", allow_retries=False
            ) from None

    def load_from_path(self, context: dg.InputContext, path: UPath) -> pl.DataFrame:
        try:
            with path.open("rb") as handle:
                return pl.read_parquet(handle)
        except FileNotFoundError:
            raise self._never_made(context, path) from None

    def _never_made(self, context: dg.InputContext, path: UPath) -> dg.Failure:
        """The failure for a frame that was never stored: every frame the step reads that is
        missing for the month, named with what to materialise first."""
        metadata = context.definition_metadata or {}
        key = context.asset_key.to_user_string()
        # Frames are kept at <base>/<layer>/<name>/<month>.parquet: siblings share base and name.
        base = path.parents[len(context.asset_key.path)]
        reads = [r for r in metadata.get(READS, [key]) if isinstance(r, str)]
        missing = [
            r for r in reads if r == key or not base.joinpath(*r.split("/"), path.name).exists()
        ]
        reader = str(metadata.get(READER, "this asset"))
        return dg.Failure(
            description=materialise_first(reader, context.asset_partition_key, missing),
            allow_retries=False,
        )


class ParquetStorage(dg.ConfigurableIOManagerFactory):
    """Where frames are kept: `storage` from anycost.yaml, a folder or an object-store URL."""

    base_path: str

    def create_io_manager(self, context: dg.InitResourceContext) -> ParquetIOManager:
        return ParquetIOManager(base_path=UPath(self.base_path))
