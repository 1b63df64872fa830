"""A production deployment (the container image sets ANYCOST_DEPLOYMENT=production) refuses the
built-in sandbox, where every month would say "sent" and nothing would reach CloudZero, unless
ANYCOST_ALLOW_SANDBOX says it is on purpose."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline.config import ConfigError
from anycost_pipeline_tests.conftest import Project

# The variables the README and the Dockerfile name (written out: they are the interface).
DEPLOYMENT_ENV_VAR = "ANYCOST_DEPLOYMENT"
ALLOW_SANDBOX_ENV_VAR = "ANYCOST_ALLOW_SANDBOX"


@pytest.fixture
def production(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(DEPLOYMENT_ENV_VAR, "production")
    monkeypatch.delenv(ALLOW_SANDBOX_ENV_VAR, raising=False)


def test_the_definitions_refuse_the_sandbox_in_production(
    project: Project, production: None
) -> None:
    with pytest.raises(Exception) as refused:  # Dagster wraps it in its own load error
        project.definitions()
    causes = [refused.value]
    while causes[-1].__cause__ is not None:
        causes.append(causes[-1].__cause__)
    (config_error,) = [e for e in causes if isinstance(e, ConfigError)]
    message = str(config_error)
    assert "cloudzero.target is sandbox" in message
    assert "connection simple_cloud_main" in message
    assert "nothing would reach CloudZero" in message
    assert f"{ALLOW_SANDBOX_ENV_VAR}=1" in message


def test_validate_names_the_refusal_and_the_way_to_allow_it(
    project: Project, production: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate"]) == 1
    printed = capsys.readouterr().out
    assert "1 problem:" in printed
    assert "simple_cloud_main would send every month to the built-in local sandbox" in printed
    assert f"{ALLOW_SANDBOX_ENV_VAR}=1" in printed


def test_the_allow_flag_lets_a_production_deployment_use_the_sandbox(
    project: Project,
    production: None,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(ALLOW_SANDBOX_ENV_VAR, "1")
    assert main(["validate"]) == 0
    assert "No problems found." in capsys.readouterr().out
    assert project.definitions().resolve_job_def("submit_month") is not None
    assert project.materialize_month("2024-08").success


def test_a_live_target_is_not_refused_in_production(
    project: Project, production: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = project.config()
    config["cloudzero"]["target"] = "live"
    project.write_config(config)
    monkeypatch.setenv("SIMPLE_CLOUD_CONNECTION_ID", "abc")
    assert project.definitions().resolve_job_def("submit_month") is not None


def test_outside_a_deployment_the_sandbox_stays_the_default(
    project: Project, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's fresh-machine commands set no deployment: the sample runs on the sandbox."""
    monkeypatch.delenv(DEPLOYMENT_ENV_VAR, raising=False)
    monkeypatch.delenv(ALLOW_SANDBOX_ENV_VAR, raising=False)
    assert main(["validate"]) == 0
    capsys.readouterr()
