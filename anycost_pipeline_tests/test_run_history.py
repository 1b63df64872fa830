"""The run history's storage keeps each file's engine, and the file open, between records, and
stores what Dagster's own does."""

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
import sqlalchemy
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from sqlalchemy.pool import Pool

from anycost_pipeline import run_history
from anycost_pipeline.cli.home import dagster_home

MONTHS = dg.MonthlyPartitionsDefinition(start_date="2024-01-01")


@dg.asset(partitions_def=MONTHS)
def upstream() -> int:
    return 1


@dg.asset(partitions_def=MONTHS)
def downstream(upstream: int) -> dg.MaterializeResult:
    return dg.MaterializeResult(metadata={"rows": upstream})


@dg.asset_check(asset=downstream)
def downstream_is_there() -> dg.AssetCheckResult:
    return dg.AssetCheckResult(passed=True)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new instance folder with the settings `anycost` writes (DAGSTER_HOME restored after)."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster_home"))
    return dagster_home(tmp_path)


def engines_built(monkeypatch: pytest.MonkeyPatch) -> collections.Counter:
    """Counts the engines the storage builds, by database file."""
    built: collections.Counter = collections.Counter()
    real = run_history.create_engine

    def counted(url: str, **kwargs):
        built[url] += 1
        return real(url, **kwargs)

    monkeypatch.setattr(run_history, "create_engine", counted)
    return built


def materialize(instance: dg.DagsterInstance, month: str) -> str:
    result = dg.materialize(
        [upstream, downstream, downstream_is_there], instance=instance, partition_key=month
    )
    assert result.success
    return result.run_id


def test_runs_are_stored_as_dagsters_own_storage_reads_them_with_engines_kept_per_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = engines_built(monkeypatch)
    with dg.DagsterInstance.get() as instance:
        assert isinstance(instance.event_log_storage, run_history.SqliteEventLogKeepingEngines)
        runs = [materialize(instance, month) for month in ("2024-07-01", "2024-08-01")]
        ours = {
            run: [
                (r.storage_id, r.event_log_entry.dagster_event_type)
                for r in instance.get_records_for_run(run).records
            ]
            for run in runs
        }
    # The index and each run's file: dozens of records each, two engines each (reads, records).
    assert len(built) == 3 and set(built.values()) == {2}, built
    assert all(len(records) > 10 for records in ours.values())

    # Dagster's default storage of the same folder reads the same history.
    plain = SqliteEventLogStorage(run_history.events_folder(str(home)))
    for run, records in ours.items():
        theirs = plain.get_records_for_run(run).records
        assert records == [(r.storage_id, r.event_log_entry.dagster_event_type) for r in theirs]
    materialized = plain.fetch_materializations(downstream.key, limit=10).records
    assert sorted(r.partition_key for r in materialized) == ["2024-07-01", "2024-08-01"]
    check = plain.get_asset_check_execution_history(downstream_is_there.check_key, limit=10)
    assert sorted(c.run_id for c in check if c.status.value == "SUCCEEDED") == sorted(runs)


def test_a_process_that_holds_many_runs_keeps_a_bounded_number_of_engines(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_history, "KEPT_FILES", 2)
    built = engines_built(monkeypatch)
    with dg.DagsterInstance.get() as instance:
        runs = [materialize(instance, f"2024-0{m}-01") for m in range(1, 6)]
        storage = instance.event_log_storage
        assert len(storage._files) == 2
        # A run whose engine was let go is read through a new one, whole.
        assert all(instance.get_run_by_id(run).is_success for run in runs)
        assert [len(instance.all_logs(run)) for run in runs] == [
            len(instance.all_logs(runs[0]))
        ] * 5
    assert len(built) == 6  # the index and five runs
    assert sum(built.values()) > 2 * 6  # engines let go were built again when read again


def test_an_instance_opened_by_its_folder_while_dagster_home_names_another_is_refused(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its runs would otherwise be listed with the other instance's events."""
    other = tmp_path / "other"
    other.mkdir()
    monkeypatch.setenv("DAGSTER_HOME", str(other))
    with pytest.raises(dg.DagsterInvariantViolationError, match=f"DAGSTER_HOME={home}"):
        dg.DagsterInstance.from_config(str(home))


def deleted_files_open(home: Path) -> list[str]:
    """The run history's files that this process holds open although they were deleted."""
    folder = run_history.events_folder(str(home))
    links = (os.readlink(fd) for fd in Path("/proc/self/fd").iterdir() if fd.is_symlink())
    return [link for link in links if link.startswith(folder) and link.endswith("(deleted)")]


def test_a_runs_records_after_a_wipe_are_in_its_new_file(home: Path) -> None:
    """A wipe deletes the runs' files: none is left open, what a run says next is stored in
    its new file, not lost with the deleted one, and the new file is held open in turn."""
    with dg.DagsterInstance.get() as instance:
        run = instance.get_run_by_id(materialize(instance, "2024-07-01"))
        instance.wipe()
        assert deleted_files_open(home) == []
        instance.report_engine_event("said after the wipe", run)
        assert f"{run.run_id}.db-wal" in logs_of(home)
    said = said_in(home, run.run_id)
    assert said == ["said after the wipe"]


def test_a_record_between_a_wipes_closing_and_its_deletions_leaves_the_new_file_held(
    home: Path,
) -> None:
    """A wipe closes the held files, then Dagster deletes them, outside Dagster's lock: a record
    from another thread in between holds the old file again. The run's next record goes to its
    new file, which is held in turn (the wipe's steps are run here in that order)."""
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run = instance.get_run_by_id(materialize(instance, "2024-07-01"))
        storage._close_files()
        instance.report_engine_event("said before the deletions", run)  # held again
        SqliteEventLogStorage.wipe(storage)  # the deletions
        instance.report_engine_event("said after the wipe", run)
        assert f"{run.run_id}.db-wal" in logs_of(home)
    said = said_in(home, run.run_id)
    assert said == ["said after the wipe"]


def logs_of(home: Path) -> list[str]:
    """The write-ahead logs in the instance's run history folder."""
    return sorted(p.name for p in Path(run_history.events_folder(str(home))).glob("*.db-wal"))


def test_a_file_keeps_its_log_between_records_and_has_it_folded_in_when_closed(
    home: Path,
) -> None:
    """Closing a file's last connection folds its write-ahead log into it and deletes it, with
    disk syncs, which Dagster's storage did for every record; held open, the log stays until
    SQLite's own checkpoints or the instance closes, and nothing is left behind."""
    with dg.DagsterInstance.get() as instance:
        run = materialize(instance, "2024-07-01")
        during = logs_of(home)
        records = len(instance.get_records_for_run(run).records)
    assert during == sorted([f"{run}.db-wal", "index.db-wal"])
    assert logs_of(home) == []
    plain = SqliteEventLogStorage(run_history.events_folder(str(home)))
    assert len(plain.get_records_for_run(run).records) == records > 10


def said_in(home: Path, run_id: str) -> list[str]:
    """What a run said, as Dagster's own storage reads it from the instance at `home`."""
    plain = SqliteEventLogStorage(run_history.events_folder(str(home)))
    return [r.event_log_entry.message for r in plain.get_records_for_run(run_id).records]


def event(message: str, run_id: str) -> EventLogEntry:
    """A record of `run_id` that says `message`."""
    return EventLogEntry(
        error_info=None, level=20, user_message=message, run_id=run_id,
        timestamp=time.time(), step_key=None, job_name="j", dagster_event=None,
    )  # fmt: skip


def test_a_forked_child_writes_through_connections_of_its_own(home: Path) -> None:
    """SQLite forbids using a connection across a fork (an executor that forks its step
    processes): the child writes through its own, also after the parent has closed the files
    it held (which folds their logs in and deletes them), and the parent's stay usable."""
    with dg.DagsterInstance.get() as instance:
        storage = instance.event_log_storage
        run = instance.get_run_by_id(materialize(instance, "2024-07-01"))
        kept = dict(storage._files)
        closed_read, closed_write = os.pipe()
        under_way_read, under_way_write = os.pipe()
        child = os.fork()
        if child == 0:  # the child: a clean exit code says what it saw
            try:
                ok = not storage._files
                said = storage.prepare_insert_event(event("said by the child", run.run_id))
                with storage.run_connection(run.run_id) as conn:  # a record under way
                    conn.execute(said)
                    os.write(under_way_write, b"x")
                    os.read(closed_read, 1)  # the parent has closed the files it held
                instance.report_engine_event("said by the child after", run)
            except BaseException:
                os._exit(2)
            os._exit(0 if ok else 1)
        os.read(under_way_read, 1)
        assert storage._files == kept
        storage._close_files()  # as when the parent evicts, wipes or closes
        os.write(closed_write, b"x")
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        instance.report_engine_event("said by the parent after", run)
    said = said_in(home, run.run_id)
    assert said[-3:] == ["said by the child", "said by the child after", "said by the parent after"]


WRITER = """
import sys, time
from pathlib import Path
from anycost_pipeline.run_history import SqliteEventLogKeepingEngines
from anycost_pipeline_tests.test_run_history import event

storage = SqliteEventLogKeepingEngines(sys.argv[1])
for said in ("first", "second", "third"):
    storage.store_event(event(said, "r1"))
    time.sleep(0.3)
while not Path(sys.argv[2]).exists():  # the run goes on, its connection open
    time.sleep(0.05)
"""


def test_the_live_run_log_sees_a_runs_records_while_the_run_goes_on(tmp_path: Path) -> None:
    """The UI follows a run that another process writes, through a watcher of the run's file
    (with the file held open, records go to its write-ahead log and the file itself changes
    only at checkpoints)."""
    home, done = tmp_path / "home", tmp_path / "done"
    home.mkdir()
    storage = run_history.SqliteEventLogKeepingEngines(str(home))
    seen: list[str] = []
    storage.watch("r1", None, lambda entry, cursor: seen.append(entry.user_message))
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(home), str(done)])
    try:
        deadline = time.monotonic() + 60
        while len(seen) < 3 and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.05)
        assert writer.poll() is None  # still running: what was seen came while it wrote
        assert seen == ["first", "second", "third"]
    finally:
        done.touch()
        writer.wait(timeout=60)
        storage.dispose()


KILLED = """
import sys, time
from pathlib import Path
from anycost_pipeline.run_history import SqliteEventLogKeepingEngines
from anycost_pipeline_tests.test_run_history import event

storage = SqliteEventLogKeepingEngines(sys.argv[1])
for number in range(50):
    storage.store_event(event(f"record {number}", "r1"))
Path(sys.argv[2]).touch()
time.sleep(600)  # killed here, its files held open
"""


def test_a_killed_writer_loses_no_record_it_committed(tmp_path: Path) -> None:
    """A killed run leaves its records in the file's write-ahead log, never synced by a
    checkpoint or a close: the next reader has every one."""
    home, written = tmp_path / "home", tmp_path / "written"
    home.mkdir()
    writer = subprocess.Popen([sys.executable, "-c", KILLED, str(home), str(written)])
    try:
        deadline = time.monotonic() + 60
        while not written.exists() and time.monotonic() < deadline and writer.poll() is None:
            time.sleep(0.05)
        assert written.exists()
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=60)
    assert "r1.db-wal" in logs_of(home)  # the records were in the log alone
    said = said_in(home, "r1")
    assert said == [f"record {number}" for number in range(50)]


def test_a_files_records_go_through_one_kept_connection_and_reads_through_new_ones(
    tmp_path: Path,
) -> None:
    """Opening a connection cost more than writing the record (SQLite reads the file's schema
    again each time): a run's records reuse one. Every read still opens its own, as in
    Dagster, so no read sees a snapshot that a kept connection holds."""
    storage = run_history.SqliteEventLogKeepingEngines(str(tmp_path))
    opened: list[object] = []

    def count(dbapi_connection: object, _record: object) -> None:
        opened.append(dbapi_connection)

    sqlalchemy.event.listen(Pool, "connect", count)
    try:
        storage.store_event(event("first", "r1"))
        before = len(opened)
        for number in range(20):
            storage.store_event(event(f"record {number}", "r1"))
        recorded = len(opened) - before
        reads = [len(storage.get_records_for_run("r1").records) for _ in range(3)]
        read = len(opened) - before - recorded
    finally:
        sqlalchemy.event.remove(Pool, "connect", count)
        storage.dispose()
    assert (recorded, read) == (0, 3)
    assert reads == [21] * 3


TAKING_TURNS = """
import sys, time
from pathlib import Path
import dagster as dg
from anycost_pipeline_tests.test_run_history import downstream, materialize

turn, done = Path(sys.argv[1]), Path(sys.argv[2])
with dg.DagsterInstance.get() as instance:
    for month in ("2024-02-01", "2024-04-01", "2024-06-01"):
        while not turn.exists():
            time.sleep(0.02)
        turn.unlink()
        materialize(instance, month)
        done.touch()
    seen = instance.fetch_materializations(downstream.key, limit=10).records
    sys.exit(0 if len(seen) == 6 else 1)
"""


def test_two_processes_that_record_in_turn_each_read_the_others_records(
    home: Path, tmp_path: Path
) -> None:
    """Two processes keep their connections to the index open and write it in turn (a run
    and the daemon, two runs): each writes after the other without failing, and reads what
    the other wrote. A kept connection that held an old snapshot would fail its next write."""
    turn, done = tmp_path / "turn", tmp_path / "done"
    other = subprocess.Popen([sys.executable, "-c", TAKING_TURNS, str(turn), str(done)])
    try:
        with dg.DagsterInstance.get() as instance:
            for month in ("2024-01-01", "2024-03-01", "2024-05-01"):
                materialize(instance, month)
                turn.touch()
                deadline = time.monotonic() + 120
                while not done.exists() and other.poll() is None and time.monotonic() < deadline:
                    time.sleep(0.02)
                assert done.exists(), "the other process did not take its turn"
                done.unlink()
            seen = instance.fetch_materializations(downstream.key, limit=10).records
            assert sorted(r.partition_key for r in seen) == [f"2024-0{m}-01" for m in range(1, 7)]
    finally:
        assert other.wait(timeout=120) == 0


WIPED_ELSEWHERE = """
import sys
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage
from anycost_pipeline_tests.test_run_history import event

storage = SqliteEventLogStorage(sys.argv[1])
storage.wipe()
storage.store_event(event("said by the other after its wipe", "r1"))
"""


def test_a_file_made_again_elsewhere_right_after_a_first_record_gets_the_next_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another process wipes the run history and writes the run's file again just after this
    process's first record, before it holds the file: the next records go to the new file,
    not to the deleted one that the kept connection was opened on."""
    storage = run_history.SqliteEventLogKeepingEngines(str(tmp_path))
    real = run_history._OpenFile.hold
    wiped: list[bool] = []

    def hold_after_a_wipe_elsewhere(kept: run_history._OpenFile, path: str) -> None:
        if not wiped and path.endswith("r1.db"):
            wiped.append(True)
            folder = run_history.events_folder(str(tmp_path))
            subprocess.run([sys.executable, "-c", WIPED_ELSEWHERE, folder], check=True)
        real(kept, path)

    monkeypatch.setattr(run_history._OpenFile, "hold", hold_after_a_wipe_elsewhere)
    try:
        for said in ("first", "second", "third"):
            storage.store_event(event(said, "r1"))
    finally:
        storage.dispose()
    assert said_in(tmp_path, "r1") == ["said by the other after its wipe", "second", "third"]


FORKED_WHILE_LOCKED = """
import os, sys, threading, time
from anycost_pipeline.run_history import SqliteEventLogKeepingEngines
from anycost_pipeline_tests.test_run_history import event

storage = SqliteEventLogKeepingEngines(sys.argv[1])
storage.store_event(event("before the fork", "r1"))
mutex = storage._files["r1"].recorder.pool._pool.mutex
held, release = threading.Event(), threading.Event()

def check_in_or_out() -> None:
    with mutex:  # as a thread taking or giving back the kept connection holds it
        held.set()
        release.wait()

threading.Thread(target=check_in_or_out, daemon=True).start()
held.wait()
child = os.fork()
if child == 0:
    storage.store_event(event("said by the child", "r1"))
    os._exit(0)
release.set()
deadline = time.monotonic() + 20
while time.monotonic() < deadline:
    done, status = os.waitpid(child, os.WNOHANG)
    if done:
        sys.exit(os.waitstatus_to_exitcode(status))
    time.sleep(0.05)
os.kill(child, 9)
sys.exit(3)  # the child hung
"""


def test_a_child_forked_while_another_thread_used_the_kept_connection_goes_on(
    tmp_path: Path,
) -> None:
    """The child closes the connections it inherited without the pool's lock, which the
    other thread held at the fork and never gives back in the child."""
    run = subprocess.run(
        [sys.executable, "-c", FORKED_WHILE_LOCKED, str(tmp_path)], timeout=120, check=False
    )
    assert run.returncode == 0, "the forked child hung or failed"
    assert said_in(tmp_path, "r1") == ["before the fork", "said by the child"]
