"""Resources: where frames are stored and where billing drops are sent."""

import os
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from anycost_pipeline.cloudzero.client import DEFAULT_API_URL, AnyCostClient
from anycost_pipeline.cloudzero.sandbox import start_sandbox
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
    timeout_seconds: float = 60.0

    @property
    def is_sandbox(self) -> bool:
        return self.target == "sandbox"

    @contextmanager
    def open_client(self) -> Iterator[AnyCostClient]:
        """A client for the target; for the sandbox, a server on 127.0.0.1 for the duration."""
        if self.is_sandbox:
            with start_sandbox(self.sandbox_folder) as server:
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

    def where(self) -> str:
        """Where submitted months can be seen, for people reading the metadata."""
        if self.is_sandbox:
            return f"sandbox database {self.sandbox_folder}/cloudzero_sandbox.sqlite3"
        return self.api_url


@dg.definitions
def resources() -> dg.Definitions:
    config = project_config()
    storage = config.storage_path
    if config.cloudzero.target == "live":
        cloudzero = CloudZeroResource(
            target="live",
            api_url=os.environ.get("CLOUDZERO_API_URL") or DEFAULT_API_URL,
            api_key=dg.EnvVar("CLOUDZERO_API_KEY"),
            test_key=os.environ.get("CLOUDZERO_TEST_KEY") or None,
        )
    else:
        cloudzero = CloudZeroResource(target="sandbox", sandbox_folder=str(storage / "sandbox"))
    return dg.Definitions(
        resources={
            "io_manager": ParquetStorage(base_path=str(storage / "frames")),
            "cloudzero": cloudzero,
        }
    )
