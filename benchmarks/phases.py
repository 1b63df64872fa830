"""Where a whole `anycost` command's time goes, by phase: its arguments are `anycost`'s.

    cd PROJECT && python /path/to/benchmarks/phases.py run 2024-08

runs the command in this process, as the `anycost` command does, and on exit prints each
phase's process CPU (user + system, every thread, polars' included) and wall seconds, how
many times it ran, by how much the process's peak memory (RSS, MiB) rose during it, and the
process's peak when the phase last ended: the phase that raised it last holds the whole run's
peak. Phases nest: `all steps` holds the step phases below it, and what it holds beyond them is
Dagster's own work for the run (events, storage, step machinery). What the process spent
outside every phase is printed as `the rest`.

A sampling profiler sees only Python threads: polars works on threads of its own, so its CPU
is counted here with the process's rusage around each phase instead.
"""

import atexit
import functools
import resource
import sys
import time
from collections.abc import Callable
from importlib import import_module

STARTED = time.perf_counter()

# (module, function or Class.method, label), in the order a run reaches them.
PHASES = [
    ("anycost_pipeline.cli.home", "ready_instance", "open the Dagster instance (storage)"),
    ("anycost_pipeline.cli.run", "every_month", "find every month (no month named)"),
    ("anycost_pipeline.defs.pools", "prepare_pools", "prepare the connections' pools"),
    ("dagster", "execute_job", "all steps (one Dagster run a month)"),
    ("anycost_pipeline.defs.raw", "read_raw_month", "  raw: read the source's month"),
    ("anycost_pipeline.defs.raw", "raw_metadata", "  raw: metadata (cost by type, service)"),
    ("anycost_pipeline.defs.cbf", "convert_and_check", "  cbf: convert and check"),
    ("anycost_pipeline.defs.cbf", "cbf_metadata", "  cbf: metadata (cost tables, files)"),
    ("anycost_pipeline.defs.drop", "month_to_send", "  drop: plan the bodies"),
    ("anycost_pipeline.defs.resources", "CloudZeroResource.send_month", "  drop: send, journal"),
    ("anycost_pipeline.defs.drop", "_receipt_metadata", "  drop: receipt metadata"),
    ("anycost_pipeline.defs.drop", "submission_metadata", "  drop: change against last sent"),
    ("anycost_pipeline.defs.io_manager", "ParquetIOManager.dump_to_path", "  write frames (Parquet)"),
    ("anycost_pipeline.defs.io_manager", "ParquetIOManager.load_from_path", "  read frames (Parquet)"),
]  # fmt: skip


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def peak_mb() -> float:
    """The process's peak RSS so far, in MiB (Linux gives ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


spent: dict[str, list[float]] = {}


def timed(label: str, function: Callable) -> Callable:
    @functools.wraps(function)
    def phase(*args, **kwargs):  # type: ignore[no-untyped-def]
        cpu_before, wall_before, peak_before = cpu(), time.perf_counter(), peak_mb()
        try:
            return function(*args, **kwargs)
        finally:
            figures = spent.setdefault(label, [0.0, 0.0, 0, 0.0, 0.0])
            figures[0] += cpu() - cpu_before
            figures[1] += time.perf_counter() - wall_before
            figures[2] += 1
            figures[3] += peak_mb() - peak_before
            figures[4] = max(figures[4], peak_mb())

    return phase


def install() -> None:
    """Wrap each phase where it is called from (a name imported with `from` is a copy)."""
    for module_name, name, label in PHASES:
        owner = import_module(module_name)
        if "." in name:
            owner_name, name = name.split(".")
            owner = getattr(owner, owner_name)
        setattr(owner, name, timed(label, getattr(owner, name)))


def report() -> None:
    total_cpu, total_wall = cpu(), time.perf_counter() - STARTED
    print(f"\nphases of `anycost {' '.join(sys.argv[1:])}`:", file=sys.stderr)
    print(
        f"  {'phase':44} {'cpu s':>7} {'wall s':>7}  calls  {'peak +MiB':>9}  {'peak MiB':>8}",
        file=sys.stderr,
    )
    for label, (cpu_s, wall_s, calls, rose, peak) in spent.items():
        print(
            f"  {label:44} {cpu_s:7.2f} {wall_s:7.2f}  {int(calls):5}  {rose:9.0f}  {peak:8.0f}",
            file=sys.stderr,
        )
    top = [v for k, v in spent.items() if not k.startswith("  ")]
    rest_cpu = total_cpu - sum(v[0] for v in top)
    rest_wall = total_wall - sum(v[1] for v in top)
    print(
        f"  {'the rest (imports, the CLI, exit)':44} {rest_cpu:7.2f} {rest_wall:7.2f}",
        file=sys.stderr,
    )
    print(
        f"  {'the whole process (from Python start-up)':44} {total_cpu:7.2f}"
        f" {'':7}  {'':5}  {'':9}  {peak_mb():8.0f}",
        file=sys.stderr,
    )


def main() -> int:
    imported_cpu, imported_wall, imported_peak = cpu(), time.perf_counter(), peak_mb()
    from anycost_pipeline.cli import heap, main as anycost  # imports first: counted apart

    heap.own_process()  # as the `anycost` command does (anycost_pipeline/cli/heap.py)

    spent["import the CLI (dagster, polars, ...)"] = [
        cpu() - imported_cpu,
        time.perf_counter() - imported_wall,
        1,
        peak_mb() - imported_peak,
        peak_mb(),
    ]
    install()
    atexit.register(report)
    sys.argv = ["anycost", *sys.argv[1:]]
    try:
        return anycost()
    finally:
        heap.ending()


if __name__ == "__main__":
    sys.exit(main())
