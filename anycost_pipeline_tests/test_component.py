"""The Dagster Component, used the way a Dagster user would: a project of `create-dagster`'s
layout adds `type: anycost_pipeline.AnycostComponent` in a defs.yaml, `dg` checks it and
launches a month, which arrives in the built-in sandbox."""

import os
import re
import shlex
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import jsonschema
import pytest
import requests
import yaml

from anycost_pipeline import AnycostComponent
from anycost_pipeline.cloudzero.sandbox import start_sandbox
from anycost_pipeline.defs.build import build_definitions
from anycost_pipeline_tests.conftest import REPO, Project

DG = str(Path(sys.executable).parent / "dg")
PACKAGE = "host_project"
EXPORT = "date,service,amount\n2024-08-01,Compute,10.50\n2024-08-02,Storage,2.25\n2024-08-31,Compute,0.05\n"

SECTION = (REPO / "README.md").read_text().split("## In an existing Dagster project", 1)[1]
SECTION = SECTION.split("\n## ", 1)[0]
# The README's steps, run as written: its bash commands and its defs.yaml.
COMMANDS = [
    line
    for block in re.findall(r"```bash\n(.*?)```", SECTION, re.S)
    for line in block.splitlines()
    if line.strip()
]
(DEFS_YAML,) = re.findall(r"```yaml\n(.*?)```", SECTION, re.S)


def _host_project(root: Path) -> Path:
    """A Dagster project as `create-dagster project` lays it out; returns its defs folder."""
    package = root / "src" / PACKAGE
    (package / "defs").mkdir(parents=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{PACKAGE}"\nversion = "0.1.0"\ndependencies = ["dagster"]\n\n'
        '[tool.dg]\ndirectory_type = "project"\n\n'
        f'[tool.dg.project]\nroot_module = "{PACKAGE}"\n'
        f'registry_modules = ["{PACKAGE}.components.*"]\n'
    )
    (package / "__init__.py").write_text("")
    (package / "defs" / "__init__.py").write_text("")
    (package / "definitions.py").write_text(
        "from pathlib import Path\n\nfrom dagster import definitions, load_from_defs_folder\n\n\n"
        "@definitions\ndef defs():\n"
        "    return load_from_defs_folder(path_within_project=Path(__file__).parent)\n"
    )
    return package / "defs"


def _dg(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The project is not installed in this environment; `src` on the path stands for that.
    env = {**os.environ, "PYTHONPATH": str(root / "src"), "DAGSTER_HOME": str(root / "home")}
    env.pop("ANYCOST_CONFIG", None)
    (root / "home").mkdir(exist_ok=True)
    return subprocess.run(
        [DG, *args], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


# Dagster 1.13 rebuilds a YAML component's asset checks to add its origin metadata, then warns
# about a beta parameter of its own rebuilt object; any other warning is the adaptor's.
DAGSTERS_OWN = "BetaWarning: Parameter `execution_type` of function `AssetsDefinition.__init__`"


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "Warning" in line and DAGSTERS_OWN not in line]


def _sandbox_rows(storage: Path, connection: str, month: str) -> list[dict[str, str]]:
    with start_sandbox(storage / "sandbox") as sandbox:
        answer = requests.get(
            f"{sandbox.url}/v2/connections/billing/anycost/{connection}/billing_drops/{month}",
            headers={"Authorization": "sandbox-key"},
            timeout=30,
        )
    answer.raise_for_status()
    return answer.json()["billing_drop"]


def test_the_readmes_steps_add_the_component_to_a_dagster_project_and_send_a_month(
    tmp_path: Path,
) -> None:
    assert [c.split()[:2] for c in COMMANDS] == [["dg", "scaffold"]] + [["dg", "check"]] * 2 + [
        ["dg", "launch"]
    ]
    scaffold, *steps = COMMANDS
    defs_folder = _host_project(tmp_path)
    scaffolded = _dg(tmp_path, *shlex.split(scaffold)[1:])
    assert scaffolded.returncode == 0, scaffolded.stdout + scaffolded.stderr
    folder = defs_folder / "anycost"
    assert yaml.safe_load((folder / "defs.yaml").read_text())["type"] == (
        "anycost_pipeline.AnycostComponent"
    )
    checked = _dg(tmp_path, "check", "yaml")  # the scaffolded file, before any edit
    assert checked.returncode == 0, checked.stdout + checked.stderr

    (folder / "defs.yaml").write_text(DEFS_YAML)
    (folder / "exports").mkdir()
    (folder / "exports" / "2024-08.csv").write_text(EXPORT)
    for step in steps:
        done = _dg(tmp_path, *shlex.split(step)[1:])
        assert done.returncode == 0, f"{step}\n{done.stdout}\n{done.stderr[-3000:]}"
        assert _warnings(done.stderr) == [], f"{step}\n{done.stderr}"

    rows = _sandbox_rows(folder / ".anycost", "vendor_main", "2024-08")
    assert sum(Decimal(r["cost/cost"]) for r in rows) == Decimal("12.80")
    assert {r["resource/service"] for r in rows} == {"Compute", "Storage"}


def test_dg_check_yaml_names_the_line_of_a_misspelled_key(tmp_path: Path) -> None:
    folder = _host_project(tmp_path) / "anycost"
    folder.mkdir()
    lines = DEFS_YAML.splitlines()
    (line,) = [i for i, text in enumerate(lines, start=1) if text.strip() == "columns:"]
    lines[line - 1] = lines[line - 1].replace("columns:", "colums:")
    (folder / "defs.yaml").write_text("\n".join(lines) + "\n")
    checked = _dg(tmp_path, "check", "yaml")
    assert checked.returncode != 0
    assert re.search(
        rf"defs\.yaml:{line} .*sources\.vendor\.colums .*'colums' was unexpected", checked.stdout
    ), checked.stdout


def _readme_sources() -> list[dict]:
    blocks = re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(), re.S)
    documents = [yaml.safe_load(b) for b in blocks if b.startswith("sources:")]
    base = {"start_month": "2024-01", "connections": {"main": {"connection_id": "x"}}}
    return [{**base, **d} for d in documents]


EXAMPLES = [
    yaml.safe_load((REPO / "anycost.yaml").read_text()),
    *(yaml.safe_load(p.read_text()) for p in sorted((REPO / "examples").glob("*.yaml"))),
    *_readme_sources(),
]


@pytest.mark.parametrize("attributes", EXAMPLES)
def test_the_schema_dg_checks_admits_every_documented_project(attributes: dict) -> None:
    """`dg check yaml` validates with this schema: it must not refuse what anycost.yaml accepts."""
    schema = AnycostComponent.model().model_json_schema()
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(attributes)]
    assert errors == []


def test_this_project_is_built_by_the_component(project: Project) -> None:
    """`anycost.yaml` read through the component gives the same definitions as the model."""
    from anycost_pipeline.config import load_config

    by_component = AnycostComponent.from_file(project.config_file).definitions(project.root)
    direct = build_definitions(load_config(project.config_file))
    keys = lambda d: sorted(a.key.to_user_string() for a in d.resolve_all_asset_specs())  # noqa: E731
    assert keys(by_component) == keys(direct) == keys(project.definitions())


def test_the_component_has_every_key_of_anycost_yaml() -> None:
    from anycost_pipeline.config import AnycostConfig

    keys = {name for name, field in AnycostConfig.model_fields.items() if not field.exclude}
    assert set(AnycostComponent.model_fields) == keys


def test_two_components_load_side_by_side_each_with_its_own_state() -> None:
    """A host project with two anycost folders (two teams, two connections): both load in one
    code location, and a month of one goes to its own state, not the other's."""
    import dagster as dg
    from dagster.components.testing import create_defs_folder_sandbox

    folders = {}
    with create_defs_folder_sandbox() as sandbox:
        for team in ("a", "b"):
            attributes = {
                "start_month": "2024-01",
                "connections": {f"main_{team}": {"connection_id": f"conn-{team}"}},
                "sources": {
                    f"vendor_{team}": {
                        "connection": f"main_{team}",
                        "path": "exports/*.csv",
                        "format": "csv",
                        "columns": {"time/usage_start": "date", "cost/cost": "amount"},
                    }
                },
            }
            folders[team] = sandbox.scaffold_component(
                AnycostComponent,
                defs_path=f"costs_{team}",
                defs_yaml_contents={
                    "type": "anycost_pipeline.AnycostComponent",
                    "attributes": attributes,
                },
            )
            (folders[team] / "exports").mkdir()
            (folders[team] / "exports" / "2024-08.csv").write_text(EXPORT)
        with sandbox.build_all_defs() as defs:
            keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
            assert {"drop/main_a", "drop/main_b", "cbf/vendor_a", "cbf/vendor_b"} <= keys
            assert len(defs.resolve_all_job_defs()) >= 6
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                asset_selection=[
                    dg.AssetKey.from_user_string(k)
                    for k in ("raw/vendor_a", "cbf/vendor_a", "drop/main_a")
                ],
                partition_key="2024-08",
            )
            assert result.success
        rows = _sandbox_rows(folders["a"] / ".anycost", "conn-a", "2024-08")
        assert sum(Decimal(r["cost/cost"]) for r in rows) == Decimal("12.80")
        assert not (folders["b"] / ".anycost" / "sandbox").exists()


def test_the_package_needs_no_dagster_tool_a_host_project_already_pins() -> None:
    """dagster-webserver and dagster-dg-cli pin `dagster` to their own release: required here,
    they moved a host project's dagster to another release, or failed to resolve at all."""
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    dagster = [d for d in project["dependencies"] if d.startswith("dagster")]
    assert dagster == ["dagster==1.13.*"]
    assert {"dagster-webserver==1.13.*", "dagster-dg-cli==1.13.*"} <= set(
        project["optional-dependencies"]["ui"]
    )


def test_a_scaffolded_component_names_its_defs_yaml_and_keeps_its_state_out_of_git() -> None:
    """A host project's first launch, before any export file was added: the failure names the
    defs.yaml the user has (not an anycost.yaml they never saw) and the folder files go in."""
    import dagster as dg
    from dagster.components.testing import create_defs_folder_sandbox

    from anycost_pipeline.defs.results import failure_messages

    with create_defs_folder_sandbox() as sandbox:
        folder = sandbox.scaffold_component(AnycostComponent, defs_path="anycost")
        assert ".anycost/" in (folder / ".gitignore").read_text().splitlines()
        with sandbox.build_all_defs() as defs:
            result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
                asset_selection=[dg.AssetKey(["raw", "vendor"])],
                partition_key="2024-08",
                raise_on_error=False,
            )
        (message,) = failure_messages(result)
        assert "anycost.yaml" not in message, message
        assert "defs/anycost/defs.yaml" in message and str(folder / "exports") in message


def test_a_component_refused_at_load_names_its_defs_yaml(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster.components.testing import create_defs_folder_sandbox

    monkeypatch.setenv("ANYCOST_DEPLOYMENT", "production")
    with create_defs_folder_sandbox() as sandbox:
        sandbox.scaffold_component(AnycostComponent, defs_path="anycost")
        with pytest.raises(Exception) as refused, sandbox.build_all_defs():
            pass
    message = str(refused.value) + str(refused.value.__cause__)
    assert "cloudzero.target: live` in src/" in message and "anycost/defs.yaml" in message, message
    assert "anycost.yaml" not in message, message
