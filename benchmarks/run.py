"""Benchmark: a month at CloudZero's limit (1,000,000 rows per connection) through the adaptor.

    python benchmarks/run.py                          # 100,000 rows: a couple of minutes
    python benchmarks/run.py --rows 100000 1000000    # and the month at CloudZero's limit

For each size it generates the source month (benchmarks/data/, reused when present), then runs,
each as its own process and each `--repeat` times (the fastest run counts):

  (a) adaptor   the adaptor's functions: read, map, validate, serialise into <= 4.5 MB bodies
  (b) plain     a plain-Python adaptor doing the same job (csv, Decimal, dicts, json.dumps)
  (c) floor     reading the source file and writing as many bytes as (a)'s bodies
  (d) bare      for reference, the obvious polars job with none of the adaptor's checks

Every process writes its bodies into a scratch folder (in memory under /dev/shm when it
exists), so all four do "file in, bytes out". It prints wall time, rows/s, MB/s of JSON, peak
RSS, the ratios to (b) and (c), then checks that (a) and (d) each hold exactly the same rows
and cost total as (b) and the source. It also times `import anycost_pipeline.definitions` and,
unless `--sandbox-rows 0`, sends the largest month to the local sandbox on 127.0.0.1.

Then the whole run as a user runs it (`whole.py`; `--whole-rows 0` skips it): `anycost run` of
the largest month, the real CLI through Dagster in its own process, (i) to the project's sandbox
and (ii) to a loopback server that only counts bytes; and a backfill of a daily export
(`--backfill-rows-per-day`, 0 skips it): one month alone, then twelve in one run. It ends with
one table of the figures against the targets. Exit status 1 when the adaptor's exactness check
fails (or a server misses rows); (d) is only a reference, so its check is reported but does not
decide the status.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks.check import compare  # noqa: E402
from benchmarks.generate import DEFAULT_FOLDER, MONTH, generate, generate_daily  # noqa: E402
from benchmarks.whole import (  # noqa: E402
    Backfill,
    Process,
    SmallMonths,
    WholeRun,
    backfill,
    small_months,
    to_loopback,
    to_sandbox,
)

ROUTES = (
    ("adaptor (a)", "project"),
    ("plain (b)", "plain"),
    ("floor (c)", "floor"),
    ("bare (d)", "bare"),
)
# Targets at 1,000,000 rows on a 2-core machine.
SPEEDUP_OVER_PLAIN = 10.0
WITHIN_FLOOR = 6.0
WITHIN_BARE = 1.0
PEAK_RSS_MB = 1024
RUN_PEAK_RSS_MB = 450
RUN_CPU_OVER_CORE = 1.3
RUN_CPU_SECONDS = 6.0  # below CloudZero's example script on the same month (~6.3 s of CPU)
RUN_WALL_SECONDS = 7.0
SMALL_MONTH_SECONDS = 2.0
MANY_SOURCES_SECONDS = 10.0
SANDBOX_STORE_SECONDS = 4.0
BACKFILL_GROWTH = 1.1
TARGET_ROWS = 1_000_000
IMPORT_SECONDS = 1.5
SCRATCH_BYTES = 2_000_000_000  # (a), (b), (c) and (d) each write ~340 MB at 1,000,000 rows


@dataclass
class Run:
    """One process: wall seconds from start to exit, CPU seconds, its peak RSS and what it printed."""

    seconds: float
    cpu: float
    peak_mb: float
    result: dict


def run_process(args: list[str], env: dict[str, str] | None = None) -> Run:
    """Run a Python module in a fresh process; measure its wall time and its own peak RSS."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, *args], cwd=REPO, stdout=subprocess.PIPE, env=env)
    out = process.stdout.read() if process.stdout else b""  # type: ignore[union-attr]
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"{' '.join(args)} failed with exit status {process.returncode}")
    lines = out.decode().strip().splitlines()
    cpu = usage.ru_utime + usage.ru_stime
    result = json.loads(lines[-1]) if lines else {}
    # The process's own high-water mark when it reports one: ru_maxrss also counts what a child
    # inherits at fork, i.e. this (larger) benchmark process.
    peak = result.get("peak_mb") or usage.ru_maxrss / 1024
    return Run(seconds, cpu, peak, result)


def best_of(repeat: int, args: list[str], env: dict[str, str] | None = None) -> Run:
    runs = [run_process(args, env) for _ in range(repeat)]
    fastest = min(runs, key=lambda r: r.seconds)
    # Peak memory hardly varies between runs; report the worst seen.
    return Run(
        fastest.seconds, min(r.cpu for r in runs), max(r.peak_mb for r in runs), fastest.result
    )


def scratch_root(requested: Path | None) -> Path:
    """A folder for the bodies: in memory when /dev/shm has room for every route's month of JSON."""
    if requested:
        return requested
    shm = Path("/dev/shm")
    roomy = shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > SCRATCH_BYTES
    return Path(tempfile.mkdtemp(prefix="anycost-bench-", dir=shm if roomy else None))


def bench_size(
    rows: int, repeat: int, data: Path, scratch: Path
) -> tuple[dict[str, Run], bool, bool, list[str]]:
    """Run every route on a month of `rows`; whether (a) and (d) each hold (b)'s rows exactly, and the checks' lines."""
    month = generate(rows, data)
    out = {key: scratch / f"{rows}-{key}" for _, key in ROUTES}
    runs: dict[str, Run] = {}
    for _, key in ROUTES:
        extra = ["--bytes", str(runs["project"].result["bytes"])] if key == "floor" else []
        args = ["-m", "benchmarks.routes", key, str(month.path), str(out[key]), *extra]
        runs[key] = best_of(repeat, args)
    verdict = compare(out["project"], out["plain"], MONTH, month.rows, month.total)
    # The reference only means something if it does the same job.
    reference = compare(
        out["bare"], out["plain"], MONTH, month.rows, month.total, names=("(d)", "(b)")
    )
    for folder in out.values():
        shutil.rmtree(folder, ignore_errors=True)
    return runs, verdict.passed, reference.passed, verdict.lines + reference.lines


def table(rows: int, runs: dict[str, Run]) -> list[str]:
    json_mb = runs["project"].result["bytes"] / 1e6
    plain, floor = runs["plain"].seconds, runs["floor"].seconds
    lines = [
        f"{rows:,} rows  ({json_mb:,.1f} MB of JSON in {runs['project'].result['bodies']} bodies)",
        f"  {'route':<13}{'wall s':>8}{'cpu s':>8}{'rows/s':>11}{'JSON MB/s':>11}{'peak RSS MB':>13}"
        f"{'(b)/t':>8}{'t/(c)':>8}{'cpu (b)/t':>11}{'cpu t/(c)':>11}",
    ]
    for label, key in ROUTES:
        run = runs[key]
        rate = f"{rows / run.seconds:,.0f}" if key != "floor" else "-"
        lines.append(
            f"  {label:<13}{run.seconds:>8.2f}{run.cpu:>8.2f}{rate:>11}{json_mb / run.seconds:>11.0f}{run.peak_mb:>13.0f}"
            f"{plain / run.seconds:>7.1f}x{run.seconds / floor:>7.1f}x"
            f"{runs['plain'].cpu / run.cpu:>10.1f}x{run.cpu / runs['floor'].cpu:>10.1f}x"
        )
    for name, key in (("(a)", "project"), ("(d)", "bare")):
        phases = runs[key].result.get("phases", {})
        cpu = runs[key].result.get("phases_cpu", {})
        lines.append(
            f"  {name} inside its process, wall (cpu): "
            + ", ".join(f"{k} {v:.2f}s ({cpu.get(k, 0):.2f})" for k, v in phases.items())
        )
    peaks = runs["project"].result.get("peak_mb_after", {})
    lines.append(
        "  (a) peak RSS after each phase: "
        + ", ".join(f"{k} {v:.0f} MB" if v is not None else f"{k} ? MB" for k, v in peaks.items())
    )
    return lines


def import_time(repeat: int) -> tuple[float, float]:
    """Seconds to import anycost_pipeline.definitions, and to load its Definitions, with the example config."""
    code = (
        "import time; t = time.perf_counter(); import anycost_pipeline.definitions as d; "
        "i = time.perf_counter() - t; d.defs(); import json; "
        "print(json.dumps({'import': i, 'load': time.perf_counter() - t}))"
    )
    env = {**os.environ, "ANYCOST_CONFIG": str(REPO / "anycost.yaml")}
    runs = [run_process(["-c", code], env).result for _ in range(repeat)]
    return min(r["import"] for r in runs), min(r["load"] for r in runs)


def verdict(ok: bool, text: str) -> str:
    return f"  [{'met' if ok else 'MISSED'}] {text}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000], help="month sizes to run")
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per route; the fastest counts (default 3)"
    )
    parser.add_argument(
        "--sandbox-rows",
        type=int,
        default=None,
        help="month size to send to the sandbox (default: the largest; 0: skip)",
    )
    parser.add_argument(
        "--whole-rows",
        type=int,
        default=None,
        help="month size for `anycost run` to the sandbox and the loopback (default: the largest; 0: skip)",
    )
    parser.add_argument(
        "--backfill-rows-per-day",
        type=int,
        default=1_000,
        help="rows per daily file of the 12-month backfill (default 1,000; 0: skip)",
    )
    parser.add_argument(
        "--many-sources",
        type=int,
        default=50,
        help="sources of the many-source month (default 50; 0 skips the small months)",
    )
    parser.add_argument(
        "--many-connections",
        type=int,
        default=10,
        help="connections those sources send to (default 10)",
    )
    parser.add_argument(
        "--data", type=Path, default=DEFAULT_FOLDER, help="where generated source months are kept"
    )
    parser.add_argument(
        "--scratch",
        type=Path,
        default=None,
        help="where bodies are written (default: /dev/shm or the temp folder)",
    )
    args = parser.parse_args(argv)

    print(
        f"anycost_pipeline benchmark: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, "
        f"load average at start {os.getloadavg()[0]:.2f}; best of {args.repeat} runs per route",
        flush=True,
    )
    scratch = scratch_root(args.scratch)
    own_scratch = args.scratch is None
    print(f"bodies are written under {scratch}", flush=True)
    results: dict[int, dict[str, Run]] = {}
    exact = True
    reference_exact = True
    try:
        for rows in sorted(args.rows):
            runs, passed, reference_passed, lines = bench_size(
                rows, args.repeat, args.data, scratch
            )
            results[rows] = runs
            exact &= passed
            reference_exact &= reference_passed
            print("\n" + "\n".join(table(rows, runs) + ["  " + line for line in lines]), flush=True)
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    imported, loaded = import_time(args.repeat)
    print(
        f"\nimport anycost_pipeline.definitions: {imported:.2f}s (and building its Definitions from anycost.yaml: {loaded:.2f}s in all)"
    )

    sizes = sorted(results)
    per_row = {n: results[n]["project"].seconds / n * 1e6 for n in sizes}
    print("\n(a) time per row: " + ", ".join(f"{per_row[n]:.2f} us at {n:,}" for n in sizes))

    sandbox_rows = max(sizes) if args.sandbox_rows is None else args.sandbox_rows
    sandbox_result: dict | None = None
    if sandbox_rows:
        month = generate(sandbox_rows, args.data)
        sent = run_process(["-m", "benchmarks.sandbox", str(month.path)])
        r = sandbox_result = sent.result
        print(
            f"\nsandbox on 127.0.0.1, {sandbox_rows:,} rows: {r['end_to_end_seconds']:.2f}s from the export file "
            f"to the month held ({sent.seconds:.2f}s as a process, peak RSS {sent.peak_mb:.0f} MB, server included)\n"
            f"  build bodies {r['build_seconds']:.2f}s; send {r['send_seconds']:.2f}s = waiting on the server "
            f"{r['waiting_seconds']:.2f}s + client side {r['client_seconds']:.2f}s\n"
            f"  {r['bodies']} bodies, {r['bytes_sent'] / 1e6:,.1f} MB, {r['rows_sent']:,} rows sent; "
            f"the sandbox holds {r['rows_held']:,} rows for {MONTH}\n"
            f"  the server's own time storing the month {r['server_store_seconds']:.2f}s "
            f"(CPU {r['server_store_cpu_seconds']:.2f}s); answering a read of the whole month "
            + " then ".join(f"{t:.2f}s" for t in r["server_read_seconds"])
            + "\n  the server's CPU for storing, by step: "
            + ", ".join(f"{k} {v:.2f}s" for k, v in r.get("server_store_phases_cpu", {}).items())
        )
        exact &= r["rows_held"] == sandbox_rows == r["rows_sent"]

    whole_rows = max(sizes) if args.whole_rows is None else args.whole_rows
    # Projects of whole runs live on disk, as a user's do (--scratch to choose the folder).
    runs_folder = args.scratch or Path(tempfile.gettempdir())
    whole: dict[str, WholeRun] = {}
    if whole_rows:
        month = generate(whole_rows, args.data)
        print(
            f"\nanycost run {MONTH} ({whole_rows:,} rows), the CLI through Dagster in its own process:"
        )
        for route in (to_loopback, to_sandbox):
            done = route(month.path, MONTH, runs_folder)
            whole[done.route] = done
            print("  " + whole_line(done))
            exact &= done.rows_held == whole_rows
    filled: Backfill | None = None
    if args.backfill_rows_per_day:
        export = generate_daily(args.backfill_rows_per_day, folder=args.data)
        filled = backfill(export, runs_folder)
        print(
            f"\nbackfill of a daily export ({filled.rows_per_day:,} rows a day, 366 files), "
            f"anycost run to the loopback server:\n"
            f"  one month alone: {filled.one_month:.2f}s for the month ({filled.one.seconds:.2f}s as a process)\n"
            f"  twelve months in one run: {sum(filled.per_month) / 12:.2f}s per month "
            f"({filled.twelve.seconds:.2f}s as a process, peak RSS {filled.twelve.peak_mb:.0f} MB); "
            "each month: " + ", ".join(f"{t:.1f}" for t in filled.per_month)
        )

    small: SmallMonths | None = None
    if args.many_sources:
        small = small_months(runs_folder, args.many_sources, args.many_connections)
        print(
            "\nthe quickstart's 250-row month, anycost run to the loopback server (the fixed cost "
            "of a month):\n"
            f"  sent:      {process_line(small.sent)}\n"
            f"  unchanged: {process_line(small.unchanged)}\n"
            f"one month of {small.sources} such sources on {small.connections} connections:\n"
            f"  sent:      {process_line(small.many)}"
        )

    big = results[sizes[-1]]
    print(f"\ntargets (2-core machine; (a), (c), (d) at {sizes[-1]:,} rows):")
    print(target_table(big, whole, results.get(whole_rows), sandbox_result, filled, small))
    others = [
        verdict(
            big["plain"].seconds / big["project"].seconds >= SPEEDUP_OVER_PLAIN,
            f"(a) at least {SPEEDUP_OVER_PLAIN:.0f}x faster than (b): "
            f"{big['plain'].seconds / big['project'].seconds:.1f}x "
            f"(by CPU time {big['plain'].cpu / big['project'].cpu:.1f}x)",
        ),
        verdict(
            big["project"].peak_mb < PEAK_RSS_MB,
            f"(a) peak RSS under {PEAK_RSS_MB} MB: {big['project'].peak_mb:.0f} MB",
        ),
        verdict(
            imported < IMPORT_SECONDS,
            f"import anycost_pipeline.definitions under {IMPORT_SECONDS}s: {imported:.2f}s",
        ),
        verdict(
            exact,
            "(a)'s bodies hold exactly (b)'s rows and cost total"
            + (", and every server holds every row" if sandbox_rows or whole else ""),
        ),
    ]
    if len(sizes) > 1:
        others.insert(
            2,
            verdict(
                per_row[sizes[-1]] <= per_row[sizes[0]],
                f"(a) time per row at {sizes[-1]:,} no worse than at {sizes[0]:,}: "
                f"{per_row[sizes[-1]]:.2f} vs {per_row[sizes[0]]:.2f} us",
            ),
        )
    print("\n".join(others))
    d, b, c = big["bare"], big["plain"], big["floor"]
    if reference_exact:
        print(
            f"  reference: (d), the obvious polars job without the adaptor's checks, is {b.seconds / d.seconds:.1f}x faster "
            f"than (b) and takes {d.seconds / c.seconds:.1f}x as long as the floor (c)"
        )
    else:
        print(
            "  reference: (d) did not hold (b)'s rows (see its exactness line), so its time compares with nothing"
        )
    return 0 if exact else 1


def process_line(run: Process) -> str:
    return f"wall {run.seconds:5.2f}s, CPU {run.cpu:5.2f}s, peak RSS {run.peak_mb:4.0f} MB"


def whole_line(done: WholeRun) -> str:
    run = done.run
    received = f", {done.bytes_received / 1e6:,.1f} MB received" if done.bytes_received else ""
    return (
        f"to the {done.route + ':':<9} wall {run.seconds:6.2f}s, client CPU {run.cpu:6.2f}s, "
        f"peak RSS {run.peak_mb:5.0f} MB; server {done.server_seconds:6.2f}s "
        f"(CPU {done.server_cpu:.2f}s){received}; it holds {done.rows_held:,} rows"
    )


def target_table(
    big: dict[str, Run],
    whole: dict[str, WholeRun],
    same_size: dict[str, Run] | None,
    sandbox: dict | None,
    filled: Backfill | None,
    small: SmallMonths | None = None,
) -> str:
    """One table: each of the issue's figures, what this run measured, the target, met or not."""
    rows: list[tuple[str, str, str, bool | None]] = []
    for route, done in whole.items():
        rows.append(
            (
                f"anycost run to the {route}, {done.rows_held:,} rows: peak RSS of the run",
                f"{done.run.peak_mb:.0f} MB",
                f"<= {RUN_PEAK_RSS_MB} MB",
                done.run.peak_mb <= RUN_PEAK_RSS_MB,
            )
        )
    loop = whole.get("loopback")
    if loop:
        full = loop.rows_held == TARGET_ROWS
        rows.append(
            (
                f"anycost run to the loopback, {loop.rows_held:,} rows: CPU, wall",
                f"{loop.run.cpu:.2f}s, {loop.run.seconds:.2f}s",
                f"<= {RUN_CPU_SECONDS:.0f}s, <= {RUN_WALL_SECONDS:.0f}s",
                loop.run.cpu <= RUN_CPU_SECONDS and loop.run.seconds <= RUN_WALL_SECONDS
                if full
                else None,
            )
        )
    if loop and same_size:
        ratio = loop.run.cpu / same_size["project"].cpu
        rows.append(
            (
                "anycost run client CPU / core (a) CPU (loopback, same size)",
                f"{ratio:.2f}x ({loop.run.cpu:.1f}s / {same_size['project'].cpu:.1f}s)",
                f"<= {RUN_CPU_OVER_CORE}x",
                ratio <= RUN_CPU_OVER_CORE,
            )
        )
    a, c, d = big["project"], big["floor"], big["bare"]
    rows.append(
        (
            "core (a) / bare polars (d), wall (CPU)",
            f"{a.seconds / d.seconds:.2f}x ({a.cpu / d.cpu:.2f}x)",
            f"<= {WITHIN_BARE}x",
            a.seconds / d.seconds <= WITHIN_BARE,
        )
    )
    rows.append(
        (
            "core (a) / floor (c), wall (CPU)",
            f"{a.seconds / c.seconds:.1f}x ({a.cpu / c.cpu:.1f}x)",
            f"<= {WITHIN_FLOOR:.0f}x",
            a.seconds / c.seconds <= WITHIN_FLOOR,
        )
    )
    if sandbox:
        full = sandbox["rows_sent"] == TARGET_ROWS
        rows.append(
            (
                f"sandbox: store a {sandbox['rows_sent']:,}-row month, server wall (CPU)",
                f"{sandbox['server_store_seconds']:.2f}s ({sandbox['server_store_cpu_seconds']:.2f}s)",
                f"<= {SANDBOX_STORE_SECONDS:.0f}s at {TARGET_ROWS:,}",
                sandbox["server_store_seconds"] <= SANDBOX_STORE_SECONDS if full else None,
            )
        )
    if filled:
        growth = sum(filled.per_month) / 12 / filled.one_month
        rows.append(
            (
                "12-month backfill: time per month at 12 / at 1",
                f"{growth:.2f}x ({sum(filled.per_month) / 12:.2f}s / {filled.one_month:.2f}s)",
                f"<= {BACKFILL_GROWTH}x",
                growth <= BACKFILL_GROWTH,
            )
        )
    if small:
        rows.append(
            (
                "the quickstart's 250-row month end to end, wall (unchanged)",
                f"{small.sent.seconds:.2f}s ({small.unchanged.seconds:.2f}s)",
                f"<= {SMALL_MONTH_SECONDS:.0f}s",
                small.sent.seconds <= SMALL_MONTH_SECONDS,
            )
        )
        rows.append(
            (
                f"one month, {small.sources} sources on {small.connections} connections, wall (CPU)",
                f"{small.many.seconds:.2f}s ({small.many.cpu:.2f}s)",
                f"<= {MANY_SOURCES_SECONDS:.0f}s",
                small.many.seconds <= MANY_SOURCES_SECONDS if small.sources == 50 else None,
            )
        )
    rows.append(("bash .ci/run on 2 cores", "not measured here", "<= 10 min", None))
    width = max(len(r[0]) for r in rows)
    shown = max(len(r[1]) for r in rows)
    lines = [f"  {'figure':<{width}}  {'measured':<{shown}}  {'target':<18}  verdict"]
    for figure, measured, target, ok in rows:
        mark = "-" if ok is None else ("met" if ok else "MISSED")
        lines.append(f"  {figure:<{width}}  {measured:<{shown}}  {target:<18}  {mark}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
