"""A layer materialised alone before the layer it reads: the failure names what to
materialise first, as the Dagster UI or `dagster asset materialize --select` user meets it."""

import copy
import shutil

import dagster as dg

from anycost_pipeline_tests.conftest import Project

MONTH = "2024-08"


def _add_sources(project: Project, *names: str) -> None:
    config = project.config()
    for name in names:
        # Each reads a copy of the sample files: two sources reading one file are refused.
        shutil.copytree(project.data_dir, project.root / name)
        config["sources"][name] = copy.deepcopy(config["sources"]["simple_cloud"])
        config["sources"][name]["path"] = f"{name}/*.csv"
    project.write_config(config)


def _materialise_alone(project: Project, key: str) -> dg.ExecuteInProcessResult:
    job = project.definitions().resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        asset_selection=[dg.AssetKey.from_user_string(key)],
        partition_key=MONTH,
        raise_on_error=False,
    )


def _failure(result: dg.ExecuteInProcessResult) -> str:
    """The failed step's message as the UI shows it: a sentence, no FileNotFoundError trace."""
    assert not result.success
    failures = [e.step_failure_data for e in result.all_events if e.is_step_failure]
    assert len(failures) == 1 and failures[0] is not None
    error, chain = failures[0].error, []
    while error is not None:
        chain.append(error.cls_name)
        error = error.cause
    assert "FileNotFoundError" not in chain, chain
    assert failures[0].user_failure_data is not None, chain
    return failures[0].user_failure_data.description or ""


def test_drop_alone_after_sources_were_added_names_the_assets_to_materialise_first(
    project: Project,
) -> None:
    assert project.materialize_month(MONTH).success
    _add_sources(project, "vendor_b", "vendor_c")
    message = _failure(_materialise_alone(project, "drop/simple_cloud_main"))
    for name in ("cbf/vendor_b", "cbf/vendor_c"):
        assert name in message, message
    assert "cbf/simple_cloud" not in message.replace("cbf/simple_cloud_", ""), message
    assert MONTH in message
    assert (
        f"--select raw/vendor_b,cbf/vendor_b,raw/vendor_c,cbf/vendor_c --partition {MONTH}"
        in message
    )


def test_cbf_alone_before_its_raw_names_the_raw_asset(project: Project) -> None:
    message = _failure(_materialise_alone(project, "cbf/simple_cloud"))
    assert (
        "raw/simple_cloud" in message
        and f"--select raw/simple_cloud --partition {MONTH}" in message
    )
