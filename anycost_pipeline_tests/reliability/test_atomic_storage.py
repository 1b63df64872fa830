"""A run killed while writing a frame leaves the previous frame readable, never a torn file."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import polars as pl

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import dagster as dg
    import polars as pl
    from upath import UPath
    from anycost_pipeline.defs.io_manager import ParquetIOManager

    target = UPath(sys.argv[1])
    manager = ParquetIOManager(base_path=target.parent)
    n = pl.int_range(3_000_000, eager=True).alias("n")
    big = pl.DataFrame([(n.cast(pl.String) + ".123456").alias("cost/cost"), n])
    context = dg.build_output_context()
    print("writing", flush=True)
    while True:  # keep writing until killed
        manager.dump_to_path(context, big, target)
    """
)


def test_killed_writer_leaves_previous_frame_intact(tmp_path: Path) -> None:
    import dagster as dg
    from upath import UPath

    from anycost_pipeline.defs.io_manager import ParquetIOManager

    target = tmp_path / "frames" / "cbf" / "vendor" / "2024-08.parquet"
    previous = pl.DataFrame({"cost/cost": ["1.50", "2.25"], "n": [1, 2]})
    ParquetIOManager(base_path=UPath(target.parent)).dump_to_path(
        dg.build_output_context(), previous, UPath(target)
    )

    # Kill the writer at several moments; the writes take most of its time, so a direct
    # (non-atomic) write would be caught half-done.
    for delay in (0.3, 0.55, 0.8, 1.05):
        writer = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True
        )
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
        frame = pl.read_parquet(target)  # readable: the old frame or a complete new one
        assert frame.equals(previous) or frame.height == 3_000_000
