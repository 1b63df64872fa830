"""A shared volume without file locks (an NFS mount without its lock service, some SMB or FUSE
mounts) must stop a send clearly, before anything is sent, and say so truthfully."""

import errno
import types
from pathlib import Path

import pytest

from anycost_pipeline.cli.common import deliveries
from anycost_pipeline.cloudzero import locks
from anycost_pipeline.cloudzero.sandbox import SandboxStore
from anycost_pipeline.cloudzero.submit import NOTHING_SENT
from anycost_pipeline_tests.conftest import Project


def _flock_unsupported(code: int) -> types.SimpleNamespace:
    """fcntl as the lock module uses it, on a filesystem that refuses every lock."""

    def flock(fd: int, operation: int) -> None:
        raise OSError(code, "No locks available" if code == errno.ENOLCK else "not supported")

    return types.SimpleNamespace(
        flock=flock,
        LOCK_EX=locks.fcntl.LOCK_EX,
        LOCK_NB=locks.fcntl.LOCK_NB,
        LOCK_UN=locks.fcntl.LOCK_UN,
    )


def test_a_volume_without_locks_stops_the_send_and_says_nothing_was_sent(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "fcntl", _flock_unsupported(errno.ENOLCK))
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    (failure,) = [
        e for e in result.all_events if e.is_step_failure and "drop" in (e.step_key or "")
    ]
    message = failure.step_failure_data.user_failure_data.description
    lock_file = locks.lock_path(project.storage / "locks", "simple_cloud_main")
    assert "nothing was sent to connection simple_cloud_main" in message
    assert str(lock_file) in message
    assert "does not support file locks" in message
    assert "cloudzero_<connection>" in message
    # What `anycost run` prints for the connection: the words are true, nothing reached it.
    assert deliveries(result, ["simple_cloud_main"]) == {"simple_cloud_main": NOTHING_SENT}
    assert SandboxStore(project.storage / "sandbox").drop_history("simple_cloud_main") == []


def test_a_lock_folder_that_cannot_be_made_is_named(tmp_path: Path) -> None:
    (tmp_path / "state").write_text("a file where the state folder should be")
    folder = tmp_path / "state" / "locks"
    with pytest.raises(locks.LockUnavailable) as raised:
        with locks.connection_lock(folder, "c-1"):
            pytest.fail("the lock was taken")
    text = str(raised.value)
    assert "nothing was sent to connection c-1" in text
    assert "cannot be created (Not a directory)" in text
    assert str(folder) in text


def test_a_volume_without_locks_stops_the_read_counter_with_a_clear_message(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every read of a source takes its number under a lock (`batches.next_pull`)."""
    from anycost_pipeline.sources import batches

    class NoLocks:
        def __init__(self, path: str) -> None:
            self.path = path

        def __enter__(self) -> None:
            raise OSError(errno.ENOLCK, "No locks available")

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr(batches, "FileLock", NoLocks)
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = failure.step_failure_data.user_failure_data.description
    assert "source 'simple_cloud': its read counter" in message, message
    assert "No locks available" in message and "nothing was read or sent" in message
    assert SandboxStore(project.storage / "sandbox").drop_history("simple_cloud_main") == []
