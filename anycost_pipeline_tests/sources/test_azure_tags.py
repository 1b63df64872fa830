"""Azure EA and MCA exports write tags as JSON members without the braces
(`"env": "prod","team": "data"`); `format: json` reads them as it reads a JSON object."""

import re
from pathlib import Path

import yaml

from anycost_pipeline_tests.conftest import Project
from anycost_pipeline_tests.sources.helpers import (
    CONNECTION,
    failure_message,
    sent_rows,
    stored_rejects,
)

README = Path(__file__).resolve().parents[2] / "README.md"

# Azure EA usage details, as the portal's CSV download writes them (quotes doubled inside a cell).
AZURE_EA = (
    "Date,MeterCategory,ResourceId,CostInBillingCurrency,ChargeType,Tags\n"
    '08/01/2024,Virtual Machines,/subscriptions/s1/vm/a,12.50,Usage,"""env"": ""prod"",""cost center"": ""1234"""\n'
    '08/02/2024,Storage,/subscriptions/s1/st/b,0.000100,Usage,"{""env"": ""dev""}"\n'
    "08/03/2024,Storage,/subscriptions/s1/st/c,3,Usage,\n"
    '08/04/2024,Bandwidth,/subscriptions/s1/bw/d,1.25,Usage,"  ""env"" : ""test"" , ""owner"": ""ops@example.com"" "\n'
)


def readme_azure_source() -> dict:
    """The Azure EA source exactly as the README shows it."""
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(), re.S)
    (block,) = [b for b in blocks if "azure_ea:" in b]
    return yaml.safe_load(block)["sources"]["azure_ea"]


def use_readme_source(project: Project, export: str) -> None:
    source = readme_azure_source()
    folder = project.root / Path(source["path"]).parent
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "usage_2024-08.csv").write_text(export)
    config = project.config()
    config["sources"] = {"azure_ea": {**source, "connection": CONNECTION}}
    project.write_config(config)


def test_azure_tags_without_braces_arrive_as_tags(project: Project) -> None:
    use_readme_source(project, AZURE_EA)
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert result.success, failure_message(result)
    rows = {r["resource/id"].rsplit("/", 1)[-1]: r for r in sent_rows(project, "2024-08")}
    tags = {
        key: {k: v for k, v in row.items() if k.startswith("resource/tag:")}
        for key, row in rows.items()
    }
    assert tags == {
        "a": {"resource/tag:env": "prod", "resource/tag:cost_center": "1234"},
        "b": {"resource/tag:env": "dev"},
        "c": {},
        "d": {"resource/tag:env": "test", "resource/tag:owner": "ops@example.com"},
    }


def test_tags_that_are_not_json_members_are_refused_naming_them(project: Project) -> None:
    bad = AZURE_EA + '08/05/2024,Storage,/subscriptions/s1/st/e,1,Usage,"env=prod;team=data"\n'
    bad += '08/06/2024,Storage,/subscriptions/s1/st/f,1,Usage,"""env"": ""prod"",}"\n'
    use_readme_source(project, bad)
    result = project.materialize_month("2024-08", raise_on_error=False)
    assert not result.success
    message = failure_message(result)
    assert "usage_2024-08.csv, row 6, column 'Tags': value 'env=prod;team=data'" in message
    assert "row 7, column 'Tags'" in message
    assert "JSON object of tags" in message


def test_with_reject_unreadable_tags_are_kept_aside(project: Project) -> None:
    bad = AZURE_EA + '08/05/2024,Storage,/subscriptions/s1/st/e,1,Usage,"env: prod"\n'
    use_readme_source(project, bad)
    config = project.config()
    config["sources"]["azure_ea"]["on_bad_rows"] = "reject"
    project.write_config(config)
    assert project.materialize_month("2024-08").success
    rejects = stored_rejects(project, "azure_ea", "2024-08")
    assert rejects.get_column("_source_row").to_list() == [6]
    assert len(sent_rows(project, "2024-08")) == 4
