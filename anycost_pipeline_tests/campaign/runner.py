"""Run one scenario as a user would, and check the invariants after every step.

The user runs `anycost run 2024-08` against CloudZero (the sandbox on 127.0.0.1, answering as
the API reference documents and injecting the scenario's faults) and, after a failure, does
what the CLI advises: runs the month again, or fixes the export first when the CLI names a bad
value. After each run the campaign checks that what the CLI said about the month is true, that
no request was ever sent while another was in flight on the connection (but for the read that
asks whether a write is done, see `is_probe`), and in the end that CloudZero holds
exactly the source's month and that the API key was written nowhere.
"""

import json
import re
import subprocess
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import COUNTERS, DROPS, Faults, SandboxServer
from anycost_pipeline.cloudzero.sandbox.store import Overlap
from anycost_pipeline_tests.campaign.scenario import (
    CONNECTION_ID,
    MONTH,
    TIMEOUT_SECONDS,
    Scenario,
    write_project,
)
from anycost_pipeline_tests.cli.live import ANYCOST, KEY, environment

MAX_RUNS = 4
# The status line `anycost run` prints for the month on stdout (three spaces, then the word).
# Its reason may follow after a colon ("unchanged: CloudZero holds 9 rows, as last sent").
STATUS = re.compile(rf"^   {MONTH}: ([^:\n]+)", re.MULTILINE)
WORDS = ("sent", "unchanged", "nothing sent", "maybe sent", "partly sent", "sent, not confirmed")


@dataclass
class Result:
    """What one scenario did and every invariant it broke."""

    seed: int
    runs: int = 0
    kills: int = 0
    restarts: int = 0
    faults: Counter = field(default_factory=Counter)
    probes: int = 0  # reads that asked whether a held write was done (allowed, see is_probe)
    # Histories: second runs started while the first run's write was held, and those of them
    # that said they waited for the connection (history.py, overlap-write).
    met_writes: int = 0
    waited: int = 0
    violations: list[str] = field(default_factory=list)
    said: list[str] = field(default_factory=list)  # each run's exit and words, for a failure


def _held(server: SandboxServer) -> list[dict]:
    return server.store.month_rows(CONNECTION_ID, MONTH)


def _same(rows: list[dict], expected: list[dict]) -> bool:
    def key(row: dict) -> str:
        return json.dumps(row, sort_keys=True, ensure_ascii=False)

    return sorted(map(key, rows)) == sorted(map(key, expected))


def is_probe(overlap: Overlap, timeout: float) -> bool:
    """Whether a refused request is the client asking whether a write that outlived its
    answer is done: a read of the connection's drop list (no month, no key), at least the
    client's `timeout` after a write claimed the connection, while the sandbox held that
    write's answer (`Faults.slow_rate`).

    The client cannot know whether CloudZero still runs such a write, so it reads the drop list
    until CloudZero answers (README, "Sending": two writes are never in flight); CloudZero
    refuses that read with 429 while the write runs, and nothing changes. The sandbox cannot
    tell whose read it is: the histories, which never hold an answer, allow no overlap at all,
    so two runs of a connection that overlap are caught there.
    """
    held, arrived = overlap.held, overlap.arrived
    read = DROPS.match(arrived.path)
    return (
        arrived.method == "GET"
        and read is not None
        and read["month"] is None
        and not arrived.key
        and held.method == "POST"
        and overlap.held_since is not None
        and overlap.at - overlap.held_claimed >= timeout
    )


def overlap_violation(server: SandboxServer, timeout: float) -> str | None:
    """What broke "one request at a time per connection", naming the first pair, or None:
    every refused request but the client's probe (`is_probe`)."""
    unsafe = [o for o in server.store.overlaps() if not is_probe(o, timeout)]
    if not unsafe:
        return None
    return f"{len(unsafe)} request(s) overlapped another; the first: {unsafe[0]}"


def _drops(server: SandboxServer) -> int:
    return len(server.store.drop_history(CONNECTION_ID))


class _Server:
    """The sandbox of a scenario, which can be stopped and started again on the same port."""

    def __init__(self, folder: Path, faults: Faults) -> None:
        self.folder, self.faults = folder, faults
        self.server = start_sandbox(folder, api_key=KEY, faults=faults)
        self.port = self.server.server_address[1]

    def restart(self) -> None:
        self.server.close()
        time.sleep(0.3)  # down for a moment: the client must retry its connection
        self.server = start_sandbox(self.folder, port=self.port, api_key=KEY, faults=self.faults)

    def close(self) -> None:
        self.server.close()


def _run(
    config: Path, sandbox: _Server, *, kill_after: int | None, restart_after: int | None
) -> tuple[int | None, str, bool, bool]:
    """One `anycost run`; returns (exit code or None when killed, its words, killed, restarted)."""
    start = _drops(sandbox.server)
    process = subprocess.Popen(
        [ANYCOST, "run", MONTH],
        cwd=config.parent,
        env=environment(config, sandbox.server.url),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    killed = restarted = False
    deadline = time.monotonic() + 600
    while process.poll() is None and time.monotonic() < deadline:
        applied = _drops(sandbox.server) - start
        if kill_after is not None and not killed and applied >= kill_after:
            process.kill()
            killed = True
        if restart_after is not None and not restarted and applied >= restart_after:
            sandbox.restart()
            restarted = True
        time.sleep(0.01)
    if process.poll() is None:
        process.kill()
    report, notes = process.communicate()
    return (None if killed else process.returncode), report + notes, killed, restarted


def _drop_alone(config: Path, url: str) -> int:
    """Materialise drop/main alone for the month, as the UI's Materialize or a sensor does."""
    command = [
        str(Path(ANYCOST).parent / "dagster"), "asset", "materialize",
        "-m", "anycost_pipeline.definitions", "--select", "drop/main", "--partition", MONTH,
    ]  # fmt: skip
    env = environment(config, url)
    done = subprocess.run(command, cwd=config.parent, env=env, capture_output=True, timeout=300)
    return done.returncode


def _truthful(word: str, words: str, before: list[dict], after: list[dict], new_drops: int,
              expected: list[dict]) -> str | None:  # fmt: skip
    """Why the status word printed for the month is false (None: it is true)."""
    if word not in WORDS:
        return f"the run said {word!r}, not one of the documented words"
    if word == "sent" and not _same(after, expected):
        return "the run said sent, but CloudZero does not hold the month exactly"
    if word == "unchanged" and (new_drops or not _same(after, expected)):
        return "the run said unchanged, but CloudZero's month changed or is not the source's"
    if word == "nothing sent" and (new_drops or after != before):
        return f"the run said nothing sent, but {new_drops} drop(s) arrived"
    if word == "sent, not confirmed" and not _same(after, expected):
        return "the run said every body was accepted, but CloudZero does not hold the month"
    if "Nothing was sent" in words and new_drops:
        return f"the run printed 'Nothing was sent' after {new_drops} drop(s) arrived"
    return None


def run_scenario(scenario: Scenario, folder: Path) -> Result:
    """Run the scenario in `folder` (a fresh one per scenario)."""
    result = Result(scenario.seed)
    faults = Faults(seed=scenario.seed, retry_after_seconds=1, slow_seconds=2.2,
                    **scenario.faults)  # fmt: skip
    project = folder / "project"
    config = write_project(
        scenario, project, with_bad_row=scenario.bad_row, with_bad_check=scenario.bad_check
    )
    sandbox = _Server(folder / "cloudzero", faults)
    expected = scenario.expected()
    bad_row = scenario.bad_row or scenario.bad_check
    try:
        for attempt in range(MAX_RUNS):
            before, drops_before = _held(sandbox.server), _drops(sandbox.server)
            code, words, killed, restarted = _run(
                config,
                sandbox,
                kill_after=scenario.kill_after if attempt == 0 else None,
                restart_after=scenario.restart_after if attempt == 0 else None,
            )
            result.runs += 1
            ended = "killed" if killed else f"exit code {code}"
            result.said.append(f"run {attempt + 1} ({ended}) said:\n{words}")
            result.kills += killed
            result.restarts += restarted
            after, new_drops = _held(sandbox.server), _drops(sandbox.server) - drops_before
            if killed:
                continue  # a killed run says nothing; the next run must make the month right
            said = STATUS.findall(words)
            if not said:
                result.violations.append(f"run {attempt + 1} printed no status for {MONTH}")
                break
            problem = _truthful(said[-1].strip(), words, before, after, new_drops, expected)
            if problem:
                result.violations.append(f"run {attempt + 1}: {problem}")
            if bad_row:
                if code == 0 or said[-1].strip() != "nothing sent":
                    result.violations.append(
                        f"run {attempt + 1} sent a month whose export holds an unreadable value"
                    )
                if scenario.bad_check:
                    # Something starts the drop on its own (the UI, a sensor): the stored frame
                    # failed rows_valid, so nothing may be sent.
                    drops_before = _drops(sandbox.server)
                    alone = _drop_alone(config, sandbox.server.url)
                    if alone == 0 or _drops(sandbox.server) != drops_before:
                        result.violations.append(
                            "the drop materialised alone sent a month whose checks failed"
                        )
                # The user fixes the export, as the error message says, and runs it again.
                write_project(scenario, project, with_bad_row=False)
                bad_row = False
                continue
            if code == 0:
                break
        else:
            result.violations.append(f"the month was not sent whole within {MAX_RUNS} runs")
        held = _held(sandbox.server)
        if not _same(held, expected):
            total = sum((Decimal(r["cost/cost"]) for r in held), Decimal(0))
            want = sum((s.total for s in scenario.sources), Decimal(0))
            result.violations.append(
                f"CloudZero holds {len(held):,} rows (cost {total}), the source {len(expected):,}"
                f" (cost {want})"
            )
        stats = sandbox.server.stats()
        overlap = overlap_violation(sandbox.server, TIMEOUT_SECONDS)
        if overlap:
            result.violations.append(overlap)
        result.probes = sum(is_probe(o, TIMEOUT_SECONDS) for o in sandbox.server.store.overlaps())
        result.faults.update({k: v for k, v in stats.items() if k.startswith("injected") and v})
        leaked = [
            str(p.relative_to(folder)) for p in _files(project) if KEY.encode() in p.read_bytes()
        ]
        if leaked:
            result.violations.append(f"the API key is written in {', '.join(leaked[:3])}")
    finally:
        sandbox.close()
    return result


def _files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file() and p.stat().st_size < 50_000_000]


__all__ = ["COUNTERS", "Result", "run_scenario"]
