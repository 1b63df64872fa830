"""One submission at a time per connection, across threads, processes and runs on this machine.

CloudZero accepts one request at a time per connection. Dagster's pool keeps two drop steps of
one instance apart; this file lock also keeps apart a command-line run and a UI backfill, or two
Dagster instances that share the project's storage.
"""

import errno
import fcntl
import hashlib
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from anycost_pipeline.cloudzero.errors import ConnectionBusy, LockUnavailable

log = logging.getLogger(__name__)

# flock locks belong to an open file, so two opens in one process would block each other:
# a process-wide lock per file serialises this process's threads first.
_THREAD_LOCKS: dict[str, threading.Lock] = {}
_THREAD_LOCKS_GUARD = threading.Lock()
POLL_SECONDS = 0.2


def lock_path(folder: Path | str, connection_id: str) -> Path:
    """The lock file of a connection (its id hashed: ids may hold any character)."""
    digest = hashlib.sha256(connection_id.encode()).hexdigest()[:24]
    return Path(folder) / f"connection-{digest}.lock"


@contextmanager
def connection_lock(
    folder: Path | str, connection_id: str, *, wait_seconds: float = 3600.0
) -> Iterator[None]:
    """Hold the connection's lock; wait while another submission holds it.

    The operating system releases the lock when the holder ends, even if it crashes, so a
    killed run never leaves the connection locked.
    """
    path = lock_path(folder, connection_id)
    with _THREAD_LOCKS_GUARD:
        in_process = _THREAD_LOCKS.setdefault(str(path), threading.Lock())
    deadline = time.monotonic() + wait_seconds
    if not in_process.acquire(timeout=wait_seconds):
        raise _busy(connection_id, wait_seconds)
    try:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise _cannot_open(connection_id, path, error) from None
        try:
            announced = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if not announced:
                        log.info(
                            "waiting for another submission to connection %s to finish",
                            connection_id,
                        )
                        announced = True
                    if time.monotonic() > deadline:
                        raise _busy(connection_id, wait_seconds) from None
                    time.sleep(POLL_SECONDS)
                except OSError as error:  # ENOLCK and the like: no locks on this filesystem
                    raise _cannot_lock(connection_id, path, error) from None
            try:
                yield
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)
    finally:
        in_process.release()


def _busy(connection_id: str, waited: float) -> ConnectionBusy:
    return ConnectionBusy(
        f"another submission to connection {connection_id} has been running for over {waited:.0f} s",
        "CloudZero accepts one request at a time per connection; wait for the other run to "
        "finish (see the Dagster UI's runs page) and rematerialise the month.",
    )


# What a filesystem without working locks answers flock with: NFS without its lock service
# (ENOLCK), some FUSE and SMB mounts (EOPNOTSUPP, ENOSYS, EINVAL).
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EINVAL}
_ACROSS_PODS = (
    "Across machines and pods, Dagster's pool cloudzero_<connection> (limit 1) is what keeps "
    "two drop steps of one connection apart; this lock file also keeps out runs that do not "
    "share the Dagster instance (`anycost run` with its own DAGSTER_HOME)."
)


def _cannot_lock(connection_id: str, path: Path, error: OSError) -> LockUnavailable:
    why = (
        "the filesystem it is on does not support file locks"
        if error.errno in _NO_LOCKS
        else "the system refused the lock"
    )
    return LockUnavailable(
        f"nothing was sent to connection {connection_id}: its lock file {path} cannot be locked "
        f"({error.strerror or error}): {why}",
        "Keep the project's state (`state:` in anycost.yaml, else `storage:`) on a filesystem "
        "with file locks: a local disk, or a shared volume whose mount supports them (NFS with "
        f"its lock service, NFSv4, EFS). {_ACROSS_PODS}",
    )


def _cannot_open(connection_id: str, path: Path, error: OSError) -> LockUnavailable:
    return LockUnavailable(
        f"nothing was sent to connection {connection_id}: its lock file {path} cannot be "
        f"created ({error.strerror or error})",
        f"The folder {path.parent} must be writable by the user the run runs as (in the "
        "container image, uid 10001: the volume needs fsGroup 10001, as deploy/helm/values.yaml "
        "sets).",
    )


def process_alive(pid: int) -> bool:
    """Whether a process of this machine still runs (one we may not signal counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
