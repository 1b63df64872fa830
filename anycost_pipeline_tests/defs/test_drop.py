"""The drop/<connection> asset: unchanged months, force, operations, row counts, the API key."""

import logging
import shutil

import dagster as dg
import pytest
from dagster._serdes import serialize_value

from anycost_pipeline.cloudzero.client import AnyCostClient
from anycost_pipeline.cloudzero.sandbox import SandboxStore, start_sandbox
from anycost_pipeline.cloudzero.sandbox.server import REQUESTS
from anycost_pipeline.defs.names import drop_op
from anycost_pipeline_tests.conftest import Project

DROP = drop_op("simple_cloud_main")
FORCE = {"ops": {DROP: {"config": {"force": True}}}}


def _drop_metadata(result: dg.ExecuteInProcessResult) -> dict:
    return {k: v.value for k, v in result.asset_materializations_for_node(DROP)[0].metadata.items()}


def _drops_in_sandbox(project: Project) -> int:
    return (
        SandboxStore(project.storage / "sandbox")
        ._db()
        .execute("SELECT COUNT(*) FROM drops")
        .fetchone()[0]
    )


def test_an_unchanged_month_is_not_sent_twice(project: Project) -> None:
    first = _drop_metadata(project.materialize_month("2024-08"))
    assert first["status"] == "sent" and first["bodies"] == 1 and _drops_in_sandbox(project) == 1
    second = _drop_metadata(project.materialize_month("2024-08"))
    assert (
        second["status"] == "unchanged"
        and second["bodies"] == 0
        and second["operations"] == "none (unchanged)"
    )
    assert (
        second["content_hash"] == first["content_hash"] and second["drop_ids"] == first["drop_ids"]
    )
    assert second["rows_cloudzero_reports"] == 250
    assert _drops_in_sandbox(project) == 1

    job = project.definitions().resolve_job_def("submit_month")
    forced = _drop_metadata(job.execute_in_process(partition_key="2024-08", run_config=FORCE))
    assert forced["status"] == "sent" and _drops_in_sandbox(project) == 2

    day = project.data_dir / "simple_cloud_2024-08-16.csv"
    day.write_text(
        day.read_text().replace("Compute,prod-001,usage,12.00", "Compute,prod-001,usage,12.01")
    )
    changed = _drop_metadata(project.materialize_month("2024-08"))
    assert changed["status"] == "sent" and changed["content_hash"] != first["content_hash"]
    assert _drops_in_sandbox(project) == 3
    assert "12.01" in {
        r["cost/cost"]
        for r in SandboxStore(project.storage / "sandbox").month_rows(
            "simple_cloud_main", "2024-08"
        )
    }


def test_drop_metadata_describes_the_submission(project: Project) -> None:
    meta = _drop_metadata(project.materialize_month("2024-08"))
    assert meta["drop_ids"].startswith("sandbox-") and meta["operations"] == "replace_drop"
    assert meta["rows"] == 250 == meta["rows_cloudzero_reports"]
    assert meta["bytes"] == meta["month_bytes"] > 0 and len(meta["content_hash"]) == 64
    assert meta["duration_seconds"] >= 0


def test_a_row_count_mismatch_fails_the_drop_with_both_numbers(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        AnyCostClient,
        "list_billing_drops",
        lambda self, cid: [{"drop_id": "x", "month": "2024-08", "row_count": 249}],
    )
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert "CloudZero reports 249 rows for it where 250 were sent" in message
    assert "on connection simple_cloud_main" in message and "The data was sent" in message
    metadata = failure.step_failure_data.user_failure_data.metadata  # type: ignore[union-attr]
    assert metadata["delivery"].value == "sent, not confirmed"


def test_replace_hourly_keeps_the_hours_a_submission_does_not_hold(project: Project) -> None:
    assert project.materialize_month("2024-08").success
    config = project.config()
    config["connections"]["simple_cloud_main"]["operation"] = "replace_hourly"
    project.write_config(config)
    (project.data_dir / "simple_cloud_2024-08-17.csv").unlink()  # a partial export
    result = project.materialize_month("2024-08")
    meta = _drop_metadata(result)
    assert meta["operations"] == "replace_hourly" and meta["rows"] == 242
    rows = SandboxStore(project.storage / "sandbox").month_rows("simple_cloud_main", "2024-08")
    assert len(rows) == 250  # day 17 is still held: replace_hourly only replaced the hours sent


def test_a_month_over_the_configured_limit_is_refused_before_sending(project: Project) -> None:
    """The source's own month is already over the limit: its CBF check stops the run. (Sources
    each under the limit but over it together: the next test.)"""
    config = project.config()
    config["cloudzero"]["limits"] = {"rows_per_month": 200}
    project.write_config(config)
    result = project.materialize_month("2024-08", raise_on_error=False)
    (check,) = [e for e in result.get_asset_check_evaluations() if e.check_name == "rows_valid"]
    assert not check.passed
    assert (
        "2024-08 has 250 rows, 50 over the limit of 200 rows per connection per month"
        in check.metadata["first_problems"].value
    )
    assert check.description.startswith("2024-08 has 250 rows, 50 over the limit of 200 rows")  # type: ignore[union-attr]
    assert _drops_in_sandbox(project) == 0


def test_a_connection_over_the_limit_only_combined_is_refused_by_the_submission(
    project: Project,
) -> None:
    config = project.config()
    config["cloudzero"]["limits"] = {"rows_per_month": 300}  # each source 250 rows, together 500
    # A second source with files of its own: two sources reading one file are refused.
    shutil.copytree(project.data_dir, project.root / "copy")
    config["sources"]["simple_cloud_copy"] = {
        **config["sources"]["simple_cloud"],
        "path": "copy/*.csv",
    }
    project.write_config(config)
    result = project.materialize_month("2024-08", raise_on_error=False)
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description  # type: ignore[union-attr]
    assert (
        "2024-08 has 500 rows, 200 over the limit of 300 rows per connection per month" in message
    )
    assert "Split the sources" in message
    assert _drops_in_sandbox(project) == 0


def test_a_month_exactly_at_the_configured_limit_is_sent(project: Project) -> None:
    """The configured number is the one every check uses (CloudZero may raise a connection's limit)."""
    config = project.config()
    config["cloudzero"]["limits"] = {"rows_per_month": 250}
    project.write_config(config)
    result = project.materialize_month("2024-08")
    assert _drop_metadata(result)["rows"] == 250


SECRET = "cz-SECRET-KEY-7f3a9c1e5b"


def _leaks(instance: dg.DagsterInstance, run_id: str, covers: str) -> list[str]:
    """Every event log entry (logs, metadata, errors) and the run record that holds the key."""
    texts = [serialize_value(entry) for entry in instance.all_logs(run_id)]
    texts.append(serialize_value(instance.get_run_by_id(run_id)))
    assert any(covers in t for t in texts)  # the search does reach the metadata or the error
    return [t for t in texts if SECRET in t]


def test_the_api_key_never_appears_in_logs_errors_or_metadata(
    project: Project,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    config = project.config()
    config["cloudzero"]["target"] = "live"
    project.write_config(config)
    monkeypatch.setenv("CLOUDZERO_API_KEY", SECRET)
    monkeypatch.setenv("SIMPLE_CLOUD_CONNECTION_ID", "conn-live-1")
    with start_sandbox(project.root / "fake_cloudzero", api_key=SECRET) as server:
        monkeypatch.setenv("CLOUDZERO_API_URL", server.url)
        job = project.definitions().resolve_job_def("submit_month")
        with dg.DagsterInstance.ephemeral() as instance:
            ok = job.execute_in_process(partition_key="2024-08", instance=instance)
            assert _drop_metadata(ok)["target"] == "live" and server.stats()[REQUESTS] >= 2
            assert len(server.store.month_rows("conn-live-1", "2024-08")) == 250
            assert _leaks(instance, ok.run_id, "conn-live-1") == []
    # A server that refuses the key (403): the error says what to do, never what the key is.
    with start_sandbox(project.root / "other", api_key="another-key") as refusing:
        monkeypatch.setenv("CLOUDZERO_API_URL", refusing.url)
        job = project.definitions().resolve_job_def("submit_month")
        with dg.DagsterInstance.ephemeral() as instance:
            refused = job.execute_in_process(
                partition_key="2024-08", instance=instance, raise_on_error=False, run_config=FORCE
            )
            failure = next(e for e in refused.all_events if e.is_step_failure)
            assert "HTTP 403" in failure.step_failure_data.error.message  # type: ignore[union-attr]
            assert _leaks(instance, refused.run_id, "four AnyCost Stream scopes") == []
    captured = capfd.readouterr()
    assert SECRET not in caplog.text and SECRET not in captured.out and SECRET not in captured.err
