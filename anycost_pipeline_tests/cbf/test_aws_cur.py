"""The AWS CUR export, mapped by examples/aws_cur.yaml alone, converts with every cent kept."""

import csv
from decimal import Decimal
from pathlib import Path

from anycost_pipeline.cbf.hours import rows_of_month, with_usage_hour
from anycost_pipeline.cbf.mapping import convert
from anycost_pipeline.cbf.validation import cost_total, row_problems
from anycost_pipeline.config import load_config
from anycost_pipeline.months import Month
from anycost_pipeline.sources.files import read_csv_files

REPO = Path(__file__).resolve().parents[2]


def test_aws_cur_example_converts_with_totals_conserved() -> None:
    config = load_config(REPO / "examples" / "aws_cur.yaml")
    source = config.sources["aws_cur"]
    path = config.resolve_path(source.path)
    frame = read_csv_files("aws_cur", path)
    frame = with_usage_hour(
        frame, "aws_cur", source.time_column, source.timezone, source.time_format
    )
    month = Month(2023, 11)
    rows = rows_of_month(frame, month)
    assert rows.height == frame.height == 1281
    cbf = convert(rows, "aws_cur", source.mapping, month).cbf
    assert row_problems(cbf, month).is_empty()

    with open(next(Path(path).parent.glob("*.csv")), encoding="utf-8") as handle:
        stated = list(csv.DictReader(handle))
    assert cost_total(cbf) == sum(
        (Decimal(r["lineItem/UnblendedCost"]) for r in stated), Decimal(0)
    )
    assert cost_total(cbf, "cost/on_demand_cost") == sum(
        (Decimal(r["pricing/publicOnDemandCost"]) for r in stated), Decimal(0)
    )
    assert "E" not in "".join(cbf["cost/cost"].to_list())
    # Monthly tax lines are spread over November's 720 hours; usage keeps its own hour.
    tax = cbf.filter(cbf["lineitem/type"] == "Tax")
    assert tax.height == 12 * 720
    assert set(cbf["lineitem/type"].unique().to_list()) == {"Usage", "Tax"}
    assert (
        "no-region" in cbf["resource/region"].to_list()
        and "global" not in cbf["resource/region"].to_list()
    )
