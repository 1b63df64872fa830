"""The local sandbox: a stand-in for CloudZero that speaks the AnyCost Stream API on 127.0.0.1.

It answers as CloudZero's API reference documents (`reference.py` names the source and holds
its facts): replace_drop, replace_hourly, sum, idempotency keys, test-key namespaces, the
5,000,000-byte limit, the row rules and the documented error bodies. It keeps what it received
in SQLite, so a user can see exactly what CloudZero would hold.
"""

from anycost_pipeline.cloudzero.sandbox.server import Answers, Faults, SandboxServer, start_sandbox
from anycost_pipeline.cloudzero.sandbox.store import SandboxStore

__all__ = ["Answers", "Faults", "SandboxServer", "SandboxStore", "start_sandbox"]
