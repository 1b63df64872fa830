"""`anycost run` builds the project's definitions once per run: Dagster asks for the job
several times a month and kept only the last of them, so each month built them again."""

import pytest

from anycost_pipeline.cli import main, run
from anycost_pipeline_tests.conftest import Project


def test_a_run_of_several_months_builds_the_definitions_once_and_a_later_run_again(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = []
    real = run.definitions
    monkeypatch.setattr(run, "definitions", lambda config: built.append(config) or real(config))

    assert main(["run", "2024-07", "2024-08"]) == 0
    assert len(built) == 1
    # A later run builds them again: it sees anycost.yaml as it is then.
    assert main(["run", "2024-08"]) == 0
    assert len(built) == 2
