"""The correction policies move cost between months, never in or out of the source: for any
rows, every month's CBF rows summed over all months equal the source under both `restate` and
`book_forward`, and under `book_forward` no correction is in a month before the one it is
billed in. The oracle reads the CBF rows each month would send (via `row_hours`, the months it
finds, and `convert`), as CloudZero would hold them."""

from decimal import Decimal

from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.corrections import Corrections
from anycost_pipeline.cbf.decimals import EXACT
from anycost_pipeline.cbf.hours import months_of, row_hours, rows_of_month
from anycost_pipeline.cbf.mapping import convert
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import source_frame

MONTHS = ["2025-04", "2025-05", "2025-06", "2025-07"]
COLUMNS = {
    "time/usage_start": {"column": "ChargePeriodStart"},
    "cost/cost": {"column": "BilledCost"},
    "lineitem/id": {"column": "Id"},
    "lineitem/description": {"column": "ChargeDescription"},
}
DETECT = {"column": "ChargeClass", "values": ["Correction"]}


@st.composite
def source_rows(draw: st.DrawFn) -> list[dict[str, str | None]]:
    rows = []
    for index in range(draw(st.integers(1, 12))):
        used = draw(st.integers(0, len(MONTHS) - 1))
        correction = draw(st.booleans())
        billed = draw(st.integers(used, len(MONTHS) - 1)) if correction else used
        cost = draw(st.decimals(-1000, 1000, places=draw(st.integers(0, 6)), allow_nan=False))
        rows.append(
            {
                "Id": f"row-{index}",
                "ChargePeriodStart": f"{MONTHS[used]}-{draw(st.integers(1, 28)):02d}T"
                f"{draw(st.integers(0, 23)):02d}:00:00Z",
                "BilledCost": str(cost),
                "ChargeClass": "Correction"
                if correction
                else draw(st.sampled_from([None, "(null)"])),
                "BillingPeriodStart": f"{MONTHS[billed]}-01T00:00:00Z",
                "ChargeDescription": draw(st.sampled_from([None, "Compute"])),
            }
        )
    return rows


def _sent(rows: list[dict[str, str | None]], policy: str) -> dict[str, list[dict]]:
    """month → the CBF rows that month would send, under `policy`."""
    options = MappingOptions.model_validate(
        {
            "columns": COLUMNS,
            "null_values": ["(null)"],
            "corrections": Corrections(
                policy=policy, detect=DETECT, billed_month_column="BillingPeriodStart"
            ),
        }
    )
    frame = source_frame(**{key: [row[key] for row in rows] for key in rows[0]})
    framed, problems = row_hours(frame, "vendor", options)
    assert problems.is_empty()
    sent = {}
    for month in months_of(framed):
        its = rows_of_month(framed, Month.parse(month))
        sent[month] = convert(its, "vendor", options, Month.parse(month)).cbf.to_dicts()
    return sent


def _total(sent: dict[str, list[dict]]) -> Decimal:
    return sum(
        (Decimal(row["cost/cost"]) for rows in sent.values() for row in rows), Decimal(0)
    ).normalize(EXACT)


@settings(max_examples=60, deadline=None)
@given(source_rows())
def test_policies_move_cost_between_months_never_in_or_out(rows: list[dict]) -> None:
    stated = sum((Decimal(row["BilledCost"]) for row in rows), Decimal(0)).normalize(EXACT)
    restated = _sent(rows, "restate")
    booked = _sent(rows, "book_forward")
    assert _total(restated) == _total(booked) == stated
    source = {row["Id"]: row for row in rows}
    for month, sent in booked.items():
        for cbf in sent:
            row = source[cbf["lineitem/id"]]
            assert cbf["time/usage_start"].startswith(month)
            if row["ChargeClass"] == "Correction":
                billed = row["BillingPeriodStart"][:7]
                assert month >= billed, (month, row)
                used = row["ChargePeriodStart"][:7]
                assert cbf["lineitem/description"].startswith(f"Correction for {used}")
            else:
                assert month == row["ChargePeriodStart"][:7]
    for month, sent in restated.items():
        for cbf in sent:
            assert month == source[cbf["lineitem/id"]]["ChargePeriodStart"][:7]
            assert not (cbf.get("lineitem/description") or "").startswith("Correction for")
