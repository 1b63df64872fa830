"""Only the `k8s/*` columns CloudZero documents (k8s/cluster, k8s/namespace, k8s/deployment,
k8s/labels) may be mapped: another one is refused when anycost.yaml loads, naming the key,
before CloudZero would refuse the month's bodies."""

import pytest

from anycost_pipeline.cli import main
from anycost_pipeline_tests.conftest import Project


def _map(project: Project, column: str) -> None:
    config = project.config()
    config["sources"]["simple_cloud"]["columns"][column] = "account"
    project.write_config(config)


@pytest.mark.parametrize("column", ["k8s/pod", "k8s/node", "k8s/Cluster", "k8s/cluster/name"])
def test_an_undocumented_k8s_column_is_refused_naming_the_key(
    project: Project, capsys: pytest.CaptureFixture[str], column: str
) -> None:
    _map(project, column)
    assert main(["validate"]) == 1
    said = capsys.readouterr()
    assert "sources.simple_cloud.columns" in said.err and repr(column) in said.err
    assert "not CBF column" in said.err and "Traceback" not in said.err


@pytest.mark.parametrize("column", ["k8s/cluster", "k8s/namespace", "k8s/deployment", "k8s/labels"])
def test_the_documented_k8s_columns_are_accepted(
    project: Project, capsys: pytest.CaptureFixture[str], column: str
) -> None:
    _map(project, column)
    assert main(["validate"]) == 0, capsys.readouterr()
