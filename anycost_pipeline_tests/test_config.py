"""anycost.yaml: the example loads, and every kind of mistake names its key."""

from pathlib import Path

import pytest
import yaml

from anycost_pipeline.cbf.spec import Constant, FromColumn
from anycost_pipeline.config import ConfigError, load_config
from anycost_pipeline_tests.conftest import REPO


def test_example_config_loads() -> None:
    config = load_config(REPO / "anycost.yaml")
    source = config.sources["simple_cloud"]
    assert config.start_month == "2024-01"
    assert source.connection == "simple_cloud_main"
    assert source.columns["cost/cost"] == FromColumn(column="amount")
    assert source.columns["lineitem/type"].map["credit"] == "Credit"  # type: ignore[union-attr]


def _broken(tmp_path: Path, change: dict) -> str:
    data = yaml.safe_load((REPO / "anycost.yaml").read_text())
    for dotted, value in change.items():
        *parents, last = dotted.split(".")
        node = data
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    file = tmp_path / "anycost.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    return str(caught.value)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"sources.simple_cloud.timezone": "Mars/Olympus"},
            "sources.simple_cloud.timezone: 'Mars/Olympus' is not an IANA time zone",
        ),
        (
            {"sources.simple_cloud.connection": "nowhere"},
            "sources.simple_cloud.connection: 'nowhere' is not one of the declared connections",
        ),
        ({"start_month": "2024-13"}, "start_month: '2024-13' is not a month"),
        ({"sources.simple_cloud.pathh": "x"}, "sources.simple_cloud.pathh: is not a known key"),
        ({"sources.simple_cloud.path": None}, "sources.simple_cloud.path: is required but missing"),
        (
            {"sources.simple_cloud.columns.cost/cost": None},
            "sources.simple_cloud.columns: the required CBF column(s) cost/cost must be mapped",
        ),
        (
            {"sources.simple_cloud.columns.cost/price": "amount"},
            "sources.simple_cloud.columns: 'cost/price' not CBF column",
        ),
        (
            {"sources.simple_cloud.columns.resource/region": {"value": 3}},
            "sources.simple_cloud.columns.resource/region",
        ),
        (
            {"cloudzero.target": "production"},
            "cloudzero.target: Input should be 'sandbox' or 'live'",
        ),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, change: dict, expected: str) -> None:
    assert expected in _broken(tmp_path, change)


def test_missing_file_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file.*ANYCOST_CONFIG"):
        load_config(tmp_path / "absent.yaml")


def test_constant_column(tmp_path: Path) -> None:
    data = yaml.safe_load((REPO / "anycost.yaml").read_text())
    data["sources"]["simple_cloud"]["columns"]["resource/region"] = {"value": "no-region"}
    file = tmp_path / "anycost.yaml"
    file.write_text(yaml.safe_dump(data))
    assert load_config(file).sources["simple_cloud"].columns["resource/region"] == Constant(
        value="no-region"
    )


def test_connection_id_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    connection = load_config(REPO / "anycost.yaml").connections["simple_cloud_main"]
    monkeypatch.delenv("SIMPLE_CLOUD_CONNECTION_ID", raising=False)
    assert connection.resolve_id("simple_cloud_main", sandbox=True) == "simple_cloud_main"
    with pytest.raises(ConfigError, match="SIMPLE_CLOUD_CONNECTION_ID is not set"):
        connection.resolve_id("simple_cloud_main", sandbox=False)
    monkeypatch.setenv("SIMPLE_CLOUD_CONNECTION_ID", "3f1c-real-id")
    assert connection.resolve_id("simple_cloud_main", sandbox=False) == "3f1c-real-id"


def test_a_source_named_twice_is_refused_naming_both_lines(
    project, capsys: pytest.CaptureFixture[str]
) -> None:
    """YAML keeps the last of two keys of one name: the first source vanished without a word
    ('No problems found')."""
    from anycost_pipeline.cli import main

    text = project.config_file.read_text()
    head, sources = text.split("\nsources:\n", 1)
    project.config_file.write_text(f"{head}\nsources:\n{sources}{sources}")
    assert main(["validate"]) != 0
    said = capsys.readouterr().err
    assert "'simple_cloud' is given twice in the same mapping" in said, said
    first = 1 + f"{head}\nsources:\n".count("\n")
    assert f"(first on line {first})" in said, said


CONFIG_WITH_LINES = """\
start_month: 2024-01
connections:
  main:
    connection_id: abc
sources:
  vendor:
    connection: main
    path: exports/*.csv
    timezone: Mars/Olympus
    colums:
      time/usage_start: date
"""


def test_each_config_error_names_its_key_and_line(tmp_path: Path) -> None:
    file = tmp_path / "anycost.yaml"
    file.write_text(CONFIG_WITH_LINES)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    said = str(caught.value)
    assert "line 9: sources.vendor.timezone: 'Mars/Olympus' is not an IANA time zone" in said
    assert "line 10: sources.vendor.colums: is not a known key" in said
    # A key that is missing is not in the file: the line is that of the mapping it belongs in.
    assert (
        "line 6: sources.vendor.columns: is required but missing (add it under sources.vendor)"
        in said
    )


def test_a_rule_across_keys_names_the_line_of_its_key(tmp_path: Path) -> None:
    file = tmp_path / "anycost.yaml"
    file.write_text(
        CONFIG_WITH_LINES.replace("connection: main", "connection: mian").replace(
            "    timezone: Mars/Olympus\n    colums:", "    columns:\n      cost/cost: amount"
        )
    )
    with pytest.raises(ConfigError, match=r"line 7: sources\.vendor\.connection: 'mian' is not"):
        load_config(file)


@pytest.mark.parametrize("text", ["", "# nothing yet\n", "\n\n"])
def test_an_empty_file_says_which_keys_are_required(tmp_path: Path, text: str) -> None:
    file = tmp_path / "anycost.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    said = str(caught.value)
    assert "empty" in said
    assert all(f"`{key}`" in said for key in ("start_month", "connections", "sources")), said


def test_a_config_error_exits_1_as_the_readme_says(
    project, capsys: pytest.CaptureFixture[str]
) -> None:
    """README: `anycost validate` "lists every problem, exits 1 if there is one"; a broken
    anycost.yaml is such a problem, for every command."""
    from anycost_pipeline.cli import main

    project.config_file.write_text("")
    assert main(["validate"]) == 1
    assert main(["run", "2024-08"]) == 1
    assert main(["preview", "simple_cloud", "2024-08"]) == 1
    said = capsys.readouterr().err
    assert "`start_month`" in said and "Traceback" not in said


def test_a_command_line_anycost_cannot_read_exits_1_not_plans_pending_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from anycost_pipeline.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["plan", "2024-08", "--conection=main"])
    assert exited.value.code == 1
    assert "unrecognized arguments: --conection" in capsys.readouterr().err


def test_book_forward_without_a_way_to_find_corrections_is_refused(tmp_path: Path) -> None:
    said = _broken(tmp_path, {"sources.simple_cloud.corrections": {"policy": "book_forward"}})
    assert "sources.simple_cloud.corrections" in said
    assert "policy book_forward needs `detect`" in said and "billed_month_column" in said


def test_focus_preset_keeps_its_correction_detection_when_the_policy_is_chosen(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load((REPO / "anycost.yaml").read_text())
    data["sources"]["simple_cloud"] = {
        "connection": "simple_cloud_main",
        "path": "focus/*.csv",
        "preset": "focus",
        "corrections": {"policy": "book_forward"},
    }
    file = tmp_path / "anycost.yaml"
    file.write_text(yaml.safe_dump(data))
    corrections = load_config(file).sources["simple_cloud"].corrections
    assert corrections.policy == "book_forward"
    assert corrections.detect is not None and corrections.detect.column == "ChargeClass"
    assert corrections.detect.values == ["Correction"]
    assert corrections.billed_month_column == "BillingPeriodStart"


def test_book_forward_with_spread_is_refused_until_a_booked_charge_can_be_spread(
    tmp_path: Path,
) -> None:
    said = _broken(
        tmp_path,
        {
            "sources.simple_cloud.spread": {"over": "day"},
            "sources.simple_cloud.corrections": {
                "policy": "book_forward",
                "detect": {"column": "charge_type", "values": ["correction"]},
                "billed_month_column": "date",
            },
        },
    )
    assert "book_forward cannot be combined with `spread`" in said
