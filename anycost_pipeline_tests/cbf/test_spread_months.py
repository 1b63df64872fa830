"""Spreading conserves every charge across the UTC months it touches, for any zone, amount and
period: each month holds exactly the hours of the charge that fall in it, no part lies outside
the charge, and each month's stated share (`source_cost`) is what it sends."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
from hypothesis import given, settings, strategies as st

from anycost_pipeline.cbf.conservation import source_cost
from anycost_pipeline.cbf.hours import charge_ends, rows_of_month, with_usage_hour
from anycost_pipeline.cbf.mapping import convert
from anycost_pipeline.cbf.options import MappingOptions
from anycost_pipeline.months import Month
from anycost_pipeline_tests.cbf.helpers import source_frame, total

ZONES = [
    "UTC",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "America/New_York",
    "America/Santiago",
    "Australia/Lord_Howe",
    "Pacific/Kiritimati",
    "Pacific/Pago_Pago",
    "Europe/Berlin",
]
AMOUNTS = st.builds(
    lambda units, digits: format(Decimal(units).scaleb(-digits), "f"),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.integers(min_value=0, max_value=8),
)
DAYS = st.dates(min_value=datetime(2024, 1, 2).date(), max_value=datetime(2025, 11, 28).date())


# Wall times that exist in every zone drawn (daylight-saving changes happen at night).
CLOCK = st.sampled_from([7, 12, 19])


@st.composite
def charges(draw: st.DrawFn) -> dict:
    day = draw(DAYS)
    hour = draw(st.one_of(st.none(), CLOCK))
    start = day.isoformat() if hour is None else f"{day.isoformat()}T{hour:02d}:00:00"
    charge = {"start": start, "amount": draw(AMOUNTS), "qty": draw(AMOUNTS)}
    if draw(st.booleans()):
        later = day + timedelta(days=draw(st.integers(0, 70)))
        end = f"{later.isoformat()}T{draw(CLOCK):02d}:00:00"
        if end > (start if hour is not None else f"{start}T00:00:00"):
            charge["end"] = end
    return charge


def _months(first: datetime, last: datetime) -> list[Month]:
    month, out = Month(first.year, first.month), []
    while month.start <= last:
        out.append(month)
        month = month.next()
    return out


@settings(max_examples=120, deadline=None)
@given(
    rows=st.lists(charges(), min_size=1, max_size=4),
    zone=st.sampled_from(ZONES),
    over=st.sampled_from(["day", "month"]),
    to=st.sampled_from(["hour", "day"]),
)
def test_every_charge_is_conserved_across_the_months_it_touches(
    rows: list[dict], zone: str, over: str, to: str
) -> None:
    explicit = all("end" in r for r in rows)
    spread = {"end": "end"} if explicit else {"over": over}
    frame = source_frame(
        start=[r["start"] for r in rows],
        end=[r.get("end") for r in rows],
        amount=[r["amount"] for r in rows],
        qty=[r["qty"] for r in rows],
    )
    options = MappingOptions.model_validate(
        {
            "timezone": zone,
            "columns": {"time/usage_start": "start", "cost/cost": "amount", "usage/amount": "qty"},
            "spread": {**spread, "to": to},
        }
    )
    framed = with_usage_hour(frame, "vendor", "start", zone, None)
    ends = charge_ends(framed, options)
    starts = framed.get_column("_hour").to_list()
    stops = [e if e is not None else s + timedelta(hours=1) for s, e in zip(starts, ends.to_list())]
    sent: list[pl.DataFrame] = []
    for month in _months(min(starts), max(stops) - timedelta(microseconds=1)):
        raw = rows_of_month(framed, month, ends)
        if raw.is_empty():
            continue
        cbf = convert(raw, "vendor", options, month).cbf
        hours = cbf.get_column("time/usage_start").to_list()
        assert all(h.startswith(str(month)) for h in hours), month  # only its own hours
        assert source_cost(raw, options, month)[0] == total(cbf["cost/cost"]), month
        assert cbf.get_column("_source_row").n_unique() == raw.height  # every row sends a part
        sent.append(cbf)
    everything = pl.concat(sent)
    for i, row in enumerate(rows):
        parts = everything.filter(pl.col("_source_row") == i + 2)
        assert total(parts["cost/cost"]) == Decimal(row["amount"]), row
        assert total(parts["usage/amount"]) == Decimal(row["qty"]), row
        first = starts[i].strftime("%Y-%m-%dT%H:00:00Z")
        hours = sorted(parts.get_column("time/usage_start").to_list())
        assert hours[0] == first and len(set(hours)) == len(hours)
        whole = (
            stops[i] if stops[i].minute == 0 else stops[i].replace(minute=0) + timedelta(hours=1)
        )
        assert hours[-1] < whole.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
