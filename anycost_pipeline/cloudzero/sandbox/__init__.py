"""The local sandbox: a stand-in for CloudZero that speaks the AnyCost Stream API on 127.0.0.1.

It applies the documented semantics (replace_drop, replace_hourly, sum, idempotency keys,
the 5,000,000-byte limit, CBF row rules) and keeps what it received in SQLite, so a user can see
exactly what CloudZero would hold.
"""

from anycost_pipeline.cloudzero.sandbox.server import SandboxServer, start_sandbox
from anycost_pipeline.cloudzero.sandbox.store import SandboxStore

__all__ = ["SandboxServer", "SandboxStore", "start_sandbox"]
