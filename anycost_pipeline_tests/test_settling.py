"""The settling rules (`anycost_pipeline.settling`) and the late-change verdict, for generated
months, clocks and data as well as the cases named."""

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import polars as pl
import pytest
from hypothesis import given, strategies as st

from anycost_pipeline.cloudzero.journal import Entry
from anycost_pipeline.cloudzero.month_state import (
    CLEAR,
    HELD,
    SEND,
    UNCHANGED,
    Held,
    Now,
    judge_month,
)
from anycost_pipeline.config import Settles
from anycost_pipeline.months import Month
from anycost_pipeline.settling import (
    Settled,
    final_since,
    month_settled,
    record_of,
    source_settled,
)
from anycost_pipeline_tests.conftest import Project

UTC = timezone.utc
INVOICE = "bill/invoice_id"


def frame(invoices: list[str | None]) -> pl.DataFrame:
    return pl.DataFrame({INVOICE: invoices}, schema={INVOICE: pl.String})


months = st.builds(Month, st.integers(2020, 2030), st.integers(1, 12))
offsets = st.integers(-40 * 24 * 60, 70 * 24 * 60).map(lambda m: timedelta(minutes=m))
invoices = st.lists(st.sampled_from(["INV-1", "", " ", None]), max_size=6)


@given(months, offsets, st.integers(0, 27), invoices)
def test_a_month_is_final_exactly_when_its_rules_hold(
    month: Month, offset: timedelta, after_days: int, values: list[str | None]
) -> None:
    """Final iff the clock is past the month's end plus `after_days`, and every row has an
    invoice id (blank is none); never final before the month ends."""
    now = month.end + offset
    settles = Settles(after_days=after_days, when=INVOICE)
    settled = source_settled("v", settles, str(month), frame(values), now)
    by_date = now >= month.end + timedelta(days=after_days)
    invoiced = all(v is not None and v.strip() for v in values)
    assert settled.final == (by_date and invoiced)
    assert settled.final_from == month.end + timedelta(days=after_days)


@given(months, offsets)
def test_without_settles_a_month_is_final_once_it_is_over(month: Month, offset: timedelta) -> None:
    settled = source_settled("v", None, str(month), frame(["x"]), month.end + offset)
    assert settled.final == (offset >= timedelta(0))
    assert settled.final_from is None  # nothing declared: no late change is judged


def test_values_name_what_counts_as_invoiced() -> None:
    settles = Settles(when={"column": "resource/tag:status", "values": ["CLOSED", "PAID"]})
    status = pl.DataFrame({"resource/tag:status": ["PAID", "PENDING", "CLOSED"]})
    settled = source_settled("atlas", settles, "2024-08", status, datetime(2024, 10, 1, tzinfo=UTC))
    assert not settled.final
    assert settled.because == (
        "source atlas: 1 row of 3 not yet with resource/tag:status CLOSED or PAID"
    )


def test_a_connection_month_is_final_when_every_source_is_and_says_why() -> None:
    now = datetime(2024, 9, 2, tzinfo=UTC)
    early = source_settled("a", Settles(after_days=0), "2024-08", frame([]), now)
    late = source_settled("b", Settles(after_days=5, late_change="hold"), "2024-08", frame([]), now)
    settled = month_settled([early, late], now)
    assert not settled.final
    assert settled.because == (
        "source b: settles 5 days after the month, final from 2024-09-06; final already: "
        "source a: settles 0 days after the month (2024-09-01)"
    )
    assert settled.hold_late
    assert settled.final_from == datetime(2024, 9, 6, tzinfo=UTC)


@pytest.mark.parametrize(
    ("final_at", "after_days", "now", "since"),
    [
        ("2024-09-08T06:00:00+00:00", 5, "2024-09-10", "2024-09-08"),  # sent or seen final
        (None, 5, "2024-09-10", None),  # CloudZero holds the month as it was while settling
        ("2024-09-08T06:00:00+00:00", 20, "2024-09-10", None),  # settling again: rule lengthened
        ("2024-09-08T06:00:00+00:00", None, "2024-09-10", None),  # no settles declared now
    ],
)
def test_final_since(
    final_at: str | None, after_days: int | None, now: str, since: str | None
) -> None:
    """A change is late only to a month CloudZero holds final (the record's final_at) that is
    also final by the rule in force now."""
    when = datetime.fromisoformat(now).replace(tzinfo=UTC)
    settles = Settles(after_days=after_days) if after_days is not None else None
    settled = month_settled([source_settled("v", settles, "2024-08", frame([]), when)], when)
    assert final_since({"final_at": final_at}, settled) == since


def _sent_final(settled: Settled) -> Entry:
    """The journal's record of 2024-08 (2 rows, drop d1) sent on 2024-09-20 while final."""
    return Entry(
        {
            "state": "confirmed",
            "content_hash": "sent",
            "drop_ids": ["d1"],
            "reported_rows": 2,
            "sent_at": "2024-09-20T00:00:00+00:00",
            "final_at": "2024-09-20T00:00:00+00:00",
            **record_of(settled),
        }
    )


def _judged(hold: bool, content: str, force: bool = False):  # -> MonthState
    now = datetime(2024, 10, 1, tzinfo=UTC)
    settles = Settles(after_days=3, late_change="hold" if hold else "send")
    settled = month_settled([source_settled("v", settles, "2024-08", frame([]), now)], now)
    record = _sent_final(settled)
    sources = Now(2, Decimal("5.00"), content, settled=settled)
    return judge_month("2024-08", "replace_drop", sources, record, Held(2, "d1"), force)


def test_a_late_change_is_sent_with_the_warning_or_held_until_force() -> None:
    assert _judged(hold=False, content="sent").verdict == UNCHANGED
    sent = _judged(hold=False, content="changed")
    assert (sent.verdict, sent.late) == (SEND, "2024-09-20")
    assert sent.reason.startswith(
        "LATE CHANGE: 2024-08 has been final at CloudZero since 2024-09-20"
    )
    assert _judged(hold=True, content="changed").verdict == HELD
    forced = _judged(hold=True, content="changed", force=True)
    assert (forced.verdict, forced.late) == (SEND, "2024-09-20")


def test_a_late_change_that_empties_a_final_month_says_it_is_cleared() -> None:
    now = datetime(2024, 10, 1, tzinfo=UTC)
    settled = month_settled([source_settled("v", Settles(), "2024-08", frame([]), now)], now)
    record = _sent_final(settled)
    # The sources' records left the month (a charge re-dated): a replace_drop month is cleared.
    emptied = Now(0, Decimal(0), "empty", settled=settled)
    state = judge_month("2024-08", "replace_drop", emptied, record, Held(2, "d1", Decimal("5")))
    assert state.verdict == CLEAR
    assert state.reason.startswith(
        "LATE CHANGE: 2024-08 has been final at CloudZero since 2024-09-20 and its sources have "
        "changed since then; it is cleared. CloudZero holds 2 rows"
    )


def test_each_source_and_the_connection_carry_their_label_in_the_ui(project: Project) -> None:
    """The cbf/<source> asset shows its own month's label, the drop the connection's."""
    config = project.config()
    config["sources"]["simple_cloud"]["settles"] = {"after_days": 4}
    project.write_config(config)
    result = project.materialize_month("2024-08")
    events = {
        e.materialization.asset_key.to_user_string(): e.materialization.metadata
        for e in result.get_asset_materialization_events()
    }
    label = "final: source simple_cloud: settles 4 days after the month (2024-09-05)"
    assert events["cbf/simple_cloud"]["settled"].value == label
    assert events["drop/simple_cloud_main"]["settled"].value == label
