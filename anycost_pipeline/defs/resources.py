"""Resources: where frames are stored and where billing drops are sent."""

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from anycost_pipeline.cloudzero.client import DEFAULT_API_URL, AnyCostClient
from anycost_pipeline.cloudzero.locks import connection_lock
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import Faults
from anycost_pipeline.cloudzero.submit import Limits, SubmissionLedger
from anycost_pipeline.defs.io_manager import ParquetStorage
from anycost_pipeline.defs.project import project_config

SANDBOX_KEY = "sandbox-key"


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
    rows_per_month: int = Limits.rows_per_month
    bytes_per_month: int = Limits.bytes_per_month
    sandbox_error_rate: float = 0.0
    sandbox_lost_rate: float = 0.0
    sandbox_delay_seconds: float = 0.0
    sandbox_seed: int | None = None

    @property
    def is_sandbox(self) -> bool:
        return self.target == "sandbox"

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
            with start_sandbox(self.sandbox_folder, faults=faults) as server:
                client = AnyCostClient(server.url, SANDBOX_KEY, timeout=self.timeout_seconds)
                try:
                    yield client
                finally:
                    client.close()
            return
        if not self.api_key:
            raise dg.Failure("CLOUDZERO_API_KEY is not set; the live target needs an API key.")
        client = AnyCostClient(
            self.api_url, self.api_key, test_key=self.test_key, timeout=self.timeout_seconds
        )
        try:
            yield client
        finally:
            client.close()

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
        trial = hashlib.sha256(self.test_key.encode()).hexdigest()[:12] if self.test_key else ""
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


@dg.definitions
def resources() -> dg.Definitions:
    config = project_config()
    storage = config.storage_path
    limits, faults = config.cloudzero.limits, config.cloudzero.sandbox_faults
    common = dict(
        state_folder=str(storage),
        sandbox_folder=str(storage / "sandbox"),
        rows_per_month=limits.rows_per_month,
        bytes_per_month=limits.bytes_per_month,
    )
    if config.cloudzero.target == "live":
        cloudzero = CloudZeroResource(
            target="live",
            api_url=os.environ.get("CLOUDZERO_API_URL") or DEFAULT_API_URL,
            api_key=dg.EnvVar("CLOUDZERO_API_KEY"),
            test_key=os.environ.get("CLOUDZERO_TEST_KEY") or None,
            **common,
        )
    else:
        cloudzero = CloudZeroResource(
            target="sandbox",
            sandbox_error_rate=faults.error_rate,
            sandbox_lost_rate=faults.lost_rate,
            sandbox_delay_seconds=faults.delay_seconds,
            sandbox_seed=faults.seed,
            **common,
        )
    return dg.Definitions(
        resources={
            "io_manager": ParquetStorage(base_path=str(storage / "frames")),
            "cloudzero": cloudzero,
        }
    )
