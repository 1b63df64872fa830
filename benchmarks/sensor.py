"""The files sensor at scale: N small export objects in an S3 bucket (moto's S3 server on
127.0.0.1), ticks of `watch_<source>` until it has seen them all; then one object changed.

Run from the project folder, after `pip install -e ".[dev]"`:

    python benchmarks/sensor.py                     # 10,000 objects
    python benchmarks/sensor.py --objects 6500 --budget 20

Prints, for each tick, its wall time, the runs it requested, the files it read and the size of
the cursor Dagster stores for it (and of the sensor's state file). Dagster stops a sensor
evaluation after 60 s (DAGSTER_SENSOR_GRPC_TIMEOUT_SECONDS) and then keeps neither its cursor
nor its requests: every tick must end well inside that. Figures only, nothing asserted.
"""

import argparse
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BUCKET = "bench-exports"
SENSOR = "watch_simple_cloud"


def _objects(count: int) -> dict[str, bytes]:
    """`count` one-row exports spread over 2024's months, each with its own cost."""
    header = "date,service,account,charge_type,amount\n"
    return {
        f"{BUCKET}/exports/part-{n:06d}.csv": (
            header + f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d},Compute,prod-{n % 7},usage,"
            f"{n % 100}.{n % 97:02d}\n"
        ).encode()
        for n in range(count)
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--budget", type=float, default=None, help="seconds of reading per tick")
    parser.add_argument("--max-ticks", type=int, default=50)
    args = parser.parse_args()
    if args.budget is not None:
        os.environ["ANYCOST_SENSOR_BUDGET_SECONDS"] = str(args.budget)

    from anycost_pipeline_tests.servers import s3_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request lines

    folder = Path(tempfile.mkdtemp(prefix="anycost-sensor-bench-"))
    try:
        with s3_server() as url:
            os.environ.update(
                AWS_ENDPOINT_URL=url,
                AWS_ACCESS_KEY_ID="bench",
                AWS_SECRET_ACCESS_KEY="bench",
                AWS_DEFAULT_REGION="us-east-1",
            )
            import dagster as dg
            import fsspec

            s3 = fsspec.filesystem("s3")
            s3.mkdir(BUCKET)
            started = time.perf_counter()
            objects = _objects(args.objects)
            names = list(objects)
            for first in range(0, len(names), 500):
                s3.pipe({n: objects[n] for n in names[first : first + 500]})
            print(f"uploaded {args.objects:,} objects in {time.perf_counter() - started:.1f} s")

            config = yaml.safe_load((REPO / "anycost.yaml").read_text())
            config["storage"] = str(folder / "storage")
            config["sources"]["simple_cloud"]["path"] = f"s3://{BUCKET}/exports/*.csv"
            (folder / "anycost.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
            os.environ["ANYCOST_CONFIG"] = str(folder / "anycost.yaml")

            import anycost_pipeline

            package = Path(anycost_pipeline.__file__).parent
            defs = dg.Definitions.merge(dg.load_from_defs_folder(path_within_project=package))
            sensor = defs.resolve_sensor_def(SENSOR)
            instance = dg.DagsterInstance.ephemeral()
            state = folder / "storage" / "sensors" / "simple_cloud.json"

            def tick(cursor: str | None, label: str) -> tuple[str | None, bool]:
                started = time.perf_counter()
                result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
                seconds = time.perf_counter() - started
                runs = len(result.run_requests or [])
                reason = result.skip_reason.skip_message if result.skip_reason else ""
                size = len(result.cursor or "")
                on_disk = state.stat().st_size if state.exists() else 0
                print(
                    f"{label:>8}: {seconds:6.1f} s, {runs:3d} runs requested, cursor "
                    f"{size:,} bytes, state file {on_disk:,} bytes"
                    + (f"; {reason}" if reason else "")
                )
                return result.cursor, "continuing next tick" in reason or bool(runs)

            cursor, busy, ticks = None, True, 0
            while busy and ticks < args.max_ticks:
                ticks += 1
                cursor, busy = tick(cursor, f"tick {ticks}")
            changed = names[len(names) // 2]
            s3.pipe(changed, objects[changed].replace(b"usage,", b"usage,1"))
            tick(cursor, "1 edit")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
