"""Time the body writer on a month's CBF frame: planning a month's bodies (cuts, sizes and
hashes) and building them again to send, beside the writer of an earlier revision.

    python benchmarks/bodies.py FRAME.parquet [--month 2024-08] [--repeat 3] [--old 929fe56]

FRAME is a CBF frame as `anycost run` stores it (`.anycost/frames/cbf/<source>/<month>.parquet`).
The earlier writer is read from git (`git show REV:anycost_pipeline/cbf/bodies.py`); one that
has no `plan_bodies` is timed as `month_bodies` (every body at once) plus `content_hash`.
"""

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import polars as pl

ROOT = Path(__file__).resolve().parent.parent


def _writer_at(rev: str, folder: Path) -> ModuleType:
    source = subprocess.run(
        ["git", "show", f"{rev}:anycost_pipeline/cbf/bodies.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = folder / f"bodies_{rev}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"bodies_{rev}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Clock:
    """Wall and process CPU seconds since it was started (CPU counts every polars thread, and
    tells more than wall on a machine others share)."""

    def __init__(self) -> None:
        self.wall, self.cpu = time.perf_counter(), time.process_time()

    def __str__(self) -> str:
        wall, cpu = time.perf_counter() - self.wall, time.process_time() - self.cpu
        return f"{wall:5.2f} s ({cpu:5.2f} s CPU)"


def _time(writer: ModuleType, cbf: pl.DataFrame, month: str) -> tuple[str, str, int, int, str]:
    """(plan time, send-build time, bodies, bytes, content hash) of one writer."""
    clock = Clock()
    if hasattr(writer, "plan_bodies"):
        planned = writer.plan_bodies(cbf, month)
        planning, clock = str(clock), Clock()
        sent = sum(len(body.payload) for body in planned)
        return planning, str(clock), len(planned), sent, planned.content_hash
    bodies = writer.month_bodies(cbf, month)
    digest = writer.content_hash(bodies)
    return str(clock), "(built once)", len(bodies), sum(len(b.payload) for b in bodies), digest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("frame", type=Path)
    parser.add_argument("--month", default="2024-08")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--old", action="append", default=[], metavar="REV")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from anycost_pipeline.cbf import bodies as current

    cbf = pl.read_parquet(args.frame)
    print(f"{cbf.height:,} rows, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as folder:
        writers = {"working tree": current}
        writers.update({rev: _writer_at(rev, Path(folder)) for rev in args.old})
        for rep in range(args.repeat):
            for name, writer in writers.items():
                plan, send, count, size, digest = _time(writer, cbf, args.month)
                print(
                    f"{rep + 1} {name:>12}: plan {plan}, build to send {send}, "
                    f"{count} bodies, {size:,} bytes, content {digest[:12]} "
                    f"(load {os.getloadavg()[0]:.2f})"
                )


if __name__ == "__main__":
    main()
