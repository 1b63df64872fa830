"""The per-source mapping keys in anycost.yaml: presets, rate cards, spreading, and their mistakes."""

from pathlib import Path

import polars as pl
import pytest
import yaml

from anycost_pipeline.cbf.spec import ChargeType, FromColumn
from anycost_pipeline.cbf.validation import row_problems
from anycost_pipeline.config import ConfigError, load_config
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import run, source_frame
from anycost_pipeline_tests.conftest import REPO


def _load(tmp_path: Path, source: dict) -> object:
    data = yaml.safe_load((REPO / "anycost.yaml").read_text())
    data["sources"] = {"vendor": {"connection": "simple_cloud_main", "path": "x/*.csv", **source}}
    file = tmp_path / "anycost.yaml"
    file.write_text(yaml.safe_dump(data))
    return load_config(file).sources["vendor"]


def test_focus_preset_fills_columns_and_user_keys_win(tmp_path: Path) -> None:
    source = _load(
        tmp_path,
        {
            "preset": "focus",
            "columns": {"resource/service": "ServiceCategory", "bill/invoice_id": None},
        },
    )
    assert source.columns["cost/cost"] == FromColumn(column="BilledCost")  # type: ignore[attr-defined]
    assert isinstance(source.columns["lineitem/type"], ChargeType)  # type: ignore[attr-defined]
    assert source.columns["resource/service"] == FromColumn(column="ServiceCategory")  # type: ignore[attr-defined]
    assert "bill/invoice_id" not in source.columns  # type: ignore[attr-defined]
    assert source.null_values == ["NULL", "null", "(null)"] and source.tags.column == "Tags"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            {"preset": "cur", "columns": {}},
            "sources.vendor: preset 'cur' is not known; choose one of focus",
        ),
        (
            {
                "columns": {"time/usage_start": "d", "cost/cost": "c"},
                "rate_card": {"quantity": "q", "match": ["s"], "rates": [{"s": "a", "rate": "1"}]},
            },
            "with a `rate_card`, cost/cost comes from the rate card",
        ),
        (
            {
                "columns": {"time/usage_start": "d"},
                "rate_card": {"quantity": "q", "match": ["s"], "rates": [{"t": "a", "rate": "1"}]},
            },
            "rates[0] must give exactly the match columns s",
        ),
        (
            {
                "columns": {"time/usage_start": "d"},
                "rate_card": {"quantity": "q", "match": ["s"], "rates": [{"s": "a", "rate": 0.1}]},
            },
            "write it as quoted decimal text",
        ),
        (
            {"columns": {"time/usage_start": "d", "cost/cost": "c"}, "spread": {"to": "hour"}},
            "give either `end`",
        ),
        (
            {
                "columns": {"time/usage_start": "d", "cost/cost": "c"},
                "currency": {"source": "EUR", "rates": {"2024-13": "1.1"}},
            },
            "'2024-13' is not a month",
        ),
        (
            {"columns": {"time/usage_start": "d", "cost/cost": "c"}, "on_bad_rows": "skip"},
            "on_bad_rows: Input should be 'strict' or 'reject'",
        ),
        (
            {"columns": {"time/usage_start": "d", "cost/cost": "c"}, "tags": {"format": "json"}},
            "give `columns`",
        ),
    ],
)
def test_mistakes_name_the_key(tmp_path: Path, source: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, source)
    assert expected in str(caught.value)


def test_validation_lists_end_times_unknown_columns_and_the_row_limit() -> None:
    frame = source_frame(date=["2024-08-01", "2024-08-02", "2024-08-03"], amount=["1", "2", "3"])
    cbf = run(
        frame, Month(2024, 8), columns={"time/usage_start": "date", "cost/cost": "amount"}
    ).cbf
    cbf = cbf.with_columns(
        pl.Series("time/usage_end", ["2024-08-01T01:00:00Z", "2024-08-02 01:00", None]),
        pl.lit("x").alias("cost/price"),
    )
    found = (
        row_problems(cbf, Month(2024, 8), rows_per_month=2)
        .select("_source_row", "column", "reason")
        .rows()
    )
    assert (3, "time/usage_end", "not an ISO-8601 UTC time") in found
    assert (2, "cost/price", "not a CBF column") in found
    assert any(
        column == "(all)" and "2024-08 has 3 rows, 1 over the limit of 2 rows" in reason
        for _, column, reason in found
    )
    assert (
        not row_problems(cbf, Month(2024, 8), rows_per_month=3)
        .filter(pl.col("column") == "(all)")
        .height
    )


def test_a_month_over_the_limit_rejects_no_row_for_it() -> None:
    """With `on_bad_rows: reject`, bad rows are kept aside; the month's size is no row's fault,
    so it is left to the rows_valid check and the submission."""
    from anycost_pipeline.cbf.hours import with_usage_hour
    from anycost_pipeline.cbf.mapping import convert
    from anycost_pipeline.cbf.options import MappingOptions

    frame = with_usage_hour(
        source_frame(date=["2024-08-01", "2024-08-02", "2024-08-03"], amount=["1", "2", "3"]),
        "vendor",
        "date",
        "UTC",
        None,
    )
    options = MappingOptions.model_validate(
        {"columns": {"time/usage_start": "date", "cost/cost": "amount"}, "on_bad_rows": "reject"}
    )
    done = convert(frame, "vendor", options, Month(2024, 8), rows_per_month=2)
    assert done.rejects.height == 0 and done.cbf.height == 3


def test_rate_card_from_a_csv_file_next_to_the_config(tmp_path: Path) -> None:
    (tmp_path / "rates.csv").write_text(
        "service,rate,from\nvm,0.0416,\nvm,0.0400,2024-08\ndb,1.25,\n"
    )
    _load(
        tmp_path,
        {
            "columns": {"time/usage_start": "d"},
            "rate_card": {"quantity": "q", "match": ["service"], "file": "rates.csv"},
        },
    )
    config = load_config(tmp_path / "anycost.yaml")
    card = config.mapping_of("vendor").rate_card
    assert card is not None
    assert sorted((line.keys()["service"], line.rate) for line in card.lines_for("2024-08")) == [
        ("db", "1.25"),
        ("vm", "0.0400"),
    ]
    (tmp_path / "rates.csv").write_text("service,rate\nvm,$1\n")
    with pytest.raises(ValueError, match=r"rates.csv, row 2: .*'\$1' is not a plain decimal"):
        config.mapping_of("vendor")
    # The same card saved by Excel for Mac as "CSV (Macintosh)": lines end in a carriage return.
    (tmp_path / "rates.csv").write_bytes(b"service,rate,from\rvm,0.0416,\rvm,0.0400,2024-08\r")
    card = config.mapping_of("vendor").rate_card
    assert card is not None
    assert [(line.keys()["service"], line.rate) for line in card.lines_for("2024-08")] == [
        ("vm", "0.0400")
    ]
