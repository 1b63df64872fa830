"""Resources: where frames are stored and where billing drops are sent."""

import hashlib
import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any, ContextManager

import dagster as dg

from anycost_pipeline.cloudzero.client import (
    DEFAULT_API_URL,
    AnyCostClient,
    api_base_url,
    clean_key,
    require_api_base,
)
from anycost_pipeline.cloudzero.locks import connection_lock
from anycost_pipeline.cloudzero.month_state import Evidence
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Faults
from anycost_pipeline.cloudzero.submit import Limits, MonthOutcome, SubmissionLedger, send_month
from anycost_pipeline.config import AnycostConfig
from anycost_pipeline.defs.io_manager import ParquetStorage, frames_folder
from anycost_pipeline.defs.names import CLOUDZERO, FRAMES_IO_MANAGER, scoped
from anycost_pipeline.settling import Settled

SANDBOX_KEY = "sandbox-key"
SECRET_FIELDS = ("api_key", "test_key")


class CloudZeroResource(dg.ConfigurableResource):
    """Sends billing drops to CloudZero AnyCost Stream, or to the built-in local sandbox."""

    target: str = "sandbox"
    api_url: str = DEFAULT_API_URL
    api_key: str | None = None
    test_key: str | None = None
    sandbox_folder: str = ".anycost/sandbox"
    # Lock files and the record of accepted submissions (default: beside the sandbox folder).
    state_folder: str | None = None
    timeout_seconds: float = 60.0
    retry_after_cap_seconds: float = 120.0
    request_budget_seconds: float = 900.0
    rows_per_month: int = Limits.rows_per_month
    bytes_per_month: int = Limits.bytes_per_month
    sandbox_error_rate: float = 0.0
    sandbox_lost_rate: float = 0.0
    sandbox_delay_seconds: float = 0.0
    sandbox_seed: int | None = None

    def __repr_args__(self) -> Any:  # the key never reaches a repr, a log line or an error
        for name, value in super().__repr_args__():
            yield name, ("[hidden]" if name in SECRET_FIELDS and value else value)

    @property
    def is_sandbox(self) -> bool:
        return self.target == "sandbox"

    def _client(self, url: str, key: str, test_key: str | None = None) -> AnyCostClient:
        return AnyCostClient(
            url,
            key,
            test_key=test_key,
            timeout=self.timeout_seconds,
            retry_after_cap=self.retry_after_cap_seconds,
            budget_seconds=self.request_budget_seconds,
        )

    @contextmanager
    def open_client(self) -> Iterator[AnyCostClient]:
        """A client for the target; for the sandbox, a server on 127.0.0.1 for the duration."""
        if self.is_sandbox:
            faults = Faults(
                self.sandbox_error_rate,
                self.sandbox_lost_rate,
                self.sandbox_delay_seconds,
                self.sandbox_seed,
            )
            with start_sandbox(self.sandbox_folder, api_key=SANDBOX_KEY, faults=faults) as server:
                client = self._client(server.url, SANDBOX_KEY)
                try:
                    yield client
                finally:
                    client.close()
            return
        try:
            key = clean_key(self.api_key)
        except ValueError as error:
            raise dg.Failure(f"{error}; the live target needs a CloudZero API key.") from None
        client = self._client(self.api_url, key, self.test_key)
        try:
            yield client
        finally:
            client.close()

    def reading(self, connection_id: str, *, wait_seconds: float = 3600.0) -> ContextManager[None]:
        """Hold the connection's lock while reading what CloudZero holds of it with a client
        from `open_client`: a run of another process may be sending to it, and CloudZero
        takes one request at a time per connection."""
        return connection_lock(self.lock_folder, connection_id, wait_seconds=wait_seconds)

    @contextmanager
    def connection_client(self, connection_id: str) -> Iterator[AnyCostClient]:
        """A client that holds the connection's lock: no other request of this project (a drop,
        a check, a command) reaches the connection meanwhile, as CloudZero requires."""
        with connection_lock(self.lock_folder, connection_id), self.open_client() as client:
            yield client

    def where(self) -> str:
        """Where submitted months can be seen, for people reading the metadata."""
        if self.is_sandbox:
            return f"sandbox database {self.sandbox_folder}/cloudzero_sandbox.sqlite3"
        return self.api_url

    def destination(self) -> str:
        """Identifies where months go, so a record of one target never skips a send to another."""
        if self.is_sandbox:
            return f"sandbox:{Path(self.sandbox_folder).resolve()}"
        test_key = (self.test_key or "").strip()
        trial = hashlib.sha256(test_key.encode()).hexdigest()[:12] if test_key else ""
        return f"{self.api_url.rstrip('/')}#{trial}"

    @property
    def _state(self) -> Path:
        return Path(self.state_folder) if self.state_folder else Path(self.sandbox_folder).parent

    @property
    def lock_folder(self) -> Path:
        return self._state / "locks"

    def ledger(self) -> SubmissionLedger:
        return SubmissionLedger(self._state / "submissions")

    def limits(self) -> Limits:
        return Limits(self.rows_per_month, self.bytes_per_month)

    def send_month(
        self,
        connection_id: str,
        month: str,
        bodies: Sequence[tuple[str, bytes, int]],
        content_hash: str,
        *,
        force: bool = False,
        submission_id: str | None = None,
        total: Decimal = Decimal(0),
        evidence: Evidence = Evidence(),
        operation: str | None = None,
        reads: Mapping[str, int] | None = None,
        settled: Settled | None = None,
    ) -> MonthOutcome:
        """Send a month's bodies `(operation, payload, rows)` with this target's lock, record
        of accepted submissions and limits, unless CloudZero already holds them (see
        `cloudzero.submit.send_month`)."""
        with self.open_client() as client:
            return send_month(
                client,
                connection_id,
                month,
                bodies,
                content_hash,
                lock_folder=self.lock_folder,
                ledger=self.ledger(),
                destination=self.destination(),
                limits=self.limits(),
                force=force,
                submission_id=submission_id,
                total=total,
                evidence=evidence,
                operation=operation,
                reads=reads,
                settled=settled,
            )


def cloudzero_resource(project: AnycostConfig) -> CloudZeroResource:
    """The CloudZero resource of a project, the same for the definitions and the commands.

    Secrets are `dg.EnvVar`s, resolved when a run starts (outside a run, call
    `process_config_and_initialize()`), so the UI shows the variables' names, never the values.
    """
    storage = project.storage_path
    settings, limits = project.cloudzero, project.cloudzero.limits
    common: dict[str, Any] = dict(
        state_folder=str(storage),
        sandbox_folder=str(storage / "sandbox"),
        timeout_seconds=settings.timeout_seconds,
        retry_after_cap_seconds=settings.retry_after_cap_seconds,
        request_budget_seconds=settings.request_budget_seconds,
        rows_per_month=limits.rows_per_month,
        bytes_per_month=limits.bytes_per_month,
    )
    if settings.target == "live":
        # One spelling per destination: the journal and the locks are kept by it. A URL that
        # is not a base is refused here, when the definitions are built, before any run.
        api_url = api_base_url(os.environ.get("CLOUDZERO_API_URL") or DEFAULT_API_URL)
        require_api_base(api_url)
        return CloudZeroResource(
            target="live",
            api_url=api_url,
            api_key=dg.EnvVar("CLOUDZERO_API_KEY"),
            test_key=dg.EnvVar("CLOUDZERO_TEST_KEY")
            if os.environ.get("CLOUDZERO_TEST_KEY")
            else None,
            **common,
        )
    faults = settings.sandbox_faults
    return CloudZeroResource(
        target="sandbox",
        sandbox_error_rate=faults.error_rate,
        sandbox_lost_rate=faults.lost_rate,
        sandbox_delay_seconds=faults.delay_seconds,
        sandbox_seed=faults.seed,
        **common,
    )


def resources(project: AnycostConfig) -> dict[str, Any]:
    """Where frames are stored and where billing drops are sent."""
    return {
        scoped(FRAMES_IO_MANAGER, project.scope): ParquetStorage(
            base_path=str(frames_folder(project))
        ),
        scoped(CLOUDZERO, project.scope): cloudzero_resource(project),
    }
