"""Only the project's own errors become failures without a traceback; a bug keeps its own."""

import dagster as dg
import pytest
import yaml

from anycost_pipeline.cloudzero.submit import NOTHING_SENT, PARTLY_SENT, DeliveryFailed
from anycost_pipeline.config import ConfigError
from anycost_pipeline.defs.failures import user_errors
from anycost_pipeline.defs.names import DELIVERY
from anycost_pipeline.defs.results import failure_messages
from anycost_pipeline.delivery import ChecksFailed
from anycost_pipeline_tests.conftest import Project


def test_a_project_error_becomes_a_failure_that_says_what_cloudzero_holds() -> None:
    with pytest.raises(dg.Failure) as failed, user_errors(NOTHING_SENT):
        raise ChecksFailed("main", "2024-08", {"simple_cloud": "failed its checks"})
    assert failed.value.description.startswith(
        "2024-08 was not sent to connection main; nothing was sent."
    )
    assert not failed.value.allow_retries
    assert failed.value.metadata[DELIVERY].value == NOTHING_SENT


def test_a_delivery_failure_says_itself_what_cloudzero_holds() -> None:
    with pytest.raises(dg.Failure) as failed, user_errors(NOTHING_SENT):
        raise DeliveryFailed(PARTLY_SENT, "2024-08 is partly sent")
    assert failed.value.metadata[DELIVERY].value == PARTLY_SENT


def test_without_a_delivery_state_the_failure_has_no_metadata() -> None:
    with pytest.raises(dg.Failure) as failed, user_errors():
        raise ConfigError("connections.main.connection_id: not set")
    assert failed.value.description == "connections.main.connection_id: not set"
    assert not failed.value.metadata


@pytest.mark.parametrize("bug", [ValueError("a bug"), KeyError("a bug"), TypeError("a bug")])
def test_any_other_error_keeps_its_type_and_traceback(bug: Exception) -> None:
    with pytest.raises(type(bug)), user_errors(NOTHING_SENT):
        raise bug


def test_a_failure_names_the_file_the_project_is_declared_in(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ANYCOST_CONFIG=prod.yaml: a run's failure says `check path in prod.yaml`."""
    renamed = project.config_file.with_name("prod.yaml")
    config = project.config()
    config["sources"]["simple_cloud"]["path"] = "nowhere/*.csv"
    renamed.write_text(yaml.safe_dump(config, sort_keys=False))
    monkeypatch.setenv("ANYCOST_CONFIG", str(renamed))
    job = project.definitions().resolve_job_def("submit_month")
    result = job.execute_in_process(partition_key="2024-08", raise_on_error=False)
    (message,) = failure_messages(result)
    assert "check `path` in prod.yaml" in message and "anycost.yaml" not in message, message
