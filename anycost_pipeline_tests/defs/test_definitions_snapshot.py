"""Every name the definitions build from the sample anycost.yaml (and from one with each kind
of source and connection), written out.

A change to the wiring (an asset, a check, a job or the ops it runs, a sensor, a schedule or a
resource added, removed or renamed) fails here and shows in review; update the lists on purpose.
"""

import dagster as dg

from anycost_pipeline_tests.conftest import Project


def names(defs: dg.Definitions) -> dict[str, object]:
    repository = defs.get_repository_def()
    graph = repository.asset_graph
    jobs = [job for job in repository.get_all_jobs() if not job.name.startswith("__")]
    return {
        # each asset with its group: the layer, drawn as a named box in the UI's graph
        "assets": {
            key.to_user_string(): graph.get(key).group_name
            for key in sorted(graph.get_all_asset_keys())
        },
        "checks": sorted(key.to_user_string() for key in graph.asset_check_keys),
        "jobs": {job.name: sorted(node.name for node in job.nodes) for job in jobs},
        "sensors": sorted(sensor.name for sensor in repository.sensor_defs),
        "schedules": sorted(schedule.name for schedule in repository.schedule_defs),
        "resources": sorted(defs.resources or {}),
    }


def test_the_sample_project_builds_these_definitions(project: Project) -> None:
    one_month = [
        "cbf__simple_cloud",
        "drop__simple_cloud_main",
        "drop__simple_cloud_main_matches_cloudzero",
        "raw__simple_cloud",
    ]
    assert names(project.definitions()) == {
        "assets": {
            "cbf/simple_cloud": "cbf",
            "drop/simple_cloud_main": "drop",
            "raw/simple_cloud": "raw",
        },
        "checks": [
            "cbf/simple_cloud:cost_conserved",
            "cbf/simple_cloud:discounted_cost_matches",
            "cbf/simple_cloud:rows_valid",
            "drop/simple_cloud_main:matches_cloudzero",
            "drop/simple_cloud_main:no_double_count",
        ],
        "jobs": {
            "reconcile_month": ["drop__simple_cloud_main_matches_cloudzero"],
            "send_simple_cloud_main": one_month,
            "submit_month": one_month,
        },
        "sensors": ["plan_simple_cloud_main", "watch_simple_cloud"],
        "schedules": [],
        "resources": ["anycost_frames", "cloudzero"],
    }


def test_each_kind_of_source_and_connection_builds_its_definitions(project: Project) -> None:
    config = project.config()
    columns = {"time/usage_start": "date", "cost/cost": "amount"}
    config["connections"]["vendor_main"] = {"connection_id": "vendor-id", "operation": "sum"}
    # No source sends to it (they all moved away, say): its months are still judged.
    config["connections"]["unused"] = {"connection_id": "unused-id"}
    config["sources"]["vendor"] = {
        "connection": "vendor_main",
        "kind": "files",
        "path": "sample_data/simple_cloud/*.csv",
        "format": "csv",
        "on_bad_rows": "reject",
        "columns": columns,
    }
    config["sources"]["warehouse"] = {
        "connection": "vendor_main",
        "kind": "sql",
        "url": f"sqlite:///{project.root / 'costs.db'}",
        "query": "SELECT * FROM costs WHERE date >= :start AND date < :end",
        "columns": columns,
        "refresh": {"cron": "30 4 * * *"},
    }
    project.write_config(config)
    assert names(project.definitions()) == {
        "assets": {
            "cbf/simple_cloud": "cbf",
            "cbf/vendor": "cbf",
            "cbf/warehouse": "cbf",
            "drop/simple_cloud_main": "drop",
            "drop/unused": "drop",
            "drop/vendor_main": "drop",
            "raw/simple_cloud": "raw",
            "raw/vendor": "raw",
            "raw/warehouse": "raw",
            "rejects/vendor": "rejects",
        },
        "checks": [
            "cbf/simple_cloud:cost_conserved",
            "cbf/simple_cloud:discounted_cost_matches",
            "cbf/simple_cloud:rows_valid",
            "cbf/vendor:cost_conserved",
            "cbf/vendor:discounted_cost_matches",
            "cbf/vendor:rows_valid",
            "cbf/warehouse:cost_conserved",
            "cbf/warehouse:discounted_cost_matches",
            "cbf/warehouse:rows_valid",
            "drop/simple_cloud_main:matches_cloudzero",
            "drop/simple_cloud_main:no_double_count",
            "drop/unused:matches_cloudzero",
            "drop/unused:no_double_count",
            "drop/vendor_main:matches_cloudzero",
            "drop/vendor_main:no_double_count",
        ],
        "jobs": {
            "reconcile_month": [
                "drop__simple_cloud_main_matches_cloudzero",
                "drop__unused_matches_cloudzero",
                "drop__vendor_main_matches_cloudzero",
            ],
            "send_simple_cloud_main": [
                "cbf__simple_cloud",
                "drop__simple_cloud_main",
                "drop__simple_cloud_main_matches_cloudzero",
                "raw__simple_cloud",
            ],
            "send_unused": ["drop__unused", "drop__unused_matches_cloudzero"],
            # cbf__vendor makes cbf/vendor and rejects/vendor: the job must run it whole.
            "send_vendor_main": [
                "cbf__vendor",
                "cbf__warehouse",
                "drop__vendor_main",
                "drop__vendor_main_matches_cloudzero",
                "raw__vendor",
                "raw__warehouse",
            ],
            "submit_month": [
                "cbf__simple_cloud",
                "cbf__vendor",
                "cbf__warehouse",
                "drop__simple_cloud_main",
                "drop__simple_cloud_main_matches_cloudzero",
                "drop__unused",
                "drop__unused_matches_cloudzero",
                "drop__vendor_main",
                "drop__vendor_main_matches_cloudzero",
                "raw__simple_cloud",
                "raw__vendor",
                "raw__warehouse",
            ],
        },
        "sensors": ["plan_simple_cloud_main", "watch_simple_cloud", "watch_vendor"],
        "schedules": ["refresh_warehouse"],
        "resources": ["anycost_frames", "cloudzero"],
    }
