"""The whole run, as a user runs it: `anycost run` (the CLI, through Dagster) in its own process.

Each run gets a fresh project folder (the benchmark's anycost.yaml with the generated export as
its source, its own storage and DAGSTER_HOME) and sends to a server that this process hosts on
127.0.0.1, so the run's process is the client only:

  sandbox    the project's own sandbox (`start_sandbox`), the server side of CloudZero's contract
  loopback   a server that only counts bytes and rows and answers as CloudZero does

For each it measures the run's wall time, its CPU (user + system, from wait4), its peak RSS
(VmHWM, polled while it runs; ru_maxrss if that is unreadable) and the server's handling time
and CPU. `backfill` runs a year of a daily export, one month and then twelve in one run, and
times each month from the CLI's progress lines.
"""

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from benchmarks.generate import DailyExport
from benchmarks.loopback import LoopbackServer
from benchmarks.routes import CONFIG, SOURCE
from benchmarks.sandbox import timed_handler

CONNECTION = "hourly_cloud_main"
KEY = "benchmark-key"


@dataclass
class Process:
    """One `anycost run`: wall seconds, CPU seconds, peak RSS in MB, and its output lines with
    the seconds (from its start) at which each arrived."""

    seconds: float
    cpu: float
    peak_mb: float
    lines: list[tuple[float, str]] = field(default_factory=list)


@dataclass
class WholeRun:
    """One route: the run's process and what the server saw."""

    route: str
    run: Process
    server_seconds: float
    server_cpu: float
    rows_held: int
    bytes_received: int | None = None


def project(folder: Path, source_path: str) -> Path:
    """A project folder holding the benchmark's anycost.yaml, sending to a URL from the env."""
    config = yaml.safe_load(CONFIG.read_text())
    config["storage"] = str(folder / ".anycost")
    config["cloudzero"] = {"target": "live"}  # CLOUDZERO_API_URL: the server hosted here
    config["sources"][SOURCE]["path"] = source_path
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "anycost.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def _vm_hwm_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def anycost_run(config: Path, url: str, months: list[str]) -> Process:
    """Run `anycost run MONTHS` in a fresh process against `url`; it must end with status 0."""
    env = {
        **os.environ,
        "ANYCOST_CONFIG": str(config),
        "CLOUDZERO_API_URL": url,
        "CLOUDZERO_API_KEY": KEY,
        "DAGSTER_HOME": str(config.parent / "dagster_home"),
        "PYTHONUNBUFFERED": "1",  # progress lines as they happen, for the per-month times
    }
    anycost = Path(sys.executable).with_name("anycost")
    started = time.perf_counter()
    process = subprocess.Popen(
        [str(anycost), "run", *months],
        cwd=config.parent,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    peak = [0.0]
    done = threading.Event()

    def poll() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], _vm_hwm_mb(process.pid) or 0.0)
            done.wait(0.1)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    lines = [(time.perf_counter() - started, line.rstrip("\n")) for line in process.stdout or []]
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    done.set()
    poller.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        tail = "\n".join(text for _, text in lines[-30:])
        raise SystemExit(f"anycost run {' '.join(months)} failed ({process.returncode}):\n{tail}")
    return Process(
        seconds, usage.ru_utime + usage.ru_stime, peak[0] or usage.ru_maxrss / 1024, lines
    )


def to_sandbox(source: Path, month: str, scratch: Path) -> WholeRun:
    """`anycost run` of the month to the project's sandbox, hosted in this process."""
    from anycost_pipeline.cloudzero.sandbox import start_sandbox

    folder = Path(tempfile.mkdtemp(prefix="whole-sandbox-", dir=scratch))
    server = start_sandbox(folder / "server", api_key=KEY)
    server.RequestHandlerClass, spent = timed_handler(server.RequestHandlerClass)
    try:
        run = anycost_run(project(folder, str(source)), server.url, [month])
        held = {d["month"]: d["row_count"] for d in server.store.drops(CONNECTION)}
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    return WholeRun(
        "sandbox",
        run,
        spent["POST"] + spent["GET"],
        spent["POST cpu"] + spent["GET cpu"],
        held.get(month, 0),
    )


def to_loopback(source: Path, month: str, scratch: Path) -> WholeRun:
    """`anycost run` of the month to the counting server."""
    folder = Path(tempfile.mkdtemp(prefix="whole-loopback-", dir=scratch))
    server = LoopbackServer()
    try:
        run = anycost_run(project(folder, str(source)), server.url, [month])
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    counts = server.counts
    held = {m: rows for (_, m), (_, rows) in counts.held.items()}
    return WholeRun("loopback", run, counts.seconds, counts.cpu, held.get(month, 0), counts.bytes)


@dataclass
class Backfill:
    """Seconds per month of a daily export sent one month alone and twelve in one run."""

    rows_per_day: int
    one: Process
    twelve: Process
    one_month: float  # the single month's own seconds
    per_month: list[float]  # each of the twelve months' seconds, in order


def month_seconds(run: Process, months: list[str]) -> list[float]:
    """Each month's seconds: from its progress line (`[i/n] YYYY-MM`) to its outcome line
    (`YYYY-MM: sent`, or whatever it says)."""
    seconds = []
    for month in months:
        marker = f"/{len(months)}] {month}"
        start = next(i for i, (_, text) in enumerate(run.lines) if marker in text)
        end = next(at for at, text in run.lines[start:] if text.strip().startswith(f"{month}: "))
        seconds.append(end - run.lines[start][0])
    return seconds


def backfill(export: DailyExport, scratch: Path, alone: str = "2024-06") -> Backfill:
    """The year's months to the loopback server: `alone` by itself, then all twelve at once."""
    months = sorted(export.totals)
    server = LoopbackServer()
    runs = []
    try:
        for chosen in ([alone], months):
            folder = Path(tempfile.mkdtemp(prefix=f"backfill-{len(chosen)}-", dir=scratch))
            try:
                runs.append(anycost_run(project(folder, export.pattern), server.url, chosen))
            finally:
                shutil.rmtree(folder, ignore_errors=True)
    finally:
        server.close()
    one, twelve = runs
    return Backfill(
        export.rows_per_day,
        one,
        twelve,
        month_seconds(one, [alone])[0],
        month_seconds(twelve, months),
    )


SAMPLE_CONFIG = Path(__file__).resolve().parents[1] / "anycost.yaml"
SAMPLE_MONTH = "2024-08"


def sample_project(folder: Path, sources: int, connections: int) -> Path:
    """The quickstart's project (anycost.yaml and its 250-row months) with its one source
    copied `sources` times over `connections` connections. Each copy reads its own copy of
    the export files: two sources of a connection may not read one file."""
    config = yaml.safe_load(SAMPLE_CONFIG.read_text())
    source = config["sources"]["simple_cloud"]
    files = SAMPLE_CONFIG.parent / Path(source["path"]).parent
    config["storage"] = str(folder / ".anycost")
    config["cloudzero"] = {"target": "live"}  # CLOUDZERO_API_URL: the server hosted here
    config["connections"] = {
        f"c{n:02d}": {"connection_id": f"c{n:02d}"} for n in range(connections)
    }
    config["sources"] = {}
    for n in range(sources):
        name = f"s{n:02d}"
        shutil.copytree(files, folder / "exports" / name)
        config["sources"][name] = {
            **source,
            "connection": f"c{n % connections:02d}",
            "path": f"exports/{name}/*.csv",
        }
    path = folder / "anycost.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


@dataclass
class SmallMonths:
    """The fixed cost of a month: the quickstart's 250-row month sent, then again unchanged;
    and one month of `sources` copies of it on `connections` connections."""

    sent: Process
    unchanged: Process
    many: Process
    sources: int
    connections: int


def small_months(scratch: Path, sources: int = 50, connections: int = 10) -> SmallMonths:
    """`anycost run 2024-08` of the quickstart's project to the loopback server, twice, then
    the same month of the many-source project to a server of its own. Each connection must
    end holding 250 rows per source."""
    runs: list[Process] = []
    for count, on, months in ((1, 1, 2), (sources, connections, 1)):
        folder = Path(tempfile.mkdtemp(prefix=f"small-month-{count}-", dir=scratch))
        server = LoopbackServer()
        try:
            config = sample_project(folder, count, on)
            runs += [anycost_run(config, server.url, [SAMPLE_MONTH]) for _ in range(months)]
        finally:
            server.close()
            shutil.rmtree(folder, ignore_errors=True)
        held = sum(
            rows for (_, month), (_, rows) in server.counts.held.items() if month == SAMPLE_MONTH
        )
        if held != 250 * count:
            raise SystemExit(
                f"the loopback server holds {held} rows of {SAMPLE_MONTH}, not {250 * count}"
            )
    sent, unchanged, many = runs
    for run, word in ((sent, "sent"), (unchanged, "unchanged")):
        said = [text.strip() for _, text in run.lines]
        if not any(line.startswith(f"{SAMPLE_MONTH}: {word}") for line in said):
            raise SystemExit(f"anycost run {SAMPLE_MONTH} did not say {word}:\n" + "\n".join(said))
    return SmallMonths(sent, unchanged, many, sources, connections)
