"""Every FOCUS sample, converted with `preset: focus` and no other option, is accepted whole by a
server that enforces CloudZero's API reference (the sandbox), and CloudZero holds its cost."""

from decimal import Decimal
from pathlib import Path

import pytest

from anycost_pipeline.cbf.bodies import content_hash, month_bodies
from anycost_pipeline.cbf.validation import cost_total
from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.cloudzero.submit import SENT, SubmissionLedger, send_month
from anycost_pipeline_tests.cbf.test_focus import FILES, INVALID_TIME_FILES, _convert_all, _focus

KEY = "focus-contract-key"


@pytest.mark.parametrize(
    "path", [p for p in FILES if p.name not in INVALID_TIME_FILES], ids=lambda p: p.name
)
def test_focus_file_is_accepted_by_the_reference_server(path: Path, tmp_path: Path) -> None:
    converted = _convert_all(path, _focus())
    with start_sandbox(tmp_path / "cz", api_key=KEY) as server:
        client = AnyCostClient(server.url, KEY, retries=0)
        for month, cbf in converted.items():
            bodies = month_bodies(cbf, month)
            for body in bodies:
                answer = client.validate_billing_drop(body.payload)
                assert answer == {"is_valid": True, "errors": []}, answer["errors"][:3]
            outcome = send_month(
                client,
                "focus",
                month,
                [(b.operation, b.payload, b.rows) for b in bodies],
                content_hash(bodies),
                lock_folder=tmp_path / "locks",
                ledger=SubmissionLedger(tmp_path / "submissions"),
                destination=server.url,
            )
            assert outcome.status == SENT
            rows = server.store.month_rows("focus", month)
            assert len(rows) == cbf.height
            assert sum(Decimal(r["cost/cost"]) for r in rows) == cost_total(cbf)
            assert all(value != "" for row in rows for value in row.values())
