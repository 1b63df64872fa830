"""A connection over time: one seed draws a history of several months and runs, and the
campaign runs it as a user would, checking one invariant over every month.

The history starts with a few invoice files spread over three months, then each step changes
the world and `anycost run` (no months: every month the connection has) follows it: a charge
re-dated into another month, an amount corrected, a new file, a file emptied, a file deleted
(a vendor's retention), another sender writing to a month, `anycost delete-month`, a damaged
or lost journal, a run killed part-way. After a failed run the user does what the words say
(delete a damaged journal record; empty a month in conflict, then run again). Two runs may
overlap, as a sensor's and a user's can: both started at once, or the second started while the first's
write is held at CloudZero (its reads must wait for the connection, not meet the write).

The invariant, after the last run: for every month CloudZero holds exactly what the files hold
now (as CBF rows, written from the history, not from `cbf/`), and on a `replace_drop`
connection also the rows of deleted files that it held when the step began and that the
files' month does not hold (carried forward: a vendor's retention never drops them), told
apart by what they are (time, service, type), not their amounts; nothing is ever doubled; and
every month's status word was true when it was printed.
"""

import json
import random
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

import requests
import yaml

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Faults, SandboxServer
from anycost_pipeline.config.cloudzero import CloudZeroConfig
from anycost_pipeline_tests.campaign.runner import overlap_violation
from anycost_pipeline_tests.cli.live import ANYCOST, KEY, environment

CONNECTION_ID = "conn-history"
MONTHS = ("2024-06", "2024-07", "2024-08")
HISTORY_OPERATIONS = ("replace_drop", "sum")
STEPS = ("move", "edit", "add", "empty", "delete", "foreign", "delete-month", "damage",
         "lose-journal", "kill", "overlap")  # fmt: skip
# On a sum connection a changed month is added again whole (the documented contract: its
# sources hold only charges never sent before), so its histories keep the files as they are
# and change everything else.
SUM_STEPS = ("foreign", "delete-month", "damage", "lose-journal", "kill", "overlap")
ATTEMPTS = 3  # runs after a step, the user following the words between them
RUN_SECONDS = 600  # an `anycost` command that takes longer is stuck: a violation, not a crash
# How long the sandbox holds the first write of an overlap's first run before applying it: longer
# than the second run takes to start and read (a few seconds), shorter than the client's timeout.
WRITE_HELD_SECONDS = 20.0
WAITED = "reading what CloudZero holds once it has finished"  # the second run's words


class Hung(Exception):
    """An `anycost` command did not end within RUN_SECONDS; the message holds its last words."""

    def __init__(self, args: list[str], words: str, last: int = 60) -> None:
        tail = " ".join(words.split()[-last:])
        super().__init__(
            f"`anycost {' '.join(args)}` did not end within {RUN_SECONDS} s; its last words: "
            f"{tail or '(none)'}"
        )


LINE = re.compile(r"^   (\d{4}-\d{2}): (\w[\w ,]*?)(?::|$)", re.MULTILINE)
Row = tuple[str, str, str]  # date (YYYY-MM-DD), service, amount


@dataclass(frozen=True)
class History:
    seed: int
    operation: str
    files: dict[str, tuple[Row, ...]]
    steps: tuple[tuple[str, int], ...]  # (what, a number the step draws its details from)

    def describe(self) -> str:
        rows = sum(len(r) for r in self.files.values())
        return (
            f"history: {self.operation}, {len(self.files)} files ({rows} rows), steps "
            + ", ".join(
                "overlap-write" if s == "overlap" and during_write(n) else s for s, n in self.steps
            )
        )


def _row(rng: random.Random) -> Row:
    month = rng.choice(MONTHS)
    amount = f"{'-' if rng.random() < 0.1 else ''}{rng.randrange(1, 500)}.{rng.randrange(100):02d}"
    return (f"{month}-{rng.randrange(1, 29):02d}", f"svc-{rng.randrange(5)}", amount)


def draw_history(seed: int) -> History:
    rng = random.Random(f"history-{seed}")
    files = {
        f"invoice-{n}.csv": tuple(_row(rng) for _ in range(rng.randrange(1, 4)))
        for n in range(rng.randrange(2, 5))
    }
    operation = HISTORY_OPERATIONS[seed % 2]
    kinds = SUM_STEPS if operation == "sum" else STEPS
    steps = tuple((rng.choice(kinds), rng.randrange(10**6)) for _ in range(rng.randrange(3, 6)))
    return History(seed, operation, files, steps)


@dataclass
class HistoryResult:
    seed: int
    runs: int = 0
    violations: list[str] = field(default_factory=list)
    # Second runs of an overlap started while the first run's write was held, and how many of
    # them said they waited for the connection.
    met_writes: int = 0
    waited: int = 0


def expected_rows(files: dict[str, tuple[Row, ...]], month: str) -> list[dict]:
    """The CBF rows CloudZero must hold for the month: from the files, as the mapping says."""
    return [
        {
            "time/usage_start": f"{date}T00:00:00Z",
            "resource/service": service,
            "cost/cost": amount,
            "lineitem/type": "Usage",
        }
        for rows in files.values()
        for date, service, amount in rows
        if date.startswith(month)
    ]


def _key(row: dict) -> str:
    return json.dumps(row, sort_keys=True)


def _identity(row: dict) -> str:
    """What a row is, whatever its amount."""
    return json.dumps({k: v for k, v in row.items() if k != "cost/cost"}, sort_keys=True)


def _same(held: list[dict], expected: list[dict]) -> bool:
    return sorted(map(_key, held)) == sorted(map(_key, expected))


def _write(root: Path, files: dict[str, tuple[Row, ...]], operation: str) -> Path:
    exports = root / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    for name in {p.name for p in exports.glob("*.csv")} - set(files):
        (exports / name).unlink()  # a deleted file
    for name, rows in files.items():
        text = "date,service,amount\n" + "".join(f"{d},{s},{a}\n" for d, s, a in rows)
        if not (exports / name).exists() or (exports / name).read_text() != text:
            (exports / name).write_text(text)
    config = {
        "storage": ".anycost",
        "start_month": MONTHS[0],
        "cloudzero": {"target": "live", "limits": {"body_bytes": 2_000}},
        "connections": {"main": {"connection_id": CONNECTION_ID, "operation": operation}},
        "sources": {
            "vendor": {
                "connection": "main",
                "kind": "files",
                "path": "exports/*.csv",
                "format": "csv",
                "columns": {
                    "time/usage_start": "date",
                    "cost/cost": "amount",
                    "resource/service": "service",
                },
            }
        },
    }
    path = root / "anycost.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


class World:
    """The history's files, the project and the CloudZero stand-in, and what the user does."""

    def __init__(self, history: History, folder: Path) -> None:
        self.history = history
        self.files = dict(history.files)
        self.root = folder / "project"
        self.config = _write(self.root, self.files, history.operation)
        self.server: SandboxServer = start_sandbox(folder / "cloudzero", api_key=KEY)
        # The rows of the deleted files, as CBF rows: never dropped from CloudZero by a run.
        self.deleted: list[dict] = []
        # CloudZero's months when the step began: the month as last sent, which a run carries
        # the deleted files' rows forward from (emptied by `delete-month`).
        self.base: dict[str, list[dict]] = {m: [] for m in MONTHS}

    def begin_step(self) -> dict[str, list[dict]]:
        """What CloudZero holds as the step's runs start."""
        self.base = {m: self.held(m) for m in MONTHS}
        return dict(self.base)

    def delete_month(self, month: str) -> None:
        """`anycost delete-month`: the month holds only the files' rows from now on."""
        self.anycost("delete-month", "main", month, "--yes-delete-month")
        self.base[month] = []
        self.deleted = [r for r in self.deleted if not r["time/usage_start"].startswith(month)]

    def carried(self, month: str) -> tuple[Counter, Counter]:
        """The deleted files' rows a run must carry forward into the month: those CloudZero
        held when the step began, as full rows (any of which may be carried), and how many of
        each identity are carried: of the rows of an identity the month as last sent holds
        more of than the files now, as many as came from deleted files."""
        if self.history.operation != "replace_drop":
            return Counter(), Counter()
        base = self.base[month]
        gone = Counter(map(_key, base)) & Counter(map(_key, self.deleted))
        files = Counter(map(_identity, expected_rows(self.files, month)))
        sent = Counter(map(_identity, base))
        gone_by = Counter()
        for key, count in gone.items():
            gone_by[_identity(json.loads(key))] += count
        return gone, Counter({k: min(n, max(0, sent[k] - files[k])) for k, n in gone_by.items()})

    def holds_truth(self, month: str, held: list[dict]) -> bool:
        """Whether CloudZero's month is the files' month with the deleted rows carried."""
        expected = Counter(map(_key, expected_rows(self.files, month)))
        rows = Counter(map(_key, held))
        if expected - rows:
            return False
        surplus = rows - expected
        gone, count = self.carried(month)
        if surplus - gone:
            return False
        by = Counter()
        for key, n in surplus.items():
            by[_identity(json.loads(key))] += n
        return +by == +count

    def held(self, month: str) -> list[dict]:
        return self.server.store.month_rows(CONNECTION_ID, month)

    def drops(self, month: str) -> int:
        return sum(1 for d in self.server.store.drop_history(CONNECTION_ID) if d["month"] == month)

    def anycost(self, *args: str) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                [ANYCOST, *args],
                cwd=self.root,
                env=environment(self.config, self.server.url),
                capture_output=True,
                text=True,
                timeout=RUN_SECONDS,
            )
        except subprocess.TimeoutExpired as hung:  # run() killed it and kept what it said
            said = [
                w.decode(errors="replace") if isinstance(w, bytes) else w or ""
                for w in (hung.stdout, hung.stderr)
            ]
            raise Hung(list(args), " ".join(said)) from None

    def journal(self) -> list[Path]:
        return sorted((self.root / ".anycost" / "submissions").glob("*/*.json"))

    def post(self, month: str, operation: str, rows: list[dict]) -> None:
        answer = requests.post(
            f"{self.server.url}/v2/connections/billing/anycost/{CONNECTION_ID}/billing_drops",
            headers={"Authorization": KEY},
            json={"month": month, "operation": operation, "data": rows},
            timeout=30,
        )
        answer.raise_for_status()

    def step(self, what: str, number: int) -> None:
        """Change the world as the step says (the files, CloudZero or the adaptor's state)."""
        rng = random.Random(number)
        names = sorted(self.files)
        if what == "move" and names:
            name = rng.choice(names)
            rows = list(self.files[name])
            if rows:
                index = rng.randrange(len(rows))
                date, service, amount = rows[index]
                month = rng.choice([m for m in MONTHS if not date.startswith(m)])
                rows[index] = (f"{month}{date[7:]}", service, amount)
                self.files[name] = tuple(rows)
        elif (what == "edit" or (what == "overlap" and self.history.operation != "sum")) and names:
            # Two overlapping runs follow a changed file (a sum history keeps its files).
            name = rng.choice(names)
            self.files[name] = tuple((d, s, f"{a}1") for d, s, a in self.files[name])
        elif what == "overlap" and during_write(number):
            # A sum history keeps its files: an emptied month gives the first run a write.
            held = [m for m in MONTHS if expected_rows(self.files, m)]
            if held:
                self.delete_month(rng.choice(held))
        elif what == "add":
            self.files[f"invoice-new-{number}.csv"] = tuple(_row(rng) for _ in range(2))
        elif what == "empty" and names:
            self.files[rng.choice(names)] = ()
        elif what == "delete" and names:
            name = rng.choice(names)
            self.deleted += expected_rows({name: self.files.pop(name)}, "")
        elif what == "foreign":
            month = rng.choice(MONTHS)
            row = {"time/usage_start": f"{month}-03T05:00:00Z", "cost/cost": "-1.00"}
            self.post(month, "sum", [row])
        elif what == "delete-month":
            self.delete_month(rng.choice(MONTHS))
        elif what == "damage" and self.journal():
            record = rng.choice(self.journal())
            record.write_text(record.read_text()[: rng.randrange(0, 40)])
        elif what == "lose-journal":
            shutil.rmtree(self.root / ".anycost" / "submissions", ignore_errors=True)
        self.config = _write(self.root, self.files, self.history.operation)

    def close(self) -> None:
        self.server.close()


def _truthful(world: World, word: str, month: str, before: list[dict], drops: int) -> str | None:
    """Why a month's status word is false after the run (None: it is true)."""
    after, new = world.held(month), world.drops(month) - drops
    if word == "sent" and not world.holds_truth(month, after):
        return f"{month}: said sent, but CloudZero does not hold the files' month"
    if word == "unchanged" and (new or not _same(after, before)):
        return f"{month}: said unchanged, but CloudZero's month changed"
    if word == "unchanged" and not world.holds_truth(month, after):
        return f"{month}: said unchanged, but CloudZero does not hold the files' month"
    if word == "cleared" and after:
        return f"{month}: said cleared, but CloudZero holds {len(after)} rows"
    if word in ("kept", "nothing sent") and (new or not _same(after, before)):
        return f"{month}: said {word}, but {new} drop(s) arrived"
    if word == "superseded":  # only a run that overlapped another can lose to a later read
        return f"{month}: said superseded, but no other run overlapped it"
    return None


def _follow_advice(world: World, words: str) -> None:
    """Do what the failed run's words say: delete a damaged journal record; empty a month in
    conflict (`anycost delete-month`), then run again."""
    for path in re.findall(r"the submission journal's record of \d{4}-\d{2} \(([^)]+)\)", words):
        Path(path).unlink(missing_ok=True)
    for month in re.findall(r"Nothing was sent for (\d{4}-\d{2}): CloudZero holds", words):
        world.delete_month(month)


def during_write(number: int) -> bool:
    """Whether an overlap step starts its second run while the first's write is held (else
    both at once)."""
    return number % 2 == 1


def _overlapping_runs(world: World, result: HistoryResult, number: int) -> None:
    """Two `anycost run`s at once, as a sensor's run and a user's can be. Their words are not
    checked one by one (each month may be changed by the other run while it runs): the
    history's invariant after the clean runs that follow is what must hold."""
    # Writes are answered slowly while the runs overlap. The sandbox otherwise answers in
    # milliseconds: with the connection's pool and its lock both removed on purpose, two runs
    # never happened to send at the same instant, and the campaign did not notice.
    held = WRITE_HELD_SECONDS if during_write(number) else 0.5
    faults, world.server.faults = world.server.faults, Faults(delay=held)
    try:
        _both_runs(world, result, during_write(number))
    finally:
        world.server.faults = faults


def _start_run(world: World, output: Path) -> subprocess.Popen:
    # Each run writes to a file of its own, not a pipe: a pipe read only after the other run
    # ended could fill and stop its writer, which the campaign would then call hung.
    with output.open("w") as handle:
        return subprocess.Popen(
            [ANYCOST, "run"],
            cwd=world.root,
            env=environment(world.config, world.server.url),
            stdout=handle,
            stderr=subprocess.STDOUT,
            text=True,
        )


def _write_in_flight(world: World, first: subprocess.Popen) -> bool:
    """Wait until the first run has a write in flight (True) or has ended (False)."""
    deadline = time.monotonic() + RUN_SECONDS
    while first.poll() is None and time.monotonic() < deadline:
        request = world.server.store.in_flight(CONNECTION_ID)
        if request is not None and request.method == "POST":
            return True
        time.sleep(0.01)
    return False


def _both_runs(world: World, result: HistoryResult, during_write: bool) -> None:
    outputs = [world.root / f"overlap-{n}.log" for n in range(2)]
    processes = [_start_run(world, outputs[0])]
    met = during_write and _write_in_flight(world, processes[0])
    if met:
        # Only this write is held long; the runs' later writes are answered as at once.
        world.server.faults = Faults(delay=0.5)
    processes.append(_start_run(world, outputs[1]))
    deadline = time.monotonic() + RUN_SECONDS
    try:
        for process in processes:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        running = [n for n, p in enumerate(processes) if p.poll() is None]
        slots = _slots(world)
        for each in processes:
            each.kill()
            each.wait()
        words = [
            f"run {n + 1} ({'did not end' if n in running else 'ended'}): "
            + " ".join(output.read_text(errors="replace").split()[-60:])
            for n, output in enumerate(outputs)
        ]
        said = " | ".join([*words, f"pool slots: {slots}"])
        raise Hung(["run", "(two at once)"], said, last=len(said.split())) from None
    if met:
        result.met_writes += 1
        result.waited += WAITED in outputs[1].read_text(errors="replace")
    for process, output in zip(processes, outputs, strict=True):
        result.runs += 1
        if process.returncode != 0:
            _follow_advice(world, output.read_text(errors="replace"))


SLOTS = """
import dagster as dg
with dg.DagsterInstance.get() as instance:
    for key in sorted(instance.event_log_storage.get_concurrency_keys()):
        info = instance.event_log_storage.get_concurrency_info(key)
        held = [(s.run_id[:8], s.step_key) for s in info.claimed_slots]
        waiting = [(s.run_id[:8], s.step_key) for s in info.pending_steps]
        print(f"{key}: limit {info.slot_count}, held by {held}, waiting {waiting}")
"""


def _slots(world: World) -> str:
    """Each pool's slots in the run's Dagster instance: which run's step holds or waits for
    the connection's slot, for a hung run's report."""
    try:
        shown = subprocess.run(
            [sys.executable, "-c", SLOTS],
            cwd=world.root,
            env=environment(world.config, world.server.url),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        return "(not read within 60 s)"
    return " ".join((shown.stdout + shown.stderr).split())[-1500:] or "(none)"


def _run(world: World, result: HistoryResult, kill: bool = False) -> int | None:
    before = {m: world.held(m) for m in MONTHS}
    drops = {m: world.drops(m) for m in MONTHS}
    if kill:
        process = subprocess.Popen(
            [ANYCOST, "run"],
            cwd=world.root,
            env=environment(world.config, world.server.url),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 120
        start = len(world.server.store.drop_history(CONNECTION_ID))
        while process.poll() is None and time.monotonic() < deadline:
            if len(world.server.store.drop_history(CONNECTION_ID)) > start:
                process.kill()
                break
            time.sleep(0.005)
        process.wait()
        result.runs += 1
        return None
    done = world.anycost("run")
    result.runs += 1
    words = done.stdout + done.stderr
    for month, word in LINE.findall(done.stdout):
        if month in before:
            problem = _truthful(world, word.strip(), month, before[month], drops[month])
            if problem:
                result.violations.append(f"run {result.runs}: {problem}")
    if done.returncode != 0:
        _follow_advice(world, words)
    return done.returncode


def run_history(history: History, folder: Path) -> HistoryResult:
    result = HistoryResult(history.seed)
    world = World(history, folder)
    try:
        _run(world, result)
        for what, number in history.steps:
            world.step(what, number)
            world.begin_step()
            if what == "overlap":
                _overlapping_runs(world, result, number)
            else:
                _run(world, result, kill=what == "kill")
            for _ in range(ATTEMPTS):
                if _run(world, result) == 0:
                    break
            else:
                result.violations.append(f"after {what}: no clean run in {ATTEMPTS} attempts")
            for month in MONTHS:
                held, expected = world.held(month), expected_rows(world.files, month)
                if not world.holds_truth(month, held):
                    total = sum((Decimal(r["cost/cost"]) for r in held), Decimal(0))
                    want = sum((Decimal(r["cost/cost"]) for r in expected), Decimal(0))
                    _, carried = world.carried(month)
                    result.violations.append(
                        f"after {what}: {month}: CloudZero holds {len(held)} rows (cost {total}),"
                        f" the files {len(expected)} (cost {want}), with "
                        f"{sum(carried.values())} row(s) of deleted files carried"
                    )
        # The histories' runs keep the client's default timeout and the sandbox never holds an
        # answer there: no overlap is a probe.
        overlap = overlap_violation(world.server, CloudZeroConfig().timeout_seconds)
        if overlap:
            result.violations.append(overlap)
    except Hung as hung:
        result.violations.append(str(hung))
    finally:
        world.close()
    return result
